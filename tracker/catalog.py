"""Reading the document log: what is stored and what the rules made of each document.

`list_documents(...)` streams `StoredDocument` records (newest date of issue first) filtered by
source, a date of issue, a full-text search, and whether the rules made any event of them; it is
the maintainer's view for finding what the rules missed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from tracker.errors import InputError
from tracker.store import Store
from tracker.timeline import fts_query

# documents read per round of url and event queries: a few queries per batch instead of per document
BATCH = 200


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


@dataclass
class StoredDocument:
    """One stored document, the sources and URLs that carried it, and the events made of it."""

    id: int
    doc_number: str | None
    title: str
    issued: str | None
    language: str | None
    sources: list[str]
    urls: list[str]
    events: list[DocumentEvent]
    text: str | None = None  # read only when asked for

    def as_dict(self, text: bool = False) -> dict[str, Any]:
        """JSON-ready, the text only with `text`."""
        d: dict[str, Any] = {
            "id": self.id,
            "doc_number": self.doc_number,
            "title": self.title,
            "issued": self.issued,
            "sources": self.sources,
            "urls": self.urls,
            "language": self.language,
            "events": [e.as_dict() for e in self.events],
        }
        if text:
            d["text"] = self.text
        return d


def list_documents(
    store: Store,
    *,
    sources: Iterable[str] = (),
    unclassified: bool = False,
    search: str | None = None,
    since: date | None = None,
    limit: int | None = None,
    text: bool = False,
    batch: int = BATCH,
) -> Iterator[StoredDocument]:
    """Stored documents matching every filter given, newest date of issue first (undated last, ties
    by id, newest first), streamed. `sources`: carried by one of them; `unclassified`: no event made
    of them; `search`: full text over title and text (Chinese too); `text`: also read the text.
    `batch` documents have their URLs and events read together (a tuning knob)."""
    where: list[str] = []
    params: list[Any] = []
    wanted = sorted(set(sources))
    if wanted:
        where.append(
            f"d.id IN (SELECT document_id FROM document_urls WHERE source IN ({','.join('?' * len(wanted))}))"
        )
        params += wanted
    if unclassified:
        where.append("NOT EXISTS (SELECT 1 FROM event_drafts x WHERE x.document_id = d.id)")
    if since is not None:
        where.append("d.published >= ?")
        params.append(since.isoformat())
    if search is not None:
        where.append("d.id IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?)")
        params.append(fts_query(search))
    columns = "d.id, d.doc_number, d.title, d.published, d.language" + (", d.text" if text else "")
    sql = f"SELECT {columns} FROM documents d"
    if where:
        sql += " WHERE " + " AND ".join(where)
    # walks idx_documents_published backwards: no sort, and a limit stops the walk early
    sql += " ORDER BY d.published DESC NULLS LAST, d.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    try:
        cursor = store.db.conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if search is None:
            raise
        # an FTS syntax problem is the user's input, not a crash
        raise InputError(f"cannot search for {search!r}: {exc}") from None
    while rows := cursor.fetchmany(batch):
        yield from _documents(store, rows, text)


def _documents(store: Store, rows: list[tuple[Any, ...]], text: bool) -> Iterator[StoredDocument]:
    ids = [int(r[0]) for r in rows]
    marks = ",".join("?" * len(ids))
    urls: dict[int, list[str]] = {i: [] for i in ids}
    sources: dict[int, set[str]] = {i: set() for i in ids}
    for doc_id, url, source in store.db.conn.execute(
        f"SELECT document_id, url, source FROM document_urls WHERE document_id IN ({marks})"
        " ORDER BY document_id, first_seen, url",
        ids,
    ):
        if url not in urls[doc_id]:  # one URL carried by two sources is listed once
            urls[doc_id].append(url)
        sources[doc_id].add(source)
    events: dict[int, list[DocumentEvent]] = {i: [] for i in ids}
    for doc_id, eid, action, jurisdiction, minerals in store.db.conn.execute(
        "SELECT x.document_id, e.id, e.action, e.jurisdiction, e.minerals FROM event_drafts x"
        f" JOIN events e ON e.id = x.event_id WHERE x.document_id IN ({marks})"
        " ORDER BY x.document_id, e.announced, e.id",
        ids,
    ):
        events[doc_id].append(DocumentEvent(eid, action, jurisdiction, json.loads(minerals)))
    for r in rows:
        doc_id = int(r[0])
        yield StoredDocument(
            id=doc_id,
            doc_number=r[1],
            title=r[2],
            issued=r[3],
            language=r[4],
            sources=sorted(sources[doc_id]),
            urls=urls[doc_id],
            events=events[doc_id],
            text=r[5] if text else None,
        )
