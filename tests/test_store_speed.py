"""The store's fast paths: an up-to-date database opens without sqlite-utils (imported only to
apply migrations), our connection behaves as sqlite_utils.Database where the store uses it, and a
page of documents is stored in few statements (shared savepoints, one-statement writes, the
full-text index written at the end of the outermost write) with the same outcome as before."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from pytest_httpserver import HTTPServer

from tracker.models import Document, RunStats, sha256
from tracker.store import Store
from tracker.store.base import Connection
from tracker.store.migrations import migrations
from tracker.timeline import fts_query

NAMES = [m.name for m in migrations.migrations]


def run_python(code: str, *args: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter (nothing imported yet); the JSON it prints last."""
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


OPEN = """
import json, sys
from tracker.store import Store
from tracker.store.migrations import migrations
with Store(sys.argv[1]) as store:
    pending = [m.name for m in migrations.pending(store.db)]
    store.save_cache_entry("http://h/feed", None, None, b"feed")  # a write and a read, as a fetch makes
    store.cache_entry("http://h/feed")
print(json.dumps({"sqlite_utils": "sqlite_utils" in sys.modules, "pending": pending}))
"""


def old_database(path: Path, stop_before: str) -> None:
    """A database whose schema stops before migration `stop_before`: one of a previous release."""
    with sqlite3.connect(path) as conn:
        migrations.apply(Connection(conn), stop_before=stop_before)
    conn.close()


def schema(path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    conn.close()
    return rows


def doc(n: int, text: str = "", **more: Any) -> Document:
    return Document(
        source="s",
        url=f"http://h/{n}",
        title=f"Notice {n} on gallium",
        text=text or f"Export controls on gallium, notice {n}.",
        raw_hash=sha256(f"{n}{text}"),
        keys=more.pop("keys", [f"guid:{n}"]),
        **more,
    )


def found(store: Store, words: str) -> list[str]:
    """URLs of the documents full-text search finds for `words`."""
    return [
        r[0]
        for r in store.db.execute(
            "SELECT url FROM documents WHERE id IN"
            " (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?) ORDER BY url",
            [fts_query(words)],
        )
    ]


def count(store: Store, table: str) -> int:
    return int(store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# --- sqlite-utils only for migrations ------------------------------------------------------------


def test_opening_an_up_to_date_database_leaves_sqlite_utils_unimported(db_path: Path) -> None:
    first = run_python(OPEN, str(db_path))  # a new database: sqlite-utils applies the migrations
    assert first == {"sqlite_utils": True, "pending": []}
    assert run_python(OPEN, str(db_path)) == {"sqlite_utils": False, "pending": []}


@pytest.mark.parametrize("stop_before", ["0008_source_scoped_numbers", "0011_stemmed_search", NAMES[-1]])
def test_a_database_of_a_previous_schema_is_upgraded_to_the_schema_of_a_new_one(
    tmp_path: Path, stop_before: str
) -> None:
    old = tmp_path / "old.db"
    old_database(old, stop_before)
    assert run_python(OPEN, str(old)) == {"sqlite_utils": True, "pending": []}
    with Store(tmp_path / "new.db"):
        pass
    assert schema(old) == schema(tmp_path / "new.db")
    assert run_python(OPEN, str(old)) == {"sqlite_utils": False, "pending": []}


def test_a_fetch_of_an_up_to_date_database_imports_no_sqlite_utils(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    items = "".join(
        f"<item><title>Notice {n}</title><link>{httpserver.url_for(f'/{n}')}</link>"
        f"<guid>{n}</guid><description>Notice {n} on gallium.</description></item>"
        for n in range(3)
    )
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>'
    httpserver.expect_request("/feed.xml").respond_with_data(feed, content_type="application/rss+xml")
    config = tmp_path / "tracker.toml"
    disabled = "".join(
        f"[sources.{s}]\nenabled = false\n" for s in ("mofcom", "whitehouse", "federalregister", "usgs")
    )
    config.write_text(
        f'[fetch]\nhost_delay = 0.0\nretries = 1\n{disabled}[sources.feed]\nkind = "rss"\n'
        f'url = "{httpserver.url_for("/feed.xml")}"\n',
        "utf-8",
    )
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print(json.dumps({'sqlite_utils': 'sqlite_utils' in sys.modules})))\n"
        "from tracker.cli import main\n"
        "sys.argv = ['tracker', '--config', sys.argv[1], '--db', sys.argv[2], 'fetch']\n"
        "main()\n"
    )
    db = tmp_path / "tracker.db"
    assert run_python(code, str(config), str(db)) == {"sqlite_utils": True}  # made: migrations applied
    assert run_python(code, str(config), str(db)) == {"sqlite_utils": False}  # the next fetch
    with Store(db) as store:
        assert count(store, "documents") == 3


@pytest.mark.parametrize("stop_before", ["<new>", *NAMES, None])
def test_the_pending_check_agrees_with_sqlite_utils_migrations(
    tmp_path: Path, stop_before: str | None
) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    ours = Connection(conn)
    if stop_before != "<new>":
        migrations.apply(ours, stop_before=stop_before)
        # another set's migrations in the same table are not ours
        conn.execute(
            "INSERT INTO _sqlite_migrations(migration_set, name, applied_at) VALUES ('other', ?, 'x')",
            [NAMES[-1]],
        )
    theirs = sqlite_utils.Migrations(migrations.name)
    for m in migrations.migrations:
        theirs(name=m.name)(m.fn)
    database = sqlite_utils.Database(conn)
    assert [m.name for m in migrations.pending(ours)] == [m.name for m in theirs.pending(database)]
    assert migrations.applied(ours) == [m.name for m in theirs.applied(database)]
    conn.close()


@pytest.mark.parametrize("make", [Connection, sqlite_utils.Database], ids=["ours", "sqlite_utils"])
def test_our_connection_behaves_as_sqlite_utils_database(tmp_path: Path, make: Callable[[Any], Any]) -> None:
    path = tmp_path / "x.db"
    db = make(sqlite3.connect(path))
    other = sqlite3.connect(path)

    def stored() -> list[Any]:
        return other.execute("SELECT v FROM t ORDER BY id").fetchall()

    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    db.execute("INSERT INTO t(v) VALUES (?)", ["a"])
    assert not db.conn.in_transaction and stored() == [("a",)]  # committed at once
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO t(v) VALUES (NULL)")
    assert not db.conn.in_transaction and stored() == [("a",)]
    db.execute("BEGIN")
    db.execute("INSERT INTO t(v) VALUES ('b')")
    db.execute("ROLLBACK")
    assert stored() == [("a",)]
    assert list(db.query("SELECT id, v, v, 1 AS v_2 FROM t")) == [{"id": 1, "v": "a", "v_3": "a", "v_2": 1}]
    assert list(db.query("SELECT v FROM t WHERE v = :v", {"v": "a"})) == [{"v": "a"}]
    with pytest.raises(ValueError):
        db.query("UPDATE t SET v = 'z'")
    with pytest.raises(ValueError):
        db.query("COMMIT")
    assert stored() == [("a",)]  # the refused statement had no effect
    assert list(db.query("INSERT INTO t(v) VALUES ('c') RETURNING id, v")) == [{"id": 2, "v": "c"}]
    assert stored() == [("a",), ("c",)] and not db.conn.in_transaction
    assert list(db.query("PRAGMA recursive_triggers")) == [{"recursive_triggers": 1}]
    db.close()
    other.close()


# --- fewer statements per stored document ---------------------------------------------------------


def test_a_page_of_new_documents_takes_eight_statements_a_document(db_path: Path) -> None:
    """As a feed's page is stored: one transaction, each document in a savepoint with its
    unclassified mark; the full-text index written at the end, one row a document."""
    with Store(db_path) as store:
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        with store.write():
            for n in range(5):
                with store.write():
                    outcome, doc_id = store.save_document(doc(n))
                    store.mark_unclassified(doc_id)
                assert outcome == "new"
        store.db.conn.set_trace_callback(None)
        # what SQLite runs for FTS5 itself ("-- " lines, its shadow tables) is not ours
        ours = [s for s in statements if not s.startswith("--") and "'main'." not in s]
        assert ours[0] == "BEGIN IMMEDIATE" and ours[-1] == "COMMIT"
        indexed = [i for i, s in enumerate(ours) if s.startswith("INSERT INTO documents_fts")]
        last_release = max(i for i, s in enumerate(ours) if s.startswith("RELEASE"))
        assert len(indexed) == 5 and min(indexed) > last_release
        # savepoint, lookup, document, version, URL, key, mark, release
        assert len(ours) - 2 - len(indexed) == 5 * 8, ours
        assert found(store, "gallium") == [f"http://h/{n}" for n in range(5)]
        assert count(store, "unclassified") == 5


def test_a_document_is_found_by_its_keys_in_order_then_by_url(db_path: Path) -> None:
    with Store(db_path) as store:
        _, first = store.save_document(doc(1))
        _, second = store.save_document(doc(2))
        # keys in order: the first key known wins, whatever the URL says
        assert store.document_id_for(doc(9, keys=["guid:none", "guid:2", "guid:1"])) == second
        at_url = Document(source="s", url="http://h/1", title="t", text="x", raw_hash="r")
        assert store.document_id_for(at_url) == first
        # the page at a URL now shows an announcement of another number: a new document
        _, numbered = store.save_document(doc(3, doc_number="No. 3"))
        other = Document(source="s", url="http://h/3", title="t", text="x", raw_hash="r", doc_number="No. 4")
        assert store.document_id_for(other) is None
        # a config-only source's URL comes before its keys
        scoped = doc(3, keys=["guid:1"], number_scope="s", doc_number="No. 3")
        assert store.document_id_for(scoped) == numbered
        assert store.document_id_for(doc(3, keys=["guid:1"])) == first


def test_documents_and_their_unclassified_marks_are_read_and_cleared_in_batches(db_path: Path) -> None:
    with Store(db_path) as store:
        ids = [store.save_document(doc(n, doc_number=f"No. {n}"))[1] for n in range(3)]
        for i in ids:
            store.mark_unclassified(i)
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        read = store.stored_documents([ids[2], 999, ids[0]])
        store.clear_unclassified_of(ids[:2])
        store.db.conn.set_trace_callback(None)
        assert len(statements) == 2
        assert read == {i: store.stored_document(i) for i in (ids[2], ids[0])}
        assert (
            read[ids[0]].text == "Export controls on gallium, notice 0."
            and read[ids[2]].doc_number == "No. 2"
        )
        assert store.unclassified() == [(ids[2], "pending")]
        many = list(range(1, 1201))  # more ids than one statement takes
        assert store.stored_documents(many) == {i: store.stored_document(i) for i in ids}
        store.clear_unclassified_of(many)
        assert store.stored_documents([]) == {} and store.unclassified() == []


def rows(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT v FROM t ORDER BY k")]


def test_a_nested_write_that_fails_undoes_only_itself_whether_or_not_it_shares_a_savepoint(
    db_path: Path,
) -> None:
    with Store(db_path) as store:
        store.db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        insert = "INSERT INTO t(k, v) VALUES (?, ?)"
        with store.write():
            with store.write():  # opens the savepoint the next write shares
                with pytest.raises(sqlite3.IntegrityError), store.write():
                    store.db.execute(insert, [1, "a"])
                    store.db.execute(insert, [1, "b"])
                store.db.execute(insert, [2, "c"])
                with pytest.raises(sqlite3.IntegrityError), store.write():  # a savepoint of its own
                    store.db.execute(insert, [3, "d"])
                    store.db.execute(insert, [3, "e"])
                store.db.execute(insert, [4, "f"])
        assert rows(store) == ["c", "f"]
        with pytest.raises(RuntimeError), store.write(), store.write():  # not caught: all undone
            store.db.execute(insert, [5, "g"])
            raise RuntimeError
        assert rows(store) == ["c", "f"]


def test_a_one_statement_write_commits_alone_or_joins_the_transaction_under_way(db_path: Path) -> None:
    with Store(db_path) as store, sqlite3.connect(db_path) as other:
        store.db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        insert = "INSERT INTO t(k, v) VALUES (?, ?)"
        store.write_one(insert, [1, "a"])
        assert other.execute("SELECT v FROM t").fetchall() == [("a",)]  # committed
        with store.write():
            store.write_one(insert, [2, "b"])
            with pytest.raises(sqlite3.IntegrityError):  # undoes itself; the transaction goes on
                store.write_one("INSERT INTO t(k, v) VALUES (3, 'c'), (2, 'again')")
            store.write_one(insert, [4, "d"])
            assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)  # not committed yet
        assert rows(store) == ["a", "b", "d"]
        with pytest.raises(RuntimeError), store.write():
            store.write_one("DELETE FROM t")
            raise RuntimeError
        assert rows(store) == ["a", "b", "d"]
    other.close()


def test_the_full_text_index_follows_the_outermost_write_and_what_it_undid(db_path: Path) -> None:
    with Store(db_path) as store:
        with store.write():
            store.save_document(doc(1))
            with pytest.raises(RuntimeError), store.write():  # an item refused: it alone is undone
                store.save_document(doc(2))
                raise RuntimeError
            store.save_document(doc(3))
            # a document new in this write, then changed: indexed once, with its last text
            store.save_document(doc(4, text="Antimony notice."))
            store.save_document(doc(4, text="Tungsten notice."))
            assert found(store, "gallium") == []  # not before the write ends
        assert found(store, "export") == ["http://h/1", "http://h/3"]
        assert found(store, "tungsten") == ["http://h/4"] and found(store, "antimony") == []
        with pytest.raises(RuntimeError), store.write():  # a page that fails as a whole
            store.save_document(doc(5))
            raise RuntimeError
        assert found(store, "notice 5") == []
        assert store.save_document(doc(1, text="Germanium notice."))[0] == "updated"  # outside a page
        assert found(store, "germanium") == ["http://h/1"] and found(store, "export") == ["http://h/3"]
        store.db.execute("INSERT INTO documents_fts(documents_fts) VALUES ('integrity-check')")
        assert count(store, "documents_fts") == count(store, "documents") == 3


def _previous_finish_run(conn: sqlite3.Connection, stats: RunStats, now: str) -> None:
    """How finish_run updated source_state before it was one upsert (the reference)."""
    conn.execute("INSERT OR IGNORE INTO source_state(source) VALUES (?)", [stats.source])
    if stats.status == "interrupted":
        conn.execute(
            "UPDATE source_state SET last_run_at = ?, incomplete = 1 WHERE source = ?", [now, stats.source]
        )
    elif stats.ok:
        conn.execute(
            """UPDATE source_state SET last_run_at = ?, last_success = ?, consecutive_failures = 0, incomplete = 0,
                   last_items_seen = CASE WHEN ? THEN last_items_seen ELSE ? END,
                   max_items_seen = MAX(max_items_seen, ?) WHERE source = ?""",
            [
                now,
                now,
                stats.not_modified and not stats.items_seen,
                stats.items_seen,
                stats.items_seen,
                stats.source,
            ],
        )
    else:
        conn.execute(
            """UPDATE source_state SET last_run_at = ?, last_error = ?, last_error_at = ?, incomplete = 1,
                   consecutive_failures = consecutive_failures + 1, last_items_seen = ?,
                   max_items_seen = MAX(max_items_seen, ?) WHERE source = ?""",
            [now, stats.error, now, stats.items_seen, stats.items_seen, stats.source],
        )


RUNS = {
    "ok": RunStats(source="s", items_seen=5),
    "not modified": RunStats(source="s", not_modified=1),
    "failed": RunStats(source="s", status="failed", error="HTTP 503", items_seen=2),
    "interrupted": RunStats(source="s", status="interrupted", items_seen=1),
    "fewer": RunStats(source="s", items_seen=3),
}


@pytest.mark.parametrize(
    "sequence",
    [[first, *rest] for first in RUNS for rest in ([], ["ok"], ["failed", "failed", "not modified"])]
    + [["ok", "fewer", "interrupted", "not modified"]],
    ids=lambda s: "-".join(s),
)
def test_a_source_s_health_after_its_runs_is_as_before(db_path: Path, sequence: list[str]) -> None:
    columns = "source, last_success IS NULL, last_error, consecutive_failures, last_items_seen, max_items_seen, incomplete"
    with Store(db_path) as store:
        reference = sqlite3.connect(":memory:")
        reference.execute(
            store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'source_state'").fetchone()[0]
        )
        for name in sequence:
            store.finish_run(store.start_run("s", "fetch"), RUNS[name])
            _previous_finish_run(reference, RUNS[name], "now")
        got = store.db.execute(f"SELECT {columns} FROM source_state").fetchall()
        assert got == reference.execute(f"SELECT {columns} FROM source_state").fetchall()
        reference.close()


def test_an_item_is_known_by_its_url_or_any_of_its_keys_in_one_statement(db_path: Path) -> None:
    with Store(db_path) as store:
        with store.write():
            store.save_document(doc(1, keys=["guid:a", "guid:b"]))
        url = doc(1).url
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        answers = [
            store.known(url),
            store.known("http://elsewhere/x", ["guid:zz", "guid:b"]),
            store.known("http://elsewhere/x", ["guid:zz"]),
            store.known("http://elsewhere/x"),
        ]
        store.db.conn.set_trace_callback(None)
        # the same answers as the two lookups it replaces, one statement each
        assert answers == [True, True, False, False]
        assert answers == [
            store.url_known(url),
            any(store.key_known(k) for k in ["guid:zz", "guid:b"]),
            store.key_known("guid:zz"),
            store.url_known("http://elsewhere/x"),
        ]
        assert len(statements) == 4
