"""The reading side of the event log: the SQL of every question `tracker timeline`, `show` and
`status` ask. What to ask, and which index to lead with, is tracker.timeline's plan (an
`EventQuery`); here it becomes SQL, and the rows come back as records: events as `StoredEvent`s
of tracker.store.events, the documents carrying them as `EventDocument`s and `DocumentBrief`s.

A full-text query SQLite refuses raises sqlite3.OperationalError at the call that runs it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tracker.store.base import Database
from tracker.store.events import EVENT_COLUMNS, StoredEvent, _stored_event

_E_EVENT = ", ".join("e." + c for c in EVENT_COLUMNS)


def _marks(values: Sequence[object]) -> str:
    """`?,?,?`: one bound parameter per value, for an IN (...) list."""
    return ",".join("?" * len(values))


@dataclass(frozen=True)
class Hits:
    """A search answered from the full-text index: the events of the matching documents."""

    match: str  # an FTS5 query (tracker.timeline.fts_query)
    top: int | None = None  # order the hits on the (id, announced) index and keep this many


@dataclass(frozen=True)
class Walk:
    """A search answered by walking the events in date order (idx_events_announced) and keeping
    each with a matching document: the matches from document `bound` on (newest first: at or
    above; oldest first: at or below) are read as one set, an older document is checked alone."""

    match: str
    bound: int


@dataclass(frozen=True)
class EventQuery:
    """What to read of the events, as tracker.timeline plans it. Lists of values are sorted and
    distinct; dates are ISO days. `by_mineral` leads with the (mineral, announced, event_id) index
    of the one mineral in `minerals`; a `Walk` is planned only when no other filter is given."""

    minerals: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    search: Hits | Walk | None = None
    by_mineral: bool = False
    oldest_first: bool = False
    limit: int | None = None


class EventDocument(NamedTuple):
    """A document an event was made of, with one URL that carried it and that URL's source (both
    None for a document with no URL stored)."""

    document_id: int
    url: str | None
    source: str | None


@dataclass(frozen=True)
class DocumentBrief:
    """What `tracker show` lists of a document: its id, title, date of issue, number and source
    (the field order is that of `show --json`)."""

    id: int
    title: str
    published: str | None
    doc_number: str | None
    source: str


def _mineral_clauses(q: EventQuery) -> tuple[list[str], list[object]]:
    """The conditions on the minerals (and the period, on the minerals' own dates)."""
    where: list[str] = []
    params: list[object] = []
    if q.by_mineral:
        # one mineral: walk (mineral, announced, event_id) in order and stop at the limit
        where.append("m.mineral = ?")
        params.append(q.minerals[0])
        if q.since:
            where.append("m.announced >= ?")
            params.append(q.since)
        if q.until:
            where.append("m.announced <= ?")
            params.append(q.until)
    elif q.minerals:
        sub = f"SELECT event_id FROM event_minerals WHERE mineral IN ({_marks(q.minerals)})"
        params += q.minerals
        if q.since:
            sub += " AND announced >= ?"
            params.append(q.since)
        if q.until:
            sub += " AND announced <= ?"
            params.append(q.until)
        where.append(f"e.id IN ({sub})")
    return where, params


def _filter_clauses(q: EventQuery) -> tuple[list[str], list[object]]:
    """The conditions of every filter but the search."""
    where, params = _mineral_clauses(q)
    if q.jurisdictions:
        where.append(f"e.jurisdiction IN ({_marks(q.jurisdictions)})")
        params += q.jurisdictions
    if q.actions:
        where.append(f"e.action IN ({_marks(q.actions)})")
        params += q.actions
    if q.since:
        where.append("e.announced >= ?")
        params.append(q.since)
    if q.until:
        where.append("e.announced <= ?")
        params.append(q.until)
    if q.sources:
        where.append(
            "e.id IN (SELECT x.event_id FROM event_drafts x JOIN document_urls u ON u.document_id = x.document_id"
            f" WHERE u.source IN ({_marks(q.sources)}))"
        )
        params += q.sources
    return where, params


def _search_clause(search: Hits | Walk, order: str) -> tuple[str, list[object]]:
    """The condition of the search."""
    if isinstance(search, Walk):
        # a common word: walk the events in date order and stop at the limit (the unary +
        # keeps SQLite from looping over the set of hits instead)
        near = ">=" if order == "DESC" else "<="
        clause = (
            "EXISTS (SELECT 1 FROM event_drafts x WHERE x.event_id = e.id AND CASE"
            f" WHEN x.document_id {near} ? THEN +x.document_id IN"
            f" (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ? AND rowid {near} ?)"
            " ELSE EXISTS (SELECT 1 FROM documents_fts f WHERE documents_fts MATCH ? AND f.rowid = x.document_id)"
            " END)"
        )
        return clause, [search.bound, search.match, search.bound, search.match]
    # a rarer word: the hits stay inside SQLite; with no other filter the order and limit are
    # taken on the (id, announced) index without reading whole event rows
    inner = (
        "SELECT s.id FROM events s INDEXED BY idx_events_id_announced WHERE s.id IN"
        " (SELECT x.event_id FROM event_drafts x WHERE x.document_id IN"
        " (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?))"
    )
    params: list[object] = [search.match]
    if search.top is not None:
        inner += f" ORDER BY s.announced {order}, s.id {order} LIMIT ?"
        params.append(int(search.top))
    return f"e.id IN ({inner})", params


def timeline_sql(q: EventQuery) -> tuple[str, list[object]]:
    """The SQL of `q` and its parameters."""
    order = "ASC" if q.oldest_first else "DESC"
    where, params = _filter_clauses(q)
    tables = "events e"
    order_by = f"e.announced {order}, e.id {order}"
    if q.by_mineral:
        tables = "event_minerals m JOIN events e ON e.id = m.event_id"
        order_by = f"m.announced {order}, m.event_id {order}"
    elif isinstance(q.search, Walk):
        tables = "events e INDEXED BY idx_events_announced"
    if q.search is not None:
        clause, more = _search_clause(q.search, order)
        where.append(clause)
        params += more
    sql = f"SELECT {_E_EVENT} FROM {tables}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order_by}"
    if q.limit is not None:
        sql += " LIMIT ?"
        params.append(int(q.limit))
    return sql, params


class QueryTables(Database):
    """The questions asked of the event log: events by filters and full text, by id and by
    reference, the documents that carried them, and what the search planner counts."""

    def timeline_events(self, q: EventQuery) -> Iterator[StoredEvent]:
        """The events `q` asks for, in its order. The query runs at the call (a full-text query
        SQLite refuses raises here); the rows are read as they are iterated."""
        sql, params = timeline_sql(q)
        cursor = self.db.conn.execute(sql, params)
        return (_stored_event(row) for row in cursor)

    def event_documents(self, event_id: str) -> list[EventDocument]:
        """The documents of an event, one row per URL that carried each (URLs first seen first)."""
        rows = self.db.conn.execute(
            """SELECT x.document_id, u.url, u.source FROM event_drafts x
               LEFT JOIN document_urls u ON u.document_id = x.document_id
               WHERE x.event_id = ? ORDER BY u.first_seen, u.url""",
            [event_id],
        ).fetchall()
        return [EventDocument(int(d), url, source) for d, url, source in rows]

    def event_ids_starting(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` event ids that start with `prefix` (LIKE's wildcards in it dropped), in order."""
        rows = self.db.conn.execute(
            "SELECT id FROM events WHERE id LIKE ? ORDER BY id LIMIT ?",
            [prefix.replace("%", "").replace("_", "") + "%", limit],
        ).fetchall()
        return [str(r[0]) for r in rows]

    def event_ids_numbered(self, number: str, *, besides: str) -> list[str]:
        """The events of the document numbered `number`, other than `besides`."""
        rows = self.db.conn.execute(
            "SELECT id FROM events WHERE doc_number = ? AND id != ?", [number, besides]
        )
        return [str(r[0]) for r in rows]

    def event_ids_citing(self, number: str, *, besides: str) -> list[str]:
        """The events that refer to the document numbered `number`, other than `besides`."""
        rows = self.db.conn.execute(
            "SELECT event_id FROM event_refs WHERE ref = ? AND event_id != ?", [number, besides]
        )
        return [str(r[0]) for r in rows]

    def document_briefs(self, ids: Iterable[int]) -> list[DocumentBrief]:
        """The documents with these ids, as `tracker show` lists them."""
        wanted = list(ids)
        if not wanted:
            return []
        rows = self.db.conn.execute(
            f"SELECT id, title, published, doc_number, source FROM documents WHERE id IN ({_marks(wanted)})",
            wanted,
        )
        return [DocumentBrief(*row) for row in rows]

    # --- full text -----------------------------------------------------------------------------

    def match_count(self, match: str, at_most: int) -> int:
        """How many documents the FTS5 query `match` finds, counted up to `at_most`."""
        row = self.db.conn.execute(
            "SELECT count(*) FROM (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ? LIMIT ?)",
            [match, at_most],
        ).fetchone()
        return int(row[0])

    def match_count_beyond(self, match: str, document_id: int, *, newer: bool) -> int:
        """How many documents `match` finds with an id above `document_id` (`newer`) or below it."""
        edge = ">" if newer else "<"
        row = self.db.conn.execute(
            f"SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ? AND rowid {edge} ?",
            [match, document_id],
        ).fetchone()
        return int(row[0])

    def document_id_span(self) -> tuple[int, int] | None:
        """The lowest and the highest document id; None with no document."""
        # two queries: SQLite answers a lone min() or max() from the key, both together by a full scan
        low = self.db.conn.execute("SELECT min(id) FROM documents").fetchone()[0]
        high = self.db.conn.execute("SELECT max(id) FROM documents").fetchone()[0]
        return None if low is None else (int(low), int(high))

    def snippet(self, match: str, document_id: int) -> str | None:
        """The passage of the document where `match` is found, the words found in «»; None when
        the document does not match."""
        row = self.db.conn.execute(
            "SELECT snippet(documents_fts, -1, '«', '»', '…', 16) FROM documents_fts"
            " WHERE documents_fts MATCH ? AND rowid = ?",
            [match, document_id],
        ).fetchone()
        return None if row is None else str(row[0])
