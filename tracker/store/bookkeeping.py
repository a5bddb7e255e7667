"""What a fetch keeps between runs: documents stored but not yet classified, full texts still to
read, and the HTTP cache (validators for conditional GET)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date

from tracker.models import Document, sha256
from tracker.store.base import Database, now_iso


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


class BookkeepingTables(Database):
    """Unclassified marks, pending texts and the HTTP cache."""

    # --- classification bookkeeping --------------------------------------------------------------

    def mark_unclassified(self, document_id: int, reason: str = "pending") -> None:
        """Note that a document is not classified: 'pending' until its classification is stored,
        or why the rules could not classify it."""
        self.write_one(
            """INSERT INTO unclassified(document_id, reason, since) VALUES (?, ?, ?)
               ON CONFLICT(document_id) DO UPDATE SET reason = excluded.reason""",
            [document_id, reason, now_iso()],
        )

    def clear_unclassified(self, document_id: int | None = None) -> None:
        """The document is classified (or, with None, every document is about to be)."""
        if document_id is None:
            self.write_one("DELETE FROM unclassified")
        else:
            self.write_one("DELETE FROM unclassified WHERE document_id = ?", [document_id])

    def clear_unclassified_of(self, document_ids: Sequence[int]) -> None:
        """These documents are classified: clear_unclassified for each, in one statement (a few
        hundred ids a statement, in one transaction, for more)."""
        chunks = [list(document_ids[i : i + 500]) for i in range(0, len(document_ids), 500)]
        with self.write() if len(chunks) > 1 else nullcontext():
            for ids in chunks:
                self.write_one(
                    f"DELETE FROM unclassified WHERE document_id IN ({', '.join('?' * len(ids))})", ids
                )

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
        self.write_one(
            """INSERT INTO pending_texts(url, document_id, source, first_seen) VALUES (?, ?, ?, ?)
               ON CONFLICT(source, url) DO UPDATE SET document_id = excluded.document_id""",
            [url, document_id, source, now_iso()],
        )

    def drop_pending_text(self, source: str, document_id: int) -> None:
        """The document's full text was read (or it is gone): nothing more to fetch."""
        self.write_one(
            "DELETE FROM pending_texts WHERE source = ? AND document_id = ?", [source, document_id]
        )

    def pending_text_failed(self, source: str, url: str, error: str) -> None:
        """One more failed attempt at a pending text."""
        self.write_one(
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
        self.write_one(
            """INSERT INTO http_cache(url, etag, last_modified, content_hash, updated_at, derived)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
                   content_hash = excluded.content_hash, updated_at = excluded.updated_at,
                   derived = excluded.derived""",
            [url, etag, last_modified, sha256(body), now_iso(), derived],
        )
