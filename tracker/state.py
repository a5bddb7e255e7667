"""Controls in force: from the events, the state of each (jurisdiction, measure, mineral) on a day.

A measure is a control event (new or expanded control), named by its document number (a
suspension that cites it by title or Federal Register citation names it by that number once both
are stored: tracker.events). It is
`pending` from its announcement until it takes effect, then `active`. A suspension that names the
measure makes it `suspended` from the suspension's effective date until its expiry, after which it
is `active` again; a lift makes it `lifted`; a reinstatement makes it `active`.

`state_on` is the definition. Because a measure's state only changes on the dates its events
name, the states are kept materialised as intervals in `measure_states` (one row per control,
mineral and interval), refreshed in the same transaction as the events they come from
(`refresh_states`, called by `events.rebuild_events`), so `status` is one indexed lookup. The
records read and written, and the queries, are the store's (tracker.store.events)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from itertools import islice

from tracker.codes import CONTROL_ACTIONS, MODIFIER_ACTIONS
from tracker.store.events import Control, EventTables, MeasureState, MergedEvent, Modifier, Status

__all__ = [
    "NO_MINERAL",
    "OPEN_END",
    "Interval",
    "Status",
    "fill_if_missing",
    "intervals",
    "measure_keys",
    "rebuild_all_states",
    "refresh_states",
    "state_on",
    "status",
]

OPEN_END = "9999-12-31"  # valid_to of an interval that has not ended
BATCH = 500  # controls whose states are derived together (their modifiers read in one query)


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def state_on(
    control: Control, modifiers: Sequence[Modifier], day: date
) -> tuple[str, date | None, date | None, str | None] | None:
    """(state, since, until, changed_by) of a control on `day`, or None before it was announced."""
    announced = _d(control.announced)
    effective = _d(control.effective) or announced
    if announced is None or day < announced:
        return None
    since: date | None
    until: date | None
    by: str | None
    if effective and day < effective:
        state, since, until, by = "pending", announced, effective, None
    else:
        state, since, until, by = "active", effective, None, None
    for m in sorted(modifiers, key=lambda m: _d(m.effective) or _d(m.announced) or date.min):
        start = _d(m.effective) or _d(m.announced)
        if start is None or start > day:
            continue
        end = _d(m.expires)
        if m.action == "suspension":
            if end is None or day < end:
                state, since, until, by = "suspended", start, end, m.doc_number
            else:
                state, since, until, by = "active", end, None, m.doc_number
        elif m.action == "lift":
            state, since, until, by = "lifted", start, None, m.doc_number
        elif m.action == "reinstatement":
            state, since, until, by = "active", start, None, m.doc_number
    return state, since, until, by


Interval = tuple[str, str, str, str | None, str | None, str | None]  # from, to, state, since, until, by


def intervals(control: Control, modifiers: Sequence[Modifier]) -> list[Interval]:
    """The states of a control over time: (valid_from, valid_to, state, since, until, changed_by),
    valid_to exclusive and OPEN_END for the last. `state_on` can only change on a date one of the
    events names, so it is evaluated on each of those dates from the announcement on."""
    announced = _d(control.announced)
    if announced is None:
        return []
    points = {announced, _d(control.effective)}
    for m in modifiers:
        points |= {_d(m.effective) or _d(m.announced), _d(m.expires)}
    days = sorted(p for p in points if p is not None and p >= announced)
    out: list[Interval] = []
    for i, day in enumerate(days):
        st = state_on(control, modifiers, day)
        if st is None:  # not reached: every day is on or after the announcement
            continue
        state, since, until, by = st
        row = (
            state,
            since.isoformat() if since else None,
            until.isoformat() if until else None,
            by,
        )
        end = days[i + 1].isoformat() if i + 1 < len(days) else OPEN_END
        if out and out[-1][2:] == row:
            out[-1] = (out[-1][0], end, *row)
        else:
            out.append((day.isoformat(), end, *row))
    return out


def status(
    store: EventTables,
    *,
    as_of: date,
    minerals: Iterable[str] = (),
    jurisdictions: Iterable[str] = (),
    measures: Iterable[str] = (),
) -> list[Status]:
    """What applies on `as_of`: one row per (jurisdiction, measure, mineral), ordered by
    jurisdiction and announcement, filtered by minerals (canonical ids, groups already expanded by
    the caller), jurisdictions and measures (document numbers)."""
    fill_if_missing(store)
    return store.states_on(
        as_of.isoformat(),
        minerals=sorted(set(minerals)),
        jurisdictions=sorted(set(jurisdictions)),
        measures=sorted(set(measures)),
    )


# --- keeping measure_states in step with the events -------------------------------------------------


def measure_keys(event: MergedEvent | None) -> set[str]:
    """The measures whose states this event takes part in: a control's own name, the measures a
    suspension, lift or reinstatement refers to."""
    if event is None:
        return set()
    if event.action in CONTROL_ACTIONS:
        return {event.doc_number or event.id}
    if event.action in MODIFIER_ACTIONS:
        return set(event.refers_to)
    return set()


def refresh_states(store: EventTables, *, measures: Iterable[str] = (), event_ids: Iterable[str] = ()) -> int:
    """Recompute the stored states of these measures (names) and of these control events (ids, also
    those that no longer exist or are no longer controls); returns the intervals written. Runs
    inside the caller's transaction."""
    ids = set(event_ids) | store.control_ids(measures)
    store.delete_states(ids)
    return _write_states(store, store.controls(ids))


def fill_if_missing(store: EventTables) -> None:
    """Derive the stored states of a database that has control events but no states yet (one
    created before the states were stored): a cheap look on every other call."""
    if store.has_states() or not store.has_controls():
        return
    with store.write():
        rebuild_all_states(store)


def rebuild_all_states(store: EventTables) -> int:
    """Recompute every stored state from the events (for a database whose states were never
    derived: `fill_if_missing`); runs inside the caller's transaction."""
    store.delete_states()
    return _write_states(store, store.controls())


def _batches(controls: Iterable[Control]) -> Iterator[list[Control]]:
    it = iter(controls)
    while batch := list(islice(it, BATCH)):
        yield batch


def _write_states(store: EventTables, controls: Iterable[Control]) -> int:
    written = 0
    for batch in _batches(controls):
        mods: dict[tuple[str, str], list[Modifier]] = {}
        for m in store.modifiers_of({c.doc_number or c.id for c in batch}):
            mods.setdefault((m.ref, m.jurisdiction), []).append(m)
        rows = [
            row for c in batch for row in _states(c, mods.get((c.doc_number or c.id, c.jurisdiction), []))
        ]
        store.write_states(rows)
        written += len(rows)
    return written


NO_MINERAL = ""  # the mineral of the states of a control that names none (the BIS affiliates rule)


def _states(control: Control, modifiers: list[Modifier]) -> Iterator[MeasureState]:
    """The rows of `measure_states` of one control: each mineral's intervals; a control that names
    no mineral has one set of rows, with NO_MINERAL (so it is in force, suspended or lifted in a
    jurisdiction's status, and in no mineral's)."""
    measure = control.doc_number or control.id
    spans = intervals(control, modifiers)
    for pos, mineral in enumerate(control.minerals or [NO_MINERAL]):
        for valid_from, valid_to, state, since, until, by in spans:
            yield MeasureState(
                mineral,
                valid_from,
                valid_to,
                control.id,
                pos,
                control.jurisdiction,
                control.announced,
                measure,
                state,
                since,
                until,
                by,
            )
