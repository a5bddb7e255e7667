"""`tracker rules explain`: every rule against one document, condition by condition, with the
verdict classification reaches, on the stored documents of the fetched sample sites, on every
embedded rule example, and on local files read through a source's parser."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import site_config
from tracker.cli import cli
from tracker.demo.server import SiteServer, site_root
from tracker.events import stored_view
from tracker.explain import Explanation, explain
from tracker.pipeline import fetch
from tracker.rulefile import load_rules
from tracker.rulefile import test_doc as example_doc
from tracker.rules import DocView, RuleSet, default_rules_dir
from tracker.store import Store

RULES = default_rules_dir()
_RULESET = load_rules(RULES)
_EXAMPLES = [(r.id, i) for r in _RULESET.rules for i in range(len(r.tests))]
ART = site_root() / "mofcom/zwgk/zcfb/art"
NO23 = ART / "2023/art_4c332aac5913fbf1a8fdee22623aa328.html"
FEED = site_root() / "whitehouse/presidential-actions/feed/index.xml"
DUTIES = "Temporary Suspension of Additional Duties to Offset Canadian Discrimination"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A database of the four sample sites, fetched once for this module."""
    db = tmp_path_factory.mktemp("site") / "tracker.db"
    with SiteServer(site_root()) as site:
        results = fetch(site_config(site, db))
    assert [r.status for r in results] == ["ok"] * 4
    yield db


def doc_id(db: Path, title_start: str) -> int:
    """The id of the one stored document whose title starts with `title_start`."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id FROM documents WHERE title LIKE ? || '%'", [title_start]).fetchall()
    assert len(rows) == 1, (title_start, rows)
    return int(rows[0][0])


def explain_cli(db: Path, *args: str) -> Result:
    return run("--db", str(db), "--rules", str(RULES), "rules", "explain", *args)


def assert_same_verdict(ruleset: RuleSet, view: DocView, e: Explanation) -> None:
    """Explain's verdict is classify's: the same rules fire, in order, and make the same drafts;
    and each rule's 'matched' is the engine's answer for that rule."""
    scan = ruleset.matcher.scan(view.title, view.text)
    where = f"document {view.id} {view.title[:60]!r}"
    assert [v.rule.id for v in e.verdicts if v.fired] == [r.id for r in ruleset.matching(view, scan)], where
    assert [x.draft.as_dict() for x in e.events] == [d.as_dict() for d in ruleset.classify(view)], where
    for v in e.verdicts:
        if not v.rule.diff_list:
            assert v.matched == ruleset.matches(v.rule, view, scan), (where, v.rule.id)
            assert v.matched == all(c.ok for c in v.conditions), (where, v.rule.id)


# --- the verdict is classification's ------------------------------------------------------------


def test_explain_agrees_with_classify_on_every_sample_document(fetched: Path) -> None:
    with Store(fetched) as store:
        ids = [r[0] for r in store.db.execute("SELECT id FROM documents ORDER BY id")]
        views = [stored_view(store, i) for i in ids]
    outcomes = {"event": 0, "none": 0}
    for view in views:
        assert view is not None
        e = explain(_RULESET, view)
        assert_same_verdict(_RULESET, view, e)
        assert len(e.verdicts) == len(_RULESET.rules)
        outcomes["event" if e.events else "none"] += 1
    # both kinds of document are there, so the comparison is not vacuous
    assert len(views) >= 40 and outcomes["event"] >= 9 and outcomes["none"] >= 30, outcomes


@pytest.mark.parametrize(("rule_id", "index"), _EXAMPLES, ids=[f"{r}[{i}]" for r, i in _EXAMPLES])
def test_explain_agrees_with_classify_on_every_rule_example(rule_id: str, index: int) -> None:
    rule = next(r for r in _RULESET.rules if r.id == rule_id)
    test = rule.tests[index]
    view = example_doc(test)
    e = explain(_RULESET, view)
    assert_same_verdict(_RULESET, view, e)
    fired = [v.rule.id for v in e.verdicts if v.fired]
    assert (rule_id in fired) == (test.expect is not None)
    # the same document with its title moved into the text, or under every other source kind:
    # keywords found only in the text, and rules the kind rules out, must agree too
    kinds = sorted({k for r in _RULESET.rules for k in r.kinds} - {view.kind})
    for other in [replace(view, title="", text=f"{view.title}\n{view.text}")] + [
        replace(view, kind=k) for k in kinds
    ]:
        assert_same_verdict(_RULESET, other, explain(_RULESET, other))


CONTINUING = """
rules:
  - id: a-any-gallium
    title: Anything naming gallium, and go on
    severity: info
    continue: true
    match:
      minerals: required
    emit: {action: other, jurisdiction: CN}
    tests:
      - {title: 镓, expect: {action: other}}
  - id: b-control
    title: Export controls
    severity: high
    match:
      title: {any: [出口管制]}
    emit: {action: new_control, jurisdiction: CN}
    tests:
      - {title: 关于对镓实施出口管制的公告, expect: {action: new_control}}
  - id: c-control-again
    title: Export controls, never reached
    severity: high
    match:
      title: {any: [出口管制]}
    emit: {action: expanded_control, jurisdiction: CN}
    tests:
      - {title: 出口管制, expect: null}
"""


def test_continue_rules_fire_before_the_first_match_and_later_matches_are_not_reached(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("minerals.yaml", "countries.yaml"):
        shutil.copy(RULES / name, folder / name)
    (folder / "test.yaml").write_text(textwrap.dedent(CONTINUING), "utf-8")
    ruleset = load_rules(folder)
    view = DocView(title="关于对镓实施出口管制的公告", kind="mofcom", language="zh")
    e = explain(ruleset, view)
    assert_same_verdict(ruleset, view, e)
    status = {v.rule.id: (v.status, v.fired, v.reached) for v in e.verdicts}
    assert status == {
        "a-any-gallium": ("MATCH", True, True),
        "b-control": ("MATCH", True, True),
        "c-control-again": ("match, not reached", False, False),
    }
    assert "b-control matched first" in e.verdicts[2].note
    assert [x.draft.action for x in e.events] == ["other", "new_control"]
    assert e.decided_by == "b-control"


# --- a missed document: which condition failed ----------------------------------------------------


def test_a_missed_document_shows_the_condition_that_failed(fetched: Path) -> None:
    result = explain_cli(fetched, str(doc_id(fetched, DUTIES)))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    block = lines[lines.index(next(x for x in lines if x.startswith("us-suspension "))) :][:4]
    assert re.fullmatch(r"us-suspension +\S*rules/us\.yaml:\d+ +no", block[0]), block[0]
    assert block[1:] == [
        "    kinds [wordpress-rss, federalregister, rss]: ✓ wordpress-rss",
        "    title any [suspension, suspending, suspends, pause, pausing, pauses, +2 more]: ✓ suspension",
        "    minerals required: ✗ document names no mineral",
    ]
    assert "    kinds [mofcom]: ✗ document kind is wordpress-rss" in lines
    assert lines[-1] == "no event: no rule matched"
    assert "MATCH" not in result.stdout


def test_a_classified_document_shows_the_event_with_its_dates_and_references(fetched: Path) -> None:
    result = explain_cli(fetched, str(doc_id(fetched, "商务部 海关总署公告2025年第70号")))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"cn-mofcom-suspension +\S*rules/cn-mofcom\.yaml:\d+ +MATCH",
        lines[lines.index(next(x for x in lines if x.startswith("cn-mofcom-suspension ")))],
    )
    assert "    anywhere any [暂停实施, 暂停执行, 暂缓实施, 暂停适用]: ✓ 暂停实施" in lines
    assert "    title any [答记者问, 新闻发言人, 记者问, 答问, 解读, 问答]: ✗ none found" in lines
    assert "    title all [出口管制]: ✗ missing 出口管制" in lines
    event = lines[lines.index("event from cn-mofcom-suspension:") :]
    fields = {line.split()[0]: line.split(None, 1)[1] for line in event[1:]}
    assert fields["action"] == "suspension" and fields["jurisdiction"] == "CN"
    assert fields["effective"].startswith("2025-11-07  (pattern '(?P<announced>")
    assert fields["effective"].endswith("matched '自即日起': the date of issue)")
    assert fields["expires"].startswith("2026-11-10  (pattern '至(?P<date>\\d{4}年")
    assert fields["expires"].endswith("matched '至2026年11月10日')")
    refs = ", ".join(f"MOFCOM 2025-{n}" for n in (55, 56, 57, 58, 61, 62))
    assert fields["refers_to"] == f"{refs}  (mofcom-announcements from title_then_text)"
    assert fields["minerals"].startswith("-  (none named: when stored, it takes the minerals")
    assert fields["trigger"].startswith("经批准，自即日起至2026年11月10日")


def test_a_rule_after_the_first_match_that_also_matches_says_so(fetched: Path) -> None:
    # a Q&A about export controls of rare earths: commentary matches first; no other rule is
    # reached, and the list rule is never run on a text
    with Store(fetched) as store:
        view = stored_view(store, doc_id(fetched, "商务部新闻发言人就稀土相关物项出口管制措施答记者问"))
    assert view is not None
    e = explain(_RULESET, view)
    by_id = {v.rule.id: v for v in e.verdicts}
    assert by_id["cn-mofcom-commentary"].status == "MATCH" and e.decided_by == "cn-mofcom-commentary"
    after = e.verdicts.index(by_id["cn-mofcom-commentary"]) + 1  # au.yaml sorts before cn-mofcom.yaml
    assert not any(v.reached for v in e.verdicts[after:])
    assert by_id["us-critical-minerals-list"].status == "list rule"
    assert [x.draft.action for x in e.events] == ["other"]


# --- JSON -------------------------------------------------------------------------------------------


def test_json_is_a_list_with_the_document_every_rule_and_the_events(fetched: Path) -> None:
    number = doc_id(fetched, "商务部 海关总署公告2023年第23号")
    result = explain_cli(fetched, str(number), "--format", "json")
    assert result.exit_code == 0, result.output
    [doc] = json.loads(result.stdout)
    assert set(doc) == {"document", "decided_by", "rules", "events"}
    assert doc["document"]["id"] == number
    assert doc["document"]["kind"] == "mofcom" and doc["document"]["doc_number"] == "MOFCOM 2023-23"
    assert doc["document"]["minerals_named"][:2] == ["gallium", "germanium"]
    assert [r["rule"] for r in doc["rules"]] == [r.id for r in _RULESET.rules]
    for r in doc["rules"]:
        assert set(r) == {
            "rule",
            "file",
            "line",
            "matched",
            "fired",
            "reached",
            "status",
            "note",
            "conditions",
        }
        for c in r["conditions"]:
            assert set(c) == {"condition", "wanted", "ok", "detail"}
            assert isinstance(c["wanted"], list) and isinstance(c["ok"], bool)
    assert doc["decided_by"] == "cn-mofcom-new-control"
    new = next(r for r in doc["rules"] if r["rule"] == "cn-mofcom-new-control")
    assert (new["matched"], new["fired"], new["status"]) == (True, True, "MATCH")
    minerals = {"condition": "minerals", "wanted": ["required"], "ok": True}
    assert {**minerals, "detail": "gallium, germanium, arsenic, zinc"} in new["conditions"]
    [event] = doc["events"]
    assert (event["rule"], event["action"], event["effective"]) == (
        "cn-mofcom-new-control",
        "new_control",
        "2023-08-01",
    )
    assert event["minerals"] == ["gallium", "germanium"]
    assert set(event["how"]) == {"effective", "expires", "refers_to"}
    assert event["how"]["expires"] == "the rule gives none"


# --- a local file, not stored ---------------------------------------------------------------------


def test_text_file_through_the_source_parser_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    result = explain_cli(db, "--text", str(NO23), "--source", "mofcom")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "document (not stored), source mofcom (kind mofcom), language zh, issued 2023-07-03, number MOFCOM 2023-23"
    )
    assert "    minerals required: ✓ gallium, germanium, arsenic, zinc" in lines  # as the text names them
    assert "event from cn-mofcom-new-control:" in lines
    assert not db.exists()

    as_json = json.loads(
        explain_cli(db, "--text", str(NO23), "--source", "mofcom", "--format", "json").stdout
    )
    assert [d["document"]["id"] for d in as_json] == [None]
    assert as_json[0]["events"][0]["effective"] == "2023-08-01"
    assert not db.exists()


def test_text_file_with_several_documents_explains_each(tmp_path: Path) -> None:
    result = explain_cli(tmp_path / "t.db", "--text", str(FEED), "--source", "whitehouse", "--format", "json")
    assert result.exit_code == 0, result.output
    docs = json.loads(result.stdout)
    items = len(re.findall(r"<item>", FEED.read_text("utf-8")))
    assert len(docs) == items > 1
    assert {d["document"]["kind"] for d in docs} == {"wordpress-rss"}
    duties = [d for d in docs if d["document"]["title"].startswith(DUTIES)]
    assert len(duties) == 1 and duties[0]["events"] == []
    table = explain_cli(tmp_path / "t.db", "--text", str(FEED), "--source", "whitehouse")
    assert table.stdout.count("document (not stored), source whitehouse") == items


# --- errors -----------------------------------------------------------------------------------------


def test_an_unknown_document_id_is_one_line_and_exit_2(fetched: Path) -> None:
    result = explain_cli(fetched, "99999")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: no document 99999 in {fetched}: `tracker documents` lists the stored ones\n"
    )


def test_a_missing_database_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    result = explain_cli(db, "1")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {db}: ") and result.stderr.count("\n") == 1
    assert not db.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "give a DOC_ID, or --text FILE --source S", id="nothing"),
        pytest.param(["1", "--text", str(NO23), "--source", "mofcom"], "give a DOC_ID, or", id="both"),
        pytest.param(["--text", str(NO23)], "--text FILE and --source S go together", id="no-source"),
        pytest.param(["1", "--source", "mofcom"], "--text FILE and --source S go together", id="no-text"),
    ],
)
def test_usage_mistakes_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = explain_cli(tmp_path / "t.db", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(
    ("file", "source", "message"),
    [
        pytest.param(FEED, "nosuch", "unknown source 'nosuch'", id="unknown-source"),
        pytest.param(FEED, "federalregister", f"{FEED}: not JSON", id="wrong-parser"),
        pytest.param(Path("missing.html"), "mofcom", "missing.html: cannot read: No such file", id="no-file"),
    ],
)
def test_a_file_the_source_cannot_read_is_one_line(
    tmp_path: Path, file: Path, source: str, message: str
) -> None:
    result = explain_cli(tmp_path / "t.db", "--text", str(file), "--source", source)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
