"""The tables of telling: alerts, their deliveries, when each recipient was first sent a digest,
health incidents, and the events written since the alerts were last brought up to date
(`events_to_alert`, filled by triggers on `events`). Also the events as alerts and digests read
them (as `StoredEvent`s of tracker.store.events): by id, those to alert on, and the deadlines ahead."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.store.base import Database
from tracker.store.events import EVENT_COLUMNS, StoredEvent, _stored_event

# how many ids one `IN (...)` list holds: well under SQLite's limit on bound parameters
_CHUNK = 500

_EVENT = ", ".join(EVENT_COLUMNS)
_E_EVENT = ", ".join("e." + c for c in EVENT_COLUMNS)


@dataclass(frozen=True)
class Due:
    """A date ahead: the start ('effective') or the end ('expires') of an event."""

    event: StoredEvent
    field: str
    date: str


@dataclass(frozen=True)
class Alert:
    """One thing worth telling, created once (`key` is unique); `detail` is its parsed JSON."""

    id: int
    key: str
    kind: str  # 'event' | 'event_updated' | 'deadline' | 'health_open' | 'health_recovered'
    event_id: str | None
    source: str | None
    severity: str
    title: str
    detail: dict[str, Any]
    created_at: str
    suppressed: bool


_ALERT = "id, key, kind, event_id, source, severity, title, detail, created_at, suppressed"


def _alert(row: Sequence[Any]) -> Alert:
    alert_id, key, kind, event_id, source, severity, title, detail, created_at, suppressed = row
    return Alert(
        alert_id,
        key,
        kind,
        event_id,
        source,
        severity,
        title,
        json.loads(detail),
        created_at,
        bool(suppressed),
    )


@dataclass(frozen=True)
class Incident:
    """A source's open health incident: why it was opened."""

    id: int
    reason: str


class AlertTables(Database):
    """Alerts, deliveries, recipients seen, health incidents, and events read for telling."""

    # --- events, as alerts read them ---------------------------------------------------------------

    def events_to_alert(self, *, every: bool = False) -> list[StoredEvent]:
        """The events written since the alerts were last brought up to date (or, with `every`,
        all events), by date of issue then id: the order their alerts are created in."""
        if every:
            sql = f"SELECT {_EVENT} FROM events ORDER BY announced, id"
        else:
            # CROSS JOIN keeps the noted events the outer loop: a plan walking `events` in order of
            # date, probing the note for each, would read every event
            sql = (
                f"SELECT {_E_EVENT} FROM events_to_alert q CROSS JOIN events e ON e.id = q.event_id"
                " ORDER BY e.announced, e.id"
            )
        return [_stored_event(r) for r in self.db.execute(sql)]

    def events_alerted(self) -> None:
        """Every event written so far has been looked at (inside the caller's transaction)."""
        self.db.execute("DELETE FROM events_to_alert")

    def events_by_id(self, ids: Iterable[str]) -> dict[str, StoredEvent]:
        """The events with these ids that exist, by id."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, StoredEvent] = {}
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT {_EVENT} FROM events WHERE id IN ({marks})", chunk):
                event = _stored_event(row)
                out[event.id] = event
        return out

    def event_links(self, event_id: str) -> list[str]:
        """Every URL that carried a document of the event, first seen first."""
        rows = self.db.execute(
            """SELECT DISTINCT u.url FROM event_drafts x JOIN document_urls u ON u.document_id = x.document_id
               WHERE x.event_id = ? ORDER BY u.first_seen, u.url""",
            [event_id],
        )
        return [str(r[0]) for r in rows]

    def deadlines(self, today: str, until: str) -> list[Due]:
        """The dates ahead up to `until` (inclusive): starts after `today`, expiries from `today`
        on (a measure that ends today still has today to run; one that started today is no longer
        ahead). In the order of the events' rows (the first stored first), an event's start
        before its end: the order its deadline alerts were always created in."""
        rows = self.db.execute(
            f"""SELECT * FROM (
                    SELECT e.rowid AS pos, 0 AS nth, 'effective' AS field, e.effective AS due, {_E_EVENT}
                    FROM events e WHERE e.effective > :today AND e.effective <= :until
                    UNION ALL
                    SELECT e.rowid, 1, 'expires', e.expires, {_E_EVENT}
                    FROM events e WHERE e.expires >= :today AND e.expires <= :until
                ) ORDER BY pos, nth""",
            {"today": today, "until": until},
        )
        return [Due(_stored_event(r[4:]), r[2], r[3]) for r in rows]

    # --- alerts ----------------------------------------------------------------------------------

    def add_alert(
        self,
        key: str,
        kind: str,
        severity: str,
        title: str,
        detail: dict[str, Any],
        created_at: str,
        *,
        event_id: str | None = None,
        source: str | None = None,
        suppressed: bool = False,
    ) -> Alert | None:
        """Create the alert `key`; None when it exists already (nothing changes then)."""
        cur = self.db.execute(
            f"INSERT OR IGNORE INTO alerts({_ALERT}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                key,
                kind,
                event_id,
                source,
                severity,
                title,
                json.dumps(detail, ensure_ascii=False),
                created_at,
                int(suppressed),
            ],
        )
        if not cur.rowcount:
            return None
        return Alert(
            int(cur.lastrowid or 0),
            key,
            kind,
            event_id,
            source,
            severity,
            title,
            detail,
            created_at,
            suppressed,
        )

    def alert(self, key: str) -> Alert | None:
        """The alert `key`, if it was created."""
        row = self.db.execute(f"SELECT {_ALERT} FROM alerts WHERE key = ?", [key]).fetchone()
        return _alert(row) if row else None

    def last_event_alerts(self, event_ids: Iterable[str]) -> dict[str, Alert]:
        """The newest 'event' or 'event_updated' alert of each of these events (what was last told
        of it), by event id; an event never told of is left out."""
        wanted = list(dict.fromkeys(event_ids))
        out: dict[str, Alert] = {}
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"""SELECT {_ALERT} FROM alerts WHERE id IN (SELECT MAX(id) FROM alerts
                    WHERE event_id IN ({marks}) AND kind IN ('event', 'event_updated') GROUP BY event_id)""",
                chunk,
            )
            for row in rows:
                alert = _alert(row)
                out[str(alert.event_id)] = alert
        return out

    def alerts(self, *, since: str = "", newest_first: bool = False, limit: int = -1) -> list[Alert]:
        """The alerts not suppressed, created at `since` or later, oldest first (or newest first,
        at most `limit` of them when given)."""
        order = "DESC" if newest_first else ""
        rows = self.db.execute(
            f"SELECT {_ALERT} FROM alerts WHERE suppressed = 0 AND created_at >= ? ORDER BY id {order} LIMIT ?",
            [since, limit],
        )
        return [_alert(r) for r in rows]

    def undelivered_alerts(self, recipient: str, since: str) -> list[Alert]:
        """The alerts not suppressed, created at `since` or later, not yet delivered to `recipient`,
        oldest first."""
        rows = self.db.execute(
            f"""SELECT {_ALERT} FROM alerts a WHERE suppressed = 0 AND created_at >= ? AND NOT EXISTS
                (SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.recipient = ?) ORDER BY id""",
            [since, recipient],
        )
        return [_alert(r) for r in rows]

    # --- deliveries and recipients ---------------------------------------------------------------

    def delivered_to(self) -> dict[int, set[str]]:
        """The recipients each delivered alert reached, by alert id."""
        out: dict[int, set[str]] = {}
        for alert_id, recipient in self.db.execute("SELECT alert_id, recipient FROM deliveries"):
            out.setdefault(int(alert_id), set()).add(str(recipient))
        return out

    def delivered_count(self, recipient: str, alert_ids: Iterable[int]) -> int:
        """How many of these alerts reached `recipient` already."""
        return int(
            self.db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE recipient = ? AND alert_id IN (SELECT value FROM json_each(?))",
                [recipient, json.dumps(list(alert_ids))],
            ).fetchone()[0]
        )

    def mark_delivered(self, alert_ids: Iterable[int], recipient: str, digest_id: int, at: str) -> None:
        """Record that these alerts reached `recipient` in digest `digest_id` (once per alert)."""
        with self.write():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO deliveries(alert_id, recipient, digest_id, delivered_at) VALUES (?, ?, ?, ?)",
                [(aid, recipient, digest_id, at) for aid in alert_ids],
            )

    def record_seen(self, email: str, at: str) -> None:
        """Note `at` as when `email` was first sent a digest, unless one was sent before."""
        with self.write():
            self.db.execute("INSERT OR IGNORE INTO recipients_seen(email, since) VALUES (?, ?)", [email, at])

    def seen_since(self, email: str) -> str | None:
        """When `email` was first sent a digest, if ever."""
        row = self.db.execute("SELECT since FROM recipients_seen WHERE email = ?", [email]).fetchone()
        return str(row[0]) if row else None

    # --- health incidents ------------------------------------------------------------------------

    def open_incidents(self) -> dict[str, Incident]:
        """The health incident still open of each source that has one, by source."""
        out: dict[str, Incident] = {}
        rows = self.db.execute(
            "SELECT source, id, reason FROM health_incidents WHERE closed_at IS NULL ORDER BY id"
        )
        for source, incident_id, reason in rows:
            out.setdefault(str(source), Incident(int(incident_id), str(reason)))
        return out

    def add_incident(self, source: str, reason: str, at: str) -> int:
        """Open a health incident for `source`; returns its id."""
        cur = self.db.execute(
            "INSERT INTO health_incidents(source, reason, opened_at) VALUES (?, ?, ?)", [source, reason, at]
        )
        return int(cur.lastrowid or 0)

    def close_incident(self, incident_id: int, at: str) -> None:
        """The source recovered: close its incident."""
        self.db.execute("UPDATE health_incidents SET closed_at = ? WHERE id = ?", [at, incident_id])
