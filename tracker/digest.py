"""Digests: the pending alerts of each recipient, rendered with Jinja2 templates and sent.

Templates live in `templates/` (subject.txt.j2, digest.txt.j2, digest.html.j2, atom.xml.j2);
`[digest] templates` names a folder whose files override any of them. HTML is autoescaped and an
undefined variable is an error."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from tracker.alerts import (
    Route,
    local_today,
    mark_delivered,
    pending_alerts,
    record_seen,
    sync_alerts,
)
from tracker.app import Tracker
from tracker.codes import SEVERITIES
from tracker.safe import http_url
from tracker.settings import Config, Recipient
from tracker.store import Store, now_iso
from tracker.vocab import Vocabulary


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


def _fmt_time(value: str | None, tz: ZoneInfo) -> str | None:
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _urls(store: Store, event_id: str) -> list[str]:
    rows = store.db.execute(
        """SELECT DISTINCT u.url FROM event_drafts x JOIN document_urls u ON u.document_id = x.document_id
           WHERE x.event_id = ? ORDER BY u.first_seen, u.url""",
        [event_id],
    ).fetchall()
    return [r[0] for r in rows if http_url(str(r[0]))]


def _names(vocab: Vocabulary, ids: list[str]) -> list[str]:
    return vocab.names(ids)


def _item(store: Store, vocab: Vocabulary, a: dict[str, Any]) -> dict[str, Any]:

    e = a["event"] or {}
    detail = a["detail"]
    item: dict[str, Any] = {
        "kind": a["kind"],
        "title": a["title"],
        "doc_number": e.get("doc_number"),
        "announced": e.get("announced"),
        "action": e.get("action"),
        "minerals": _names(vocab, json.loads(e.get("minerals") or "[]")),
        "classes": _names(vocab, json.loads(e.get("items") or "[]")),
        "effective": e.get("effective"),
        "expires": e.get("expires"),
        "quote": e.get("trigger") if e.get("trigger") and e.get("trigger") != a["title"] else "",
        "links": _urls(store, e["id"]) if e else [],
        "changes": [
            {"field": k, "old": _show(v[0]), "new": _show(v[1])} for k, v in detail.get("changes", {}).items()
        ],
    }
    return item


def _show(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "none"
    return str(v) if v is not None else "none"


def build_context(
    store: Store,
    app: Tracker,
    rt: Route,
    alerts: list[dict[str, Any]],
    now: datetime,
    since: str | None = None,
) -> dict[str, Any]:
    """Everything the templates show: alerts grouped by severity then jurisdiction, the deadlines
    ahead, the health of every source."""
    config = app.config
    tz = ZoneInfo(config.timezone)
    vocab, env = app.vocab, app.templates
    words = env.get_template("_labels.j2").module.ACTIONS  # type: ignore[attr-defined]
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    health = []
    for a in alerts:
        if a["kind"].startswith("health"):
            health.append({"title": a["title"], "reason": a["detail"].get("reason", ""), "kind": a["kind"]})
            continue
        item = _item(store, vocab, a)
        action_words = words.get(item["action"], item["action"])
        if a["kind"] == "event_updated":
            item["heading"] = f"Updated: {action_words}"
        elif a["kind"] == "deadline":
            d = a["detail"]
            verb = "expires" if d["field"] == "expires" else "takes effect"
            item["heading"] = (
                f"{action_words} {verb} in {d['days']} day{'s' if d['days'] != 1 else ''} ({d['date']})"
            )
        else:
            item["heading"] = action_words
        jur = (a["event"] or {}).get("jurisdiction", "")
        groups.setdefault(a["severity"], {}).setdefault(jur, []).append(item)
    country = {t.id: t.name for t in vocab.of_type("country")}
    ordered: list[dict[str, Any]] = [
        {
            "severity": sev,
            "jurisdictions": [
                {
                    "code": code,
                    "name": country.get(code, "European Union" if code == "EU" else code),
                    "entries": items,
                }
                for code, items in sorted(groups[sev].items())
            ],
        }
        for sev in reversed(SEVERITIES)
        if sev in groups
    ]
    sources = _source_rows(store, config, tz)
    top = ordered[0]["severity"] if ordered else None
    count = sum(len(j["entries"]) for g in ordered for j in g["jurisdictions"]) + len(health)
    return {
        "recipient": {"email": rt.recipient.email, "name": rt.recipient.name},
        "generated": now.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
        "timezone": config.timezone,
        "day": local_today(config, now).isoformat(),
        "since": since,
        "count": count,
        "groups": ordered,
        "health_alerts": health,
        "top_severity": top,
        "top_count": sum(len(j["entries"]) for j in ordered[0]["jurisdictions"]) if ordered else 0,
        "deadlines": deadlines(store, config, now, words, rt),
        "horizon": config.digest.horizon_days,
        "sources": sources,
        "total": len(sources),
        "healthy": sum(s["state"] == "ok" for s in sources),
    }


def _source_rows(store: Store, config: Config, tz: ZoneInfo) -> list[dict[str, Any]]:
    rows = []
    for s in config.sources.values():
        if not s.enabled:
            continue
        st = store.source_state(s.name) or {}
        fails = st.get("consecutive_failures", 0)
        state = "failing" if fails else ("ok" if st.get("last_success") else "never")
        rows.append(
            {
                "name": s.name,
                "kind": s.kind,
                "state": state,
                "failures": fails,
                "last_success": _fmt_time(st.get("last_success"), tz),
                "last_error": st.get("last_error") or "",
            }
        )
    return rows


def deadlines(
    store: Store, config: Config, now: datetime, words: dict[str, str], rt: Route | None = None
) -> list[dict[str, Any]]:
    """Expiries and starts within the horizon that concern the recipient, soonest first, as sentences."""
    today = local_today(config, now)
    end = (today + timedelta(days=config.digest.horizon_days)).isoformat()
    out = []
    for e in store.db.query(
        "SELECT * FROM events WHERE (expires >= :t AND expires <= :e) OR (effective > :t AND effective <= :e)",
        {"t": today.isoformat(), "e": end},
    ):
        if rt is not None and not rt.wants({"kind": "deadline", "severity": e["severity"]}, e):
            continue
        name = e["doc_number"] or e["title"]
        for field_, verb in (("effective", "takes effect"), ("expires", "expires")):
            when = e[field_]
            if not when or when < today.isoformat() or (field_ == "effective" and when == today.isoformat()):
                continue
            if when > end:
                continue
            days = (date.fromisoformat(when) - today).days
            what = words.get(e["action"], e["action"]).lower()
            in_days = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
            out.append({"date": when, "days": days, "sentence": f"{what} of {name} {verb} {when}, {in_days}"})
    return sorted(out, key=lambda d: (d["date"], d["sentence"]))


def render(app: Tracker, context: dict[str, Any]) -> Rendered:
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
) -> tuple[Rendered, list[dict[str, Any]]]:
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
    rendered.alert_ids = [a["id"] for a in alerts]
    return rendered, alerts


def preview(
    app: Tracker | Config, recipient: Recipient, now: datetime, since: str | None = None
) -> tuple[Rendered, list[dict[str, Any]]]:
    """`prepare` with the alerts brought up to date as a send would, in a transaction that is
    then undone: a preview shows what the digest would carry and changes nothing (no alert
    created, no recipient recorded as having had a digest)."""
    app = Tracker.of(app)
    config = app.config
    with Store(config.db_path) as store, store.rehearsal():
        sync_alerts(store, config, now)
        return prepare(store, app, recipient, now, since=since)


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
    from tracker.mailer import flatten

    rendered, alerts = prepare(store, app, r, now)
    day = local_today(config, now).isoformat()
    sent_today = store.db.execute(
        "SELECT 1 FROM digests WHERE recipient = ? AND day = ? AND status = 'sent'", [r.email, day]
    ).fetchone()
    if not alerts and (sent_today or not config.digest.send_empty):
        return DigestOutcome(r.email, "skipped")
    msg = message(config, r, rendered, now)
    with store.write():
        cur = store.db.execute(
            """INSERT INTO digests(recipient, day, message_id, subject, alerts, alert_ids, message, status, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', ?)""",
            [
                r.email,
                day,
                msg["Message-ID"],
                rendered.subject,
                len(alerts),
                json.dumps(rendered.alert_ids),
                flatten(msg),
                now_iso(),
            ],
        )
    return _attempt(store, config, int(cur.lastrowid or 0), now, again=False)


def _send_unsettled(store: Store, config: Config, email: str, now: datetime) -> list[DigestOutcome]:
    """Send again, byte for byte, each digest to `email` that may have been delivered (its answer
    never came, or a crash cut its sending short), oldest first, until one is not accepted. One
    that would only repeat alerts delivered since, or a past day's note of no changes, is dropped."""
    today = local_today(config, now).isoformat()
    rows = store.db.execute(
        """SELECT id, day, alert_ids FROM digests WHERE recipient = ? AND status IN ('uncertain', 'sending')
           AND message IS NOT NULL ORDER BY id""",
        [email],
    ).fetchall()
    out: list[DigestOutcome] = []
    for digest_id, day, alert_ids in rows:
        delivered = store.db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE recipient = ? AND alert_id IN (SELECT value FROM json_each(?))",
            [email, alert_ids],
        ).fetchone()[0]
        with store.write():
            if delivered or (alert_ids == "[]" and day != today):
                store.db.execute(
                    "UPDATE digests SET status = 'uncertain', message = NULL WHERE id = ?", [digest_id]
                )
                continue
            store.db.execute(
                "UPDATE digests SET status = 'sending', attempts = attempts + 1 WHERE id = ?", [digest_id]
            )
        out.append(_attempt(store, config, digest_id, now, again=True))
        if out[-1].status != "sent":
            break
    return out


def _attempt(store: Store, config: Config, digest_id: int, now: datetime, *, again: bool) -> DigestOutcome:
    """Hand a stored digest to the server once, and record what came of it."""
    from tracker.mailer import DeliveryUncertain, MailError, send

    recipient, message_id, data, alert_ids, count = store.db.execute(
        "SELECT recipient, message_id, message, alert_ids, alerts FROM digests WHERE id = ?", [digest_id]
    ).fetchone()
    status, error = "sent", None
    try:
        send(config.smtp, [recipient], data)
    except DeliveryUncertain as exc:
        status, error = "uncertain", str(exc)
    except MailError as exc:
        status, error = "failed", str(exc)
        if again:  # this attempt failed, but an earlier one may have got through
            status, error = "uncertain", f"{exc}; an earlier attempt may have been delivered"
    with store.write():
        if status == "sent":
            mark_delivered(store, json.loads(alert_ids), recipient, digest_id, now)
            store.db.execute(
                "UPDATE digests SET status = 'sent', sent_at = ?, message = NULL WHERE id = ?",
                [now_iso(), digest_id],
            )
        else:  # a certain failure is rendered afresh next time; an uncertain one keeps its bytes
            store.db.execute(
                """UPDATE digests SET status = ?, error = ?,
                   message = CASE WHEN ? = 'failed' THEN NULL ELSE message END WHERE id = ?""",
                [status, error, status, digest_id],
            )
    return DigestOutcome(recipient, status, count, error, message_id, again=again)


def atom(store: Store, app: Tracker, limit: int = 200) -> str:
    """An Atom feed of the newest alerts (templates/atom.xml.j2, XML-escaped)."""
    env, vocab = app.templates, app.vocab
    words = env.get_template("_labels.j2").module.ACTIONS  # type: ignore[attr-defined]
    entries = []
    for a in store.db.query("SELECT * FROM alerts WHERE suppressed = 0 ORDER BY id DESC LIMIT ?", [limit]):
        a["detail"] = json.loads(a["detail"])
        event = (
            next(iter(store.db.query("SELECT * FROM events WHERE id = ?", [a["event_id"]])), None)
            if a["event_id"]
            else None
        )
        a["event"] = event
        item: dict[str, Any] | None = None
        if event is not None:  # the template says what it is (templates/_describe.j2)
            item = _item(store, vocab, a)
            heading, summary, links = words.get(item["action"], item["action"]), "", item["links"]
        else:
            heading, summary, links = a["kind"].replace("_", " "), a["detail"].get("reason", ""), []
        if a["kind"] == "deadline":
            heading = f"{heading}: {a['detail']['field']} {a['detail']['date']}"
        entries.append({**a, "heading": heading, "summary": summary, "links": links, "item": item})
    updated = entries[0]["created_at"] if entries else now_iso()
    return env.get_template("atom.xml.j2").render(
        alerts=entries, updated=updated, feed_id="tag:minerals-tracker,2026:alerts"
    )
