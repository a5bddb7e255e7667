"""Commands that tell people: digest, alerts, feed."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracker.cli import EXIT_FAILED, Context, cli, parse_date, wide_option
from tracker.errors import InputError
from tracker.safe import json_text, terminal, xml_chars
from tracker.wording import plural

if TYPE_CHECKING:
    from tracker.digest import DigestOutcome


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date-time (YYYY-MM-DDTHH:MM+00:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _outcome(o: DigestOutcome) -> str:
    if o.status == "sent":
        again = " (sent again: an earlier attempt may have been delivered too)" if o.again else ""
        return f"{plural(o.alerts, 'alert')}, {o.message_id}{again}"
    if o.status == "uncertain":
        return (
            f"{o.error} — will be sent again with the same Message-ID {o.message_id}; "
            f"its {_stay(o.alerts)} pending"
        )
    if o.status == "failed":
        return f"{o.error}; its {_stay(o.alerts)} pending"
    return "nothing new today"


def _stay(n: int) -> str:
    return f"{plural(n, 'alert')} {'stays' if n == 1 else 'stay'}"


@cli.command()
@click.option(
    "--since",
    metavar="DATE",
    help="Show every alert since DATE (delivered or not); sends nothing. "
    "DATE: 2026-01-01, 2026-01, 2026, or back from today: 30d, 6w, 3m, 1y.",
)
@click.option(
    "--to", "to", metavar="ADDR", help="Only this recipient (its filters from config, if configured)."
)
@click.option("--out", "out", metavar="FILE", help="Write the digest to FILE: .txt, .html or .eml.")
@click.option("--send", is_flag=True, help="Send the pending digests over SMTP and mark their alerts sent.")
@click.option("--now", "now_", metavar="TIME", hidden=True, help="Act as if it were TIME (replays, tests).")
@click.pass_obj
def digest(
    obj: Context, since: str | None, to: str | None, out: str | None, send: bool, now_: str | None
) -> None:
    """Render the pending digest (stdout or --out FILE) or --send it by email. A preview changes
    nothing; --send with no recipient to send to exits 1.

    Example: tracker digest --to analyst@example.org --out today.html
    """
    from tracker.digest import message, preview, recipients_for, send_digests

    config, now = obj.config, _now(now_)
    if send:
        if since or out:
            raise InputError("--send sends the pending digests: it takes neither --since nor --out")
        if not recipients_for(config, to):  # cron must notice that nobody gets anything
            click.echo("no recipients: add [[recipients]] to the config, or give --to ADDR", err=True)
            sys.exit(EXIT_FAILED)
        outcomes = send_digests(obj.tracker, now, to=to)
        for o in outcomes:
            # one line, whatever the server said
            click.echo(terminal(f"{o.recipient}: {o.status}: {_outcome(o)}"))
        if any(o.status in ("failed", "uncertain") for o in outcomes):
            sys.exit(EXIT_FAILED)
        return
    from tracker.alerts import local_today

    since_day = parse_date(since, option="--since", today=local_today(config, now))
    recipients = recipients_for(config, to)
    if not recipients:
        from tracker.settings import Recipient

        recipients = [Recipient(email="preview@localhost", name="preview")]
    rendered, _ = preview(obj.tracker, recipients[0], now, since=since_day.isoformat() if since_day else None)
    if out is None:
        click.echo(terminal(rendered.text, lines=True), nl=False)
        return
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".html":
        path.write_text(xml_chars(rendered.html), "utf-8")
    elif suffix == ".txt":
        path.write_text(terminal(rendered.text, lines=True), "utf-8")
    elif suffix == ".eml":
        path.write_bytes(bytes(message(config, recipients[0], rendered, now)))
    else:
        raise InputError(f"{out}: write .txt, .html or .eml")
    click.echo(f"wrote {path} ({rendered.subject})")


@cli.command()
@click.option(
    "--pending", is_flag=True, help="Only alerts a recipient's next digest carries (still waiting)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@wide_option
@click.pass_obj
def alerts(obj: Context, pending: bool, as_json: bool, wide: bool) -> None:
    """List alerts, newest first: when, severity, kind, the event's action, state (pending, sent,
    old: before its recipients' backlog, unrouted) and the recipients it still waits for.

    Example: tracker alerts --pending
    """
    from tracker.alerts import list_alerts, sync_alerts
    from tracker.store import Store

    now = datetime.now(UTC)
    with Store(obj.config.db_path) as store:
        sync_alerts(store, obj.config, now)
        rows = list_alerts(store, obj.config, obj.tracker.routes.values(), pending=pending, now=now)
    if as_json:
        click.echo(json_text(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2)))
        return
    if not rows:
        click.echo("no alerts")
        return
    waits = [_waiting(a.pending_for) for a in rows]
    width = max(len("waiting for"), *map(len, waits))
    click.echo(
        f"{'created':<16} {'severity':<8} {'kind':<16} {'action':<16} {'state':<8} {'waiting for':<{width}} title"
    )
    from tracker.render import last_cell, table_columns

    columns = table_columns(wide=wide)
    for a, who in zip(rows, waits, strict=True):
        head = (
            f"{a.alert.created_at[:16]} {a.alert.severity:<8} {a.alert.kind:<16} {a.action or '-':<16} "
            f"{a.state:<8} {who:<{width}} "
        )
        click.echo(terminal(last_cell(head, a.alert.title, columns)))


def _waiting(emails: list[str], width: int = 60) -> str:
    """The recipients an alert waits for, '-' for none; as many as fit in `width`, then '+N'."""
    shown: list[str] = []
    for i, email in enumerate(emails):
        more = f" +{len(emails) - i}"
        if shown and len(",".join([*shown, email])) + (len(more) if i + 1 < len(emails) else 0) > width:
            return ",".join(shown) + more
        shown.append(email)
    return ",".join(shown) or "-"


@cli.command()
@click.option("--out", "out", required=True, metavar="FILE", help="Where to write the Atom feed.")
@click.option("--limit", default=200, show_default=True, help="Newest alerts to include.")
@click.pass_obj
def feed(obj: Context, out: str, limit: int) -> None:
    """Write an Atom feed of the alerts, for a feed reader (characters XML 1.0 forbids are left
    out, so the feed always parses).

    Example: tracker feed --out /var/www/alerts.xml
    """
    from tracker.alerts import sync_alerts
    from tracker.digest import atom
    from tracker.store import Store

    with Store(obj.config.db_path) as store:
        sync_alerts(store, obj.config, datetime.now(UTC))
        xml = atom(store, obj.tracker, limit)
    Path(out).write_text(xml_chars(xml), "utf-8")
    click.echo(f"wrote {out}")
