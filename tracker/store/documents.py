"""The tables of documents: documents, their URLs and versions, classification bookkeeping, full
texts still to read, and the HTTP cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from tracker.models import Document, sha256
from tracker.store.base import Database, now_iso
from tracker.store.migrations import fts_text


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


class DocumentTables(Database):
    """Documents and what is known of their URLs."""

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
