"""Reading the event log: every question about the past, as a Python API the CLI formats.

`query(...)` streams plain `TimelineEvent` objects (newest first) filtered by minerals (canonical
ids; expand aliases and groups with `resolve_minerals`), jurisdictions, actions, sources, a period
and a full-text search over document titles and texts (Chinese included). The filters asked
(`Filters`, checked by `asked`) become a plan (`plan`: which index to lead with, how to search),
which the store turns into SQL (tracker.store.queries). `view(...)` is one event as `tracker
show` tells it: its documents, what it refers to and what refers to it, the states it led to."""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, NamedTuple

from tracker.codes import ACTIONS, CONTROL_ACTIONS
from tracker.dates import DATE_FORMS, parse_when  # noqa: F401  (their home was here: still importable)
from tracker.errors import InputError
from tracker.settings import Config
from tracker.state import status
from tracker.store import Store
from tracker.store.events import Status, StoredEvent
from tracker.store.migrations import fts_text
from tracker.store.queries import DocumentBrief, EventQuery, Hits, Walk
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
    "amount",
    "recipient",
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
    amount: str | None = None  # a sum of money ('USD 35 million'), for funding
    recipient: str | None = None  # whom the money goes to
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


# --- what is asked --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What is asked of the timeline, each list sorted and distinct (jurisdictions upper-case)."""

    minerals: tuple[str, ...] = ()  # canonical ids (resolve_minerals)
    jurisdictions: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    search: str | None = None
    limit: int | None = None
    oldest_first: bool = False

    @classmethod
    def of(
        cls,
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
    ) -> Filters:
        """The filters, normalised (nothing is checked: see `asked`)."""
        return cls(
            minerals=tuple(sorted(set(minerals))),
            jurisdictions=tuple(sorted({j.upper() for j in jurisdictions})),
            actions=tuple(sorted(set(actions))),
            sources=tuple(sorted(set(sources))),
            since=since,
            until=until,
            search=search,
            limit=limit,
            oldest_first=oldest_first,
        )

    @property
    def narrowed(self) -> bool:
        """True when a filter other than the search is given."""
        return bool(
            self.minerals or self.jurisdictions or self.actions or self.since or self.until or self.sources
        )


def asked(
    config: Config,
    *,
    minerals: Iterable[str] = (),
    jurisdictions: Iterable[str] = (),
    actions: Iterable[str] = (),
    sources: Iterable[str] = (),
    since: date | None = None,
    until: date | None = None,
    search: str | None = None,
    limit: int | None = None,
) -> Filters:
    """The filters a user asked for, checked: an unknown action is an InputError listing the
    actions, a source not in `config` an UnknownSourceError. `minerals` are canonical ids."""
    actions = list(actions)
    bad = [a for a in actions if a not in ACTIONS]
    if bad:
        raise InputError(f"unknown action {bad[0]!r}; actions: {', '.join(ACTIONS)}")
    sources = list(sources)
    for s in sources:
        config.source(s)
    return Filters.of(
        minerals=minerals,
        jurisdictions=jurisdictions,
        actions=actions,
        sources=sources,
        since=since,
        until=until,
        search=search,
        limit=limit,
    )


# --- the plan --------------------------------------------------------------------------------------

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


@contextmanager
def _searching(search: str | None) -> Iterator[None]:
    """An FTS syntax problem is the user's input, not a crash: an InputError naming the search."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise InputError(f"cannot search for {search!r}: {exc}") from None


def walk_bound(
    store: Store, match: str, limit: int, walk_above: int, search: str, newest: bool
) -> int | None:
    """The document id from which (newest first: at or above; oldest first: at or below) matches are
    read as a set for a walk over the events, or None when ordering every hit is the better plan."""
    with _searching(search):
        hits = store.match_count(match, walk_above + 1)
    if hits <= walk_above:
        return None
    span = store.document_id_span()
    if span is None:  # no document at all: cannot be once one matched
        return None
    low, high = span
    with _searching(search):
        recent = store.match_count_beyond(match, high - SAMPLE if newest else low + SAMPLE, newer=newest)
    sampled = min(SAMPLE, high - low + 1)
    if recent == 0 or limit * sampled / recent > MAX_WALK:
        return None
    reach = math.ceil(MARGIN * limit * sampled / recent)
    return high - reach if newest else low + reach


def plan(store: Store, wanted: Filters, walk_above: int = WALK_ABOVE) -> EventQuery:
    """How to read what `wanted` asks: one mineral leads with its own index; a search for a page of
    events with no other filter walks the events in date order when more than `walk_above`
    documents match and the walk looks short (walk_bound), else it orders the hits."""
    search: Hits | Walk | None = None
    if wanted.search:
        match = fts_query(wanted.search)
        page = wanted.limit is not None and not wanted.narrowed
        newest = not wanted.oldest_first
        limit = int(wanted.limit or 0)
        bound = walk_bound(store, match, limit, walk_above, wanted.search, newest) if page else None
        search = Walk(match, bound) if bound is not None else Hits(match, top=limit if page else None)
    return EventQuery(
        minerals=wanted.minerals,
        jurisdictions=wanted.jurisdictions,
        actions=wanted.actions,
        sources=wanted.sources,
        since=wanted.since.isoformat() if wanted.since else None,
        until=wanted.until.isoformat() if wanted.until else None,
        search=search,
        by_mineral=len(wanted.minerals) == 1,
        oldest_first=wanted.oldest_first,
        limit=wanted.limit,
    )


# --- the events ------------------------------------------------------------------------------------


def events(store: Store, wanted: Filters, walk_above: int = WALK_ABOVE) -> Iterator[TimelineEvent]:
    """Events matching every filter of `wanted`, newest first (or oldest first), streamed; with a
    search, each with a snippet of its first matching document. A search for a page of events
    with no other filter may walk the events in date order when more than `walk_above` documents
    match (a tuning knob: every plan gives the same answer)."""
    q = plan(store, wanted, walk_above)
    with _searching(wanted.search):
        rows = store.timeline_events(q)
    for row in rows:
        ev = _timeline_event(store, row)
        if q.search is not None:  # a snippet only for the events shown
            ev.snippet = _snippet(store, q.search.match, ev.documents)
        yield ev


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
    """Events matching every filter given, newest first (or oldest first), streamed: `events`
    over the filters as given (unchecked: an unknown action or source matches nothing)."""
    wanted = Filters.of(
        minerals=minerals,
        jurisdictions=jurisdictions,
        actions=actions,
        sources=sources,
        since=since,
        until=until,
        search=search,
        limit=limit,
        oldest_first=oldest_first,
    )
    return events(store, wanted, walk_above)


def _snippet(store: Store, match: str, documents: Iterable[int]) -> str | None:
    """The passage found in the first of the documents that matches."""
    for doc_id in documents:
        found = store.snippet(match, doc_id)
        if found is not None:
            return tidy_snippet(found)
    return None


def _timeline_event(store: Store, e: StoredEvent) -> TimelineEvent:
    docs = store.event_documents(e.id)
    return TimelineEvent(
        id=e.id,
        announced=e.announced,
        effective=e.effective,
        expires=e.expires,
        jurisdiction=e.jurisdiction,
        targets=e.targets,
        action=e.action,
        minerals=e.minerals,
        items=e.items,
        doc_number=e.doc_number,
        refers_to=e.refers_to,
        title=e.title,
        urls=list(dict.fromkeys(d.url for d in docs if d.url)),
        sources=sorted({d.source for d in docs if d.source}),
        rule=e.rule,
        severity=e.severity,
        trigger=e.trigger,
        amount=e.amount,
        recipient=e.recipient,
        documents=list(dict.fromkeys(d.document_id for d in docs)),
    )


def get(store: Store, event_id: str) -> TimelineEvent:
    """One event by id (a unique prefix is enough)."""
    ids = store.event_ids_starting(event_id, 3)
    if not ids:
        raise InputError(f"no event {event_id!r}")
    if len(ids) > 1:
        raise InputError(f"{event_id!r} is the start of several event ids; give more of it")
    found = store.event(ids[0])
    if found is None:  # deleted between the two reads
        raise InputError(f"no event {event_id!r}")
    return _timeline_event(store, found)


def by_ids(store: Store, ids: Iterable[str]) -> dict[str, TimelineEvent]:
    """The events with these ids that exist, by id (a status answer names its controls by id)."""
    return {eid: _timeline_event(store, e) for eid, e in store.events_by_id(sorted(set(ids))).items()}


class Related(NamedTuple):
    """The events an event refers to (by document number), and those that refer to it."""

    refers_to: list[TimelineEvent]
    referred_by: list[TimelineEvent]


def related(store: Store, ev: TimelineEvent) -> Related:
    """The events this one refers to (by document number) and those that refer to it."""
    refers = [get(store, eid) for ref in ev.refers_to for eid in store.event_ids_numbered(ref, besides=ev.id)]
    referred = []
    if ev.doc_number:
        referred = [get(store, eid) for eid in store.event_ids_citing(ev.doc_number, besides=ev.id)]
    return Related(refers, referred)


# --- one event, as `tracker show` tells it -----------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    """An event with its documents, the events it refers to and that refer to it, and the states
    of the measures it is about on `day` (its date of effect, else of announcement)."""

    event: TimelineEvent
    documents: list[DocumentBrief]
    related: Related
    day: date
    states: list[Status]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of `tracker show --json`: the event's fields, its documents in full."""
        return {
            **self.event.as_dict(),
            "documents": [asdict(d) for d in self.documents],
            "refers_to_events": [r.id for r in self.related.refers_to],
            "referred_by_events": [r.id for r in self.related.referred_by],
            "states": [s.as_dict() for s in self.states],
        }


def view(
    store: Store, event_id: str, *, today: date, describe: Callable[[TimelineEvent], str] | None = None
) -> EventView:
    """The event `event_id` (a unique prefix is enough), its `description` made by `describe`.
    The states are those of the measure it is (a control) or those it refers to, on its date of
    effect or announcement (`today` when it has neither)."""
    ev = get(store, event_id)
    if describe is not None:
        ev.description = describe(ev)
    rel = related(store, ev)
    if ev.action in CONTROL_ACTIONS and ev.doc_number:
        measures = [ev.doc_number]
    else:
        measures = [r.doc_number for r in rel.refers_to if r.doc_number]
    on = ev.effective or ev.announced
    day = date.fromisoformat(on) if on else today
    states = status(store, as_of=day, measures=measures) if measures else []
    return EventView(ev, store.document_briefs(ev.documents), rel, day, states)
