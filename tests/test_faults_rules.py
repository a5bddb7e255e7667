"""A rule cannot hang the tracker: maintainers' regular expressions run with a time budget, and
classification runs outside the transaction that stores a document. Real loopback servers, real
SQLite files, the real rule loader."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_config
from pytest_httpserver import HTTPServer

from tracker.cli import cli
from tracker.events import Classifier, event_rows
from tracker.fetch import fetch as fetch_stage
from tracker.models import Document, sha256
from tracker.pipeline import fetch
from tracker.rulefile import load_rules
from tracker.rules import default_rules_dir
from tracker.store import Store

# passes `tracker rules check` (its probes never hold the 'x' it needs first), yet backtracks
# without end on 'x' followed by a run of 'a' and a character it cannot match
SLOW = "x(a|aa)+$"
SLOW_RULE = f"""rules:
  - id: test-slow-pattern
    title: A rule whose pattern backtracks on some texts
    severity: low
    match:
      kinds: [rss]
      text_regex: {{any: ['{SLOW}']}}
    emit:
      action: other
      jurisdiction: CN
    tests:
      - title: A notice
        text: xaa
        kind: rss
        expect: {{action: other}}
"""
BUDGET = 0.3  # seconds per document in these tests (2 s by default)


def rules_with_slow_rule(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), folder)
    (folder / "00-slow.yaml").write_text(SLOW_RULE, "utf-8")
    return folder


def feed(items: list[tuple[str, str, str]]) -> str:
    """RSS with (guid, title, body) items."""
    entries = "".join(
        f"<item><title>{t}</title><link>http://127.0.0.1/{g}</link><guid isPermaLink='false'>{g}</guid>"
        f"<pubDate>Fri, 18 Sep 2026 22:02:43 +0000</pubDate><description>{b}</description></item>"
        for g, t, b in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{entries}</channel></rss>'


HOSTILE = "x" + "a" * 60 + "!"
GOOD = "China imposes export controls on gallium and germanium."


def classifier_for(folder: Path, budget: float = BUDGET) -> Classifier:
    return Classifier(load_rules(folder), budget=budget)


def test_a_backtracking_rule_leaves_one_document_unclassified_and_the_run_goes_on(
    httpserver: HTTPServer, tmp_path: Path, db_path: Path
) -> None:
    folder = rules_with_slow_rule(tmp_path)
    httpserver.expect_request("/a.xml").respond_with_data(
        feed([("hostile", "Notice", HOSTILE), ("good", "Gallium controls", GOOD)]),
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/b.xml").respond_with_data(
        feed([("other", "Germanium controls", GOOD)]), content_type="application/rss+xml"
    )
    config = make_config(
        db_path,
        {
            "a": {"kind": "rss", "url": httpserver.url_for("/a.xml")},
            "b": {"kind": "rss", "url": httpserver.url_for("/b.xml")},
        },
    )
    started = time.monotonic()
    results = {r.source: r for r in fetch_stage(config, classifier=classifier_for(folder))}
    assert time.monotonic() - started < 10
    assert results["a"].status == results["b"].status == "ok"
    assert results["a"].new_documents == 2 and results["b"].new_documents == 1
    [note] = [n for n in results["a"].notes if "unclassified" in n]
    assert "rule 'test-slow-pattern'" in note and "00-slow.yaml:7" in note and SLOW in note
    with Store(db_path) as store:
        stuck = store.unclassified()
        docs = {d["meta"]["guid"]: d for d in store.documents()}
        events = event_rows(store)
    assert [doc_id for doc_id, _ in stuck] == [docs["hostile"]["id"]]
    assert "test-slow-pattern" in stuck[0][1]
    # the slow rule stops nothing else: the other documents are classified by the usual rules
    classified = {u for e in events for u in e["urls"]}
    assert docs["good"]["url"] in classified and docs["other"]["url"] in classified
    assert docs["hostile"]["url"] not in classified


def test_a_slow_rule_holds_no_write_lock(httpserver: HTTPServer, tmp_path: Path, db_path: Path) -> None:
    folder = rules_with_slow_rule(tmp_path)
    httpserver.expect_request("/a.xml").respond_with_data(
        feed([(f"h{i}", f"Notice {i}", HOSTILE) for i in range(3)]), content_type="application/rss+xml"
    )
    config = make_config(db_path, {"a": {"kind": "rss", "url": httpserver.url_for("/a.xml")}})
    Store(db_path).close()  # the database exists, with its schema
    slow = threading.Thread(
        target=fetch_stage, args=(config,), kwargs={"classifier": classifier_for(folder, 1.0)}
    )
    slow.start()
    waited = []
    with Store(db_path) as other:
        # the page's documents are stored first, then classified for 1 s each: wait for the first
        deadline = time.monotonic() + 30
        while other.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] < 3:
            assert time.monotonic() < deadline and slow.is_alive(), "the fetch stored nothing"
            time.sleep(0.02)
        for i in range(3):
            begin = time.monotonic()
            other.save_document(
                Document(
                    source="z", url=f"http://127.0.0.1/z{i}", title=f"z{i}", text="t", raw_hash=sha256(str(i))
                )
            )
            waited.append(time.monotonic() - begin)
            time.sleep(0.4)
    slow.join()
    assert max(waited) < 0.5, waited  # a writer never waits for a classification to finish
    with Store(db_path) as store:
        assert len(store.unclassified()) == 3


def test_a_document_left_pending_by_a_crash_is_classified_by_the_next_fetch(
    httpserver: HTTPServer, db_path: Path
) -> None:
    httpserver.expect_request("/a.xml").respond_with_data(feed([]), content_type="application/rss+xml")
    config = make_config(db_path, {"a": {"kind": "rss", "url": httpserver.url_for("/a.xml")}})
    with Store(db_path) as store:  # what a crash between the two transactions of a save leaves
        _, doc_id = store.save_document(
            Document(
                source="a",
                url="http://127.0.0.1/crash",
                title="Gallium controls",
                text=GOOD,
                raw_hash=sha256("crash"),
                source_kind="rss",
            )
        )
        store.mark_unclassified(doc_id)
        assert event_rows(store) == []
    fetch(config)
    with Store(db_path) as store:
        assert store.unclassified() == []
        assert any("http://127.0.0.1/crash" in e["urls"] for e in event_rows(store))


def test_reclassify_names_the_rule_that_ran_out_of_time(
    httpserver: HTTPServer, tmp_path: Path, db_path: Path
) -> None:
    httpserver.expect_request("/a.xml").respond_with_data(
        feed([("hostile", "Notice", HOSTILE), ("good", "Gallium controls", GOOD)]),
        content_type="application/rss+xml",
    )
    config = make_config(db_path, {"a": {"kind": "rss", "url": httpserver.url_for("/a.xml")}})
    fetch(config)  # the shipped rules: nothing slow
    folder = rules_with_slow_rule(tmp_path)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "--rules", str(folder), "reclassify"])
    assert result.exit_code == 0, result.output
    assert "warning: left unclassified: rule 'test-slow-pattern'" in result.stderr
    with Store(db_path) as store:
        assert len(store.unclassified()) == 1


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("(a|aa)+$", True),
        ("(\\d|\\d\\d)+$", True),
        (SLOW, False),
        ("第\\d+号", False),
        ("gallium|germanium", False),
    ],
)
def test_rules_check_refuses_patterns_that_backtrack_on_its_probes(pattern: str, refused: bool) -> None:
    from tracker.patterns import probe

    assert probe(pattern) is not refused


def test_a_reference_with_an_absurd_number_is_no_reference_and_no_crash() -> None:
    from tracker.rules import DocView

    ruleset = load_rules(default_rules_dir())
    doc = DocView(
        title="商务部 海关总署公告2025年第70号 公布暂停实施的决定",
        text=f"经批准，自即日起至2026年11月10日，商务部公告2025年第{'9' * 5000}号、56号暂停实施。",
        kind="mofcom",
        language="zh",
        doc_number="MOFCOM 2025-70",
    )
    [draft] = ruleset.classify(doc)
    assert draft.action == "suspension"
    assert all(len(r) < 30 for r in draft.refers_to)
