"""Digests: the pending alerts of each recipient, rendered with Jinja2 templates and sent.

Templates live in `templates/` (subject.txt.j2, digest.txt.j2, digest.html.j2, atom.xml.j2, and
the sentences they share in _sentences.j2 and _labels.j2); `[digest] templates` names a folder
whose files override any of them. Python hands the templates data (codes, dates, numbers, names)
and every word a reader sees comes from the templates. HTML is autoescaped and an undefined
variable is an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from zoneinfo import ZoneInfo

from tracker.alerts import (
    Route,
    Routed,
    deadlines_ahead,
    local_today,
    mark_delivered,
    pending_alerts,
    record_seen,
    sync_alerts,
)
from tracker.app import Tracker
from tracker.codes import SEVERITIES
from tracker.mailer import DeliveryUncertain, MailError, flatten, send
from tracker.safe import http_url
from tracker.settings import Config, Recipient
from tracker.store import Alert, Store, StoredEvent, now_iso


@dataclass
class Rendered:
    """A digest ready to send or save."""

    subject: str
    text: str
    html: str
    alert_ids: list[int] = field(default_factory=list)


@dataclass
class DigestOutcome:
    """What happened to one recipient's digest."""

    recipient: str
    # 'sent' | 'skipped' (nothing new today) | 'failed' (not delivered) | 'uncertain' (the message
    # went out but the server's answer never came: it may have been delivered, and is sent again)
    status: str
    alerts: int = 0
    error: str | None = None
    message_id: str | None = None
    again: bool = False  # the same message as an earlier attempt whose delivery was uncertain


# --- what the templates are given ----------------------------------------------------------------


@dataclass(frozen=True)
class Ahead:
    """A date ahead: `field` 'effective' (the event takes effect) or 'expires', `days` from the
    digest's day (or, in a deadline alert, from the day it was created), `name` the event's
    document number or else its title."""

    field: str
    date: str
    days: int
    action: str
    name: str


@dataclass(frozen=True)
class Change:
    """A field of an event that changed: the old and the new value as stored (lists, dates,
    codes, None)."""

    field: str
    old: object
    new: object


@dataclass(frozen=True)
class Entry:
    """An alert about an event, as the digest and the feed show it (`kind` 'event',
    'event_updated' or 'deadline'; `deadline` for the last)."""

    kind: str
    title: str
    doc_number: str | None
    announced: str | None
    action: str
    minerals: tuple[str, ...]  # display names
    classes: tuple[str, ...]  # display names of the item classes
    effective: str | None
    expires: str | None
    quote: str  # the sentence that triggered the rule, unless it is the title
    links: tuple[str, ...]
    changes: tuple[Change, ...]
    deadline: Ahead | None
    amount: str | None = None  # of a funding event: 'USD 35 million'
    recipient: str | None = None  # whom the money goes to


@dataclass(frozen=True)
class Health:
    """A health alert: `kind` 'health_open' or 'health_recovered', `problem` 'failing' (with
    `failures` and `error`), 'layout' (with `error`) or 'silent' (with `last_success`), or None
    for an alert an older version made (then `reason` alone says it)."""

    kind: str
    source: str
    reason: str
    problem: str | None
    failures: int
    error: str
    last_success: str | None


@dataclass(frozen=True)
class SourceLine:
    """A configured source's health: `state` 'ok', 'failing' or 'never' (SourceState.health)."""

    name: str
    kind: str
    state: str
    failures: int
    last_success: str | None  # in the configured time zone
    last_error: str


@dataclass(frozen=True)
class Place:
    """The entries of one jurisdiction; `name` None when the vocabulary has none for `code`."""

    code: str
    name: str | None
    entries: list[Entry]


@dataclass(frozen=True)
class Group:
    """The entries of one severity, by jurisdiction."""

    severity: str
    jurisdictions: list[Place]


@dataclass(frozen=True)
class FeedEntry:
    """An alert in the Atom feed: `item` when its event is still there, `health` for a health alert."""

    id: int
    kind: str
    title: str
    created_at: str
    severity: str
    links: tuple[str, ...]
    item: Entry | None
    deadline: Ahead | None
    health: Health | None


def _fmt_time(value: str | None, tz: ZoneInfo) -> str | None:
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _name(event: StoredEvent) -> str:
    return event.doc_number or event.title


def _alert_deadline(alert: Alert, event: StoredEvent | None) -> Ahead | None:
    """What a deadline alert said when it was created."""
    if alert.kind != "deadline":
        return None
    d = alert.detail
    name = _name(event) if event else d.get("doc_number") or alert.title
    return Ahead(d["field"], d["date"], d["days"], d.get("action") or "", name)


def _entry(store: Store, app: Tracker, alert: Alert, event: StoredEvent) -> Entry:
    changes = alert.detail.get("changes", {})
    return Entry(
        kind=alert.kind,
        title=alert.title,
        doc_number=event.doc_number,
        announced=event.announced,
        action=event.action,
        minerals=tuple(app.vocab.names(list(event.minerals))),
        classes=tuple(app.vocab.names(list(event.items))),
        effective=event.effective,
        expires=event.expires,
        quote=event.trigger if event.trigger and event.trigger != alert.title else "",
        links=tuple(u for u in store.event_links(event.id) if http_url(u)),
        changes=tuple(Change(k, v[0], v[1]) for k, v in changes.items()),
        deadline=_alert_deadline(alert, event),
        amount=event.amount,
        recipient=event.recipient,
    )


def _health(alert: Alert) -> Health:
    d = alert.detail
    return Health(
        kind=alert.kind,
        source=alert.source or "",
        reason=d.get("reason", ""),
        problem=d.get("problem"),
        failures=d.get("failures", 0),
        error=d.get("error", ""),
        last_success=d.get("last_success"),
    )


# --- the digest ----------------------------------------------------------------------------------


def build_context(
    store: Store,
    app: Tracker,
    rt: Route,
    alerts: list[Routed],
    now: datetime,
    since: str | None = None,
) -> dict[str, object]:
    """Everything the templates show: alerts grouped by severity then jurisdiction, the deadlines
    ahead, the health of every source."""
    config = app.config
    health = [_health(r.alert) for r in alerts if r.alert.kind.startswith("health")]
    groups = _groups(store, app, [r for r in alerts if not r.alert.kind.startswith("health")])
    sources = _source_lines(store, config, ZoneInfo(config.timezone))
    count = sum(len(j.entries) for g in groups for j in g.jurisdictions) + len(health)
    return {
        "recipient": {"email": rt.recipient.email, "name": rt.recipient.name},
        "generated": now.astimezone(ZoneInfo(config.timezone)).strftime("%Y-%m-%d %H:%M %Z"),
        "timezone": config.timezone,
        "day": local_today(config, now).isoformat(),
        "since": since,
        "count": count,
        "groups": groups,
        "health_alerts": health,
        "top_severity": groups[0].severity if groups else None,
        "top_count": sum(len(j.entries) for j in groups[0].jurisdictions) if groups else 0,
        "deadlines": deadlines(store, config, now, rt),
        "horizon": config.digest.horizon_days,
        "sources": sources,
        "total": len(sources),
        "healthy": sum(s.state == "ok" for s in sources),
    }


def _groups(store: Store, app: Tracker, alerts: list[Routed]) -> list[Group]:
    """Event alerts by severity (the gravest first), then jurisdiction (by code), in the order given."""
    by: dict[str, dict[str, list[Entry]]] = {}
    for r in alerts:
        if r.event is None:  # routing only passes an event's alert with its event
            continue
        by.setdefault(r.alert.severity, {}).setdefault(r.event.jurisdiction, []).append(
            _entry(store, app, r.alert, r.event)
        )
    country = {t.id: t.name for t in app.vocab.of_type("country")}
    return [
        Group(sev, [Place(code, country.get(code), items) for code, items in sorted(by[sev].items())])
        for sev in reversed(SEVERITIES)
        if sev in by
    ]


def _source_lines(store: Store, config: Config, tz: ZoneInfo) -> list[SourceLine]:
    rows = []
    for s in config.sources.values():
        if not s.enabled:
            continue
        st = store.source_state(s.name)
        rows.append(
            SourceLine(
                name=s.name,
                kind=s.kind,
                state=st.health if st else "never",
                failures=st.consecutive_failures if st else 0,
                last_success=_fmt_time(st.last_success, tz) if st else None,
                last_error=(st.last_error if st else None) or "",
            )
        )
    return rows


def deadlines(store: Store, config: Config, now: datetime, rt: Route | None = None) -> list[Ahead]:
    """Expiries and starts within `[digest] horizon_days` that concern the recipient, soonest
    first (the templates order those of one day by their words)."""
    today = local_today(config, now)
    out = [
        Ahead(
            due.field,
            due.date,
            (date.fromisoformat(due.date) - today).days,
            due.event.action,
            _name(due.event),
        )
        for due in deadlines_ahead(store, today, config.digest.horizon_days)
        if rt is None or rt.wants_event(due.event.severity, due.event)
    ]
    return sorted(out, key=lambda d: d.date)


def render(app: Tracker, context: dict[str, object]) -> Rendered:
    """Subject, plain text and HTML of a digest."""
    env = app.templates
    subject = " ".join(env.get_template("subject.txt.j2").render(**context).split())
    text = env.get_template("digest.txt.j2").render(**context, subject=subject)
    html = env.get_template("digest.html.j2").render(**context, subject=subject)
    return Rendered(subject=subject, text=text, html=html)


def message(config: Config, recipient: Recipient, rendered: Rendered, now: datetime) -> EmailMessage:
    """multipart/alternative: the plain text and the HTML, with Message-ID and Date."""
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = config.smtp.sender
    msg["To"] = formataddr((recipient.name, recipient.email)) if recipient.name else recipient.email
    msg["Date"] = formatdate(now.timestamp(), localtime=False)
    domain = config.smtp.sender.rsplit("@", 1)[-1].strip(" >") or "minerals-tracker.local"
    msg["Message-ID"] = make_msgid("digest", domain=domain)
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def recipients_for(config: Config, to: str | None) -> list[Recipient]:
    """The configured recipients, or only `to` (with its configured filters, if it has any)."""
    if to is None:
        return list(config.recipients)
    known = [r for r in config.recipients if r.email.lower() == to.lower()]
    return known or [Recipient(email=to)]


def prepare(
    store: Store, app: Tracker, recipient: Recipient, now: datetime, since: str | None = None
) -> tuple[Rendered, list[Routed]]:
    """Render one recipient's digest: pending alerts, or every alert since `since`; reads only."""
    config = app.config
    rt: Route = app.route(recipient)
    alerts = pending_alerts(
        store,
        rt,
        now,
        since=since,
        configured=recipient in config.recipients,
        backlog_days=config.digest.backlog_days,
    )
    rendered = render(app, build_context(store, app, rt, alerts, now, since))
    rendered.alert_ids = [r.alert.id for r in alerts]
    return rendered, alerts


def preview(
    app: Tracker | Config, recipient: Recipient, now: datetime, since: str | None = None
) -> tuple[Rendered, list[Routed]]:
    """`prepare` with the alerts brought up to date as a send would, in a transaction that is
    then undone: a preview shows what the digest would carry and changes nothing (no alert
    created, no recipient recorded as having had a digest)."""
    app = Tracker.of(app)
    config = app.config
    with Store(config.db_path) as store, store.rehearsal():
        sync_alerts(store, config, now)
        return prepare(store, app, recipient, now, since=since)


# --- sending -------------------------------------------------------------------------------------


def send_digests(app: Tracker | Config, now: datetime, *, to: str | None = None) -> list[DigestOutcome]:
    """Bring alerts up to date, then send each recipient (or only `to`) their pending digest over
    SMTP; alerts are marked delivered only once the server accepted the message. A digest whose
    delivery is uncertain is first sent again, byte for byte, and newer alerts follow in a fresh
    digest only once a server accepted it. A day that has nothing new sends nothing if a digest
    already went out that day (or if `send_empty` is off). A configured recipient's first send
    records them as seen: that digest reaches back `[digest] backlog_days`."""
    app = Tracker.of(app)
    config = app.config
    outcomes: list[DigestOutcome] = []
    with Store(config.db_path) as store:
        sync_alerts(store, config, now)
        for r in recipients_for(config, to):
            if r in config.recipients:
                record_seen(store, r.email, now)
            again = _send_unsettled(store, config, r.email, now)
            outcomes += again
            if any(o.status != "sent" for o in again):
                continue  # the server is not taking this mail: newer alerts wait, pending, behind it
            fresh = _send_fresh(store, app, r, now)
            if not (again and fresh.status == "skipped"):
                outcomes.append(fresh)
    return outcomes


def _send_fresh(store: Store, app: Tracker, r: Recipient, now: datetime) -> DigestOutcome:
    """Render and send `r`'s pending alerts, keeping the message's bytes until the server answers."""
    config = app.config

    rendered, alerts = prepare(store, app, r, now)
    day = local_today(config, now).isoformat()
    if not alerts and (store.sent_on(r.email, day) or not config.digest.send_empty):
        return DigestOutcome(r.email, "skipped")
    msg = message(config, r, rendered, now)
    digest_id = store.add_digest(
        r.email, day, msg["Message-ID"], rendered.subject, rendered.alert_ids, flatten(msg), now_iso()
    )
    return _attempt(store, config, digest_id, now, again=False)


def _send_unsettled(store: Store, config: Config, email: str, now: datetime) -> list[DigestOutcome]:
    """Send again, byte for byte, each digest to `email` that may have been delivered (its answer
    never came, or a crash cut its sending short), oldest first, until one is not accepted. One
    that would only repeat alerts delivered since, or a past day's note of no changes, is dropped."""
    today = local_today(config, now).isoformat()
    out: list[DigestOutcome] = []
    for digest in store.unsettled_digests(email):
        with store.write():
            if store.delivered_count(email, digest.alert_ids) or (
                not digest.alert_ids and digest.day != today
            ):
                store.drop_digest(digest.id)
                continue
            store.resend_digest(digest.id)
        out.append(_attempt(store, config, digest.id, now, again=True))
        if out[-1].status != "sent":
            break
    return out


def _attempt(store: Store, config: Config, digest_id: int, now: datetime, *, again: bool) -> DigestOutcome:
    """Hand a stored digest to the server once, and record what came of it."""

    digest = store.digest(digest_id)
    status, error = "sent", None
    try:
        send(config.smtp, [digest.recipient], digest.message or b"")
    except DeliveryUncertain as exc:
        status, error = "uncertain", str(exc)
    except MailError as exc:
        status, error = "failed", str(exc)
        if again:  # this attempt failed, but an earlier one may have got through
            status, error = "uncertain", f"{exc}; an earlier attempt may have been delivered"
    with store.write():
        if status == "sent":
            mark_delivered(store, digest.alert_ids, digest.recipient, digest_id, now)
            store.digest_sent(digest_id, now_iso())
        else:  # a certain failure is rendered afresh next time; an uncertain one keeps its bytes
            store.digest_not_sent(digest_id, status, error or "")
    return DigestOutcome(digest.recipient, status, digest.alerts, error, digest.message_id, again=again)


# --- the feed ------------------------------------------------------------------------------------


def atom(store: Store, app: Tracker, limit: int = 200) -> str:
    """An Atom feed of the newest alerts (templates/atom.xml.j2, XML-escaped)."""
    alerts = store.alerts(newest_first=True, limit=limit)
    events = store.events_by_id(a.event_id for a in alerts if a.event_id)
    entries = []
    for a in alerts:
        event = events.get(a.event_id) if a.event_id else None
        item = _entry(store, app, a, event) if event is not None else None
        health = _health(a) if a.kind.startswith("health") else None
        links = item.links if item else ()
        entries.append(
            FeedEntry(
                a.id,
                a.kind,
                a.title,
                a.created_at,
                a.severity,
                links,
                item,
                _alert_deadline(a, event),
                health,
            )
        )
    updated = entries[0].created_at if entries else now_iso()
    return app.templates.get_template("atom.xml.j2").render(
        alerts=entries, updated=updated, feed_id="tag:minerals-tracker,2026:alerts"
    )
