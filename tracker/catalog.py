"""Reading the document log: what is stored and what the rules made of each document.

`list_documents(...)` streams `StoredDocument` records (newest date of issue first) filtered by
source, a date of issue, a full-text search, and whether the rules made any event of them; it is
the maintainer's view for finding what the rules missed. The records and the query are the
store's (tracker.store.documents)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import date

from tracker.errors import InputError
from tracker.store import Store
from tracker.store.documents import DocumentEvent, DocumentFilter, StoredDocument
from tracker.timeline import fts_query as fts_match

__all__ = ["BATCH", "DocumentEvent", "StoredDocument", "list_documents"]

# documents read per round of url and event queries: a few queries per batch instead of per document
BATCH = 200


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
    wanted = DocumentFilter(
        sources=sorted(set(sources)),
        unclassified=unclassified,
        published_since=since.isoformat() if since is not None else None,
        match=fts_match(search) if search is not None else None,
        limit=limit,
    )
    try:
        docs = store.document_listing(wanted, text=text, batch=batch)
    except sqlite3.OperationalError as exc:
        if search is None:
            raise
        # an FTS syntax problem is the user's input, not a crash
        raise InputError(f"cannot search for {search!r}: {exc}") from None
    yield from docs
