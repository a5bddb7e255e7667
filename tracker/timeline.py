"""Reading the event log: every question about the past, as a Python API the CLI formats.

`query(...)` streams plain `TimelineEvent` objects (newest first) filtered by minerals (canonical
ids; expand aliases and groups with `resolve_minerals`), jurisdictions, actions, sources, a period
and a full-text search over document titles and texts (Chinese included)."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from tracker.dates import DATE_FORMS, parse_when  # noqa: F401  (their home was here: still importable)
from tracker.errors import InputError
from tracker.store import Store
from tracker.store.migrations import fts_text
from tracker.vocab import Vocabulary

FIELDS = (
    "id",
    "announced",
    "effective",
    "expires",
    "jurisdiction",
    "targets",
    "action",
    "minerals",
    "items",
    "doc_number",
    "refers_to",
    "title",
    "urls",
    "sources",
    "rule",
    "severity",
    "description",
)


@dataclass
class TimelineEvent:
    """One event, with the documents and sources that carried it."""

    id: str
    announced: str | None
    effective: str | None
    expires: str | None
    jurisdiction: str
    targets: list[str]
    action: str
    minerals: list[str]
    items: list[str]
    doc_number: str | None
    refers_to: list[str]
    title: str
    urls: list[str]
    sources: list[str]
    rule: str
    severity: str
    trigger: str = ""
    snippet: str | None = None
    documents: list[int] = field(default_factory=list)
    # the English line (templates/_describe.j2), filled in by tracker.describe for display
    description: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready."""
        return asdict(self)


# --- minerals --------------------------------------------------------------------------------------


def resolve_minerals(vocab: Vocabulary, names: Iterable[str]) -> set[str]:
    """Canonical ids for any names ('镓', 'Ga', 'gallium', 'ガリウム'); a group brings its members.
    An unknown name is an InputError suggesting the closest known names."""
    out: set[str] = set()
    for name in names:
        mid = vocab.resolve(name)
        if mid is None or vocab.terms[mid].type not in ("mineral", "group", "item"):
            close = vocab.suggest(name)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise InputError(f"unknown mineral {name!r}{hint}")
        out |= vocab.expand([mid])
    return out


# --- search ----------------------------------------------------------------------------------------

_CJK = "\u3040-\u30ff\u3400-\u9fff\uff00-\uffef\u3000-\u303f"
# the index spaced every Han character: drop white space next to one (and next to the marks)
_HAN_GAP = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


def fts_query(text: str) -> str:
    """A user's search words as an FTS5 query: each word a phrase (Chinese split per character), all
    required; no operator or column syntax of FTS5 gets through."""
    words = [w for w in re.split(r"\s+", text.strip()) if w]
    if not words:
        raise InputError("--search needs at least one word")
    phrases = []
    for w in words:
        tokens = " ".join(fts_text(w).split()).replace('"', '""')
        phrases.append(f'"{tokens}"')
    return " AND ".join(phrases)


def tidy_snippet(snippet: str) -> str:
    """Undo the index's spacing of Han characters in a snippet."""
    return _HAN_GAP.sub("", " ".join(snippet.split()))


# --- the query -------------------------------------------------------------------------------------

# Plans for a page of search results (no other filter). Up to WALK_ABOVE matching documents, every
# hit is ordered by date. Above, the events are walked newest first and each is kept if one of its
# documents matches; the matching documents are read as one set from the index, but only those in
# the stretch of recent documents that the walk is expected to reach (estimated from the share of
# matches among the last SAMPLE documents, with a margin); an older document met on the walk is
# checked alone. The estimate only affects speed: both plans give the same answer. A word that
# rarely matches recent documents (a walk of more than MAX_WALK events) is ordered by hits instead.
# Figures at a million events: benchmarks/README.md.
WALK_ABOVE = 5000
SAMPLE = 2000
MAX_WALK = 20000
MARGIN = 4


def _fts_count(store: Store, sql: str, params: list[Any], search: str) -> int:
    try:
        return int(store.db.conn.execute(sql, params).fetchone()[0])
    except sqlite3.OperationalError as exc:  # an FTS syntax problem is the user's input, not a crash
        raise InputError(f"cannot search for {search!r}: {exc}") from None


def walk_bound(
    store: Store, match: str, limit: int, walk_above: int, search: str, newest: bool
) -> int | None:
    """The document id from which (newest first: at or above; oldest first: at or below) matches are
    read as a set for a walk over the events, or None when ordering every hit is the better plan."""
    hits = _fts_count(
        store,
        "SELECT count(*) FROM (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ? LIMIT ?)",
        [match, walk_above + 1],
        search,
    )
    if hits <= walk_above:
        return None
    # two queries: SQLite answers a lone min() or max() from the key, both together by a full scan
    low = store.db.conn.execute("SELECT min(id) FROM documents").fetchone()[0]
    high = store.db.conn.execute("SELECT max(id) FROM documents").fetchone()[0]
    edge, end = (">", high - SAMPLE) if newest else ("<", low + SAMPLE)
    recent = _fts_count(
        store,
        f"SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ? AND rowid {edge} ?",
        [match, end],
        search,
    )
    sampled = min(SAMPLE, high - low + 1)
    if recent == 0 or limit * sampled / recent > MAX_WALK:
        return None
    reach = math.ceil(MARGIN * limit * sampled / recent)
    return int(high - reach if newest else low + reach)


def query(
    store: Store,
    *,
    minerals: Iterable[str] = (),
    jurisdictions: Iterable[str] = (),
    actions: Iterable[str] = (),
    sources: Iterable[str] = (),
    since: date | None = None,
    until: date | None = None,
    search: str | None = None,
    limit: int | None = None,
    oldest_first: bool = False,
    walk_above: int = WALK_ABOVE,
) -> Iterator[TimelineEvent]:
    """Events matching every filter given, newest first (or oldest first), streamed. A search for a
    page of events with no other filter may walk the events in date order when more than
    `walk_above` documents match (a tuning knob: every plan gives the same answer)."""
    where: list[str] = []
    params: list[Any] = []
    minerals = sorted(set(minerals))
    jurisdictions = sorted({j.upper() for j in jurisdictions})
    actions = sorted(set(actions))
    sources = sorted(set(sources))
    order = "ASC" if oldest_first else "DESC"
    tables = "events e"
    order_by = f"e.announced {order}, e.id {order}"
    if len(minerals) == 1:
        # one mineral: walk (mineral, announced, event_id) in order and stop at the limit
        tables = "event_minerals m JOIN events e ON e.id = m.event_id"
        where.append("m.mineral = ?")
        params.append(minerals[0])
        if since:
            where.append("m.announced >= ?")
            params.append(since.isoformat())
        if until:
            where.append("m.announced <= ?")
            params.append(until.isoformat())
        order_by = f"m.announced {order}, m.event_id {order}"
    elif minerals:
        sub = f"SELECT event_id FROM event_minerals WHERE mineral IN ({','.join('?' * len(minerals))})"
        params += minerals
        if since:
            sub += " AND announced >= ?"
            params.append(since.isoformat())
        if until:
            sub += " AND announced <= ?"
            params.append(until.isoformat())
        where.append(f"e.id IN ({sub})")
    if jurisdictions:
        where.append(f"e.jurisdiction IN ({','.join('?' * len(jurisdictions))})")
        params += jurisdictions
    if actions:
        where.append(f"e.action IN ({','.join('?' * len(actions))})")
        params += actions
    if since:
        where.append("e.announced >= ?")
        params.append(since.isoformat())
    if until:
        where.append("e.announced <= ?")
        params.append(until.isoformat())
    if sources:
        where.append(
            "e.id IN (SELECT x.event_id FROM event_drafts x JOIN document_urls u ON u.document_id = x.document_id"
            f" WHERE u.source IN ({','.join('?' * len(sources))}))"
        )
        params += sources
    match = None
    if search:
        match = fts_query(search)
        page = limit is not None and not (minerals or jurisdictions or actions or since or until or sources)
        bound = (
            walk_bound(store, match, int(limit or 0), walk_above, search, not oldest_first) if page else None
        )
        if bound is not None:
            # a common word: walk the events in date order and stop at the limit (the unary +
            # keeps SQLite from looping over the set of hits instead)
            near = ">=" if not oldest_first else "<="
            tables = "events e INDEXED BY idx_events_announced"
            where.append(
                "EXISTS (SELECT 1 FROM event_drafts x WHERE x.event_id = e.id AND CASE"
                f" WHEN x.document_id {near} ? THEN +x.document_id IN"
                f" (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ? AND rowid {near} ?)"
                " ELSE EXISTS (SELECT 1 FROM documents_fts f WHERE documents_fts MATCH ? AND f.rowid = x.document_id)"
                " END)"
            )
            params += [bound, match, bound, match]
        else:
            # a rarer word: the hits stay inside SQLite; with no other filter the order and limit
            # are taken on the (id, announced) index without reading whole event rows
            inner = (
                "SELECT s.id FROM events s INDEXED BY idx_events_id_announced WHERE s.id IN"
                " (SELECT x.event_id FROM event_drafts x WHERE x.document_id IN"
                " (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?))"
            )
            params.append(match)
            if page:
                inner += f" ORDER BY s.announced {order}, s.id {order} LIMIT ?"
                params.append(int(limit or 0))
            where.append(f"e.id IN ({inner})")
    sql = f"SELECT e.* FROM {tables}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order_by}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    try:
        cursor = store.db.conn.execute(sql, params)
    except sqlite3.OperationalError as exc:  # an FTS syntax problem is the user's input, not a crash
        raise InputError(f"cannot search for {search!r}: {exc}") from None
    names = [d[0] for d in cursor.description]
    for values in cursor:
        ev = _event(store, dict(zip(names, values, strict=True)))
        if match is not None:  # a snippet only for the events shown
            for doc_id in ev.documents:
                row = store.db.conn.execute(
                    "SELECT snippet(documents_fts, -1, '«', '»', '…', 16) FROM documents_fts"
                    " WHERE documents_fts MATCH ? AND rowid = ?",
                    [match, doc_id],
                ).fetchone()
                if row:
                    ev.snippet = tidy_snippet(row[0])
                    break
        yield ev


def _event(store: Store, e: dict[str, Any]) -> TimelineEvent:
    docs = store.db.conn.execute(
        """SELECT x.document_id, u.url, u.source FROM event_drafts x
           LEFT JOIN document_urls u ON u.document_id = x.document_id
           WHERE x.event_id = ? ORDER BY u.first_seen, u.url""",
        [e["id"]],
    ).fetchall()
    doc_ids = list(dict.fromkeys(int(d[0]) for d in docs))
    return TimelineEvent(
        id=e["id"],
        announced=e["announced"],
        effective=e["effective"],
        expires=e["expires"],
        jurisdiction=e["jurisdiction"],
        targets=json.loads(e["targets"]),
        action=e["action"],
        minerals=json.loads(e["minerals"]),
        items=json.loads(e["items"]),
        doc_number=e["doc_number"],
        refers_to=json.loads(e["refers_to"]),
        title=e["title"],
        urls=list(dict.fromkeys(d[1] for d in docs if d[1])),
        sources=sorted({d[2] for d in docs if d[2]}),
        rule=e["rule"],
        severity=e["severity"],
        trigger=e["trigger"],
        documents=doc_ids,
    )


def get(store: Store, event_id: str) -> TimelineEvent:
    """One event by id (a unique prefix is enough)."""
    rows = store.db.conn.execute(
        "SELECT * FROM events WHERE id LIKE ? ORDER BY id LIMIT 3",
        [event_id.replace("%", "").replace("_", "") + "%"],
    ).fetchall()
    if not rows:
        raise InputError(f"no event {event_id!r}")
    if len(rows) > 1:
        raise InputError(f"{event_id!r} is the start of several event ids; give more of it")
    cursor = store.db.conn.execute("SELECT * FROM events WHERE id = ?", [rows[0][0]])
    names = [d[0] for d in cursor.description]
    return _event(store, dict(zip(names, cursor.fetchone(), strict=True)))


def by_ids(store: Store, ids: Iterable[str]) -> dict[str, TimelineEvent]:
    """The events with these ids that exist, by id (a status answer names its controls by id)."""
    wanted = sorted(set(ids))
    out: dict[str, TimelineEvent] = {}
    for i in range(0, len(wanted), 500):  # far below SQLite's limit on bound parameters
        chunk = wanted[i : i + 500]
        cursor = store.db.conn.execute(
            f"SELECT * FROM events WHERE id IN ({','.join('?' * len(chunk))})", chunk
        )
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            ev = _event(store, dict(zip(names, values, strict=True)))
            out[ev.id] = ev
    return out


def related(store: Store, ev: TimelineEvent) -> dict[str, list[TimelineEvent]]:
    """The events this one refers to (by document number) and those that refer to it."""
    refers = []
    for ref in ev.refers_to:
        for (eid,) in store.db.conn.execute(
            "SELECT id FROM events WHERE doc_number = ? AND id != ?", [ref, ev.id]
        ):
            refers.append(get(store, eid))
    referred = []
    if ev.doc_number:
        for (eid,) in store.db.conn.execute(
            "SELECT event_id FROM event_refs WHERE ref = ? AND event_id != ?", [ev.doc_number, ev.id]
        ):
            referred.append(get(store, eid))
    return {"refers_to": refers, "referred_by": referred}
