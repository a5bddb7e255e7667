"""The database schema: versioned migrations, applied on open (never drop-and-recreate)."""

from __future__ import annotations

import re

import sqlite_utils
from sqlite_utils import Migrations

migrations = Migrations("minerals-tracker")


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
    # measure's state again (narrow rows: no title, a mineral's rows span few pages)
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
    from tracker.state import rebuild_all_states

    rebuild_all_states(db.conn)


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
    ]
    for stmt in statements:
        db.execute(stmt)
