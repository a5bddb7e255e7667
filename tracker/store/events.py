"""The tables of events: the drafts each rule made of each document (`event_drafts`), the events
merged from them (`events`, with `event_minerals` and `event_refs`), the states of each control
over time (`measure_states`), and the list versions the classification of a list reads.

Merging drafts into events and deriving the states are tracker.events and tracker.state; here is
how what they read and write is stored."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from tracker.codes import CONTROL_ACTIONS, MODIFIER_ACTIONS
from tracker.store.base import Database, now_iso

if TYPE_CHECKING:
    from tracker.rules import Draft

CHUNK = 500  # values per IN (...) list: far below SQLite's limit on bound parameters
LISTS = ("targets", "minerals", "items", "refers_to")  # the columns of an event stored as JSON lists


def _marks(values: Sequence[object]) -> str:
    """`?, ?, ?`: one bound parameter per value, for an IN (...) list."""
    return ", ".join("?" * len(values))


_Key = TypeVar("_Key", str, int)


def _chunks(values: Iterable[_Key]) -> Iterator[list[_Key]]:
    items = sorted(set(values))
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


@dataclass(frozen=True)
class StoredDraft:
    """One rule's draft of an event as stored, with the title and number of its document."""

    document_id: int
    document_title: str
    document_number: str | None
    identity: str  # what makes the document the same real-world action as another (events.identity)
    action: str
    jurisdiction: str
    announced: str | None
    effective: str | None
    expires: str | None
    minerals: list[str]
    items: list[str]
    targets: list[str]
    refers_to: list[str]
    rule: str
    severity: str
    trigger: str
    amount: str | None = None
    recipient: str | None = None
    citation: str | None = None  # the document's Federal Register citation ('90 FR 47201'), if any


@dataclass(frozen=True)
class MergedEvent:
    """An event as its drafts merge into it: what is written to `events` (the lists as lists)."""

    id: str
    identity: str
    action: str
    jurisdiction: str
    announced: str | None
    effective: str | None
    expires: str | None
    doc_number: str | None
    title: str
    targets: list[str]
    minerals: list[str]
    items: list[str]
    refers_to: list[str]
    rule: str
    severity: str
    trigger: str
    minerals_from_refs: bool  # the minerals are those of the measures it refers to
    amount: str | None  # a sum of money ('USD 35 million'), for funding
    recipient: str | None  # whom the money goes to
    # other names of a control by which later documents cite it (alias_key of its title and of its
    # Federal Register citation); written to event_aliases, not a column of `events`
    aliases: tuple[str, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True)
class StoredEvent(MergedEvent):
    """A row of `events`: a merged event and when it was first stored and last changed."""

    first_seen: str
    updated_at: str

    def as_row(self) -> dict[str, Any]:
        """The row as stored: every column in the table's order, the lists as JSON text."""
        row: dict[str, Any] = {}
        for column in EVENT_COLUMNS:
            value = getattr(self, column)
            if column in LISTS:
                value = json.dumps(value, ensure_ascii=False)
            elif column == "minerals_from_refs":
                value = int(value)
            row[column] = value
        return row


# the columns of `events`, in the table's order (the fields of StoredEvent)
EVENT_COLUMNS = (
    "id",
    "identity",
    "action",
    "jurisdiction",
    "announced",
    "effective",
    "expires",
    "doc_number",
    "title",
    "targets",
    "minerals",
    "items",
    "refers_to",
    "rule",
    "severity",
    "trigger",
    "minerals_from_refs",
    "amount",
    "recipient",
    "first_seen",
    "updated_at",
)
_SELECT_EVENTS = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"


def _stored_event(values: Sequence[Any]) -> StoredEvent:
    row = dict(zip(EVENT_COLUMNS, values, strict=True))
    for column in LISTS:
        row[column] = json.loads(row[column])
    row["minerals_from_refs"] = bool(row["minerals_from_refs"])
    return StoredEvent(**row)


class Control(NamedTuple):
    """A control event (new or expanded control), what its states are derived from (a named tuple:
    a rebuild streams every control)."""

    id: str
    jurisdiction: str
    announced: str | None
    effective: str | None
    doc_number: str | None
    minerals: list[str]


class Modifier(NamedTuple):
    """A suspension, lift or reinstatement, as it bears on the measure `ref` it names."""

    action: str
    jurisdiction: str
    announced: str | None
    effective: str | None
    expires: str | None
    doc_number: str | None
    ref: str


class MeasureState(NamedTuple):
    """A row of `measure_states`: a control's state for one mineral over [valid_from, valid_to)
    (a named tuple: a rebuild writes one per control, mineral and interval)."""

    mineral: str
    valid_from: str
    valid_to: str
    event_id: str
    pos: int  # the mineral's place in the control's list
    jurisdiction: str
    announced: str | None
    measure: str
    state: str
    since: str | None
    until: str | None
    changed_by: str | None


class Status(NamedTuple):
    """The state of one measure for one mineral on one day (a named tuple: a status answer can have
    thousands of rows, and a tuple is made several times faster than a frozen dataclass)."""

    jurisdiction: str
    measure: str
    mineral: str
    state: str  # pending | active | suspended | lifted
    since: str | None
    until: str | None
    changed_by: str | None = None  # the document number of the suspension/lift that set the state
    event_id: str = ""  # the control event (`tracker show EVENT_ID` gives its title and sources)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self._asdict())


@dataclass(frozen=True)
class StoredListVersion:
    """A row of `list_versions`: the items a list stated on a date."""

    id: int
    source: str
    url: str
    document_id: int | None
    published: str | None
    items: list[str]
    source_kind: str


_SELECT_LIST_VERSIONS = (
    "SELECT id, source, url, document_id, published, items, source_kind FROM list_versions"
)


def _list_version(values: Sequence[Any]) -> StoredListVersion:
    id_, source, url, document_id, published, items, source_kind = values
    return StoredListVersion(id_, source, url, document_id, published, json.loads(items), source_kind)


class EventTables(Database):
    """Drafts, events, the states of controls, and the list versions classification compares."""

    # --- drafts --------------------------------------------------------------------------------

    def replace_drafts(self, documents: Sequence[tuple[int, str, Mapping[str, Draft]]]) -> set[str]:
        """Put new drafts in place of these documents' drafts, each document given as (its id, its
        identity, its drafts by event id); the event ids they had before. Runs inside the caller's
        transaction."""
        old: set[str] = set()
        for chunk in _chunks(document_id for document_id, _, _ in documents):
            where = f"WHERE document_id IN ({_marks(chunk)})"
            had = {r[0] for r in self.db.execute(f"SELECT event_id FROM event_drafts {where}", chunk)}
            if had:  # (new documents have none: a look is cheaper than a DELETE ... RETURNING)
                self.db.execute(f"DELETE FROM event_drafts {where}", chunk)
            old |= had
        self.db.conn.executemany(
            "INSERT INTO event_drafts(document_id, event_id, rule, draft) VALUES (?, ?, ?, ?)",
            [
                (
                    document_id,
                    eid,
                    d.rule,
                    json.dumps({**d.as_dict(), "identity": identity}, ensure_ascii=False),
                )
                for document_id, identity, drafts in documents
                for eid, d in drafts.items()
            ],
        )
        return old

    def clear_drafts(self) -> None:
        """Forget every draft (every document is about to be classified again)."""
        self.db.execute("DELETE FROM event_drafts")

    def drafts_of(self, event_ids: Iterable[str]) -> dict[str, list[StoredDraft]]:
        """The drafts of these events by event id (an event without drafts left out), each event's
        by date of issue of their documents (then document id)."""
        out: dict[str, list[StoredDraft]] = {}
        for chunk in _chunks(event_ids):
            rows = self.db.execute(
                "SELECT e.event_id, e.draft, d.id, d.title, d.doc_number, json_extract(d.meta, '$.citation')"
                " FROM event_drafts e JOIN documents d ON d.id = e.document_id"
                f" WHERE e.event_id IN ({_marks(chunk)}) ORDER BY d.published, d.id",
                chunk,
            )
            for event_id, draft, doc_id, title, number, citation in rows:
                d = json.loads(draft)
                out.setdefault(event_id, []).append(
                    StoredDraft(
                        document_id=doc_id,
                        document_title=title,
                        document_number=number,
                        identity=d["identity"],
                        action=d["action"],
                        jurisdiction=d["jurisdiction"],
                        announced=d["announced"],
                        effective=d["effective"],
                        expires=d["expires"],
                        minerals=d["minerals"] or [],
                        items=d["items"] or [],
                        targets=d["targets"] or [],
                        refers_to=d["refers_to"] or [],
                        rule=d["rule"],
                        severity=d["severity"],
                        trigger=d["trigger"],
                        amount=d.get("amount"),
                        recipient=d.get("recipient"),
                        citation=citation if isinstance(citation, str) else None,
                    )
                )
        return out

    # --- events --------------------------------------------------------------------------------

    def event(self, event_id: str) -> StoredEvent | None:
        """The event `event_id`, if there is one."""
        row = self.db.execute(_SELECT_EVENTS + " WHERE id = ?", [event_id]).fetchone()
        return None if row is None else _stored_event(row)

    def all_events(self) -> list[StoredEvent]:
        """Every event, in no particular order."""
        return [_stored_event(r) for r in self.db.execute(_SELECT_EVENTS)]

    def save_event(self, event: MergedEvent, *, stored: bool = True) -> None:
        """Write a merged event, its minerals and its references. `updated_at` moves only when its
        minerals, action, effective date or expiry change. With `stored` false (no event
        `event.id` is stored) there are no minerals, references or aliases of it to replace: the
        foreign keys allow them only beside their event, and `delete_event` takes them with it.
        Runs inside the caller's transaction."""
        if stored:
            self.db.execute("DELETE FROM event_minerals WHERE event_id = ?", [event.id])
            self.db.execute("DELETE FROM event_refs WHERE event_id = ?", [event.id])
            self.db.execute("DELETE FROM event_aliases WHERE event_id = ?", [event.id])
        values = {column: getattr(event, column) for column in EVENT_COLUMNS[:-2]}
        values.update({k: json.dumps(values[k], ensure_ascii=False) for k in LISTS})
        values.update(minerals_from_refs=int(event.minerals_from_refs), now=now_iso())
        self.db.execute(
            """INSERT INTO events(id, identity, action, jurisdiction, announced, effective, expires, doc_number, title,
                   targets, minerals, items, refers_to, rule, severity, trigger, minerals_from_refs, amount, recipient,
                   first_seen, updated_at)
               VALUES (:id, :identity, :action, :jurisdiction, :announced, :effective, :expires, :doc_number, :title,
                   :targets, :minerals, :items, :refers_to, :rule, :severity, :trigger, :minerals_from_refs, :amount,
                   :recipient, :now, :now)
               ON CONFLICT(id) DO UPDATE SET identity = excluded.identity, action = excluded.action,
                   jurisdiction = excluded.jurisdiction, announced = excluded.announced, effective = excluded.effective,
                   expires = excluded.expires, doc_number = excluded.doc_number, title = excluded.title,
                   targets = excluded.targets, minerals = excluded.minerals, items = excluded.items,
                   refers_to = excluded.refers_to, rule = excluded.rule, severity = excluded.severity,
                   trigger = excluded.trigger, minerals_from_refs = excluded.minerals_from_refs,
                   amount = excluded.amount, recipient = excluded.recipient,
                   updated_at = CASE WHEN events.minerals = excluded.minerals AND events.action = excluded.action
                       AND COALESCE(events.effective, '') = COALESCE(excluded.effective, '')
                       AND COALESCE(events.expires, '') = COALESCE(excluded.expires, '')
                       THEN events.updated_at ELSE excluded.updated_at END""",
            values,
        )
        conn = self.db.conn
        if event.minerals:
            conn.executemany(
                "INSERT OR IGNORE INTO event_minerals(event_id, mineral, announced) VALUES (?, ?, ?)",
                [(event.id, m, event.announced) for m in event.minerals],
            )
        if event.refers_to:
            conn.executemany(
                "INSERT OR IGNORE INTO event_refs(event_id, ref) VALUES (?, ?)",
                [(event.id, ref) for ref in event.refers_to],
            )
        if event.aliases:
            conn.executemany(
                "INSERT OR IGNORE INTO event_aliases(alias, event_id) VALUES (?, ?)",
                [(alias, event.id) for alias in event.aliases],
            )

    def delete_event(self, event_id: str) -> None:
        """Remove an event with its minerals, references and aliases (inside the caller's
        transaction)."""
        self.db.execute("DELETE FROM event_minerals WHERE event_id = ?", [event_id])
        self.db.execute("DELETE FROM event_refs WHERE event_id = ?", [event_id])
        self.db.execute("DELETE FROM event_aliases WHERE event_id = ?", [event_id])
        self.db.execute("DELETE FROM events WHERE id = ?", [event_id])

    def events_referring(self, numbers: Iterable[str]) -> set[str]:
        """The ids of the events that refer to one of these document numbers."""
        return self._referring("ref", numbers)

    def events_citing(self, keys: Iterable[str]) -> set[str]:
        """The ids of the events with a reference that compares equal (alias_key) to one of these
        keys: those that name a measure by its title or citation before the measure is stored."""
        return self._referring("lower(ref)", keys)

    def _referring(self, ref: str, values: Iterable[str]) -> set[str]:
        """The ids of the events whose reference, as the SQL expression `ref` (a constant of this
        module, never input), is one of `values`."""
        out: set[str] = set()
        for chunk in _chunks(values):
            rows = self.db.execute(f"SELECT event_id FROM event_refs WHERE {ref} IN ({_marks(chunk)})", chunk)
            out |= {r[0] for r in rows}
        return out

    def measures_aliased(self, keys: Sequence[str], jurisdiction: str) -> dict[str, set[str]]:
        """For each of these keys (alias_key), the measures (document number, else event id) of
        the controls of `jurisdiction` known by it."""
        out: dict[str, set[str]] = {}
        for chunk in _chunks(keys):
            rows = self.db.execute(
                "SELECT a.alias, COALESCE(e.doc_number, e.id) FROM event_aliases a JOIN events e ON e.id = a.event_id"
                f" WHERE a.alias IN ({_marks(chunk)}) AND e.jurisdiction = ? AND e.action IN ({_marks(CONTROL_ACTIONS)})",
                [*chunk, jurisdiction, *CONTROL_ACTIONS],
            )
            for alias, measure in rows:
                out.setdefault(alias, set()).add(measure)
        return out

    def control_minerals(self, numbers: Sequence[str]) -> list[list[str]]:
        """The minerals of each control event with one of these document numbers, oldest first (a
        list of references is short: one query)."""
        if not numbers:
            return []
        rows = self.db.execute(
            f"SELECT minerals FROM events WHERE doc_number IN ({_marks(numbers)})"
            f" AND action IN ({_marks(CONTROL_ACTIONS)}) ORDER BY announced, id",
            [*numbers, *CONTROL_ACTIONS],
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # --- the states of controls (measure_states) -----------------------------------------------

    def control_ids(self, measures: Iterable[str]) -> set[str]:
        """The ids of the control events these measures name (a document number, or the id of a
        control without one)."""
        ids: set[str] = set()
        for chunk in _chunks(measures):
            ids |= {
                r[0]
                for r in self.db.execute(
                    f"SELECT id FROM events WHERE action IN ({_marks(CONTROL_ACTIONS)})"
                    f" AND (doc_number IN ({_marks(chunk)}) OR (doc_number IS NULL AND id IN ({_marks(chunk)})))",
                    [*CONTROL_ACTIONS, *chunk, *chunk],
                )
            }
        return ids

    def controls(self, ids: Iterable[str] | None = None) -> Iterator[Control]:
        """The control events with these ids (those that are no longer controls, or no longer
        exist, left out); every control event, by id, when `ids` is None. Streamed."""
        sql = "SELECT id, jurisdiction, announced, effective, doc_number, minerals FROM events"
        sql += f" WHERE action IN ({_marks(CONTROL_ACTIONS)})"
        chunks: Iterable[list[str]] = [[]] if ids is None else _chunks(ids)
        for chunk in chunks:
            where = " ORDER BY id" if ids is None else f" AND id IN ({_marks(chunk)})"
            cursor = self.db.execute(sql + where, [*CONTROL_ACTIONS, *chunk])
            while rows := cursor.fetchmany(CHUNK):
                for id_, jurisdiction, announced, effective, number, minerals in rows:
                    yield Control(id_, jurisdiction, announced, effective, number, json.loads(minerals))

    def modifiers_of(self, measures: Iterable[str]) -> list[Modifier]:
        """The suspensions, lifts and reinstatements that name these measures, read by reference
        (a measure has few of them)."""
        out: list[Modifier] = []
        for chunk in _chunks(measures):
            rows = self.db.execute(
                "SELECT e.action, e.jurisdiction, e.announced, e.effective, e.expires, e.doc_number, r.ref"
                " FROM event_refs r CROSS JOIN events e ON e.id = r.event_id"
                f" WHERE r.ref IN ({_marks(chunk)}) AND e.action IN ({_marks(MODIFIER_ACTIONS)})",
                [*chunk, *MODIFIER_ACTIONS],
            )
            out += map(Modifier._make, rows)
        return out

    def write_states(self, states: Iterable[MeasureState]) -> None:
        """Store these states (one replaces a stored one with the same key)."""
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO measure_states(mineral, valid_from, valid_to, event_id, pos, jurisdiction,"
            " announced, measure, state, since, until, changed_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            states,
        )

    def delete_states(self, event_ids: Iterable[str] | None = None) -> None:
        """Forget the stored states of these control events (of every one, with None)."""
        if event_ids is None:
            self.db.execute("DELETE FROM measure_states")
            return
        for chunk in _chunks(event_ids):
            self.db.execute(f"DELETE FROM measure_states WHERE event_id IN ({_marks(chunk)})", chunk)

    def has_states(self) -> bool:
        """True when any state is stored."""
        return self.db.execute("SELECT 1 FROM measure_states LIMIT 1").fetchone() is not None

    def has_controls(self) -> bool:
        """True when any control event is stored."""
        row = self.db.execute(
            f"SELECT 1 FROM events WHERE action IN ({_marks(CONTROL_ACTIONS)}) LIMIT 1", CONTROL_ACTIONS
        ).fetchone()
        return row is not None

    def states_on(
        self,
        day: str,
        *,
        minerals: Sequence[str] = (),
        jurisdictions: Sequence[str] = (),
        measures: Sequence[str] = (),
    ) -> list[Status]:
        """The stored states that hold on `day` (ISO), of these minerals, jurisdictions and measures
        (each: any, when empty), ordered by jurisdiction, announcement, control and mineral."""
        sql = (
            "SELECT jurisdiction, measure, mineral, state, since, until, changed_by, event_id FROM measure_states"
            " WHERE valid_from <= ? AND valid_to > ?"
        )
        params: list[str] = [day, day]
        for column, values in (("mineral", minerals), ("jurisdiction", jurisdictions), ("measure", measures)):
            if len(values) == 1:  # stated as equality, so one mineral's rows come in key order, unsorted
                sql += f" AND {column} = ?"
            elif values:
                sql += f" AND {column} IN ({_marks(values)})"
            params += values
        cursor = self.db.conn.execute(sql + " ORDER BY jurisdiction, announced, event_id, pos", params)
        return list(map(Status._make, cursor))

    # --- list versions, as classification compares them ----------------------------------------

    def list_versions_of(self, document_ids: Iterable[int]) -> dict[int, StoredListVersion]:
        """The newest list version each of these documents states, by document id (a document
        that states none left out)."""
        out: dict[int, StoredListVersion] = {}
        for chunk in _chunks(document_ids):
            rows = self.db.execute(
                _SELECT_LIST_VERSIONS + f" WHERE document_id IN ({_marks(chunk)}) ORDER BY id", chunk
            )
            for row in rows:  # by id: a document's newest version comes last
                out[int(row[3])] = _list_version(row)
        return out

    def list_version_before(self, current: StoredListVersion) -> StoredListVersion | None:
        """The list before `current`: its source's version with the latest date before it (the
        order of arrival among equal dates), whichever URL it came from (each notice has its own)."""
        row = self.db.execute(
            _SELECT_LIST_VERSIONS
            + """ WHERE source = ? AND id != ?
                    AND (COALESCE(published, '') < COALESCE(?, '')
                         OR (COALESCE(published, '') = COALESCE(?, '') AND id < ?))
                  ORDER BY COALESCE(published, '') DESC, id DESC LIMIT 1""",
            [current.source, current.id, current.published, current.published, current.id],
        ).fetchone()
        return None if row is None else _list_version(row)
