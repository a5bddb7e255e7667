"""Alerts: what is worth telling people, each created exactly once (a unique key per alert).

- an event that appears gives one 'event' alert; a later change of its substance (action, dates,
  minerals) one 'event_updated' alert per new substance; re-running changes nothing
- a suspension that expires, or a measure that takes effect, within N days gives one 'deadline'
  alert per threshold (`[alerts] warn_days`, 30 and 7 by default)
- a source failing K runs in a row, whose list layout broke, or silent beyond its expected period
  opens one 'health_open' alert; its recovery gives one 'health_recovered' alert

Bringing alerts up to date looks only at the events written since it last ran (the store notes
them as they are written), so its cost does not grow with the number of events kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tracker.codes import severity_rank
from tracker.settings import Config, Recipient, SourceConfig
from tracker.store import Alert, Due, Incident, SourceState, Store, StoredEvent
from tracker.wording import plural

SUBSTANCE = ("action", "effective", "expires", "minerals")


def local_today(config: Config, now: datetime) -> date:
    """The date at `now` in the configured time zone."""
    return now.astimezone(ZoneInfo(config.timezone)).date()


def _iso(now: datetime) -> str:
    return now.astimezone(ZoneInfo("UTC")).replace(microsecond=0).isoformat()


def substance(event: StoredEvent) -> dict[str, object]:
    """What an 'event_updated' alert is about: the event's action, dates and minerals."""
    return {
        "action": event.action,
        "effective": event.effective,
        "expires": event.expires,
        "minerals": list(event.minerals),
    }


def _hash(obj: object) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def deadlines_ahead(store: Store, today: date, days: int) -> list[Due]:
    """The starts and expiries of the next `days` days (`Store.deadlines` says which count)."""
    return store.deadlines(today.isoformat(), (today + timedelta(days=days)).isoformat())


def sync_alerts(store: Store, config: Config, now: datetime, *, every_event: bool = False) -> list[Alert]:
    """Create the alerts that are due at `now` (new and changed events, deadline warnings,
    source health); idempotent. Looks at the events written since the last sync (with
    `every_event`, at all of them: the same alerts, at a cost that grows with the events kept).
    Returns the alerts created."""
    with store.write():
        created = _event_alerts(store, config, now, every_event)
        created += _deadline_alerts(store, config, now)
        created += _health_alerts(store, config, now)
    return created


def _event_alerts(store: Store, config: Config, now: datetime, every: bool) -> list[Alert]:
    cutoff = None
    if config.alerts.max_age_days > 0:
        cutoff = (local_today(config, now) - timedelta(days=config.alerts.max_age_days)).isoformat()
    out = []
    events = store.events_to_alert(every=every)
    told = store.last_event_alerts(e.id for e in events)
    for event in events:
        if (a := _event_alert(store, event, told.get(event.id), cutoff, now)) is not None:
            out.append(a)
    store.events_alerted()
    return out


def _event_alert(
    store: Store, e: StoredEvent, last: Alert | None, cutoff: str | None, now: datetime
) -> Alert | None:
    """The alert an event written since the last sync is due, if any, given the last alert about
    it (`last`): its first ('event'; an event announced before `cutoff` is recorded suppressed),
    or one for a new substance."""
    sub = substance(e)
    digest = _hash(sub)
    if last is None:
        old_news = cutoff is not None and (e.announced or "") < cutoff
        detail: dict[str, object] = {"substance": sub, "hash": digest}
        return store.add_alert(
            f"event:{e.id}",
            "event",
            e.severity,
            e.title,
            detail,
            _iso(now),
            event_id=e.id,
            suppressed=old_news,
        )
    if last.detail.get("hash") == digest:
        return None
    before = last.detail["substance"]
    changes = {k: [before.get(k), sub[k]] for k in SUBSTANCE if before.get(k) != sub[k]}
    detail = {"substance": sub, "hash": digest, "changes": changes}
    return store.add_alert(
        f"event:{e.id}:{digest}", "event_updated", e.severity, e.title, detail, _iso(now), event_id=e.id
    )


def _deadline_alerts(store: Store, config: Config, now: datetime) -> list[Alert]:
    thresholds = sorted(set(config.alerts.warn_days))
    if not thresholds:
        return []
    today = local_today(config, now)
    out = []
    for due in deadlines_ahead(store, today, max(thresholds)):
        e = due.event
        days = (date.fromisoformat(due.date) - today).days
        threshold = min(t for t in thresholds if days <= t)
        detail = {
            "field": due.field,
            "date": due.date,
            "days": days,
            "threshold": threshold,
            "action": e.action,
            "doc_number": e.doc_number,
        }
        key = f"deadline:{e.id}:{due.field}:{threshold}"
        a = store.add_alert(key, "deadline", e.severity, e.title, detail, _iso(now), event_id=e.id)
        if a is not None:
            out.append(a)
    return out


def _problem(
    config: Config, src: SourceConfig, state: SourceState | None, now: datetime
) -> dict[str, object] | None:
    """What is wrong with a source, as its health alert's detail: `reason` in words (what
    `tracker alerts` shows), `problem` ('failing', 'layout' or 'silent') and its data (what the
    digest's templates put in words). None when nothing is."""
    if state is None:
        return None
    fails, error = state.consecutive_failures, state.last_error or ""
    if fails >= config.alerts.failures_before_alert:
        reason = f"failed {plural(fails, 'run')} in a row: {error}"
        return {"reason": reason, "problem": "failing", "failures": fails, "error": error}
    if fails and "layout" in error:
        return {"reason": f"its list layout changed: {error}", "problem": "layout", "error": error}
    if state.last_success:
        silent_for = now - datetime.fromisoformat(state.last_success)
        if silent_for > timedelta(seconds=src.interval * config.alerts.silent_after):
            reason = f"no successful run since {state.last_success}"
            return {"reason": reason, "problem": "silent", "last_success": state.last_success}
    return None


def _health_alerts(store: Store, config: Config, now: datetime) -> list[Alert]:
    out = []
    incidents = store.open_incidents()
    for src in config.sources.values():
        if src.enabled and (a := _health_alert(store, config, src, incidents.get(src.name), now)) is not None:
            out.append(a)
    return out


def _health_alert(
    store: Store, config: Config, src: SourceConfig, incident: Incident | None, now: datetime
) -> Alert | None:
    """A source's incident opened (a problem and none open: `incident` is the open one, if any)
    or closed (no problem, one open, and its last run succeeded), with its alert."""
    state = store.source_state(src.name)
    problem = _problem(config, src, state, now)
    if problem and incident is None:
        incident_id = store.add_incident(src.name, str(problem["reason"]), _iso(now))
        key, title = f"health:{src.name}:{incident_id}:open", f"Source {src.name} is failing"
        return store.add_alert(key, "health_open", "high", title, problem, _iso(now), source=src.name)
    if problem or incident is None or state is None or state.consecutive_failures != 0:
        return None
    store.close_incident(incident.id, _iso(now))
    # what the incident was about, as its opening alert said it (one an older version opened
    # holds the reason alone)
    opened = store.alert(f"health:{src.name}:{incident.id}:open")
    about = {k: v for k, v in (opened.detail if opened else {}).items() if k != "reason"}
    detail = {"reason": incident.reason, "since": state.last_success, **about}
    key, title = f"health:{src.name}:{incident.id}:recovered", f"Source {src.name} recovered"
    return store.add_alert(key, "health_recovered", "low", title, detail, _iso(now), source=src.name)


# --- routing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A recipient's filters, with minerals resolved to canonical ids (groups expanded)."""

    recipient: Recipient
    minerals: frozenset[str]

    def wants(self, alert: Alert, event: StoredEvent | None) -> bool:
        """Whether this recipient gets `alert` (about `event`, None for a health alert or an
        event since gone)."""
        if alert.kind.startswith("health"):
            return self.recipient.health
        return event is not None and self.wants_event(alert.severity, event)

    def wants_event(self, severity: str, event: StoredEvent) -> bool:
        """Whether this recipient is told of `event` at `severity` (its deadlines, its alerts)."""
        r = self.recipient
        if severity_rank(severity) < severity_rank(r.min_severity):
            return False
        if r.jurisdictions and event.jurisdiction not in r.jurisdictions:
            return False
        if r.actions and event.action not in r.actions:
            return False
        return not self.minerals or bool(self.minerals & set(event.minerals))


@dataclass(frozen=True)
class Routed:
    """An alert with the event it is about (None for a health alert, or an event since gone)."""

    alert: Alert
    event: StoredEvent | None


def record_seen(store: Store, email: str, now: datetime) -> None:
    """Remember when a digest was first sent to `email` (only a send does this, never a preview):
    their first digest, and every later one, reaches back `[digest] backlog_days` before it."""
    store.record_seen(email, _iso(now))


def first_alert_time(store: Store, email: str, now: datetime, backlog_days: int) -> str:
    """The creation time of the oldest alert a configured recipient may still get: `backlog_days`
    before their first digest was sent, or before `now` when none was yet. Reads only."""
    since = store.seen_since(email)
    first = datetime.fromisoformat(since) if since else now
    return _iso(first - timedelta(days=backlog_days))


def pending_alerts(
    store: Store,
    rt: Route,
    now: datetime,
    since: str | None = None,
    configured: bool = True,
    *,
    backlog_days: int,
) -> list[Routed]:
    """Alerts for one recipient not yet delivered to them (or, with `since`, every alert created
    since then, delivered or not), oldest first; reads only. A configured recipient gets what was
    created from `backlog_days` before their first digest on (`first_alert_time`); an address given
    ad hoc (`--to`) everything not yet sent to it."""
    if since is None:
        floor = first_alert_time(store, rt.recipient.email, now, backlog_days) if configured else ""
        alerts = store.undelivered_alerts(rt.recipient.email, floor)
    else:
        alerts = store.alerts(since=since)
    events = store.events_by_id(a.event_id for a in alerts if a.event_id)
    routed = [Routed(a, events.get(a.event_id) if a.event_id else None) for a in alerts]
    return [r for r in routed if rt.wants(r.alert, r.event)]


def mark_delivered(
    store: Store, alert_ids: Iterable[int], recipient: str, digest_id: int, now: datetime
) -> None:
    """Record that these alerts reached `recipient` (the mail server accepted the digest)."""
    store.mark_delivered(alert_ids, recipient, digest_id, _iso(now))


# --- listing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """An alert as `tracker alerts` lists it: its event's `action`, `pending_for` (the recipients
    whose next digest carries it), `delivered_to` and `state` ('pending', 'sent', 'old': it routes
    to someone but predates their backlog, or 'unrouted')."""

    alert: Alert
    action: str | None
    pending_for: list[str]
    delivered_to: list[str]
    state: str

    def as_dict(self) -> dict[str, object]:
        """The JSON form (`tracker alerts --json`): the alert's columns as stored, then the rest."""
        return {
            **asdict(self.alert),
            "suppressed": int(self.alert.suppressed),
            "action": self.action,
            "pending_for": self.pending_for,
            "delivered_to": self.delivered_to,
            "state": self.state,
        }


def list_alerts(
    store: Store,
    config: Config,
    routes: Iterable[Route],
    *,
    pending: bool = False,
    now: datetime | None = None,
) -> list[Listed]:
    """Alerts newest first, each with who still waits for it and its state, for the recipients'
    `routes` (Tracker.routes): an alert is pending for a recipient it routes to, who has not had
    it, and whose first digest's backlog it is not older than (as `pending_alerts` decides). With
    no route, every undelivered alert is pending. With `pending`, only those. Reads only."""
    now = now or datetime.now(UTC)
    routes = list(routes)
    floors = {
        rt.recipient.email: first_alert_time(store, rt.recipient.email, now, config.digest.backlog_days)
        for rt in routes
    }
    alerts = store.alerts(newest_first=True)
    events = store.events_by_id(a.event_id for a in alerts if a.event_id)
    delivered_to = store.delivered_to()
    out = []
    for a in alerts:
        event = events.get(a.event_id) if a.event_id else None
        listed = _listed(a, event, delivered_to.get(a.id, set()), routes, floors)
        if listed.pending_for or not pending:
            out.append(listed)
    return out


def _listed(
    a: Alert, event: StoredEvent | None, delivered: set[str], routes: list[Route], floors: dict[str, str]
) -> Listed:
    if routes:
        wanted = [rt.recipient.email for rt in routes if rt.wants(a, event)]
        waiting = [e for e in wanted if e not in delivered and a.created_at >= floors[e]]
    else:
        wanted, waiting = [], ([] if delivered else ["(no recipient configured)"])
    old = set(wanted) - delivered
    state = "pending" if waiting else "sent" if delivered else "old" if old else "unrouted"
    return Listed(a, event.action if event else None, waiting, sorted(delivered), state)
