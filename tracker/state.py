"""Controls in force: from the events, the state of each (jurisdiction, measure, mineral) on a day.

A measure is a control event (new or expanded control), named by its document number. It is
`pending` from its announcement until it takes effect, then `active`. A suspension that names the
measure makes it `suspended` from the suspension's effective date until its expiry, after which it
is `active` again; a lift makes it `lifted`; a reinstatement makes it `active`.

`state_on` is the definition. Because a measure's state only changes on the dates its events
name, the states are kept materialised as intervals in `measure_states` (one row per control,
mineral and interval), refreshed in the same transaction as the events they come from
(`refresh_states`, called by `events.rebuild_events`), so `status` is one indexed lookup."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

from tracker.codes import CONTROL_ACTIONS, MODIFIER_ACTIONS

if TYPE_CHECKING:
    from tracker.store import Store

CONTROLS = CONTROL_ACTIONS
MODIFIERS = MODIFIER_ACTIONS
OPEN_END = "9999-12-31"  # valid_to of an interval that has not ended
CHUNK = 500  # ids per IN (...) list: far below SQLite's limit on bound parameters


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


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def state_on(
    control: dict[str, Any], modifiers: list[dict[str, Any]], day: date
) -> tuple[str, date | None, date | None, str | None] | None:
    """(state, since, until, changed_by) of a control on `day`, or None before it was announced."""
    announced = _d(control["announced"])
    effective = _d(control["effective"]) or announced
    if announced is None or day < announced:
        return None
    since: date | None
    until: date | None
    by: str | None
    if effective and day < effective:
        state, since, until, by = "pending", announced, effective, None
    else:
        state, since, until, by = "active", effective, None, None
    for m in sorted(modifiers, key=lambda m: _d(m["effective"]) or _d(m["announced"]) or date.min):
        start = _d(m["effective"]) or _d(m["announced"])
        if start is None or start > day:
            continue
        end = _d(m["expires"])
        if m["action"] == "suspension":
            if end is None or day < end:
                state, since, until, by = "suspended", start, end, m["doc_number"]
            else:
                state, since, until, by = "active", end, None, m["doc_number"]
        elif m["action"] == "lift":
            state, since, until, by = "lifted", start, None, m["doc_number"]
        elif m["action"] == "reinstatement":
            state, since, until, by = "active", start, None, m["doc_number"]
    return state, since, until, by


Interval = tuple[str, str, str, str | None, str | None, str | None]  # from, to, state, since, until, by


def intervals(control: dict[str, Any], modifiers: list[dict[str, Any]]) -> list[Interval]:
    """The states of a control over time: (valid_from, valid_to, state, since, until, changed_by),
    valid_to exclusive and OPEN_END for the last. `state_on` can only change on a date one of the
    events names, so it is evaluated on each of those dates from the announcement on."""
    announced = _d(control["announced"])
    if announced is None:
        return []
    points = {announced, _d(control["effective"])}
    for m in modifiers:
        points |= {_d(m["effective"]) or _d(m["announced"]), _d(m["expires"])}
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
    store: Store,
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
    day = as_of.isoformat()
    sql = (
        "SELECT jurisdiction, measure, mineral, state, since, until, changed_by, event_id FROM measure_states"
        " WHERE valid_from <= ? AND valid_to > ?"
    )
    params: list[Any] = [day, day]
    for column, values in (("mineral", minerals), ("jurisdiction", jurisdictions), ("measure", measures)):
        wanted = sorted(set(values))
        if len(wanted) == 1:  # stated as equality, so one mineral's rows come in key order, unsorted
            sql += f" AND {column} = ?"
        elif wanted:
            sql += f" AND {column} IN ({','.join('?' * len(wanted))})"
        params += wanted
    cursor = store.db.conn.execute(sql + " ORDER BY jurisdiction, announced, event_id, pos", params)
    return list(map(Status._make, cursor))


# --- keeping measure_states in step with the events -------------------------------------------------


def measure_keys(event: dict[str, Any] | None) -> set[str]:
    """The measures whose states this event row takes part in: a control's own name, the measures a
    suspension, lift or reinstatement refers to."""
    if event is None:
        return set()
    if event["action"] in CONTROLS:
        return {event["doc_number"] or event["id"]}
    if event["action"] in MODIFIERS:
        return set(json.loads(event["refers_to"]))
    return set()


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    items = sorted(set(values))
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def refresh_states(
    conn: sqlite3.Connection, *, measures: Iterable[str] = (), event_ids: Iterable[str] = ()
) -> int:
    """Recompute the stored states of these measures (names) and of these control events (ids, also
    those that no longer exist or are no longer controls); returns the intervals written. Runs
    inside the caller's transaction."""
    ids = set(event_ids)
    names = set(measures)
    for chunk in _chunks(names):
        marks = ",".join("?" * len(chunk))
        ids |= {
            r[0]
            for r in conn.execute(
                f"SELECT id FROM events WHERE action IN {CONTROLS} AND (doc_number IN ({marks})"
                f" OR (doc_number IS NULL AND id IN ({marks})))",
                chunk + chunk,
            )
        }
    written = 0
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM measure_states WHERE event_id IN ({marks})", chunk)
        cursor = conn.execute(
            "SELECT id, jurisdiction, announced, effective, doc_number, minerals FROM events"
            f" WHERE action IN {CONTROLS} AND id IN ({marks})",
            chunk,
        )
        written += _write_states(conn, cursor)
    return written


def fill_if_missing(store: Store) -> None:
    """Derive the stored states of a database that has control events but no states yet (one
    created before the states were stored): a cheap look on every other call."""
    conn = store.db.conn
    if conn.execute("SELECT 1 FROM measure_states LIMIT 1").fetchone():
        return
    if not conn.execute(f"SELECT 1 FROM events WHERE action IN {CONTROLS} LIMIT 1").fetchone():
        return
    with store.write():
        rebuild_all_states(conn)


def rebuild_all_states(conn: sqlite3.Connection) -> int:
    """Recompute every stored state from the events (a migration, or after a bulk load)."""
    conn.execute("DELETE FROM measure_states")
    cursor = conn.execute(
        "SELECT id, jurisdiction, announced, effective, doc_number, minerals FROM events"
        f" WHERE action IN {CONTROLS} ORDER BY id"
    )
    return _write_states(conn, cursor)


def _write_states(conn: sqlite3.Connection, cursor: sqlite3.Cursor) -> int:
    names = [d[0] for d in cursor.description]
    written = 0
    while batch := [dict(zip(names, row, strict=True)) for row in cursor.fetchmany(CHUNK)]:
        mods = _modifiers(conn, batch)
        rows: list[Sequence[Any]] = []
        for c in batch:
            measure = c["doc_number"] or c["id"]
            spans = intervals(c, mods.get((measure, c["jurisdiction"]), []))
            for pos, mineral in enumerate(json.loads(c["minerals"])):
                for valid_from, valid_to, state, since, until, by in spans:
                    rows.append(
                        (
                            mineral,
                            valid_from,
                            valid_to,
                            c["id"],
                            pos,
                            c["jurisdiction"],
                            c["announced"],
                            measure,
                            state,
                            since,
                            until,
                            by,
                        )
                    )
        conn.executemany(
            "INSERT OR REPLACE INTO measure_states(mineral, valid_from, valid_to, event_id, pos, jurisdiction,"
            " announced, measure, state, since, until, changed_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        written += len(rows)
    return written


def _modifiers(
    conn: sqlite3.Connection, controls: list[dict[str, Any]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The suspensions, lifts and reinstatements naming these controls, by (measure, jurisdiction);
    read by reference first (a control has few of them)."""
    measures = sorted({c["doc_number"] or c["id"] for c in controls})
    rows = conn.execute(
        "SELECT e.action, e.jurisdiction, e.announced, e.effective, e.expires, e.doc_number, r.ref AS ref"
        " FROM event_refs r CROSS JOIN events e ON e.id = r.event_id"
        f" WHERE r.ref IN ({','.join('?' * len(measures))}) AND e.action IN {MODIFIERS}",
        measures,
    )
    names = [d[0] for d in rows.description]
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for values in rows:
        m = dict(zip(names, values, strict=True))
        out.setdefault((m["ref"], m["jurisdiction"]), []).append(m)
    return out
