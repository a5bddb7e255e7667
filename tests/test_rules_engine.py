"""The rules engine on real documents: embedded examples, accuracy on the samples, merging,
cross-references, reclassification, and the controls in force."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tracker.cli import cli
from tracker.demo.server import site_root
from tracker.rulefile import load_rules, run_tests
from tracker.rules import DocView
from tracker.vocab import Matcher, load_vocabulary

RULES = Path(__file__).parent.parent / "rules"
FIXTURES = Path(__file__).parent / "fixtures"
ART = site_root() / "mofcom/zwgk/zcfb/art"
NO70 = ART / "2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html"
NO57 = ART / "2025/art_64f9e0038defc1e5034f6a1b71e136b3.html"
NO23 = ART / "2023/art_4c332aac5913fbf1a8fdee22623aa328.html"

_RULESET = load_rules(RULES)
_EXAMPLES = [(r.id, i) for r in _RULESET.rules for i in range(len(r.tests))]


@pytest.mark.parametrize(("rule_id", "index"), _EXAMPLES, ids=[f"{r}[{i}]" for r, i in _EXAMPLES])
def test_every_embedded_rule_example_holds(rule_id: str, index: int) -> None:
    [result] = [
        r
        for r in run_tests(_RULESET, [rule_id])
        if r.test is next(x for x in _RULESET.rules if x.id == rule_id).tests[index]
    ]
    assert result.ok, f"{result.where}: {result.problems}"


def test_the_shipped_rules_have_examples_for_every_rule_but_the_list_diff() -> None:
    assert all(r.tests for r in _RULESET.rules if not r.diff_list)
    assert len(_EXAMPLES) >= 15


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_accuracy_on_the_sample_sites_meets_the_target() -> None:
    result = run("rules", "eval", str(FIXTURES / "expected.json"))
    assert result.exit_code == 0, result.output
    assert (
        "precision 1.00 (11/11 events), recall 1.00 (11/11 expected), absent 3/3, status 4/4" in result.output
    )
    assert "MISS" not in result.output


def test_eval_fails_when_a_rule_is_broken(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    cn = rules / "cn-mofcom.yaml"
    cn.write_text(
        cn.read_text("utf-8").replace("any: [暂停实施, 暂停执行, 暂缓实施, 暂停适用]", "any: [暂不实施]"),
        "utf-8",
    )
    result = CliRunner().invoke(
        cli, ["--rules", str(rules), "rules", "eval", str(FIXTURES / "expected.json")]
    )
    assert result.exit_code == 1
    assert "MISS 商务部 海关总署公告2025年第70号: suspension CN 2025-11-07" in result.output
    assert "MISS holmium in CN on 2026-01-01: suspended until 2026-11-10" in result.output


# --- minerals in text --------------------------------------------------------------------------


def test_symbols_count_only_where_they_must_be_symbols() -> None:
    vocab = load_vocabulary(RULES)
    m = Matcher(vocab)
    prose = m.scan("In the Be Aware programme", "In short, Be ready. Ga ga.")
    assert "indium" not in prose.terms and "beryllium" not in prose.terms and "gallium" not in prose.terms
    formula = m.scan("Gallium nitride", "wafers of Ga2O3 and indium (In) targets")
    assert {"gallium", "indium"} <= set(formula.terms)


def test_aliases_in_three_languages_and_group_implication() -> None:
    ruleset = _RULESET
    doc = DocView(title="レアアースとガリウムの輸出管理", text="", kind="rss", language="ja")
    scan = ruleset.matcher.scan(doc.title, doc.text)
    assert {"rare-earths", "gallium"} <= set(scan.terms)
    vocab = ruleset.vocab
    assert vocab.with_groups(["holmium"]) == ["holmium", "rare-earths"]
    assert vocab.resolve("镓") == vocab.resolve("Ga") == vocab.resolve("ガリウム") == "gallium"
    assert vocab.resolve("aluminium") == "aluminum"
    assert "dysprosium" in vocab.expand(["rare-earths"])


def test_a_bank_is_not_silver_and_to_lead_is_not_lead() -> None:
    m = _RULESET.matcher
    assert "silver" not in m.scan("中国银行发布公告", "").terms
    assert "silver" in m.scan("关于对银实施出口管制", "").terms
    assert "lead" not in m.scan("Efforts to lead the world in innovation", "").terms
    assert "lead" in m.scan("Tariffs on lead and zinc imports", "").terms


# --- events from stored documents ----------------------------------------------------------------


def ingest(tmp_path: Path, *files: Path, source: str = "mofcom", url: str | None = None) -> Result:
    args = ["--db", str(tmp_path / "t.db"), "ingest", *map(str, files), "--source", source]
    if url:
        args += ["--url", url]
    return run(*args)


def events(tmp_path: Path, *args: str) -> list[dict]:
    out = run("--db", str(tmp_path / "t.db"), "timeline", "--format", "json", *args)
    return json.loads(out.output)


def test_a_suspension_resolves_its_minerals_when_the_measure_arrives_later(tmp_path: Path) -> None:
    ingest(tmp_path, NO70)
    [susp] = events(tmp_path)
    assert susp["action"] == "suspension" and susp["minerals"] == []
    assert susp["refers_to"] == [f"MOFCOM 2025-{n}" for n in (55, 56, 57, 58, 61, 62)]
    assert susp["effective"] == "2025-11-07" and susp["expires"] == "2026-11-10"
    ingest(tmp_path, NO57)
    by_action = {e["action"]: e for e in events(tmp_path)}
    assert {"holmium", "erbium", "thulium", "europium", "ytterbium"} <= set(
        by_action["suspension"]["minerals"]
    )
    status = json.loads(
        run(
            "--db", str(tmp_path / "t.db"), "status", "--mineral", "Ho", "--as-of", "2026-01-01", "--json"
        ).output
    )
    keys = ("jurisdiction", "measure", "mineral", "state", "since", "until")
    assert [{k: s[k] for k in keys} for s in status] == [
        {
            "jurisdiction": "CN",
            "measure": "MOFCOM 2025-57",
            "mineral": "holmium",
            "state": "suspended",
            "since": "2025-11-07",
            "until": "2026-11-10",
        }
    ]
    assert status[0]["changed_by"] == "MOFCOM 2025-70"


def test_status_follows_a_measure_through_pending_active_suspended_and_active_again(tmp_path: Path) -> None:
    ingest(tmp_path, NO57, NO70)
    db = str(tmp_path / "t.db")

    def state(day: str) -> list[dict]:
        return json.loads(run("--db", db, "status", "--mineral", "铒", "--as-of", day, "--json").output)

    assert state("2025-10-01") == []  # not announced yet
    assert [(s["state"], s["until"]) for s in state("2025-10-20")] == [("pending", "2025-11-08")]
    assert [(s["state"], s["until"]) for s in state("2026-11-09")] == [("suspended", "2026-11-10")]
    assert [(s["state"], s["since"]) for s in state("2026-11-10")] == [("active", "2026-11-10")]


def test_a_lift_ends_a_measure(tmp_path: Path) -> None:
    lift = tmp_path / "lift.html"
    lift.write_text(
        "<html><body><h1 class='art-title'>商务部 海关总署公告2027年第3号 关于停止实施镓、锗相关物项出口管制的公告</h1>"
        "<div class='art-con'><p>【发布文号】商务部 海关总署公告2027年第3号</p><p>【发文日期】2027年01月05日</p>"
        "<p>自2027年2月1日起，商务部 海关总署公告2023年第23号停止实施。</p></div></body></html>",
        "utf-8",
    )
    ingest(tmp_path, NO23, lift)
    db = str(tmp_path / "t.db")
    before = json.loads(
        run("--db", db, "status", "--mineral", "gallium", "--as-of", "2027-01-31", "--json").output
    )
    after = json.loads(
        run("--db", db, "status", "--mineral", "gallium", "--as-of", "2027-02-01", "--json").output
    )
    assert [s["state"] for s in before] == ["active"]
    assert [(s["state"], s["since"]) for s in after] == [("lifted", "2027-02-01")]


def test_one_presidential_action_from_the_feed_and_the_register_is_one_event(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Presidential Actions</title><item>'
        "<title>Securing the Supply of Critical Minerals and Rare Earths</title>"
        "<link>https://www.whitehouse.gov/presidential-actions/2027/03/securing-the-supply/</link>"
        "<pubDate>Tue, 16 Mar 2027 21:10:00 +0000</pubDate>"
        "<category><![CDATA[Presidential Actions]]></category><category><![CDATA[Executive Orders]]></category>"
        '<guid isPermaLink="false">https://www.whitehouse.gov/?p=99001</guid></item></channel></rss>',  # url as data
        "utf-8",
    )
    fr = tmp_path / "fr.json"
    fr.write_text(
        json.dumps(
            {
                "count": 1,
                "results": [
                    {
                        "document_number": "2027-05555",
                        "title": "Securing the Supply of Critical Minerals and Rare Earths",
                        "subtype": "Executive Order",
                        "type": "Presidential Document",
                        "signing_date": "2027-03-16",
                        "publication_date": "2027-03-19",
                        "executive_order_number": "14999",
                        "html_url": "https://www.federalregister.gov/documents/2027/03/19/2027-05555/securing",
                    }
                ],
            }
        ),
        "utf-8",
    )
    ingest(tmp_path, feed, source="whitehouse")
    ingest(tmp_path, fr, source="federalregister")
    [event] = events(tmp_path)
    assert event["action"] == "executive_action"
    assert event["doc_number"] == "EO 14999"
    assert event["sources"] == ["federalregister", "whitehouse"]
    assert len(event["urls"]) == 2
    assert event["announced"] == "2027-03-16"
    assert "rare-earths" in event["minerals"]


def test_timeline_json_carries_every_field(tmp_path: Path) -> None:
    ingest(tmp_path, NO23)
    [e] = events(tmp_path)
    assert set(e) >= {
        "id",
        "announced",
        "effective",
        "expires",
        "jurisdiction",
        "targets",
        "action",
        "minerals",
        "items",
        "doc_number",
        "refers_to",
        "title",
        "urls",
        "sources",
        "rule",
        "severity",
    }
    assert (e["action"], e["jurisdiction"], e["announced"], e["effective"]) == (
        "new_control",
        "CN",
        "2023-07-03",
        "2023-08-01",
    )
    assert e["rule"] == "cn-mofcom-new-control" and e["severity"] == "high"
    assert e["minerals"] == ["gallium", "germanium"]
    assert "2023年8月1日" in e["trigger"] or "镓" in e["trigger"]
    assert events(tmp_path, "--mineral", "Ge") == [e]
    assert events(tmp_path, "--mineral", "lithium") == []


def test_reclassify_shows_the_effect_of_an_edit_before_keeping_it(tmp_path: Path) -> None:
    ingest(tmp_path, NO23, NO57, NO70)
    db = str(tmp_path / "t.db")
    unchanged = run("--db", db, "reclassify")
    assert "0 events did appear, 0 did disappear, 0 did change" in unchanged.output
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    cn = rules / "cn-mofcom.yaml"
    text = cn.read_text("utf-8")
    cn.write_text(
        text.replace(
            "    title: MOFCOM puts items under export control\n    severity: high",
            "    title: MOFCOM puts items under export control\n    severity: critical",
        ),
        "utf-8",
    )
    before = events(tmp_path)
    dry = run("--db", db, "--rules", str(rules), "reclassify", "--dry-run")
    assert "0 events would appear, 0 would disappear, 2 would change (dry run: nothing kept)" in dry.output
    assert "severity: high -> critical" in dry.output
    assert events(tmp_path) == before
    real = run("--db", db, "--rules", str(rules), "reclassify")
    assert "2 did change" in real.output
    assert {e["severity"] for e in events(tmp_path) if e["action"] == "new_control"} == {"critical"}
    # removing the suspension rule's keywords makes that event disappear
    cn.write_text(
        cn.read_text("utf-8").replace("any: [暂停实施, 暂停执行, 暂缓实施, 暂停适用]", "any: [不会出现的词]"),
        "utf-8",
    )
    gone = run("--db", db, "--rules", str(rules), "reclassify", "--dry-run")
    assert "- " in gone.output and "suspension" in gone.output and "1 would disappear" in gone.output


def test_reclassify_json_gives_each_changed_event_as_its_row_is_stored(tmp_path: Path) -> None:
    ingest(tmp_path, NO23, NO57, NO70)
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        stored = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM events")}
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    cn = rules / "cn-mofcom.yaml"
    edited = cn.read_text("utf-8").replace(
        "    title: MOFCOM puts items under export control\n    severity: high",
        "    title: MOFCOM puts items under export control\n    severity: critical",
    )
    cn.write_text(edited, "utf-8")
    changes = json.loads(
        run("--db", str(db), "--rules", str(rules), "reclassify", "--dry-run", "--json").output
    )
    assert len(changes) == 2 and {c["change"] for c in changes} == {"change"}
    for c in changes:
        row = stored[c["event"]["id"]]
        # every column as the table holds it (the lists as JSON text), only the severity new
        assert c["event"] == {**row, "severity": "critical"}
        assert c["fields"] == {"severity": ["high", "critical"]}
        assert json.loads(row["minerals"]) and isinstance(c["event"]["minerals"], str)


def test_refetching_and_reclassifying_never_duplicates_events(tmp_path: Path) -> None:
    ingest(tmp_path, NO57, NO70)
    ingest(tmp_path, NO57, NO70)
    run("--db", str(tmp_path / "t.db"), "reclassify")
    assert sorted(e["action"] for e in events(tmp_path)) == ["new_control", "suspension"]


def test_status_json_and_unknown_mineral(tmp_path: Path) -> None:
    ingest(tmp_path, NO23)
    bad = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "status", "--mineral", "galium"])
    assert bad.exit_code == 2
    assert "unknown mineral 'galium' (did you mean 'gallium'" in bad.output
    rows = json.loads(run("--db", str(tmp_path / "t.db"), "status", "--as-of", "2024-01-01", "--json").output)
    assert {(r["mineral"], r["state"]) for r in rows} == {("gallium", "active"), ("germanium", "active")}
    assert all({"jurisdiction", "measure", "mineral", "state", "since", "until"} <= set(r) for r in rows)


def test_broken_rules_do_not_lose_news(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "broken.yaml").write_text("rules:\n  - id: x\n    severty: high\n", "utf-8")
    from tracker.demo.server import SiteServer

    with SiteServer(site_root()) as site:
        cfg = tmp_path / "t.toml"
        cfg.write_text(
            f'[fetch]\nhost_delay = 0.0\n[sources.mofcom]\nurl = "{site.base_url}/mofcom/zwgk/zcfb/index.html"\n'
            "[sources.whitehouse]\nenabled = false\n[sources.federalregister]\nenabled = false\n"
            "[sources.usgs]\nenabled = false\n",
            "utf-8",
        )
        result = CliRunner().invoke(
            cli, ["--config", str(cfg), "--db", str(tmp_path / "t.db"), "--rules", str(rules), "fetch"]
        )
    assert result.exit_code == 0
    assert "warning: rules not loaded" in result.output and "broken.yaml:3" in result.output
    assert "8 new" in result.output
    assert events(tmp_path) == []
    (rules / "broken.yaml").unlink()
    run("--db", str(tmp_path / "t.db"), "--rules", str(rules), "reclassify")
    assert len([e for e in events(tmp_path) if e["action"] != "other"]) == 7


def test_engine_classifies_on_a_plain_document_view() -> None:
    doc = DocView(
        title="商务部 海关总署公告2031年第1号 关于对钨、钼相关物项实施出口管制的公告",
        text="本公告自2031年3月1日起正式实施。",
        kind="mofcom",
        language="zh",
        published=date(2031, 1, 10),
        doc_number="MOFCOM 2031-1",
    )
    [draft] = _RULESET.classify(doc)
    assert (draft.action, draft.effective, draft.minerals) == (
        "new_control",
        date(2031, 3, 1),
        ["tungsten", "molybdenum"],
    )


def test_letters_that_lowercase_to_two_keep_title_and_text_apart() -> None:
    # 'İ'.lower() is two characters; offsets must not shift a title keyword into the text
    [draft] = _RULESET.classify(DocView(title="İİİİ gallium framework", kind="wordpress-rss"))
    assert draft.rule == "us-agreement" and draft.minerals == ["gallium"]


def test_feed_categories_are_unescaped(tmp_path: Path) -> None:
    ingest(tmp_path, site_root() / "whitehouse/briefings-statements/feed/index.xml", source="whitehouse")
    from tracker.store import Store

    with Store(tmp_path / "t.db") as store:
        cats = {c for d in store.documents() for c in d["meta"]["categories"]}
    assert cats == {"Briefings & Statements"}
