"""Commands that tell people: digest, alerts, feed."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracker.cli import EXIT_FAILED, Context, cli, clip, parse_date
from tracker.errors import InputError
from tracker.safe import json_text, terminal, xml_chars

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
        return f"{o.alerts} alerts, {o.message_id}{again}"
    if o.status == "uncertain":
        return (
            f"{o.error} — will be sent again with the same Message-ID {o.message_id}; "
            f"its {o.alerts} alerts stay pending"
        )
    if o.status == "failed":
        return f"{o.error}; its {o.alerts} alerts stay pending"
    return "nothing new today"


@cli.command()
@click.option(
    "--since", metavar="DATE", help="Show every alert since DATE (delivered or not); sends nothing."
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
    """Render the pending digest (stdout or --out FILE) or --send it by email.

    Example: tracker digest --to analyst@example.org --out today.html
    """
    from tracker.alerts import sync_alerts
    from tracker.digest import message, prepare, recipients_for, send_digests
    from tracker.store import Store

    config, now = obj.config, _now(now_)
    if send:
        if since or out:
            raise InputError("--send sends the pending digests: it takes neither --since nor --out")
        outcomes = send_digests(config, now, to=to)
        if not outcomes:
            click.echo("no recipients: add [[recipients]] to the config, or give --to ADDR")
        for o in outcomes:
            # one line, whatever the server said
            click.echo(terminal(f"{o.recipient}: {o.status}: {_outcome(o)}"))
        if any(o.status in ("failed", "uncertain") for o in outcomes):
            sys.exit(EXIT_FAILED)
        return
    since_day = parse_date(since)
    recipients = recipients_for(config, to)
    if not recipients:
        from tracker.config import Recipient

        recipients = [Recipient(email="preview@localhost", name="preview")]
    with Store(config.db_path) as store:
        sync_alerts(store, config, now)
        rendered, _ = prepare(
            store, config, recipients[0], now, since=since_day.isoformat() if since_day else None
        )
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
    "--pending", is_flag=True, help="Only alerts not yet delivered to every recipient they route to."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def alerts(obj: Context, pending: bool, as_json: bool) -> None:
    """List alerts, newest first.

    Example: tracker alerts --pending
    """
    from tracker.alerts import list_alerts, sync_alerts
    from tracker.store import Store

    with Store(obj.config.db_path) as store:
        sync_alerts(store, obj.config, datetime.now(UTC))
        rows = list_alerts(store, obj.config, pending=pending)
    if as_json:
        click.echo(json_text(json.dumps(rows, ensure_ascii=False, indent=2)))
        return
    for a in rows:
        state = "pending" if a["pending_for"] else ("sent" if a["delivered_to"] else "unrouted")
        click.echo(
            terminal(
                f"{a['created_at'][:16]} {a['severity']:<8} {a['kind']:<16} {state:<8} {clip(a['title'], 70)}"
            )
        )
    if not rows:
        click.echo("no alerts")


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
        xml = atom(store, obj.config, limit)
    Path(out).write_text(xml_chars(xml), "utf-8")
    click.echo(f"wrote {out}")
