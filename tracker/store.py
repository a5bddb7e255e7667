"""The database: opening it (migrations from tracker.schema, errors in one line), transactions, and
the tables of documents, runs, caches, pending texts and list versions. Events, states and alerts
keep their SQL in their own modules for now (tracker.events, tracker.state, tracker.alerts)."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from tracker.errors import MissingDatabaseError, StoreError
from tracker.models import Document, ListVersion, RunStats, sha256
from tracker.schema import fts_text, migrations
from tracker.wording import plural


def now_iso() -> str:
    """Current UTC time, ISO 8601 with offset, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class PendingText:
    """A document whose full text is still to be read."""

    url: str
    document_id: int
    attempts: int
    last_error: str | None


@dataclass
class CacheEntry:
    """What we know of a URL from its last successful fetch."""

    etag: str | None
    last_modified: str | None
    content_hash: str | None
    derived: str | None = None  # what the page told us, for when it answers 304


# What SQLite says about the database file itself, as (error name prefix, what, what to do); the
# first matching prefix wins. Anything else (a constraint, a syntax error) is a bug, not the file.
_PERMISSIONS = "check the permissions of the file and of its folder, or use --db"
_RESTORE = "restore it from a backup, or use --db for another file"
_FOLDER = "make its folder writable, or use --db"
_WAL = "SQLite writes -wal and -shm files beside it: " + _FOLDER
_FULL = "free space on its disk, then run the command again (the failed change was undone)"
_LATER = "another process kept it busy for 30 seconds: run the command again later"
_FILE_ERRORS = (
    ("SQLITE_READONLY_DIRECTORY", "its folder is read-only", _WAL),
    ("SQLITE_READONLY", "the database is read-only", _PERMISSIONS),
    ("SQLITE_CANTOPEN", "cannot open the database file", "check that it is readable and " + _FOLDER),
    ("SQLITE_PERM", "permission denied", _PERMISSIONS),
    ("SQLITE_FULL", "disk full", _FULL),
    ("SQLITE_NOTADB", "not a tracker database or corrupt", _RESTORE),
    ("SQLITE_CORRUPT", "not a tracker database or corrupt", _RESTORE),
    ("SQLITE_IOERR", "input/output error", "check the disk (full? failing?), then run the command again"),
    ("SQLITE_BUSY", "the database is locked", _LATER),
    ("SQLITE_LOCKED", "the database is locked", _LATER),
)
# errors that pass with time: _setup retries them, and Store.write leaves them as they are
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED")


def database_error(path: str | Path, exc: BaseException) -> StoreError | None:
    """The one-line StoreError, with what to do, for an error SQLite reports about the database
    file (read-only, disk full, corrupt, not a database, I/O, locked); None for any other error."""
    code = getattr(exc, "sqlite_errorname", None) or ""
    for prefix, what, hint in _FILE_ERRORS:
        if code.startswith(prefix):
            detail = f" ({exc})" if prefix in ("SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_IOERR") else ""
            return StoreError(f"{path}: {what}{detail}: {hint}")
    return None


def require_database(path: str | Path) -> None:
    """A MissingDatabaseError unless the database file `path` exists: what every command that only
    reads checks first, so that a mistyped --db is an error rather than a new, empty database."""
    file = Path(path)
    if str(path) == ":memory:" or file.exists():
        return
    if file.parent and not file.parent.exists():
        raise MissingDatabaseError(
            f"{file}: folder {file.parent} does not exist: check --db or [database] path"
        )
    raise MissingDatabaseError(f"{path}: no such database (fetch creates one; check --db or [database] path)")


def _empty_file(path: Path) -> bool:
    """True for a file of 0 bytes (with no write-ahead log holding its content)."""
    try:
        if path.stat().st_size:
            return False
        wal = Path(f"{path}-wal")
        return not (wal.exists() and wal.stat().st_size)
    except OSError:
        return False


class Store:
    """A connection to the tracker database. Open one per thread; every write is atomic.

    A missing file becomes a new database (built beside it and moved into place whole), unless
    `create` is false: then it is a MissingDatabaseError, as a reader wants for a mistyped path. An
    existing file must be a tracker database: a 0-byte file, or another program's SQLite file, is
    refused rather than silently taken for an empty tracker."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if str(path) == ":memory:":  # a scratch database (tracker check): no file to look at
            self.db = self._connect(self.path)
            return
        if not create:
            require_database(path)
        try:
            if self.path.parent and not self.path.parent.exists():
                raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
            is_dir, exists = self.path.is_dir(), self.path.exists()
        except OSError as exc:  # a folder on the way that cannot be read
            raise StoreError(
                f"{self.path}: cannot look at the database file: {exc.strerror or exc}: check the "
                "permissions of its folder, or use --db with a full path"
            ) from None
        if is_dir:
            raise StoreError(f"{self.path}: is a folder, not a database file: use --db FILE")
        if not exists:
            self._create()
        elif _empty_file(self.path):
            raise StoreError(
                f"{self.path}: the file is empty (0 bytes), not a tracker database: if it should hold "
                "your data, restore it from a backup; to start a new database, delete it or use --db "
                "for a file that does not exist yet"
            )
        self.db = self._connect(self.path)

    def _connect(self, path: Path) -> sqlite_utils.Database:
        """`path` opened, in WAL mode and migrated; errors name self.path (the file the user gave)."""
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(path), timeout=30)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._setup()
            return self.db
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                error = database_error(self.path, exc)
                raise error or StoreError(f"{self.path}: cannot open database: {exc}") from None
            raise

    def _create(self) -> None:
        """Build a new database under a temporary name and link it into place, so that the file
        appears whole: no process sees it half made, and a 0-byte file is never one of ours."""
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.new")
        try:
            try:
                tmp.touch(exist_ok=False)
            except OSError as exc:
                raise StoreError(
                    f"{self.path}: cannot create the database: {exc.strerror or exc}: "
                    "make its folder writable, or use --db"
                ) from None
            db = self._connect(tmp)
            try:
                # everything into the file itself: the link below takes neither -wal nor -shm
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: open theirs
            except OSError:  # a filesystem without hard links
                if not self.path.exists():
                    os.replace(tmp, self.path)
        finally:
            for leftover in ("", "-wal", "-shm", "-journal"):
                Path(f"{tmp}{leftover}").unlink(missing_ok=True)

    def _setup(self) -> None:
        # Switching to WAL and migrating need the write lock; another process opening the same
        # file at the same moment makes SQLite answer 'locked' at once, so wait and retry.
        for attempt in range(100):
            try:
                pending = migrations.pending(self.db)
                if pending and not migrations.applied(self.db) and (foreign := self._foreign_tables()):
                    # checked before anything is written: another program's file stays as it was
                    raise StoreError(
                        f"{self.path}: not a tracker database (a SQLite database of another program, "
                        f"with tables such as {foreign[0]!r}): use --db for the tracker's database file"
                    )
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode = wal")
                if pending:
                    with self.write():
                        migrations.apply(self.db)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    def _foreign_tables(self) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name != ? ORDER BY name",
                [migrations.migrations_table],
            )
        ]

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction, all or nothing. BEGIN IMMEDIATE takes the write lock up front, so
        concurrent writers wait (busy_timeout) instead of failing on a stale read snapshot. A
        read-only, full or corrupt database raises StoreError (database_error), after the rollback."""
        try:
            with self._transaction():
                yield
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorname", None) or ""
            error = None if code.startswith(_TRANSIENT) else database_error(self.path, exc)
            if error is None:
                raise
            raise error from exc

    @contextmanager
    def rehearsal(self) -> Iterator[None]:
        """A transaction undone at the end, whatever happens in it: what is written inside is
        seen inside, then forgotten (a digest preview brings the alerts up to date this way and
        leaves the database as it was)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.rollback()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self.db.conn
        if conn.in_transaction:
            name = f"sp_{secrets.token_hex(8)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                # SQLite may already have rolled the whole transaction back (disk full, I/O error):
                # then there is no savepoint left, and the original error is the one to raise
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        try:
            conn.commit()
        except sqlite3.DatabaseError:
            if conn.in_transaction:  # a failed COMMIT (disk full) may leave the transaction open
                conn.rollback()
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- documents -----------------------------------------------------------------------------

    def document_id_for(self, doc: Document) -> int | None:
        """The stored document this delivery belongs to: by any of its keys, else by URL (unless
        the document at that URL has another number: a page that now shows a new announcement).
        A config-only source's URL comes first: its scoped keys are only as good as the dates it
        had (a document split off by migration 0008 gets its key on the next fetch)."""
        if doc.number_scope is not None and (by_url := self._document_at_url(doc)) is not None:
            return by_url
        for key in doc.all_keys:
            row = self.db.execute("SELECT document_id FROM document_keys WHERE key = ?", [key]).fetchone()
            if row:
                return int(row[0])
        return self._document_at_url(doc)

    def _document_at_url(self, doc: Document) -> int | None:
        row = self.db.execute(
            "SELECT u.document_id, d.doc_number FROM document_urls u JOIN documents d ON d.id = u.document_id"
            " WHERE u.url = ? ORDER BY u.last_seen DESC, u.document_id DESC LIMIT 1",
            [doc.url],
        ).fetchone()
        if row is None or (doc.doc_number and row[1] and row[1] != doc.doc_number):
            return None
        return int(row[0])

    def url_known(self, url: str) -> bool:
        """True when a document was already stored from `url`."""
        return self.db.execute("SELECT 1 FROM document_urls WHERE url = ?", [url]).fetchone() is not None

    def url_known_by(self, url: str, source: str) -> bool:
        """True when `source` already stored a document from `url`."""
        row = self.db.execute(
            "SELECT 1 FROM document_urls WHERE url = ? AND source = ? LIMIT 1", [url, source]
        ).fetchone()
        return row is not None

    def key_known(self, key: str) -> bool:
        """True when a document with this identifier (document number, guid) is stored."""
        return self.db.execute("SELECT 1 FROM document_keys WHERE key = ?", [key]).fetchone() is not None

    def fill_published(self, doc_id: int, published: date | None) -> bool:
        """Give a stored document without a date of issue the one a delivery of it brings (a
        document split off by migration 0008 has none); True when it did."""
        if published is None:
            return False
        with self.write():
            cur = self.db.execute(
                "UPDATE documents SET published = ? WHERE id = ? AND published IS NULL",
                [published.isoformat(), doc_id],
            )
        return cur.rowcount > 0

    def save_document(self, doc: Document, fetched_at: str | None = None) -> tuple[str, int]:
        """Store one delivery of an announcement, atomically. Returns (outcome, document id), the
        outcome being 'new', 'updated' (the page at this URL changed: a new version is kept),
        'merged' (a known announcement reached by another URL or source) or 'unchanged'. The
        delivery is sanitised first (Document.sanitise: ParseError for a URL no reader may follow)."""
        doc.sanitise()
        now = fetched_at or now_iso()
        chash = doc.content_hash
        with self.write():
            doc_id = self.document_id_for(doc)
            if doc_id is None:
                doc_id = self._insert_document(doc, now, chash)
                outcome = "new"
            else:
                outcome = self._update_document(doc_id, doc, now, chash)
            for key in doc.all_keys:
                self.db.execute(
                    "INSERT OR IGNORE INTO document_keys(key, document_id) VALUES (?, ?)", [key, doc_id]
                )
            if outcome in ("new", "updated"):
                self.db.execute("DELETE FROM documents_fts WHERE rowid = ?", [doc_id])
                self.db.execute(
                    "INSERT INTO documents_fts(rowid, title, body) VALUES (?, ?, ?)",
                    [doc_id, fts_text(doc.title), fts_text(doc.text)],
                )
        return outcome, doc_id

    def _insert_document(self, doc: Document, now: str, chash: str) -> int:
        cur = self.db.execute(
            """INSERT INTO documents(source, url, title, published, language, doc_number, kind, text,
                   content_hash, raw_hash, version, meta, first_seen, fetched_at, updated_at, source_kind)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)""",
            [
                doc.source,
                doc.url,
                doc.title,
                _iso(doc.published),
                doc.language,
                doc.doc_number,
                doc.kind,
                doc.text,
                chash,
                doc.raw_hash,
                json.dumps(doc.meta, ensure_ascii=False, sort_keys=True, default=str),
                now,
                now,
                now,
                doc.source_kind,
            ],
        )
        doc_id = int(cur.lastrowid or 0)
        self._insert_version(doc_id, 1, doc, chash, now)
        self._upsert_url(doc_id, doc, chash, now)
        return doc_id

    def _update_document(self, doc_id: int, doc: Document, now: str, chash: str) -> str:
        seen = self.db.execute(
            "SELECT document_id, content_hash FROM document_urls WHERE url = ? AND document_id = ?"
            " ORDER BY last_seen DESC LIMIT 1",
            [doc.url, doc_id],
        ).fetchone()
        if seen is not None:
            if seen[1] == chash:
                new_source = (
                    self.db.execute(
                        "SELECT 1 FROM document_urls WHERE url = ? AND document_id = ? AND source = ?",
                        [doc.url, doc_id, doc.source],
                    ).fetchone()
                    is None
                )
                self._upsert_url(doc_id, doc, chash, now)
                return "merged" if new_source else "unchanged"
            version = (
                self.db.execute("SELECT version FROM documents WHERE id = ?", [doc_id]).fetchone()[0] + 1
            )
            self._insert_version(doc_id, version, doc, chash, now)
            self._upsert_url(doc_id, doc, chash, now)
            self.db.execute(
                """UPDATE documents SET title = ?, text = ?, content_hash = ?, raw_hash = ?,
                       version = ?, published = COALESCE(?, published),
                       doc_number = COALESCE(doc_number, ?), fetched_at = ?, updated_at = ?
                   WHERE id = ?""",
                [
                    doc.title,
                    doc.text,
                    chash,
                    doc.raw_hash,
                    version,
                    _iso(doc.published),
                    doc.doc_number,
                    now,
                    now,
                    doc_id,
                ],
            )
            return "updated"
        # the same announcement from another URL or source: keep its text as a version of its own
        # (nothing is lost) without replacing the document's text
        known_hashes = {
            r[0]
            for r in self.db.execute(
                "SELECT content_hash FROM document_versions WHERE document_id = ?", [doc_id]
            )
        }
        if chash not in known_hashes:
            version = self.db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM document_versions WHERE document_id = ?", [doc_id]
            ).fetchone()[0]
            self._insert_version(doc_id, version + 1, doc, chash, now)
        self._upsert_url(doc_id, doc, chash, now)
        self.db.execute(
            "UPDATE documents SET doc_number = COALESCE(doc_number, ?), published = COALESCE(published, ?) WHERE id = ?",
            [doc.doc_number, _iso(doc.published), doc_id],
        )
        stored_text = self.db.execute("SELECT text FROM documents WHERE id = ?", [doc_id]).fetchone()[0]
        if not (stored_text or "").strip() and doc.text.strip():
            # the first delivery had no text (a refused full text): this one's text is the document's
            self.db.execute(
                "UPDATE documents SET text = ?, content_hash = ?, updated_at = ? WHERE id = ?",
                [doc.text, sha256(self._title(doc_id) + "\n" + doc.text.strip()), now, doc_id],
            )
            self._reindex(doc_id)
            return "updated"
        return "merged"

    def _title(self, doc_id: int) -> str:
        return str(
            self.db.execute("SELECT title FROM documents WHERE id = ?", [doc_id]).fetchone()[0]
        ).strip()

    def _reindex(self, doc_id: int) -> None:
        row = self.db.execute("SELECT title, text FROM documents WHERE id = ?", [doc_id]).fetchone()
        self.db.execute("DELETE FROM documents_fts WHERE rowid = ?", [doc_id])
        self.db.execute(
            "INSERT INTO documents_fts(rowid, title, body) VALUES (?, ?, ?)",
            [doc_id, fts_text(row[0]), fts_text(row[1])],
        )

    def _insert_version(self, doc_id: int, version: int, doc: Document, chash: str, now: str) -> None:
        self.db.execute(
            """INSERT INTO document_versions(document_id, version, url, title, text, content_hash,
                   raw_hash, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [doc_id, version, doc.url, doc.title, doc.text, chash, doc.raw_hash, now],
        )

    def _upsert_url(self, doc_id: int, doc: Document, chash: str, now: str) -> None:
        self.db.execute(
            """INSERT INTO document_urls(url, document_id, source, content_hash, raw_hash, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(url, document_id, source) DO UPDATE SET content_hash = excluded.content_hash,
                   raw_hash = excluded.raw_hash, last_seen = excluded.last_seen""",
            [doc.url, doc_id, doc.source, chash, doc.raw_hash, now, now],
        )

    def documents(self, source: str | None = None) -> Iterator[dict[str, Any]]:
        """Stored documents, oldest issue date first, with `urls` and `sources` they came from."""
        where, params = (
            ("WHERE d.id IN (SELECT document_id FROM document_urls WHERE source = ?)", [source])
            if source
            else ("", [])
        )
        sql = f"SELECT d.* FROM documents d {where} ORDER BY d.published, d.id"
        for row in self.db.query(sql, params):
            urls = list(
                self.db.query(
                    "SELECT url, source FROM document_urls WHERE document_id = ? ORDER BY first_seen, url",
                    [row["id"]],
                )
            )
            row["meta"] = json.loads(row["meta"])
            row["urls"] = [u["url"] for u in urls]
            row["sources"] = sorted({u["source"] for u in urls})
            yield row

    def versions(self, document_id: int) -> list[dict[str, Any]]:
        """Every text seen for a document, oldest first."""
        return list(
            self.db.query(
                "SELECT * FROM document_versions WHERE document_id = ? ORDER BY version", [document_id]
            )
        )

    # --- classification bookkeeping --------------------------------------------------------------

    def mark_unclassified(self, document_id: int, reason: str = "pending") -> None:
        """Note that a document is not classified: 'pending' until its classification is stored,
        or why the rules could not classify it."""
        with self.write():
            self.db.execute(
                """INSERT INTO unclassified(document_id, reason, since) VALUES (?, ?, ?)
                   ON CONFLICT(document_id) DO UPDATE SET reason = excluded.reason""",
                [document_id, reason, now_iso()],
            )

    def clear_unclassified(self, document_id: int | None = None) -> None:
        """The document is classified (or, with None, every document is about to be)."""
        with self.write():
            if document_id is None:
                self.db.execute("DELETE FROM unclassified")
            else:
                self.db.execute("DELETE FROM unclassified WHERE document_id = ?", [document_id])

    def unclassified(self, reason: str | None = None) -> list[tuple[int, str]]:
        """Documents stored without their classification (only those with `reason`, when given)."""
        sql = "SELECT document_id, reason FROM unclassified"
        rows = self.db.execute(
            sql + (" WHERE reason = ?" if reason else "") + " ORDER BY document_id",
            [reason] if reason else [],
        ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    # --- full texts still to read ----------------------------------------------------------------

    def has_full_text(self, keys: list[str]) -> bool:
        """True when a stored document with one of these keys has a text and none still pending."""
        for key in keys:
            row = self.db.execute(
                """SELECT d.text, EXISTS (SELECT 1 FROM pending_texts p WHERE p.document_id = d.id)
                   FROM document_keys k JOIN documents d ON d.id = k.document_id WHERE k.key = ?""",
                [key],
            ).fetchone()
            if row is not None:
                return bool((row[0] or "").strip()) and not row[1]
        return False

    def add_pending_text(self, source: str, url: str, document_id: int) -> None:
        """Remember that a document's full text (at `url`) is still to be read."""
        with self.write():
            self.db.execute(
                """INSERT INTO pending_texts(url, document_id, source, first_seen) VALUES (?, ?, ?, ?)
                   ON CONFLICT(source, url) DO UPDATE SET document_id = excluded.document_id""",
                [url, document_id, source, now_iso()],
            )

    def drop_pending_text(self, source: str, document_id: int) -> None:
        """The document's full text was read (or it is gone): nothing more to fetch."""
        with self.write():
            self.db.execute(
                "DELETE FROM pending_texts WHERE source = ? AND document_id = ?", [source, document_id]
            )

    def pending_text_failed(self, source: str, url: str, error: str) -> None:
        """One more failed attempt at a pending text."""
        with self.write():
            self.db.execute(
                """UPDATE pending_texts SET attempts = attempts + 1, last_error = ?, last_try = ?
                   WHERE source = ? AND url = ?""",
                [error, now_iso(), source, url],
            )

    def pending_texts(self, source: str, limit: int) -> list[PendingText]:
        """A source's pending texts, never-tried first, then the longest untried."""
        if limit <= 0:
            return []
        rows = self.db.execute(
            """SELECT url, document_id, attempts, last_error FROM pending_texts WHERE source = ?
               ORDER BY last_try IS NOT NULL, last_try, first_seen LIMIT ?""",
            [source, limit],
        ).fetchall()
        return [PendingText(*r) for r in rows]

    def pending_text_count(self, source: str) -> int:
        """How many of a source's documents still wait for their full text."""
        return int(
            self.db.execute("SELECT count(*) FROM pending_texts WHERE source = ?", [source]).fetchone()[0]
        )

    def document_delivery(self, document_id: int, source: str) -> Document | None:
        """A stored document as `source` delivered it (its URL in that source), to deliver again
        with more (a full text read later); None when the document or its URL is gone."""
        row = self.db.execute(
            """SELECT d.title, d.text, d.published, d.language, d.doc_number, d.kind, d.meta, u.url
               FROM documents d JOIN document_urls u ON u.document_id = d.id AND u.source = ?
               WHERE d.id = ? ORDER BY u.last_seen DESC LIMIT 1""",
            [source, document_id],
        ).fetchone()
        if row is None:
            return None
        title, text, published, language, number, kind, meta, url = row
        return Document(
            source=source,
            url=url,
            title=title,
            text=text,
            raw_hash=sha256(text),
            published=date.fromisoformat(published) if published else None,
            language=language or "en",
            doc_number=number,
            kind=kind,
            meta=json.loads(meta or "{}"),
        )

    # --- conditional GET -----------------------------------------------------------------------

    def cache_entry(self, url: str) -> CacheEntry | None:
        """Validators and body hash from the last complete processing of `url`."""
        row = self.db.execute(
            "SELECT etag, last_modified, content_hash, derived FROM http_cache WHERE url = ?", [url]
        ).fetchone()
        return CacheEntry(*row) if row else None

    def save_cache_entry(
        self, url: str, etag: str | None, last_modified: str | None, body: bytes, derived: str | None = None
    ) -> None:
        """Remember validators once a response was fully processed (never before: a crash must
        make the next run read it again), and what the page told us (`derived`)."""
        with self.write():
            self.db.execute(
                """INSERT INTO http_cache(url, etag, last_modified, content_hash, updated_at, derived)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
                       content_hash = excluded.content_hash, updated_at = excluded.updated_at,
                       derived = excluded.derived""",
                [url, etag, last_modified, sha256(body), now_iso(), derived],
            )

    # --- runs and source health ----------------------------------------------------------------

    def start_run(self, source: str, mode: str) -> int:
        """Record that a run began; a crash leaves it 'running' until `close_interrupted_runs`."""
        with self.write():
            cur = self.db.execute(
                "INSERT INTO fetch_runs(source, mode, started_at, status) VALUES (?, ?, ?, 'running')",
                [source, mode, now_iso()],
            )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, stats: RunStats) -> None:
        """Close a run and update the source's health in one transaction."""
        now = now_iso()
        error = stats.error
        if stats.item_errors and not error:
            error = f"{plural(len(stats.item_errors), 'item')} failed: " + "; ".join(stats.item_errors[:3])
        with self.write():
            self.db.execute(
                """UPDATE fetch_runs SET finished_at = ?, status = ?, http_status = ?, items_seen = ?,
                       new_documents = ?, updated_documents = ?, pages = ?, requests = ?, not_modified = ?,
                       error = ?, notes = ? WHERE id = ?""",
                [
                    now,
                    stats.status,
                    stats.http_status,
                    stats.items_seen,
                    stats.new_documents,
                    stats.updated_documents,
                    stats.pages,
                    stats.requests,
                    stats.not_modified,
                    error,
                    "; ".join(stats.notes) or None,
                    run_id,
                ],
            )
            self.db.execute("INSERT OR IGNORE INTO source_state(source) VALUES (?)", [stats.source])
            if stats.status == "interrupted":  # not the source's fault: health is untouched
                self.db.execute(
                    "UPDATE source_state SET last_run_at = ?, incomplete = 1 WHERE source = ?",
                    [now, stats.source],
                )
            elif stats.ok:
                self.db.execute(
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
                self.db.execute(
                    """UPDATE source_state SET last_run_at = ?, last_error = ?, last_error_at = ?, incomplete = 1,
                           consecutive_failures = consecutive_failures + 1, last_items_seen = ?,
                           max_items_seen = MAX(max_items_seen, ?) WHERE source = ?""",
                    [now, error, now, stats.items_seen, stats.items_seen, stats.source],
                )

    def close_interrupted_runs(self, sources: list[str] | None = None) -> int:
        """Mark runs a crash left 'running' as 'interrupted' (their sources resume next time); only
        those of `sources` when given, so a run going on in another thread is left alone."""
        cond, params = "status = 'running'", []
        if sources:
            cond += f" AND source IN ({','.join('?' * len(sources))})"
            params = list(sources)
        with self.write():
            self.db.execute(
                f"INSERT OR IGNORE INTO source_state(source) SELECT DISTINCT source FROM fetch_runs WHERE {cond}",
                params,
            )
            self.db.execute(
                f"UPDATE source_state SET incomplete = 1 WHERE source IN (SELECT source FROM fetch_runs WHERE {cond})",
                params,
            )
            cur = self.db.execute(
                f"UPDATE fetch_runs SET status = 'interrupted', finished_at = ? WHERE {cond}",
                [now_iso(), *params],
            )
        return cur.rowcount

    def source_state(self, source: str) -> dict[str, Any] | None:
        """The health row of one source, if it ever ran."""
        rows = list(self.db.query("SELECT * FROM source_state WHERE source = ?", [source]))
        return rows[0] if rows else None

    def runs(self, source: str | None = None) -> list[dict[str, Any]]:
        """Fetch runs, newest first."""
        if source:
            return list(self.db.query("SELECT * FROM fetch_runs WHERE source = ? ORDER BY id DESC", [source]))
        return list(self.db.query("SELECT * FROM fetch_runs ORDER BY id DESC"))

    def document_counts(self) -> dict[str, int]:
        """Documents stored per source (a document carried by two sources counts for both)."""
        return {
            r["source"]: r["n"]
            for r in self.db.query(
                "SELECT source, COUNT(DISTINCT document_id) AS n FROM document_urls GROUP BY source"
            )
        }

    # --- list versions -------------------------------------------------------------------------

    def list_versions(self, source: str | None = None) -> list[dict[str, Any]]:
        """Every stored list version, oldest first."""
        sql = "SELECT * FROM list_versions" + (" WHERE source = ?" if source else "") + " ORDER BY id"
        rows = list(self.db.query(sql, [source] if source else []))
        for r in rows:
            r["items"] = json.loads(r["items"])
        return rows

    def list_versions_at(self, source: str, url: str) -> int:
        """How many list versions a source kept from one URL."""
        return int(
            self.db.execute(
                "SELECT count(*) FROM list_versions WHERE source = ? AND url = ?", [source, url]
            ).fetchone()[0]
        )

    def next_list_document(self, source: str, document_id: int) -> int | None:
        """The document of the source's list version that follows the one of `document_id` (by date
        of the list, then order of arrival), if any."""
        row = self.db.execute(
            """SELECT n.document_id FROM list_versions c JOIN list_versions n ON n.source = c.source
               WHERE c.source = ? AND c.document_id = ? AND n.document_id IS NOT NULL
                 AND (COALESCE(n.published, '') > COALESCE(c.published, '')
                      OR (COALESCE(n.published, '') = COALESCE(c.published, '') AND n.id > c.id))
               ORDER BY COALESCE(n.published, ''), n.id LIMIT 1""",
            [source, document_id],
        ).fetchone()
        return int(row[0]) if row else None

    def save_list_version(
        self, source: str, url: str, document_id: int | None, lv: ListVersion, kind: str = "usgs-list"
    ) -> bool:
        """Store a list version unless it equals the newest one at `url`; True when it was new."""
        items_hash = sha256("\n".join(lv.items))
        with self.write():
            last = self.db.execute(
                "SELECT items_hash FROM list_versions WHERE source = ? AND url = ? ORDER BY id DESC LIMIT 1",
                [source, url],
            ).fetchone()
            if last and last[0] == items_hash:
                return False
            self.db.execute(
                """INSERT INTO list_versions(source, url, document_id, published, stated_count, items,
                       items_hash, fetched_at, source_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    source,
                    url,
                    document_id,
                    _iso(lv.published),
                    lv.stated_count,
                    json.dumps(lv.items, ensure_ascii=False),
                    items_hash,
                    now_iso(),
                    kind,
                ],
            )
        return True

    def move_origin(self, old: str, new: str) -> int:
        """Rewrite the stored links that start with the origin `old` (`http://127.0.0.1:8000`) to
        start with `new` (`https://www.example.gov`): document URLs, their versions, list versions,
        pending texts and the URLs in documents' metadata; the HTTP cache is left as it was.
        Returns how many rows changed. For a database fetched from stand-ins of the real sites."""
        prefix = old.rstrip("/") + "/"
        target = new.rstrip("/") + "/"
        changed = 0
        with self.write():
            for table in MOVABLE_URL_TABLES:
                cur = self.db.execute(
                    f"UPDATE {table} SET url = ? || substr(url, ?) WHERE substr(url, 1, ?) = ?",
                    [target, len(prefix) + 1, len(prefix), prefix],
                )
                changed += cur.rowcount
            rows = self.db.execute(
                "SELECT id, meta FROM documents WHERE instr(meta, ?) > 0", [prefix]
            ).fetchall()
            for doc_id, meta in rows:
                data = json.loads(meta)
                if (moved := _moved(data, prefix, target)) != data:
                    self.db.execute(
                        "UPDATE documents SET meta = ? WHERE id = ?",
                        [json.dumps(moved, ensure_ascii=False), doc_id],
                    )
                    changed += 1
        return changed


# the tables whose `url` column is a link a reader may follow (the HTTP cache is not one)
MOVABLE_URL_TABLES = ("documents", "document_urls", "document_versions", "list_versions", "pending_texts")


def _moved(value: Any, prefix: str, target: str) -> Any:
    """`value` (parsed JSON) with every string that starts with `prefix` starting with `target`."""
    if isinstance(value, str) and value.startswith(prefix):
        return target + value[len(prefix) :]
    if isinstance(value, list):
        return [_moved(v, prefix, target) for v in value]
    if isinstance(value, dict):
        return {k: _moved(v, prefix, target) for k, v in value.items()}
    return value


def _iso(d: Any) -> str | None:
    return d.isoformat() if d is not None else None
