"""The built-in sources, with their default URLs moved onto stand-ins of the sites as they are today
(tracker/demo/live/, served by tracker.demo.standins on 127.0.0.1): MOFCOM's CMS, the White House
feeds with navigation, the Federal Register API with raw texts, refusals and the USGS notices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.demo.run import USGS_SEARCH_2022, live_config
from tracker.demo.server import Reply
from tracker.demo.standins import UNIT_PATH, LiveSites
from tracker.events import event_rows
from tracker.pipeline import fetch
from tracker.settings import Config
from tracker.store import Store

USGS_2025_FINAL_TEXT = "/documents/full_text/text/2025/11/07/2025-19813.txt"


@pytest.fixture
def sites() -> Iterator[LiveSites]:
    with LiveSites() as s:
        yield s


def config_for(sites: LiveSites, db_path: Path) -> Config:
    return live_config(sites, db_path)


def docs(db_path: Path, source: str | None = None) -> list[dict[str, Any]]:
    with Store(db_path) as store:
        return list(store.documents(source))


def items_json(sites: LiveSites) -> list[dict[str, str]]:
    return json.loads((sites.root / "mofcom/unit/items.json").read_text("utf-8"))


def test_default_sources_on_the_live_shapes_fetch_cleanly(sites: LiveSites, db_path: Path) -> None:
    results = fetch(config_for(sites, db_path))
    assert {r.source: r.status for r in results} == {
        "mofcom": "ok",
        "whitehouse": "ok",
        "federalregister": "ok",
        "usgs": "ok",
    }, [r.error for r in results]
    # a first fetch reads on while every item is new (up to max_pages): both pages of the CMS list
    unit = [p for p in sites.mofcom.requests if p.startswith(UNIT_PATH)]
    assert len(unit) == 2
    assert len(docs(db_path, "mofcom")) == len(items_json(sites))


def test_mofcom_backfill_reads_every_page_of_the_cms_list(sites: LiveSites, db_path: Path) -> None:
    config = config_for(sites, db_path)
    [stats] = fetch(config, ["mofcom"], mode="backfill")
    assert stats.status == "ok", stats.error
    expected = items_json(sites)
    assert stats.new_documents == len(expected) > 15
    stored = {u for d in docs(db_path, "mofcom") for u in d["urls"]}
    assert {sites.mofcom.base_url + i["href"] for i in expected} == stored
    by_number = {d["doc_number"]: d for d in docs(db_path, "mofcom")}
    # 【发文日期】, never MakeTime (weeks later on the page)
    assert by_number["MOFCOM 2025-70"]["published"] == "2025-11-07"
    assert "暂停实施" in by_number["MOFCOM 2025-70"]["text"]
    # the shown title reads 2025第61号 (no 年): the number comes from 【发布文号】
    assert by_number["MOFCOM 2025-61"]["title"].startswith("商务部公告2025第61号")
    # the legacy GBK page the new list still links to
    gbk = by_number["MOFCOM 2024-33"]
    assert gbk["url"].endswith(".shtml") and "锑" in gbk["text"]
    for d in docs(db_path, "mofcom"):
        assert "主办单位" not in d["text"] and "本站转载" not in d["text"]


def test_mofcom_repoll_costs_a_304_and_one_list_request(sites: LiveSites, db_path: Path) -> None:
    config = config_for(sites, db_path)
    fetch(config, ["mofcom"], mode="backfill")
    before = len(sites.mofcom.requests)
    [again] = fetch(config, ["mofcom"])
    assert again.status == "ok", again.error
    assert again.new_documents == again.updated_documents == 0
    assert len(sites.mofcom.requests) - before == 2  # column page (304) + first list page


def test_white_house_and_federal_register_orders_are_one_document_dated_by_signature(
    sites: LiveSites, db_path: Path
) -> None:
    for stats in fetch(config_for(sites, db_path), ["whitehouse", "federalregister"]):
        assert stats.status == "ok", stats.error
    [eo] = [d for d in docs(db_path) if d["doc_number"] == "EO 14241"]
    assert eo["sources"] == ["federalregister", "whitehouse"]
    # the feed dates the item 21 March (01:12 UTC); it was signed on the 20th
    assert eo["published"] == "2025-03-20"
    assert eo["text"].startswith("By the authority vested in me")
    for d in docs(db_path, "whitehouse"):
        assert "Select Category" not in d["text"] and "appeared first on" not in d["text"], d["title"]
    with Store(db_path) as store:
        events = [e for e in event_rows(store) if e["doc_number"] == "EO 14241"]
    assert len(events) == 1 and events[0]["action"] == "executive_action"


def test_usgs_lists_from_federal_register_notices_final_draft_final_with_a_refusal(
    sites: LiveSites, db_path: Path
) -> None:
    config = config_for(sites, db_path)
    sites.fr.searches["geological-survey"] = USGS_SEARCH_2022
    [first] = fetch(config, ["usgs"])
    assert first.status == "ok", first.error
    del sites.fr.searches["geological-survey"]
    sites.fr.refuse[USGS_2025_FINAL_TEXT] = 1  # answered once with the 'Request Access' page
    [second] = fetch(config, ["usgs"])
    assert second.status == "ok", second.error  # neither a draft nor a refusal fails the source
    assert second.new_documents == 2
    assert any("refused" in n for n in second.notes)
    with Store(db_path) as store:
        assert [len(v["items"]) for v in store.list_versions("usgs")] == [50]  # 2025 text not read yet
        assert not [e for e in event_rows(store) if e["action"].startswith("list_")]
    stored = {d["doc_number"]: d for d in docs(db_path, "usgs")}
    assert set(stored) == {"FR 2022-04027", "FR 2025-16311", "FR 2025-19813"}
    assert "Request Access" not in stored["FR 2025-19813"]["text"]
    assert stored["FR 2025-16311"]["meta"]["list_status"].startswith("draft")

    [third] = fetch(config, ["usgs"])  # the refused text is asked for again
    assert third.status == "ok", third.error
    assert third.updated_documents == 1
    with Store(db_path) as store:
        versions = store.list_versions("usgs")
        events = [e for e in event_rows(store) if e["action"].startswith("list_")]
    assert [(v["published"], len(v["items"])) for v in versions] == [("2022-02-24", 50), ("2025-11-07", 60)]
    [added] = events
    assert added["action"] == "list_addition" and added["announced"] == "2025-11-07"
    assert sorted(added["minerals"]) == sorted(
        [
            "boron",
            "copper",
            "lead",
            "metallurgical-coal",
            "phosphate",
            "potash",
            "rhenium",
            "silicon",
            "silver",
            "uranium",
        ]
    )


def test_usgs_search_answered_newest_first_still_diffs_the_new_list_with_the_old(
    sites: LiveSites, db_path: Path
) -> None:
    # the 2025 final list arrives before the 2022 one in the same run: once 2022 is kept, 2025 is
    # diffed with it (not left as the baseline)
    [stats] = fetch(config_for(sites, db_path), ["usgs"])
    assert stats.status == "ok", stats.error
    with Store(db_path) as store:
        events = [e for e in event_rows(store) if e["action"].startswith("list_")]
    assert [(e["action"], e["doc_number"], len(e["minerals"])) for e in events] == [
        ("list_addition", "FR 2025-19813", 10)
    ]


def test_federal_register_search_without_fields_would_lose_signing_dates(sites: LiveSites) -> None:
    # the stand-in answers as the API does: without fields[] no signing_date, no EO number
    import urllib.request

    with urllib.request.urlopen(f"{sites.federalregister.base_url}/api/v1/documents.json") as r:  # noqa: S310
        bare = json.loads(r.read())
    assert "signing_date" not in bare["results"][0] and "executive_order_number" not in bare["results"][0]


# --- tracker check ---------------------------------------------------------------------------------


def write_config(sites: LiveSites, tmp_path: Path, extra: str = "") -> Path:
    lines = ["[fetch]", "host_delay = 0", "retries = 0", ""]
    config = live_config(sites, tmp_path / "unused.db")
    for name, s in config.sources.items():
        lines += [f"[sources.{name}]", "urls = [" + ", ".join(json.dumps(u) for u in s.urls) + "]", ""]
    path = tmp_path / "tracker.toml"
    path.write_text("\n".join(lines) + extra, "utf-8")
    return path


def test_check_reports_every_source_and_stores_nothing(sites: LiveSites, tmp_path: Path) -> None:
    cfg = write_config(sites, tmp_path)
    db = tmp_path / "tracker.db"
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "check", "--format", "json"])
    assert result.exit_code == 0, result.output
    reports = {r["source"]: r for r in json.loads(result.output)}
    assert set(reports) == {"mofcom", "whitehouse", "federalregister", "usgs"}
    for r in reports.values():
        assert r["ok"] and r["http_status"] == 200, r
        assert r["read"] == 3 and r["dated"] == 3 and r["with_text"] == 3, r
        assert len(r["samples"]) == 3
    assert reports["mofcom"]["items"] == 15  # the first page of the CMS list
    assert reports["mofcom"]["numbered"] == 3
    assert reports["federalregister"]["numbered"] == 3
    assert not db.exists()  # nothing stored, not even an empty database


def test_check_table_names_problems_in_words_and_fails(sites: LiveSites, tmp_path: Path) -> None:
    sites.cms.items = []  # the CMS list comes back empty
    sites.fr.refuse = {p: 1 for p in _raw_text_paths(sites)}  # every full text refused once
    cfg = write_config(sites, tmp_path)
    result = CliRunner().invoke(
        cli, ["--config", str(cfg), "check", "--source", "mofcom", "--source", "federalregister"]
    )
    assert result.exit_code == 1
    out = result.output
    assert "mofcom (mofcom): FAILED" in out
    assert "error: empty list" in out
    assert "federalregister (federalregister): OK" in out
    assert "warning: refused: the server answered 3 of 3 full-text requests" in out


def _raw_text_paths(sites: LiveSites) -> list[str]:
    data = json.loads((sites.root / "federalregister/api/v1/documents.json").read_text("utf-8"))
    return ["/" + r["raw_text_url"].split(".gov/", 1)[1] for r in data["results"]]


def test_check_says_the_site_refused_the_client(sites: LiveSites, tmp_path: Path) -> None:
    sites.mofcom.routes[UNIT_PATH] = lambda req: Reply(412, "text/html", b"<html>412</html>")
    cfg = write_config(sites, tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "check", "--source", "mofcom"])
    assert result.exit_code == 1
    assert "error: refused: HTTP 412: the site refused this client" in result.output
    assert "user_agent" in result.output


def test_check_flags_a_final_list_notice_without_its_list(sites: LiveSites, tmp_path: Path) -> None:
    root = tmp_path / "live"
    import shutil

    shutil.copytree(sites.root, root)
    text = root / "federalregister" / USGS_2025_FINAL_TEXT.lstrip("/")
    text.write_text(text.read_text("utf-8").replace("includes the following", "comprises these"), "utf-8")
    with LiveSites(root) as other:
        cfg = write_config(other, tmp_path)
        result = CliRunner().invoke(cli, ["--config", str(cfg), "check", "--source", "usgs"])
    assert result.exit_code == 1
    assert "error: list sentence missing" in result.output
    assert "Final 2025 List of Critical Minerals" in result.output


def test_check_save_writes_every_response_for_fixtures_and_ingest(sites: LiveSites, tmp_path: Path) -> None:
    cfg = write_config(sites, tmp_path)
    saved = tmp_path / "saved"
    result = CliRunner().invoke(
        cli, ["--config", str(cfg), "check", "--source", "mofcom", "--save", str(saved)]
    )
    assert result.exit_code == 0, result.output
    heads = sorted((saved / "mofcom").glob("*.http.json"))
    assert len(heads) == 5  # column page, list endpoint, three articles
    meta = [json.loads(h.read_text("utf-8")) for h in heads]
    assert meta[1]["url"].startswith(f"{sites.mofcom.base_url}{UNIT_PATH}?")
    assert meta[1]["status"] == 200 and "json" in meta[1]["headers"]["content-type"].lower()
    assert json.loads((saved / "mofcom" / meta[1]["body"]).read_text("utf-8"))["code"] == "200"
    # an article saved by check is replayed by ingest
    article = saved / "mofcom" / meta[2]["body"]
    db = tmp_path / "replay.db"
    ingest = CliRunner().invoke(
        cli,
        [
            "--config",
            str(cfg),
            "--db",
            str(db),
            "ingest",
            str(article),
            "--source",
            "mofcom",
            "--url",
            meta[2]["url"],
        ],
    )
    assert ingest.exit_code == 0, ingest.output
    assert ingest.output.startswith("new")
