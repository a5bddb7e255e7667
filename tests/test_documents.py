"""`tracker documents`: the stored documents and what the rules made of them, over a real database
fetched from the sample sites plus a few documents stored by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import CLI_TODAY, site_config
from tracker.catalog import DocumentEvent, StoredDocument, list_documents
from tracker.cli import cli
from tracker.cli.docs import document_line
from tracker.demo.server import SiteServer, site_root
from tracker.models import Document, sha256
from tracker.pipeline import fetch
from tracker.render import width
from tracker.store import Store

KEYS = ["id", "doc_number", "title", "issued", "sources", "urls", "language", "events"]
COPY_URL = "https://www.federalregister.gov/copies/mofcom-2023-23"  # sorts after the loopback URL


def stored(store: Store, title: str, published: date | None) -> int:
    text = f"{title}. Nothing about minerals here."
    doc = Document(
        source="whitehouse",
        url=f"https://www.whitehouse.gov/notes/{sha256(title)[:8]}",
        title=title,
        text=text,
        raw_hash=sha256(text),
        published=published,
    )
    return store.save_document(doc)[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("documents") / "t.db"
    with SiteServer(site_root()) as site:
        runs = fetch(site_config(site, path))
    assert all(r.ok for r in runs), [r.error for r in runs]
    with Store(path) as store:
        # the same announcement carried by a second source: one document, two sources
        copy = Document(
            source="federalregister",
            url=COPY_URL,
            title="商务部 海关总署公告2023年第23号 关于对镓、锗相关物项实施出口管制的公告",
            text="关于对镓、锗相关物项实施出口管制的公告",
            raw_hash=sha256("copy"),
            published=date(2023, 7, 3),
            doc_number="MOFCOM 2023-23",
            language="zh",
        )
        outcome, _ = store.save_document(copy, fetched_at="2099-01-01T00:00:00+00:00")
        assert outcome == "merged"
        # dated from the CLI's frozen today (the cli_today fixture), not from the day the tests run
        stored(store, "A recent note", CLI_TODAY - timedelta(days=10))
        stored(store, "An older note", CLI_TODAY - timedelta(days=60))
        stored(store, "An undated note", None)
    yield path


def run(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), "documents", *args], catch_exceptions=False)


def as_json(db: Path, *args: str) -> list[dict[str, Any]]:
    result = run(db, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    docs: list[dict[str, Any]] = json.loads(result.output)
    return docs


def by_number(docs: list[dict[str, Any]], number: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["doc_number"] == number]
    return doc


def by_title(docs: list[dict[str, Any]], title: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["title"] == title]
    return doc


def test_json_has_exactly_the_documented_keys_and_the_text_only_with_text_flag(db: Path) -> None:
    result = run(db, "--format", "json")
    docs = json.loads(result.output)
    assert docs and all(list(d) == KEYS for d in docs)
    # the layout of `json.dumps(..., ensure_ascii=False, indent=2)`, though written as a stream
    assert result.output == json.dumps(docs, ensure_ascii=False, indent=2) + "\n"
    assert "镓" in result.output
    with_text = as_json(db, "--text")
    assert all(list(d) == [*KEYS, "text"] for d in with_text)
    assert "暂停实施" in by_number(with_text, "MOFCOM 2025-70")["text"]


def test_json_shows_issue_date_every_source_and_url_and_the_events_made(db: Path) -> None:
    docs = as_json(db)
    measure = by_number(docs, "MOFCOM 2023-23")
    assert measure["issued"] == "2023-07-03" and measure["language"] == "zh"
    assert measure["sources"] == ["federalregister", "mofcom"]
    assert (
        len(measure["urls"]) == 2 and measure["urls"][0].endswith(".html") and measure["urls"][1] == COPY_URL
    )
    [event] = measure["events"]
    assert list(event) == ["id", "action", "jurisdiction", "minerals"]
    assert (event["action"], event["jurisdiction"], event["minerals"]) == (
        "new_control",
        "CN",
        ["gallium", "germanium"],
    )
    suspension = by_number(docs, "MOFCOM 2025-70")
    assert [e["action"] for e in suspension["events"]] == ["suspension"]
    assert suspension["events"][0]["id"].startswith("faa3b6a7")
    undated = by_title(docs, "An undated note")
    assert undated["issued"] is None and undated["doc_number"] is None and undated["events"] == []


def test_documents_come_newest_issue_first_undated_last_ties_by_id_descending(db: Path) -> None:
    docs = as_json(db)
    with Store(db) as store:
        assert len(docs) == store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    dated = [(d["issued"], d["id"]) for d in docs if d["issued"]]
    assert dated == sorted(dated, reverse=True)
    assert len({day for day, _ in dated}) < len(dated)  # there are ties to break
    assert docs[-1]["title"] == "An undated note" and all(d["issued"] for d in docs[:-1])


def test_source_filter_keeps_documents_any_given_source_carried(db: Path) -> None:
    usgs = as_json(db, "--source", "usgs")
    assert [d["sources"] for d in usgs] == [["usgs"]]
    both = as_json(db, "--source", "mofcom", "--source", "usgs")
    assert len(both) == 9 and all({"mofcom", "usgs"} & set(d["sources"]) for d in both)
    federal = as_json(db, "--source", "federalregister")
    assert "MOFCOM 2023-23" in [d["doc_number"] for d in federal]
    assert all("federalregister" in d["sources"] for d in federal)


def test_unknown_source_is_a_one_line_error_naming_close_names(db: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(db), "documents", "--source", "mofcon"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("error: unknown source 'mofcon' (did you mean 'mofcom'?)")


def test_unclassified_lists_exactly_the_documents_without_events(db: Path) -> None:
    everything = as_json(db)
    unclassified = as_json(db, "--unclassified")
    assert [d["id"] for d in unclassified] == [d["id"] for d in everything if not d["events"]]
    titles = [d["title"] for d in unclassified]
    assert "An undated note" in titles and "Final List of Critical Minerals 2018" in titles
    assert not any("mofcom" in d["sources"] for d in unclassified)
    assert as_json(db, "--unclassified", "--source", "mofcom") == []


def test_search_finds_chinese_by_one_character_and_by_phrase(db: Path) -> None:
    everything = as_json(db, "--text")
    for word in ("镓", "暂停实施"):
        found = as_json(db, "--search", word)
        assert found, word
        assert [d["id"] for d in found] == [d["id"] for d in everything if word in d["title"] + d["text"]]
    assert "MOFCOM 2023-23" in [d["doc_number"] for d in as_json(db, "--search", "镓")]
    assert [d["doc_number"] for d in as_json(db, "--search", "暂停实施")] == ["MOFCOM 2025-70"]


def test_search_in_english_needs_every_word_in_any_case(db: Path) -> None:
    found = as_json(db, "--search", "Critical MINERALS", "--text")
    titles = [d["title"] for d in found]
    assert "Final List of Critical Minerals 2018" in titles
    assert any(t.startswith("United States-Japan Framework") for t in titles)
    for d in found:
        words = (d["title"] + " " + d["text"]).lower()
        assert "critical" in words and "mineral" in words
    assert not any(d["title"] == "An undated note" for d in found)


def test_search_without_a_word_is_a_one_line_input_error(db: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(db), "documents", "--search", "   "])
    assert result.exit_code == 2
    assert result.output == "error: --search needs at least one word\n"


def test_since_a_span_back_from_today_keeps_recent_documents(db: Path, cli_today: date) -> None:
    found = as_json(db, "--since", "30d")
    titles = [d["title"] for d in found]
    assert "A recent note" in titles
    assert "An older note" not in titles and "An undated note" not in titles
    assert all(d["issued"] >= (cli_today - timedelta(days=30)).isoformat() for d in found)


def test_since_a_month_or_a_day_keeps_documents_issued_from_that_day(db: Path) -> None:
    found = as_json(db, "--since", "2025-10", "--source", "mofcom")
    assert [d["doc_number"] for d in found] == ["MOFCOM 2025-70", None, "MOFCOM 2025-57", "MOFCOM 2025-56"]
    assert all(d["issued"] >= "2025-10-01" for d in found)
    assert as_json(db, "--since", "2025-10-09", "--source", "mofcom") == found  # the day itself counts
    bad = CliRunner().invoke(cli, ["--db", str(db), "documents", "--since", "last spring"])
    assert bad.exit_code == 2 and "is not a date" in bad.output


def test_limit_gives_the_newest_n_documents(db: Path) -> None:
    assert as_json(db, "--limit", "3") == as_json(db)[:3]
    assert len(as_json(db, "--unclassified", "--limit", "2")) == 2
    zero = CliRunner().invoke(cli, ["--db", str(db), "documents", "--limit", "0"])
    assert zero.exit_code == 2


def test_table_shows_a_line_per_document_with_its_event_actions(db: Path) -> None:
    result = run(db, "--source", "mofcom", "--source", "usgs")
    assert result.exit_code == 0
    header, *lines = result.output.splitlines()
    assert header.split() == ["id", "issued", "document", "sources", "events", "title"]
    assert len(lines) == 9
    suspension = next(line for line in lines if "MOFCOM 2025-70" in line)
    assert suspension.split()[1:6] == ["2025-11-07", "MOFCOM", "2025-70", "mofcom", "suspension"]
    measure = next(line for line in lines if "MOFCOM 2023-23" in line)
    assert " new_control " in measure and "federalregister,mofcom" in measure
    usgs = next(line for line in lines if "83 FR 23295" in line)
    assert usgs.split()[1:7] == ["2018-05-18", "83", "FR", "23295", "usgs", "-"]
    assert usgs.endswith(" Final List of Critical Minerals 2018")


def test_table_shows_dashes_for_missing_date_and_number(db: Path) -> None:
    line = next(x for x in run(db, "--unclassified").output.splitlines() if "An undated note" in x)
    assert line.split()[1:5] == ["-", "-", "whitehouse", "-"]


def test_table_line_joins_several_actions_with_commas_and_clips_long_titles() -> None:
    doc = StoredDocument(
        id=7,
        doc_number="MOFCOM 2025-70",
        title="商务部公告" * 30,
        published="2025-11-07",
        language="zh",
        sources=["mofcom"],
        urls=[],
        events=[
            DocumentEvent("a", "new_control", "CN", ["gallium"]),
            DocumentEvent("b", "suspension", "CN", ["gallium"]),
        ],
    )
    line = document_line(doc, 100)  # on a terminal 100 columns wide
    assert " new_control,suspension " in line
    assert line.endswith("…") and width(line) <= 100
    whole = document_line(doc)  # piped, or --wide
    assert whole.endswith("商务部公告" * 30)


def test_table_prints_the_text_indented_under_each_line(db: Path) -> None:
    result = run(db, "--source", "mofcom", "--limit", "1", "--text")
    header, line, *text = result.output.splitlines()
    assert "MOFCOM 2025-70" in line
    assert text[0].startswith("      【发布文号】")
    assert all(t.startswith("      ") for t in text if t)


def test_table_says_no_documents_match_when_none_do(db: Path) -> None:
    assert run(db, "--search", "zzzqqqxx").output == "no documents match\n"
    assert run(db, "--since", "2099").output == "no documents match\n"


def test_help_gives_an_example_that_runs(db: Path) -> None:
    help_text = run(db, "--help").output
    assert "Example: tracker documents --unclassified --source mofcom" in help_text
    example = run(db, "--unclassified", "--source", "mofcom")
    assert example.exit_code == 0 and example.output == "no documents match\n"  # the rules took every one


def test_python_api_streams_typed_records_the_same_in_any_batch_size(db: Path) -> None:
    with Store(db) as store:
        stream = list_documents(store, search="出口管制")
        first = next(stream)
        assert isinstance(first, StoredDocument) and first.text is None
        assert all(isinstance(e, DocumentEvent) for e in first.events)
        whole = [d.as_dict(text=True) for d in list_documents(store, text=True)]
        small = [d.as_dict(text=True) for d in list_documents(store, text=True, batch=5)]
    assert whole == small and len(whole) > 5 and all(d["text"] is not None for d in whole)
