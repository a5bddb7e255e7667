"""Controls in force: from the events, the state of each (jurisdiction, measure, mineral) on a day.

A measure is a control event (new or expanded control), named by its document number. It is
`pending` from its announcement until it takes effect, then `active`. A suspension that names the
measure makes it `suspended` from the suspension's effective date until its expiry, after which it
is `active` again; a lift makes it `lifted`; a reinstatement makes it `active`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from tracker.store import Store

MODIFIERS = ("suspension", "lift", "reinstatement")


@dataclass(frozen=True)
class Status:
    """The state of one measure for one mineral on one day."""

    jurisdiction: str
    measure: str
    mineral: str
    state: str  # pending | active | suspended | lifted
    since: str | None
    until: str | None
    title: str = ""
    changed_by: str | None = None  # the document number of the suspension/lift that set the state

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


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


def status(
    store: Store,
    *,
    as_of: date,
    minerals: Iterable[str] = (),
    jurisdictions: Iterable[str] = (),
) -> list[Status]:
    """What applies on `as_of`: one row per (jurisdiction, measure, mineral), filtered by minerals
    (canonical ids, groups already expanded by the caller) and jurisdictions."""
    wanted_minerals = set(minerals)
    wanted_jur = set(jurisdictions)
    day = as_of.isoformat()
    sql = "SELECT * FROM events WHERE action IN ('new_control', 'expanded_control') AND announced <= ?"
    params: list[Any] = [day]
    if wanted_minerals:
        marks = ",".join("?" * len(wanted_minerals))
        sql += (
            f" AND id IN (SELECT event_id FROM event_minerals WHERE mineral IN ({marks}) AND announced <= ?)"
        )
        params += [*sorted(wanted_minerals), day]
    if wanted_jur:
        sql += f" AND jurisdiction IN ({','.join('?' * len(wanted_jur))})"
        params += sorted(wanted_jur)
    cursor = store.db.conn.execute(sql + " ORDER BY jurisdiction, announced, id", params)
    names = [d[0] for d in cursor.description]
    out: list[Status] = []
    while batch := [dict(zip(names, row, strict=True)) for row in cursor.fetchmany(500)]:  # streamed
        mods = _modifiers(store, batch)
        for c in batch:
            measure = c["doc_number"] or c["id"]
            st = state_on(c, mods.get((measure, c["jurisdiction"]), []), as_of)
            if st is None:
                continue
            state, since, until, by = st
            for mineral in json.loads(c["minerals"]):
                if wanted_minerals and mineral not in wanted_minerals:
                    continue
                out.append(
                    Status(
                        jurisdiction=c["jurisdiction"],
                        measure=measure,
                        mineral=mineral,
                        state=state,
                        since=since.isoformat() if since else None,
                        until=until.isoformat() if until else None,
                        title=c["title"],
                        changed_by=by,
                    )
                )
    return out


def _modifiers(store: Store, controls: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The suspensions, lifts and reinstatements naming these controls, by (measure, jurisdiction);
    read by reference first (a control has few of them)."""
    measures = sorted({c["doc_number"] or c["id"] for c in controls})
    rows = store.db.conn.execute(
        "SELECT e.*, r.ref AS ref FROM event_refs r CROSS JOIN events e ON e.id = r.event_id"
        f" WHERE r.ref IN ({','.join('?' * len(measures))}) AND e.action IN {MODIFIERS}",
        measures,
    )
    names = [d[0] for d in rows.description]
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for values in rows:
        m = dict(zip(names, values, strict=True))
        out.setdefault((m["ref"], m["jurisdiction"]), []).append(m)
    return out
