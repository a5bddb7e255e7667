"""Alerts: what is worth telling people, each created exactly once (a unique key per alert).

- an event that appears gives one 'event' alert; a later change of its substance (action, dates,
  minerals) one 'event_updated' alert per new substance; re-running changes nothing
- a suspension that expires, or a measure that takes effect, within N days gives one 'deadline'
  alert per threshold (`[alerts] warn_days`, 30 and 7 by default)
- a source failing K runs in a row, whose list layout broke, or silent beyond its expected period
  opens one 'health_open' alert; its recovery gives one 'health_recovered' alert
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tracker.codes import severity_rank
from tracker.settings import Config, Recipient
from tracker.store import Store
from tracker.wording import plural

SUBSTANCE = ("action", "effective", "expires", "minerals")


def local_today(config: Config, now: datetime) -> date:
    """The date at `now` in the configured time zone."""
    return now.astimezone(ZoneInfo(config.timezone)).date()


def _iso(now: datetime) -> str:
    return now.astimezone(ZoneInfo("UTC")).replace(microsecond=0).isoformat()


def _substance(e: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(e[k]) if k == "minerals" else e[k]) for k in SUBSTANCE}


def _hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def _insert(
    store: Store,
    key: str,
    kind: str,
    severity: str,
    title: str,
    detail: dict[str, Any],
    now: datetime,
    event_id: str | None = None,
    source: str | None = None,
    suppressed: bool = False,
) -> dict[str, Any] | None:
    cur = store.db.execute(
        """INSERT OR IGNORE INTO alerts(key, kind, event_id, source, severity, title, detail, created_at, suppressed)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            key,
            kind,
            event_id,
            source,
            severity,
            title,
            json.dumps(detail, ensure_ascii=False),
            _iso(now),
            int(suppressed),
        ],
    )
    if not cur.rowcount:
        return None
    return {
        "id": cur.lastrowid,
        "key": key,
        "kind": kind,
        "event_id": event_id,
        "source": source,
        "severity": severity,
        "title": title,
        "detail": detail,
        "suppressed": suppressed,
    }


def sync_alerts(store: Store, config: Config, now: datetime) -> list[dict[str, Any]]:
    """Create the alerts that are due at `now` (new and changed events, deadline warnings,
    source health); idempotent. Returns the alerts created."""
    created: list[dict[str, Any]] = []
    with store.write():
        created += _event_alerts(store, config, now)
        created += _deadline_alerts(store, config, now)
        created += _health_alerts(store, config, now)
    return [a for a in created if a is not None]


def _event_alerts(store: Store, config: Config, now: datetime) -> list[dict[str, Any]]:
    out = []
    cutoff = None
    if config.alerts.max_age_days > 0:
        cutoff = (local_today(config, now) - timedelta(days=config.alerts.max_age_days)).isoformat()
    for e in store.db.query("SELECT * FROM events ORDER BY announced, id"):
        sub = _substance(e)
        digest = _hash(sub)
        last = store.db.execute(
            "SELECT detail FROM alerts WHERE event_id = ? AND kind IN ('event', 'event_updated') ORDER BY id DESC LIMIT 1",
            [e["id"]],
        ).fetchone()
        if last is None:
            old_news = cutoff is not None and (e["announced"] or "") < cutoff
            a = _insert(
                store,
                f"event:{e['id']}",
                "event",
                e["severity"],
                e["title"],
                {"substance": sub, "hash": digest},
                now,
                event_id=e["id"],
                suppressed=old_news,
            )
        else:
            before = json.loads(last[0])
            if before.get("hash") == digest:
                continue
            changes = {
                k: [before["substance"].get(k), sub[k]]
                for k in SUBSTANCE
                if before["substance"].get(k) != sub[k]
            }
            a = _insert(
                store,
                f"event:{e['id']}:{digest}",
                "event_updated",
                e["severity"],
                e["title"],
                {"substance": sub, "hash": digest, "changes": changes},
                now,
                event_id=e["id"],
            )
        if a:
            out.append(a)
    return out


def _deadline_alerts(store: Store, config: Config, now: datetime) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    today = local_today(config, now)
    thresholds = sorted(set(config.alerts.warn_days))
    if not thresholds:
        return out
    horizon = (today + timedelta(days=max(thresholds))).isoformat()
    rows = store.db.query(
        """SELECT * FROM events WHERE (expires >= :t AND expires <= :h) OR (effective > :t AND effective <= :h)""",
        {"t": today.isoformat(), "h": horizon},
    )
    for e in rows:
        for field in ("effective", "expires"):
            when = e[field]
            if not when or (field == "effective" and when <= today.isoformat()) or when < today.isoformat():
                continue
            days = (date.fromisoformat(when) - today).days
            applicable = [t for t in thresholds if days <= t]
            if not applicable:
                continue
            t = min(applicable)
            a = _insert(
                store,
                f"deadline:{e['id']}:{field}:{t}",
                "deadline",
                e["severity"],
                e["title"],
                {
                    "field": field,
                    "date": when,
                    "days": days,
                    "threshold": t,
                    "action": e["action"],
                    "doc_number": e["doc_number"],
                },
                now,
                event_id=e["id"],
            )
            if a:
                out.append(a)
    return out


def _health_alerts(store: Store, config: Config, now: datetime) -> list[dict[str, Any]]:
    out = []
    k = config.alerts.failures_before_alert
    for src in config.sources.values():
        if not src.enabled:
            continue
        state = store.source_state(src.name)
        incident = store.db.execute(
            "SELECT id, reason FROM health_incidents WHERE source = ? AND closed_at IS NULL", [src.name]
        ).fetchone()
        problem = None
        if state:
            fails = state["consecutive_failures"]
            error = state["last_error"] or ""
            if fails >= k:
                problem = f"failed {plural(fails, 'run')} in a row: {error}"
            elif fails and "layout" in error:
                problem = f"its list layout changed: {error}"
            elif state["last_success"]:
                silent_for = now - datetime.fromisoformat(state["last_success"])
                if silent_for > timedelta(seconds=src.interval * config.alerts.silent_after):
                    problem = f"no successful run since {state['last_success']}"
        if problem and incident is None:
            cur = store.db.execute(
                "INSERT INTO health_incidents(source, reason, opened_at) VALUES (?, ?, ?)",
                [src.name, problem, _iso(now)],
            )
            a = _insert(
                store,
                f"health:{src.name}:{cur.lastrowid}:open",
                "health_open",
                "high",
                f"Source {src.name} is failing",
                {"reason": problem},
                now,
                source=src.name,
            )
            if a:
                out.append(a)
        elif not problem and incident is not None and state and state["consecutive_failures"] == 0:
            store.db.execute(
                "UPDATE health_incidents SET closed_at = ? WHERE id = ?", [_iso(now), incident[0]]
            )
            a = _insert(
                store,
                f"health:{src.name}:{incident[0]}:recovered",
                "health_recovered",
                "low",
                f"Source {src.name} recovered",
                {"reason": incident[1], "since": state["last_success"]},
                now,
                source=src.name,
            )
            if a:
                out.append(a)
    return out


# --- routing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A recipient's filters, with minerals resolved to canonical ids (groups expanded)."""

    recipient: Recipient
    minerals: frozenset[str]

    def wants(self, alert: dict[str, Any], event: dict[str, Any] | None) -> bool:
        """Whether this recipient gets `alert`."""
        r = self.recipient
        if alert["kind"].startswith("health"):
            return r.health
        if severity_rank(alert["severity"]) < severity_rank(r.min_severity):
            return False
        if event is None:
            return False
        if r.jurisdictions and event["jurisdiction"] not in r.jurisdictions:
            return False
        if r.actions and event["action"] not in r.actions:
            return False
        if self.minerals and not self.minerals & set(json.loads(event["minerals"])):
            return False
        return True


def record_seen(store: Store, email: str, now: datetime) -> None:
    """Remember when a digest was first sent to `email` (only a send does this, never a preview):
    their first digest, and every later one, reaches back `[digest] backlog_days` before it."""
    with store.write():
        store.db.execute(
            "INSERT OR IGNORE INTO recipients_seen(email, since) VALUES (?, ?)", [email, _iso(now)]
        )


def first_alert_time(store: Store, email: str, now: datetime, backlog_days: int) -> str:
    """The creation time of the oldest alert a configured recipient may still get: `backlog_days`
    before their first digest was sent, or before `now` when none was yet. Reads only."""
    row = store.db.execute("SELECT since FROM recipients_seen WHERE email = ?", [email]).fetchone()
    first = datetime.fromisoformat(row[0]) if row else now
    return _iso(first - timedelta(days=backlog_days))


def pending_alerts(
    store: Store,
    rt: Route,
    now: datetime,
    since: str | None = None,
    configured: bool = True,
    *,
    backlog_days: int,
) -> list[dict[str, Any]]:
    """Alerts for one recipient not yet delivered to them (or, with `since`, every alert created
    since then, delivered or not), oldest first; reads only. A configured recipient gets what was
    created from `backlog_days` before their first digest on (`first_alert_time`); an address given
    ad hoc (`--to`) everything not yet sent to it."""
    if since is None:
        floor = first_alert_time(store, rt.recipient.email, now, backlog_days) if configured else ""
        rows = store.db.query(
            """SELECT * FROM alerts a WHERE suppressed = 0 AND created_at >= ? AND NOT EXISTS
               (SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.recipient = ?) ORDER BY id""",
            [floor, rt.recipient.email],
        )
    else:
        rows = store.db.query(
            "SELECT * FROM alerts WHERE suppressed = 0 AND created_at >= ? ORDER BY id", [since]
        )
    out = []
    for a in rows:
        event = _event(store, a["event_id"]) if a["event_id"] else None
        if rt.wants(a, event):
            a["detail"] = json.loads(a["detail"])
            a["event"] = event
            out.append(a)
    return out


def _event(store: Store, event_id: str) -> dict[str, Any] | None:
    rows = list(store.db.query("SELECT * FROM events WHERE id = ?", [event_id]))
    return rows[0] if rows else None


def mark_delivered(
    store: Store, alert_ids: Iterable[int], recipient: str, digest_id: int, now: datetime
) -> None:
    """Record that these alerts reached `recipient` (the mail server accepted the digest)."""
    with store.write():
        for aid in alert_ids:
            store.db.execute(
                "INSERT OR IGNORE INTO deliveries(alert_id, recipient, digest_id, delivered_at) VALUES (?, ?, ?, ?)",
                [aid, recipient, digest_id, _iso(now)],
            )


def list_alerts(
    store: Store,
    config: Config,
    routes: Iterable[Route],
    *,
    pending: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Alerts newest first, each with its event's `action`, `pending_for` (the recipients whose
    next digest carries it: it routes to them, they have not had it, and it is not older than their
    first digest's backlog, as `pending_alerts` decides), `delivered_to` and `state`: 'pending',
    'sent', 'old' (it routes to someone but predates their backlog) or 'unrouted', for the
    recipients' `routes` (Tracker.routes). With no route, every undelivered alert is pending.
    Reads only."""
    now = now or datetime.now(UTC)
    routes = list(routes)
    floors = {
        rt.recipient.email: first_alert_time(store, rt.recipient.email, now, config.digest.backlog_days)
        for rt in routes
    }
    out = []
    for a in store.db.query("SELECT * FROM alerts WHERE suppressed = 0 ORDER BY id DESC"):
        event = _event(store, a["event_id"]) if a["event_id"] else None
        delivered = {
            r[0] for r in store.db.execute("SELECT recipient FROM deliveries WHERE alert_id = ?", [a["id"]])
        }
        if routes:
            wanted = [rt.recipient.email for rt in routes if rt.wants(a, event)]
            waiting = [e for e in wanted if e not in delivered and a["created_at"] >= floors[e]]
        else:
            wanted, waiting = [], ([] if delivered else ["(no recipient configured)"])
        if pending and not waiting:
            continue
        a["detail"] = json.loads(a["detail"])
        a["action"] = event["action"] if event else None
        a["pending_for"] = waiting
        a["delivered_to"] = sorted(delivered)
        old = set(wanted) - delivered
        a["state"] = "pending" if waiting else "sent" if delivered else "old" if old else "unrouted"
        out.append(a)
    return out
