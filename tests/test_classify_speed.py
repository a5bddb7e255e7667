"""Classification made cheaper and the loaded rules smaller, and that each kept what it must: a
page's documents classified together (their list versions read, their drafts replaced, their
events rebuilt and the measure states refreshed once for the page, as many statements as the page
needs rather than as each document needs) make what classifying each alone makes; alerts are
brought up to date with one look at the open incidents and one at what was last told of the
events; the `regex` engine is imported only by a run that compiles a pattern; rule files are read
by a faster builder that gives what the pure-Python loader gives, and the rules keep plain
strings.

Real parts throughout: SQLite files in tmp_path, the shipped rules and their own examples, the
sample site's MOFCOM articles, the real YAML loaders; nothing of ours is mocked."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import make_config

from tracker import patterns, rulefile
from tracker.alerts import sync_alerts
from tracker.demo.server import site_root
from tracker.events import Classifier, reclassify
from tracker.fetch import ingest
from tracker.models import Document, sha256
from tracker.rulefile import check_rules, load_rules
from tracker.rules import RuleSet, default_rules_dir
from tracker.store import Store
from tracker.yamlfile import LDict, LList, LStr, RuleFileError, _FastLoader, _Loader, load_yaml_text

RULES = default_rules_dir()
ART = site_root() / "mofcom/zwgk/zcfb/art"
PAGE = 5  # documents per page, as a feed page of the benchmark holds
AGREEMENT = "United States and Japan sign a framework agreement on {} supply"
CONTROL = "China imposes export controls on {} and related items"


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(RULES)


def example_documents(ruleset: RuleSet) -> list[Document]:
    """A document for every embedded example of the shipped rules (what `tracker rules test`
    classifies), each at its own URL."""
    docs = []
    for rule in ruleset.rules:
        for n, test in enumerate(rule.tests):
            view = rulefile.test_doc(test)
            docs.append(
                Document(
                    source=view.source or "examples",
                    url=f"https://example.org/{rule.id}/{n}",
                    title=view.title,
                    text=view.text,
                    raw_hash=sha256(f"{rule.id}/{n}"),
                    published=view.published,
                    language=view.language,
                    doc_number=view.doc_number,
                    source_kind=view.kind,
                    meta={"subtype": view.subtypes[0]} if view.subtypes else {},
                )
            )
    return docs


def feed_document(n: int, title: str) -> Document:
    return Document(
        source="feed",
        url=f"https://example.org/feed/{n}",
        title=title,
        text=f"{title}.",
        raw_hash=sha256(title),
        published=date(2026, 1, 1 + n % 28),
        source_kind="rss",
    )


def stored(store: Store, docs: list[Document]) -> list[int]:
    """Store these documents, unclassified; their ids."""
    with store.write():
        return [store.save_document(d)[1] for d in docs]


def with_mofcom_articles(tmp_path: Path, db: Path) -> list[int]:
    """The sample site's MOFCOM articles (controls, and a suspension that names them by number)
    stored unclassified in `db`; their ids, in the order stored."""
    config = make_config(db, {"mofcom": {}})
    ingest(config, "mofcom", sorted(ART.glob("*/*.html")))
    with Store(db) as store:
        return [int(r[0]) for r in store.db.execute("SELECT id FROM documents ORDER BY id")]


TABLES = {
    # what classification writes, without the times it was written at
    "events": "SELECT id, identity, action, jurisdiction, announced, effective, expires, doc_number, title,"
    " targets, minerals, items, refers_to, rule, severity, trigger, minerals_from_refs, amount, recipient"
    " FROM events ORDER BY id",
    "event_drafts": "SELECT document_id, event_id, rule, draft FROM event_drafts ORDER BY document_id, event_id",
    "event_minerals": "SELECT * FROM event_minerals ORDER BY event_id, mineral",
    "event_refs": "SELECT * FROM event_refs ORDER BY event_id, ref",
    "event_aliases": "SELECT * FROM event_aliases ORDER BY event_id, alias",
    "measure_states": "SELECT * FROM measure_states ORDER BY event_id, mineral, valid_from",
    "unclassified": "SELECT document_id, reason FROM unclassified ORDER BY document_id",
}


def tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The statements SQLite runs on the store's connection inside the block (each row of an
    executemany, and each trigger, counts as SQLite runs it)."""
    seen: list[str] = []
    store.db.conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        store.db.conn.set_trace_callback(None)


def count(seen: list[str], start: str) -> int:
    return sum(1 for s in seen if s.lstrip().startswith(start))


# --- a page classified together is what its documents classified alone make ----------------------


@pytest.mark.parametrize("source", ["rule examples", "mofcom articles"])
def test_classifying_pages_together_makes_what_classifying_each_document_alone_makes(
    tmp_path: Path, ruleset: RuleSet, source: str
) -> None:
    made = {}
    for way in ("alone", "pages", "all at once"):
        db = tmp_path / f"{way}.db"
        if source == "mofcom articles":
            ids = with_mofcom_articles(tmp_path, db)
        else:
            with Store(db) as store:
                ids = stored(store, example_documents(ruleset))
        classifier = Classifier(ruleset)
        with Store(db) as store:
            if way == "alone":
                for doc_id in ids:
                    classifier.classify_document(store, doc_id)
            elif way == "pages":
                for i in range(0, len(ids), PAGE):
                    assert classifier.classify_many(store, ids[i : i + PAGE]) == []
            else:
                assert classifier.classify_many(store, ids) == []
            assert reclassify(store, classifier, dry_run=True) == []  # nothing left to catch up on
        made[way] = tables(db)
    assert made["alone"]["events"], "the documents make events"
    assert made["alone"]["measure_states"] or source == "rule examples"
    assert made["pages"] == made["alone"]
    assert made["all at once"] == made["alone"]


# --- the statements a page costs -------------------------------------------------------------------


def test_a_page_reads_its_list_versions_and_replaces_its_drafts_in_one_statement_each(
    db_path: Path, ruleset: RuleSet
) -> None:
    with Store(db_path) as store:
        minerals = ["gallium", "germanium", "antimony", "tungsten", "cobalt"][:PAGE]
        ids = stored(store, [feed_document(n, AGREEMENT.format(m)) for n, m in enumerate(minerals)])
        with statements(store) as seen:
            Classifier(ruleset).classify_many(store, ids)
        events = store.all_events()
        with statements(store) as again:  # the same page once more: each document had its drafts
            Classifier(ruleset).classify_many(store, ids)
        assert store.all_events() == events
    assert [e.action for e in events] == ["agreement"] * PAGE
    for each in (seen, again):
        assert count(each, "SELECT id, source, url, document_id") == 1  # the list versions of the page
        assert count(each, "SELECT event_id FROM event_drafts") == 1  # the drafts the page had
        assert count(each, "INSERT INTO event_drafts") == PAGE  # one executemany, a row per draft
        # the events' drafts and stored rows read for them all at once, not one event after another
        assert count(each, "SELECT e.event_id, e.draft") == 1
        assert count(each, "SELECT id, identity, action") == 1
        assert not [s for s in each if "measure_states" in s]  # no control: no states to refresh
    # new documents have no drafts to delete, new events no minerals, references or aliases
    assert count(seen, "DELETE FROM event_") == 0
    # known ones have: the page's drafts go in one statement, each event's lists in one per list
    assert count(again, "DELETE FROM event_drafts") == 1
    assert count(again, "DELETE FROM event_minerals") == PAGE


def test_a_page_with_a_control_refreshes_its_states_and_a_control_gone_takes_them_along(
    db_path: Path, ruleset: RuleSet
) -> None:
    control = feed_document(0, CONTROL.format("gallium"))
    control.source_kind = "rss"
    classifier = Classifier(ruleset)
    with Store(db_path) as store:
        [doc_id] = stored(store, [control])
        with statements(store) as seen:
            classifier.classify_many(store, [doc_id])
        [event] = store.all_events()
        assert event.action == "new_control" and event.minerals == ["gallium"]
        assert [s for s in seen if "INTO measure_states" in s]
        states = store.db.execute("SELECT event_id, mineral, state FROM measure_states").fetchall()
        assert states == [(event.id, "gallium", "active")]
        # the page changes: the control names germanium instead, then names nothing a rule reads
        for title, minerals in ((CONTROL.format("germanium"), [("germanium",)]), ("A quiet week", [])):
            changed = feed_document(0, title)
            with store.write():
                assert store.save_document(changed) == ("updated", doc_id)
            classifier.classify_many(store, [doc_id])
            assert store.db.execute("SELECT mineral FROM event_minerals").fetchall() == minerals
            assert store.db.execute("SELECT mineral FROM measure_states").fetchall() == minerals
        assert store.all_events() == []


# --- alerts ----------------------------------------------------------------------------------------


def test_a_sync_looks_once_at_the_open_incidents_and_at_what_was_last_told_of_the_events(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    db = tmp_path / "t.db"
    config = make_config(
        db, {f"s{i}": {"kind": "rss", "url": f"http://127.0.0.1:9/{i}.xml"} for i in range(4)}
    )
    minerals = ["gallium", "germanium", "antimony"]
    with Store(db) as store:
        ids = stored(store, [feed_document(n, AGREEMENT.format(m)) for n, m in enumerate(minerals)])
        Classifier(ruleset).classify_many(store, ids)
        incident = store.add_incident("s1", "failed 3 runs in a row", "2026-01-01T00:00:00+00:00")
        with statements(store) as seen:
            created = sync_alerts(store, config, datetime(2026, 1, 2, tzinfo=UTC))
        assert [a.kind for a in created] == ["event"] * 3
        # the incident stays open: s1 has not run since (no recovery without a successful run)
        assert {s: i.id for s, i in store.open_incidents().items()} == {"s1": incident}
        # a changed event gets its 'event_updated' alert: the last alert of each event was read
        with store.write():
            store.save_document(feed_document(0, AGREEMENT.format("gallium and tungsten")))
        Classifier(ruleset).classify_many(store, ids[:1])
        again = sync_alerts(store, config, datetime(2026, 1, 3, tzinfo=UTC))
        assert [(a.kind, a.detail["changes"]) for a in again] == [
            ("event_updated", {"minerals": [["gallium"], ["gallium", "tungsten"]]})
        ]
    assert count(seen, "SELECT source, id, reason FROM health_incidents") == 1
    assert count(seen, "SELECT id, key, kind") == 1  # the last alert of every event, at once


# --- the regex engine only for a run that compiles a pattern -------------------------------------


def test_a_run_that_compiles_no_pattern_never_imports_the_regex_engine(db_path: Path) -> None:
    code = (
        "import sys\n"
        "from tracker.config import load_config\n"
        "import tracker.pipeline, tracker.fetch, tracker.store\n"
        "assert 'regex' not in sys.modules, 'imported by the fetch modules'\n"
        "from tracker import patterns\n"
        "patterns.Pattern('(?P<date>[0-9]{4})')\n"
        "assert 'regex' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_a_bad_pattern_raises_the_engines_error_by_its_usual_name() -> None:
    import regex

    assert patterns.error is regex.error
    with pytest.raises(patterns.error):
        patterns.Pattern("(?P<date>")
    with pytest.raises(AttributeError):
        patterns.no_such_name  # noqa: B018


# --- rule files: the faster builder, plain strings, one probe per pattern ---------------------------

YAML_CASES = {
    "aliases": "a: &x {b: 1, c: [1, 2]}\nd: *x\ne: &s text\nf: *s\n",
    "scalars": 'a: !!str 12\nb: NO\nc: yes\nd: true\ne: 2030-12-01\nf: 0x1F\ng: .inf\nh: null\ni: ""\nj: [1, ~]\n',
    "tags": "a: !!set {x, y}\nb: !!omap [{k: v}]\nc: !!binary aGVsbG8=\n",
    "nested": "rules:\n  - id: x\n    match: {title: {any: [a, b]}}\n    tests:\n      - {title: t, expect: null}\n",
    "empty": "",
    "comment": "# nothing\n",
}
YAML_ERRORS = {
    "recursive": ("a: &x [*x]\n", "1: YAML syntax: found unconstructable recursive node"),
    "merge key": ("b: &b {x: 1}\nc:\n  <<: *b\n", "3: YAML syntax: could not determine a constructor"),
    "duplicate": ("a: 1\nb: 2\na: 3\n", "3: duplicate key 'a' (first at line 1)"),
    "number key": ("1: a\n", "1: keys must be text, not 1"),
    "list key": ("? [a, b]\n: c\n", "1: keys must be text, not ['a', 'b']"),
    "bad date": ("a: 2030-13-01\n", "1: '2030-13-01' is not a valid date"),
    "string of a mapping": ("a: !!str {b: c}\n", "1: YAML syntax: expected a scalar node"),
    "two documents": ("--- a\n--- b\n", "2: YAML syntax: but found another document"),
}


def shape(value: Any) -> Any:
    """A loaded value with the line each part knows, and the type it is."""
    if isinstance(value, dict):
        return ("dict", type(value).__name__, getattr(value, "line", None), getattr(value, "key_lines", None),
                [(k, shape(v)) for k, v in value.items()])  # fmt: skip
    if isinstance(value, list):
        return ("list", type(value).__name__, getattr(value, "line", None), [shape(v) for v in value])
    return (type(value).__name__, getattr(value, "line", None), value)


def pure_python(text: str) -> Any:
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@pytest.mark.parametrize("name", [p.name for p in sorted(RULES.glob("*.yaml"))] + sorted(YAML_CASES), ids=str)
def test_the_fast_builder_gives_what_the_pure_python_loader_gives(name: str) -> None:
    text = YAML_CASES[name] if name in YAML_CASES else (RULES / name).read_text("utf-8")
    fast = load_yaml_text(text, name)
    assert shape(fast) == shape(pure_python(text))
    if name == "aliases":  # an alias of a mapping is that very mapping, as the loaders always gave it
        assert fast["a"] is fast["d"]
        assert (fast["f"], fast["f"].line) == ("text", 3)  # an alias of a string: the string anchored


@pytest.mark.parametrize("name", sorted(YAML_ERRORS))
def test_the_fast_builder_refuses_what_the_loader_refused_with_the_same_message(name: str) -> None:
    text, message = YAML_ERRORS[name]
    with pytest.raises(RuleFileError) as caught:
        load_yaml_text(text, "f.yaml")
    assert str(caught.value).startswith(f"f.yaml:{message}")


def test_the_fast_loader_is_the_c_one_when_pyyaml_has_it() -> None:
    import yaml

    assert _FastLoader.__mro__[1] is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def strings_in(value: Any) -> Iterator[Any]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_in(v)


def test_the_loaded_rules_keep_plain_strings_lists_and_mappings(ruleset: RuleSet) -> None:
    kept: list[Any] = []
    for r in ruleset.rules:
        kept += [r.id, r.sources, r.kinds, r.languages, r.subtypes, r.targets]
        kept += [[c.all, c.any, c.none] for c in r.keywords.values()]
        kept += [[t.doc, t.expect] for t in r.tests]
        kept += [p.source for c in r.regexes.values() for p in (*c.all, *c.any, *c.none)]
        kept += [p.source for p in (*r.effective.patterns, *r.expires.patterns)]
    found = list(strings_in(kept))
    assert len(found) > 500
    assert {type(s) for s in found} == {str}
    containers = [t.expect for r in ruleset.rules for t in r.tests if t.expect]
    assert containers and not any(isinstance(c, LDict) for c in containers)
    assert not any(isinstance(v, (LList, LStr)) for c in containers for v in c.values())


SHARED = r"effective (?P<date>\d{4}-\d{2}-\d{2})"
SLOW = "(a|aa)+$"


def rule(rid: str, pattern: str) -> str:
    return f"""  - id: {rid}
    title: A rule with a date pattern
    severity: low
    match:
      title: {{any: [notice]}}
    emit:
      action: other
      jurisdiction: CN
      effective: ['{pattern}']
    tests:
      - title: A notice
        expect: {{action: other}}
"""


def test_a_pattern_written_in_several_rules_is_probed_once_and_refused_in_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("minerals.yaml", "countries.yaml"):
        shutil.copy(RULES / name, folder / name)
    (folder / "a.yaml").write_text("rules:\n" + rule("a-1", SHARED) + rule("a-2", SLOW), "utf-8")
    (folder / "b.yaml").write_text("rules:\n" + rule("b-1", SHARED) + rule("b-2", SLOW), "utf-8")
    probed: list[str] = []
    probe: Callable[[str], bool] = patterns.probe
    monkeypatch.setattr(patterns, "probe", lambda source: probed.append(source) or probe(source))
    ruleset, problems = check_rules(folder)
    assert sorted(probed) == sorted([SHARED, SLOW])
    refused = [(p.file, p.line) for p in problems if "backtracks catastrophically" in p.message]
    assert refused == [(str(folder / "a.yaml"), 22), (str(folder / "b.yaml"), 22)]
    assert ruleset is not None and [r.id for r in ruleset.rules] == ["a-1", "b-1"]
