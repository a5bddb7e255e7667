"""The tables of documents: documents, their URLs and versions, and the stored documents as
records (`StoredDocument`), one at a time or as the maintainer's filtered listing. What a fetch
keeps between runs about them (unclassified marks, texts still to read, the HTTP cache) is in
tracker.store.bookkeeping."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tracker.models import Document, sha256
from tracker.store.base import Database, now_iso
from tracker.store.migrations import fts_text


@dataclass(frozen=True)
class DocumentEvent:
    """An event a document contributed to, in brief."""

    id: str
    action: str
    jurisdiction: str
    minerals: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "id": self.id,
            "action": self.action,
            "jurisdiction": self.jurisdiction,
            "minerals": self.minerals,
        }


@dataclass(frozen=True)
class StoredDocument:
    """A stored document: its row of `documents`, the text only when read. `sources`, `urls` and
    `events` (the sources and URLs that carried it, the events made of it) are read by
    `document_listing`; `stored_document` leaves them empty."""

    id: int
    title: str
    published: str | None  # the date of issue, ISO
    language: str | None
    doc_number: str | None
    source: str = ""  # the source that stored it first
    kind: str = "announcement"
    source_kind: str | None = None  # the kind of that source
    meta: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    sources: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    events: list[DocumentEvent] = field(default_factory=list)

    def as_dict(self, text: bool = False) -> dict[str, Any]:
        """The JSON form of a listing (`tracker documents --format json`), the text only with `text`."""
        d: dict[str, Any] = {
            "id": self.id,
            "doc_number": self.doc_number,
            "title": self.title,
            "issued": self.published,
            "sources": self.sources,
            "urls": self.urls,
            "language": self.language,
            "events": [e.as_dict() for e in self.events],
        }
        if text:
            d["text"] = self.text
        return d


@dataclass(frozen=True)
class DocumentFilter:
    """Which stored documents a listing keeps: all of these that are given."""

    sources: Sequence[str] = ()  # carried by one of these sources
    unclassified: bool = False  # no event made of them
    published_since: str | None = None  # issued on or after this day (ISO)
    match: str | None = None  # an FTS5 query over title and text
    limit: int | None = None  # at most this many, newest first


_BATCH = 500  # ids in one IN (...) of a statement: far below SQLite's limit of parameters

_DOCUMENT_COLUMNS = (
    "d.id, d.title, d.published, d.language, d.doc_number, d.source, d.kind, d.source_kind, d.meta"
)


def _stored_document(row: Sequence[Any], **more: Any) -> StoredDocument:
    """A record of a row of _DOCUMENT_COLUMNS (then the text, when read)."""
    id_, title, published, language, number, source, kind, source_kind, meta, *text = row
    return StoredDocument(
        id=int(id_),
        title=title,
        published=published,
        language=language,
        doc_number=number,
        source=source,
        kind=kind,
        source_kind=source_kind,
        meta=json.loads(meta or "{}"),
        text=text[0] if text else None,
        **more,
    )


class DocumentTables(Database):
    """Documents and what is known of their URLs."""

    def document_id_for(self, doc: Document) -> int | None:
        """The stored document this delivery belongs to: by any of its keys, else by URL (unless
        the document at that URL has another number: a page that now shows a new announcement).
        A config-only source's URL comes first: its scoped keys are only as good as the dates it
        had (a document split off by migration 0008 gets its key on the next fetch)."""
        return self._lookup(doc, doc.all_keys)[0]

    def _lookup(self, doc: Document, keys: list[str]) -> tuple[int | None, dict[str, int]]:
        """document_id_for `doc` and the stored documents of its `keys` (those known), in one statement."""
        marks = ", ".join("?" * len(keys))
        of_keys = f"SELECT key, document_id, NULL FROM document_keys WHERE key IN ({marks}) UNION ALL "
        rows = self.db.execute(
            (of_keys if keys else "")
            + "SELECT * FROM (SELECT NULL, u.document_id, d.doc_number FROM document_urls u"
            " JOIN documents d ON d.id = u.document_id WHERE u.url = ?"
            " ORDER BY u.last_seen DESC, u.document_id DESC LIMIT 1)",
            [*keys, doc.url],
        ).fetchall()
        by_key = {str(r[0]): int(r[1]) for r in rows if r[0] is not None}
        at_url = next((r for r in rows if r[0] is None), None)
        by_url = None
        if at_url is not None and not (doc.doc_number and at_url[2] and at_url[2] != doc.doc_number):
            by_url = int(at_url[1])
        if doc.number_scope is not None and by_url is not None:
            return by_url, by_key
        return next((by_key[k] for k in keys if k in by_key), by_url), by_key

    def url_known(self, url: str) -> bool:
        """True when a document was already stored from `url`."""
        return self.db.execute("SELECT 1 FROM document_urls WHERE url = ?", [url]).fetchone() is not None

    def known(self, url: str, keys: Sequence[str] = ()) -> bool:
        """True when a document was already stored from `url` or with one of `keys` (one
        statement: `url_known` or any `key_known`)."""
        sql = "SELECT EXISTS (SELECT 1 FROM document_urls WHERE url = ?)"
        if keys:
            marks = ", ".join("?" * len(keys))
            sql += f" OR EXISTS (SELECT 1 FROM document_keys WHERE key IN ({marks}))"
        return bool(self.db.execute(sql, [url, *keys]).fetchone()[0])

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
        cur = self.write_one(
            "UPDATE documents SET published = ? WHERE id = ? AND published IS NULL",
            [published.isoformat(), doc_id],
        )
        return cur.rowcount > 0

    def save_document(self, doc: Document, fetched_at: str | None = None) -> tuple[str, int]:
        """Store one delivery of an announcement, atomically. Returns (outcome, document id), the
        outcome being 'new', 'updated' (the page at this URL changed: a new version is kept),
        'merged' (a known announcement reached by another URL or source) or 'unchanged'. The
        delivery is sanitised first (Document.sanitise: ParseError for a URL no reader may follow).
        Full-text search finds it once the outermost write under way ends (Database.defer)."""
        doc.sanitise()
        now = fetched_at or now_iso()
        chash = doc.content_hash
        keys = doc.all_keys
        with self.write():
            doc_id, known_keys = self._lookup(doc, keys)
            if doc_id is None:
                doc_id = self._insert_document(doc, now, chash)
                outcome = "new"
            else:
                outcome = self._update_document(doc_id, doc, now, chash)
            # a key already stored stays with its document (OR IGNORE: a key may be listed twice)
            if new_keys := [(key, doc_id) for key in keys if key not in known_keys]:
                self.db.conn.executemany(
                    "INSERT OR IGNORE INTO document_keys(key, document_id) VALUES (?, ?)", new_keys
                )
            # indexed at the end of the outermost write (a page's documents together); a new
            # document's id is above every indexed one (documents are never deleted)
            if outcome == "updated":
                self.defer("DELETE FROM documents_fts WHERE rowid = ?", [doc_id])
            if outcome in ("new", "updated"):
                self.defer(
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
        if seen is None:
            return self._merge_delivery(doc_id, doc, now, chash)
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
        self._new_version(doc_id, doc, now, chash)
        return "updated"

    def _new_version(self, doc_id: int, doc: Document, now: str, chash: str) -> None:
        """The page at a URL of the document changed: its text becomes the document's, kept as a
        new version."""
        version = self.db.execute("SELECT version FROM documents WHERE id = ?", [doc_id]).fetchone()[0] + 1
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

    def _merge_delivery(self, doc_id: int, doc: Document, now: str, chash: str) -> str:
        """The same announcement from another URL or source: keep its text as a version of its own
        (nothing is lost) without replacing the document's text, unless the document has none."""
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
        # deferred as save_document's are, and so in order with them
        row = self.db.execute("SELECT title, text FROM documents WHERE id = ?", [doc_id]).fetchone()
        self.defer("DELETE FROM documents_fts WHERE rowid = ?", [doc_id])
        self.defer(
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

    def stored_document(self, document_id: int) -> StoredDocument | None:
        """The stored document `document_id`, text included; None when there is none."""
        row = self.db.execute(
            f"SELECT {_DOCUMENT_COLUMNS}, d.text FROM documents d WHERE d.id = ?", [document_id]
        ).fetchone()
        return None if row is None else _stored_document(row)

    def stored_documents(self, document_ids: Sequence[int]) -> dict[int, StoredDocument]:
        """The stored documents of `document_ids` (those there are), text included, by id: what
        stored_document gives for each, read a few hundred at a time rather than one by one."""
        found: dict[int, StoredDocument] = {}
        for i in range(0, len(document_ids), _BATCH):
            ids = list(document_ids[i : i + _BATCH])
            for row in self.db.execute(
                f"SELECT {_DOCUMENT_COLUMNS}, d.text FROM documents d WHERE d.id IN ({', '.join('?' * len(ids))})",
                ids,
            ):
                found[int(row[0])] = _stored_document(row)
        return found

    def document_ids(self) -> list[int]:
        """The id of every stored document, oldest date of issue first (undated first)."""
        return [int(r[0]) for r in self.db.execute("SELECT id FROM documents ORDER BY published, id")]

    def document_listing(
        self, wanted: DocumentFilter, *, text: bool = False, batch: int = 200
    ) -> Iterator[StoredDocument]:
        """The stored documents `wanted` keeps, newest date of issue first (undated last, ties by
        id, newest first), with their sources, URLs and events, and their text with `text`. The
        query runs at the call (an error in it, such as a full-text query SQLite refuses, is raised
        here); the records are read `batch` at a time as they are iterated."""
        where: list[str] = []
        params: list[Any] = []
        if wanted.sources:
            marks = ", ".join("?" * len(wanted.sources))
            where.append(f"d.id IN (SELECT document_id FROM document_urls WHERE source IN ({marks}))")
            params += wanted.sources
        if wanted.unclassified:
            where.append("NOT EXISTS (SELECT 1 FROM event_drafts x WHERE x.document_id = d.id)")
        if wanted.published_since is not None:
            where.append("d.published >= ?")
            params.append(wanted.published_since)
        if wanted.match is not None:
            where.append("d.id IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?)")
            params.append(wanted.match)
        sql = f"SELECT {_DOCUMENT_COLUMNS}" + (", d.text" if text else "") + " FROM documents d"
        if where:
            sql += " WHERE " + " AND ".join(where)
        # walks idx_documents_published backwards: no sort, and a limit stops the walk early
        sql += " ORDER BY d.published DESC NULLS LAST, d.id DESC"
        if wanted.limit is not None:
            sql += " LIMIT ?"
            params.append(int(wanted.limit))
        cursor = self.db.conn.execute(sql, params)
        return self._listed(cursor, batch)

    def _listed(self, cursor: sqlite3.Cursor, batch: int) -> Iterator[StoredDocument]:
        while rows := cursor.fetchmany(batch):
            ids = [int(r[0]) for r in rows]
            urls, sources = self._urls_of(ids)
            events = self._events_of(ids)
            for r in rows:
                doc_id = int(r[0])
                yield _stored_document(
                    r, sources=sorted(sources[doc_id]), urls=urls[doc_id], events=events[doc_id]
                )

    def _urls_of(self, ids: list[int]) -> tuple[dict[int, list[str]], dict[int, set[str]]]:
        """The URLs (first seen first) and the sources of these documents."""
        urls: dict[int, list[str]] = {i: [] for i in ids}
        sources: dict[int, set[str]] = {i: set() for i in ids}
        for doc_id, url, source in self.db.execute(
            f"SELECT document_id, url, source FROM document_urls WHERE document_id IN ({', '.join('?' * len(ids))})"
            " ORDER BY document_id, first_seen, url",
            ids,
        ):
            if url not in urls[doc_id]:  # one URL carried by two sources is listed once
                urls[doc_id].append(url)
            sources[doc_id].add(source)
        return urls, sources

    def _events_of(self, ids: list[int]) -> dict[int, list[DocumentEvent]]:
        """The events made of these documents, oldest first."""
        events: dict[int, list[DocumentEvent]] = {i: [] for i in ids}
        for doc_id, eid, action, jurisdiction, minerals in self.db.execute(
            "SELECT x.document_id, e.id, e.action, e.jurisdiction, e.minerals FROM event_drafts x"
            f" JOIN events e ON e.id = x.event_id WHERE x.document_id IN ({', '.join('?' * len(ids))})"
            " ORDER BY x.document_id, e.announced, e.id",
            ids,
        ):
            events[doc_id].append(DocumentEvent(eid, action, jurisdiction, json.loads(minerals)))
        return events

    # --- moving stored links to another origin -------------------------------------------------

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
