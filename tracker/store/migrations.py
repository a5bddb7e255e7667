"""The database schema: versioned migrations, applied on open (never drop-and-recreate).

sqlite-utils applies them (its `Migrations`, recording each in `_sqlite_migrations`), but is
imported only when some are pending: a new or an older database. Whether any are is read here
with plain SQL, so that opening an up-to-date database never imports it."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import sqlite_utils

MigrationFunction = Callable[["sqlite_utils.Database"], None]


class Connected(Protocol):
    """What the migrations are read and applied through: a connection (tracker.store.base.Connection)."""

    conn: sqlite3.Connection


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its name (as recorded once applied) and what it does."""

    name: str
    fn: MigrationFunction


class MigrationSet:
    """The schema's migrations in the order they were registered (with `@migrations(name=...)`),
    read and recorded the way sqlite-utils' `Migrations` of the same name does."""

    migrations_table = "_sqlite_migrations"

    def __init__(self, name: str):
        self.name = name
        self.migrations: list[Migration] = []

    def __call__(self, *, name: str) -> Callable[[MigrationFunction], MigrationFunction]:
        """Register the decorated function as the next migration, called `name`."""

        def register(fn: MigrationFunction) -> MigrationFunction:
            if any(m.name == name for m in self.migrations):
                raise ValueError(f"migration {name!r} is registered twice")
            self.migrations.append(Migration(name, fn))
            return fn

        return register

    def applied(self, db: Connected) -> list[str]:
        """The names of the migrations applied to `db`, in the order they were applied."""
        try:
            rows = db.conn.execute(
                f"SELECT name FROM {self.migrations_table} WHERE migration_set = ? ORDER BY rowid",
                [self.name],
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if str(exc) == f"no such table: {self.migrations_table}":  # a new database
                return []
            raise
        return [str(r[0]) for r in rows]

    def pending(self, db: Connected) -> list[Migration]:
        """The migrations not applied to `db` yet, in order."""
        done = set(self.applied(db))
        return [m for m in self.migrations if m.name not in done]

    def apply(self, db: Connected, *, stop_before: str | None = None) -> None:
        """Apply the pending migrations to `db` (up to the one named `stop_before`), each with the
        record of it in one transaction, by sqlite-utils (imported here: a process that opens only
        up-to-date databases never imports it)."""
        import sqlite_utils

        steps = sqlite_utils.Migrations(self.name)
        for m in self.migrations:
            steps(name=m.name)(m.fn)
        steps.apply(sqlite_utils.Database(db.conn), stop_before=stop_before)


migrations = MigrationSet("minerals-tracker")


@migrations(name="0001_documents_runs")
def _m0001(db: sqlite_utils.Database) -> None:
    statements = [
        """CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            url TEXT NOT NULL,
            title TEXT NOT NULL,
            published TEXT,
            language TEXT,
            doc_number TEXT,
            kind TEXT NOT NULL DEFAULT 'announcement',
            text TEXT NOT NULL DEFAULT '',
            content_hash TEXT NOT NULL,
            raw_hash TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            meta TEXT NOT NULL DEFAULT '{}',
            first_seen TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX idx_documents_doc_number ON documents(doc_number)",
        "CREATE INDEX idx_documents_published ON documents(published)",
        "CREATE INDEX idx_documents_source ON documents(source, published)",
        """CREATE TABLE document_keys (
            key TEXT PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id)
        )""",
        """CREATE TABLE document_urls (
            url TEXT NOT NULL,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            source TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            raw_hash TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            PRIMARY KEY (url, document_id, source)
        )""",
        "CREATE INDEX idx_document_urls_doc ON document_urls(document_id)",
        """CREATE TABLE document_versions (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            version INTEGER NOT NULL,
            url TEXT NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            raw_hash TEXT NOT NULL,
            fetched_at TEXT NOT NULL
        )""",
        "CREATE INDEX idx_document_versions_doc ON document_versions(document_id, version)",
        """CREATE TABLE http_cache (
            url TEXT PRIMARY KEY,
            etag TEXT,
            last_modified TEXT,
            content_hash TEXT,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE fetch_runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            mode TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            http_status INTEGER,
            items_seen INTEGER NOT NULL DEFAULT 0,
            new_documents INTEGER NOT NULL DEFAULT 0,
            updated_documents INTEGER NOT NULL DEFAULT 0,
            pages INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            not_modified INTEGER NOT NULL DEFAULT 0,
            error TEXT
        )""",
        "CREATE INDEX idx_fetch_runs_source ON fetch_runs(source, id)",
        """CREATE TABLE source_state (
            source TEXT PRIMARY KEY,
            last_run_at TEXT,
            last_success TEXT,
            last_error TEXT,
            last_error_at TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_items_seen INTEGER,
            max_items_seen INTEGER NOT NULL DEFAULT 0,
            incomplete INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE list_versions (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            url TEXT NOT NULL,
            document_id INTEGER REFERENCES documents(id),
            published TEXT,
            stated_count INTEGER,
            items TEXT NOT NULL,
            items_hash TEXT NOT NULL,
            fetched_at TEXT NOT NULL
        )""",
        "CREATE INDEX idx_list_versions_source ON list_versions(source, url, id)",
    ]
    for stmt in statements:
        db.execute(stmt)


@migrations(name="0002_events")
def _m0002(db: sqlite_utils.Database) -> None:
    statements = [
        "ALTER TABLE documents ADD COLUMN source_kind TEXT",
        # what each rule made of each document; events are these drafts merged per event id
        """CREATE TABLE event_drafts (
            document_id INTEGER NOT NULL REFERENCES documents(id),
            event_id TEXT NOT NULL,
            rule TEXT NOT NULL,
            draft TEXT NOT NULL,
            PRIMARY KEY (document_id, event_id)
        )""",
        "CREATE INDEX idx_event_drafts_event ON event_drafts(event_id)",
        """CREATE TABLE events (
            id TEXT PRIMARY KEY,
            identity TEXT NOT NULL,
            action TEXT NOT NULL,
            jurisdiction TEXT NOT NULL,
            announced TEXT,
            effective TEXT,
            expires TEXT,
            doc_number TEXT,
            title TEXT NOT NULL,
            targets TEXT NOT NULL DEFAULT '[]',
            minerals TEXT NOT NULL DEFAULT '[]',
            items TEXT NOT NULL DEFAULT '[]',
            refers_to TEXT NOT NULL DEFAULT '[]',
            rule TEXT NOT NULL,
            severity TEXT NOT NULL,
            trigger TEXT NOT NULL DEFAULT '',
            minerals_from_refs INTEGER NOT NULL DEFAULT 0,
            first_seen TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX idx_events_announced ON events(announced)",
        "CREATE INDEX idx_events_jurisdiction ON events(jurisdiction, action, announced)",
        "CREATE INDEX idx_events_doc_number ON events(doc_number)",
        """CREATE TABLE event_minerals (
            event_id TEXT NOT NULL REFERENCES events(id),
            mineral TEXT NOT NULL,
            announced TEXT,
            PRIMARY KEY (event_id, mineral)
        )""",
        "CREATE INDEX idx_event_minerals_mineral ON event_minerals(mineral, announced)",
        """CREATE TABLE event_refs (
            event_id TEXT NOT NULL REFERENCES events(id),
            ref TEXT NOT NULL,
            PRIMARY KEY (event_id, ref)
        )""",
        "CREATE INDEX idx_event_refs_ref ON event_refs(ref)",
    ]
    for stmt in statements:
        db.execute(stmt)


@migrations(name="0003_alerts_digests_jobs")
def _m0003(db: sqlite_utils.Database) -> None:
    statements = [
        # one row per thing worth telling; `key` makes creating it idempotent
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            event_id TEXT,
            source TEXT,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            suppressed INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX idx_alerts_event ON alerts(event_id)",
        # an alert delivered to a recipient, once the mail server accepted the digest holding it
        """CREATE TABLE deliveries (
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            recipient TEXT NOT NULL,
            digest_id INTEGER NOT NULL,
            delivered_at TEXT NOT NULL,
            PRIMARY KEY (alert_id, recipient)
        )""",
        """CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            recipient TEXT NOT NULL,
            day TEXT NOT NULL,
            message_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            alerts INTEGER NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX idx_digests_recipient ON digests(recipient, day)",
        """CREATE TABLE health_incidents (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            reason TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            closed_at TEXT
        )""",
        "CREATE INDEX idx_health_incidents_source ON health_incidents(source, closed_at)",
        # a recipient gets the alerts created after they were first configured, not all history
        """CREATE TABLE recipients_seen (
            email TEXT PRIMARY KEY,
            since TEXT NOT NULL
        )""",
        # the scheduler's own record of when each job last succeeded
        """CREATE TABLE job_runs (
            job TEXT PRIMARY KEY,
            last_start TEXT,
            last_success TEXT,
            last_error TEXT
        )""",
    ]
    for stmt in statements:
        db.execute(stmt)


_HAN = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def fts_text(text: str) -> str:
    """Text as the full-text index holds it: a space around each Han or kana character, so that
    one character (镓) is a word and a phrase query ("出口管制") matches in order."""
    return _HAN.sub(r" \1 ", text)


@migrations(name="0004_fulltext")
def _m0004(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE VIRTUAL TABLE documents_fts USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2')"
    )
    rows = db.execute("SELECT id, title, text FROM documents").fetchall()
    for doc_id, title, text in rows:
        db.execute(
            "INSERT INTO documents_fts(rowid, title, body) VALUES (?, ?, ?)",
            [doc_id, fts_text(title), fts_text(text)],
        )


@migrations(name="0005_query_indexes")
def _m0005(db: sqlite_utils.Database) -> None:
    # one mineral, newest first, stops at the limit: walk (mineral, announced, event_id) in order
    db.execute("DROP INDEX IF EXISTS idx_event_minerals_mineral")
    db.execute("CREATE INDEX idx_event_minerals_order ON event_minerals(mineral, announced, event_id)")
    # order full-text hits by date without reading whole event rows
    db.execute("CREATE INDEX idx_events_id_announced ON events(id, announced)")


@migrations(name="0006_measure_states")
def _m0006(db: sqlite_utils.Database) -> None:
    # the state of each control for each mineral, as intervals [valid_from, valid_to): `status` on a
    # day reads one mineral's rows, stored in the order it answers in, instead of deriving every
    # measure's state again (narrow rows: no title, a mineral's rows span few pages). The rows are
    # derived from the events by tracker.state, which fills them for a database older than this
    # table the first time it answers (a migration runs no live code).
    db.execute(
        """CREATE TABLE measure_states (
            mineral TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_to TEXT NOT NULL,
            event_id TEXT NOT NULL,
            pos INTEGER NOT NULL,
            jurisdiction TEXT NOT NULL,
            announced TEXT NOT NULL,
            measure TEXT NOT NULL,
            state TEXT NOT NULL,
            since TEXT,
            until TEXT,
            changed_by TEXT,
            PRIMARY KEY (mineral, jurisdiction, announced, event_id, pos, valid_from)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX idx_measure_states_event ON measure_states(event_id)")


@migrations(name="0007_full_texts_and_run_notes")
def _m0007(db: sqlite_utils.Database) -> None:
    statements = [
        # a document kept without its full text (the server refused it): fetched again on later runs
        """CREATE TABLE pending_texts (
            url TEXT NOT NULL,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            source TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            first_seen TEXT NOT NULL,
            last_try TEXT,
            PRIMARY KEY (source, url)
        )""",
        "CREATE INDEX idx_pending_texts_try ON pending_texts(source, last_try)",
        # what a run wants its reader to know without failing (texts refused, drafts skipped)
        "ALTER TABLE fetch_runs ADD COLUMN notes TEXT",
        # the kind of source that read the list (its rules diff the list), kept beside the version
        "ALTER TABLE list_versions ADD COLUMN source_kind TEXT NOT NULL DEFAULT 'usgs-list'",
        # what a page told us that is needed again when it answers 304 (the CMS list endpoint a
        # column page names)
        "ALTER TABLE http_cache ADD COLUMN derived TEXT",
    ]
    for stmt in statements:
        db.execute(stmt)


# Frozen copies of the key rules of tracker.models as of 0008: a migration's result must not change
# when live code does. The scope is the source's name (`authority` came with this migration).
_YEAR_0008 = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_URL_0008 = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+")


def _number_key_0008(scope: str, number: str, published: str | None) -> str | None:
    if _YEAR_0008.search(number):
        return f"no:{scope}|{number}"
    if published:
        return f"no:{scope}|{number}|{published[:4]}"
    return None


@migrations(name="0008_source_scoped_numbers")
def _m0008(db: sqlite_utils.Database) -> None:
    # Config-only sources (html-list, rss) were matched on bare numbers ("9") and guids ("123")
    # across sources and years: different notices became one document, the later ones kept only as
    # versions. Each such document is split again, one document per URL, and its keys are scoped.
    # The drafts of split documents are deleted and events are not rebuilt here (that needs live
    # code): the CHANGELOG tells users with html-list or rss sources to run `tracker reclassify`.
    reread: set[str] = set()
    ids = [
        r[0]
        for r in db.execute("SELECT id FROM documents WHERE source_kind IN ('html-list', 'rss') ORDER BY id")
    ]
    for doc_id in ids:
        reread |= _split_0008(db, doc_id)
    # the next fetch reads these sources' lists again in full, bringing the split documents'
    # dates of issue (stored nowhere per URL before)
    for source in sorted(reread):
        db.execute("INSERT OR IGNORE INTO source_state(source) VALUES (?)", [source])
        db.execute("UPDATE source_state SET incomplete = 1 WHERE source = ?", [source])


def _split_0008(db: sqlite_utils.Database, doc_id: int) -> set[str]:
    """Split one document of a config-only kind and scope its keys; returns the sources whose
    lists the next fetch must read again (to date what the split left without a date)."""
    doc = next(db.query("SELECT * FROM documents WHERE id = ?", [doc_id]))
    number = doc["doc_number"]
    urls: dict[str, list[dict[str, Any]]] = {}
    for r in db.query(
        "SELECT * FROM document_urls WHERE document_id = ? ORDER BY first_seen, source", [doc_id]
    ):
        urls.setdefault(r["url"], []).append(r)
    sources = {doc["source"]} | {r["source"] for rows in urls.values() for r in rows}
    keys = [r[0] for r in db.execute("SELECT key FROM document_keys WHERE document_id = ?", [doc_id])]
    if doc["source_kind"] == "html-list":
        bare = [k for k in keys if k == number]
    else:  # a guid key that is no URL, and not yet scoped
        bare = [
            k
            for k in keys
            if k.startswith("guid:")
            and not _URL_0008.match(k[5:])
            and not any(k.startswith(f"guid:{s}|") for s in sources)
        ]
    own_rows = urls.get(doc["url"], [])
    own_sources = {r["source"] for r in own_rows} or {doc["source"]}
    plan = _moving_urls_0008(db, doc, urls, own_sources, global_key=any(k not in bare for k in keys))
    # a changed page at another URL had its text and date of issue written over the document's
    # together: the date the row holds came with the text it shows, so it goes with that URL
    shows_own = bool(own_rows) and _latest_0008(own_rows)["content_hash"] == doc["content_hash"]
    showing = [p for p in plan if p[2]["content_hash"] == doc["content_hash"]]
    dated = None if shows_own or not showing else max(showing, key=lambda p: p[2]["last_seen"])[0]
    published = None if dated is not None else doc["published"]
    meta = json.loads(doc["meta"] or "{}")
    for url, rows, current, shown in plan:
        moved_date = doc["published"] if url == dated else None
        new_id = _split_off_0008(db, doc, meta, url, rows, current, shown, moved_date)
        for s in sorted({r["source"] for r in rows}):
            _add_keys_0008(db, new_id, _scoped_keys_0008(doc["source_kind"], s, number, moved_date, bare))
    if plan:
        _restore_own_text_0008(db, doc, own_rows)
        db.execute("DELETE FROM event_drafts WHERE document_id = ?", [doc_id])
    for key in bare:
        db.execute("DELETE FROM document_keys WHERE key = ? AND document_id = ?", [key, doc_id])
    moved = {p[0] for p in plan}
    for s in sorted({r["source"] for u, rows in urls.items() if u not in moved for r in rows} | own_sources):
        _add_keys_0008(db, doc_id, _scoped_keys_0008(doc["source_kind"], s, number, published, bare))
    db.execute(
        "UPDATE documents SET meta = ?, published = ? WHERE id = ?",
        [
            json.dumps({**meta, "number_scope": doc["source"]}, ensure_ascii=False, sort_keys=True),
            published,
            doc_id,
        ],
    )
    return {r["source"] for p in plan for r in p[1]} | (own_sources if dated is not None else set())


def _latest_0008(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda r: r["last_seen"])


def _moving_urls_0008(
    db: sqlite_utils.Database,
    doc: dict[str, Any],
    urls: dict[str, list[dict[str, Any]]],
    own_sources: set[str],
    *,
    global_key: bool,
) -> list[tuple[str, list[dict[str, Any]], dict[str, Any], dict[str, Any]]]:
    """The URLs that leave the document: (url, its URL rows, the latest of them, the version with
    its last text). What still makes two URLs one: for a feed, an FR number or URL guid (global)
    or the same feed; for a list, the same source and a number that holds its year. A number
    without one was matched across years, and no URL's year of issue was kept: those URLs go."""
    kind, number = doc["source_kind"], doc["doc_number"]
    same_source_merges = kind == "rss" or bool(number and _YEAR_0008.search(number))
    plan = []
    for url, rows in urls.items():
        if url == doc["url"] or (kind == "rss" and global_key):
            continue
        if same_source_merges and own_sources & {r["source"] for r in rows}:
            continue
        current = _latest_0008(rows)
        # the text the URL showed last: a version of it, or (when its text equalled one already
        # kept) the version with that text; a URL whose text cannot be found stays where it is
        shown = next(
            db.query(
                "SELECT * FROM document_versions WHERE document_id = ? AND (content_hash = ? OR url = ?)"
                " ORDER BY content_hash = ? DESC, url = ? DESC, version DESC LIMIT 1",
                [doc["id"], current["content_hash"], url, current["content_hash"], url],
            ),
            None,
        )
        if shown is not None:
            plan.append((url, rows, current, shown))
    return plan


def _add_keys_0008(db: sqlite_utils.Database, doc_id: int, keys: list[str]) -> None:
    for key in keys:
        db.execute("INSERT OR IGNORE INTO document_keys(key, document_id) VALUES (?, ?)", [key, doc_id])


def _scoped_keys_0008(
    kind: str, scope: str, number: str | None, published: str | None, bare: list[str]
) -> list[str]:
    if kind == "html-list":
        key = _number_key_0008(scope, number, published) if number else None
        return [key] if key else []
    return [f"guid:{scope}|{k[5:]}" for k in bare]


def _split_off_0008(
    db: sqlite_utils.Database,
    doc: dict[str, Any],
    meta: dict[str, Any],
    url: str,
    rows: list[dict[str, Any]],
    current: dict[str, Any],
    shown: dict[str, Any],
    published: str | None,
) -> int:
    """A document of its own for `url`, with its versions, URL rows, full text and pending text.
    Dates of issue were kept per document, not per URL: unless `published` is the one recovered
    for it, NULL until the next fetch brings it."""
    source = rows[0]["source"]
    cur = db.execute(
        """INSERT INTO documents(source, url, title, published, language, doc_number, kind, text,
               content_hash, raw_hash, version, meta, first_seen, fetched_at, updated_at, source_kind)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)""",
        [
            source,
            url,
            shown["title"],
            published,
            doc["language"],
            doc["doc_number"],
            doc["kind"],
            shown["text"],
            shown["content_hash"],
            current["raw_hash"],
            json.dumps(
                {**meta, "number_scope": source, "split_from": doc["id"]}, ensure_ascii=False, sort_keys=True
            ),
            min(r["first_seen"] for r in rows),
            max(r["last_seen"] for r in rows),
            max(r["last_seen"] for r in rows),
            doc["source_kind"],
        ],
    )
    new_id = int(cur.lastrowid or 0)
    versions = [
        r[0]
        for r in db.execute(
            "SELECT id FROM document_versions WHERE document_id = ? AND url = ? ORDER BY version",
            [doc["id"], url],
        )
    ]
    for n, vid in enumerate(versions, 1):
        db.execute("UPDATE document_versions SET document_id = ?, version = ? WHERE id = ?", [new_id, n, vid])
    if shown["url"] != url:  # its text equalled one kept under another URL: copy that version
        versions.append(shown["id"])
        db.execute(
            """INSERT INTO document_versions(document_id, version, url, title, text, content_hash, raw_hash,
                   fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                new_id,
                len(versions),
                url,
                shown["title"],
                shown["text"],
                shown["content_hash"],
                current["raw_hash"],
                current["last_seen"],
            ],
        )
    db.execute("UPDATE documents SET version = ? WHERE id = ?", [len(versions), new_id])
    for table in ("document_urls", "pending_texts", "list_versions"):
        db.execute(
            f"UPDATE {table} SET document_id = ? WHERE document_id = ? AND url = ?", [new_id, doc["id"], url]
        )
    db.execute(
        "INSERT INTO documents_fts(rowid, title, body) VALUES (?, ?, ?)",
        [new_id, fts_text(shown["title"]), fts_text(shown["text"])],
    )
    # read the page again on the next fetch (it brings the date of issue), not a 304
    db.execute("DELETE FROM http_cache WHERE url = ?", [url])
    return new_id


def _restore_own_text_0008(
    db: sqlite_utils.Database, doc: dict[str, Any], own_rows: list[dict[str, Any]]
) -> None:
    """A changed page at a URL now split off had replaced the document's title and text: give it
    back those of its own URL."""
    if not own_rows:
        return
    current = _latest_0008(own_rows)
    if current["content_hash"] == doc["content_hash"]:
        return
    shown = next(
        db.query(
            "SELECT * FROM document_versions WHERE document_id = ? AND content_hash = ?"
            " ORDER BY url = ? DESC, version DESC LIMIT 1",
            [doc["id"], current["content_hash"], doc["url"]],
        ),
        None,
    )
    if shown is None:
        return
    db.execute(
        "UPDATE documents SET title = ?, text = ?, content_hash = ?, raw_hash = ? WHERE id = ?",
        [shown["title"], shown["text"], shown["content_hash"], current["raw_hash"], doc["id"]],
    )
    db.execute("DELETE FROM documents_fts WHERE rowid = ?", [doc["id"]])
    db.execute(
        "INSERT INTO documents_fts(rowid, title, body) VALUES (?, ?, ?)",
        [doc["id"], fts_text(shown["title"]), fts_text(shown["text"])],
    )


@migrations(name="0009_unclassified_documents")
def _m0009(db: sqlite_utils.Database) -> None:
    # a document stored but not (yet) classified: 'pending' between the storing transaction and the
    # classifying one (a crash in between is caught up by the next fetch), or why the rules could
    # not classify it (a pattern that ran out of time) until `tracker reclassify`
    db.execute(
        """CREATE TABLE unclassified (
            document_id INTEGER PRIMARY KEY REFERENCES documents(id),
            reason TEXT NOT NULL,
            since TEXT NOT NULL
        )"""
    )


@migrations(name="0010_digest_message_ids")
def _m0010(db: sqlite_utils.Database) -> None:
    # a digest whose delivery is uncertain (the message went out, the server's answer never came)
    # is sent again byte for byte: the same Message-ID, Date and body. `message` keeps those bytes
    # until the server accepts or refuses them; `alert_ids` are what its acceptance delivers.
    for stmt in [
        "ALTER TABLE digests ADD COLUMN alert_ids TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE digests ADD COLUMN message BLOB",
        "ALTER TABLE digests ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1",
    ]:
        db.execute(stmt)


@migrations(name="0011_stemmed_search")
def _m0011(db: sqlite_utils.Database) -> None:
    # English words stemmed in the full-text index ("rare earth" finds "Rare Earths"); Han and kana
    # stay one character a token (fts_text spaces them), which the Porter stemmer leaves alone.
    # The index is rebuilt from its own rows, under the same rowids (documents.id).
    db.execute(
        "CREATE VIRTUAL TABLE documents_fts_stemmed USING fts5(title, body,"
        " tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.execute(
        "INSERT INTO documents_fts_stemmed(rowid, title, body) SELECT rowid, title, body FROM documents_fts"
    )
    db.execute("DROP TABLE documents_fts")
    db.execute("ALTER TABLE documents_fts_stemmed RENAME TO documents_fts")


@migrations(name="0012_events_to_alert")
def _m0012(db: sqlite_utils.Database) -> None:
    # Bringing the alerts up to date looked at every event each time. Triggers now note each event
    # written (inserted, or updated in any column) in `events_to_alert`; the sync looks at those
    # alone and empties the table in the same transaction. Seeded with every event, so that the
    # first sync after this migration looks at them all once, as before. (NOT EXISTS rather than
    # INSERT OR IGNORE: the conflict policy of the statement that fires a trigger overrides the
    # one written in the trigger, and an upsert into `events` would make the duplicate an error.)
    noted = """INSERT INTO events_to_alert(event_id) SELECT new.id
               WHERE NOT EXISTS (SELECT 1 FROM events_to_alert WHERE event_id = new.id)"""
    statements = [
        "CREATE TABLE events_to_alert (event_id TEXT PRIMARY KEY) WITHOUT ROWID",
        f"CREATE TRIGGER events_to_alert_insert AFTER INSERT ON events BEGIN {noted}; END",
        f"CREATE TRIGGER events_to_alert_update AFTER UPDATE ON events BEGIN {noted}; END",
        "INSERT INTO events_to_alert(event_id) SELECT id FROM events",
        # the deadlines ahead (a start or an expiry within days of today) read a range of dates
        "CREATE INDEX idx_events_effective ON events(effective)",
        "CREATE INDEX idx_events_expires ON events(expires)",
    ]
    for stmt in statements:
        db.execute(stmt)


@migrations(name="0013_amounts_recipients_aliases")
def _m0013(db: sqlite_utils.Database) -> None:
    # Funding events name a sum and whom it goes to. A control is also known by other names than
    # its document number: its title and its Federal Register citation, by which a later rule
    # that suspends it cites it ("… suspension of the interim final rule, ``Expansion of …''",
    # "(90 FR 47201)"); `event_aliases` holds them (tracker.names.alias_key), and references are
    # looked up by lower(ref) while the measure they name is not stored yet. A control that names
    # no mineral (the BIS affiliates rule) now has states too: the stored states are dropped, so
    # that the next `status` derives them all again (tracker.state.fill_if_missing).
    statements = [
        "ALTER TABLE events ADD COLUMN amount TEXT",
        "ALTER TABLE events ADD COLUMN recipient TEXT",
        """CREATE TABLE event_aliases (
            alias TEXT NOT NULL,
            event_id TEXT NOT NULL REFERENCES events(id),
            PRIMARY KEY (alias, event_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX idx_event_aliases_event ON event_aliases(event_id)",
        "CREATE INDEX idx_event_refs_lower ON event_refs(lower(ref))",
        "DELETE FROM measure_states",
    ]
    for stmt in statements:
        db.execute(stmt)
