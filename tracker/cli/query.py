"""Commands that answer questions: status (controls in force) and timeline (events)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from tracker.cli import Context, cli, clip, parse_date
from tracker.errors import InputError
from tracker.state import Status


def resolve_minerals(obj: Context, names: tuple[str, ...]) -> set[str]:
    """Canonical ids for any aliases given ('镓', 'Ga', 'gallium'); a group brings its members."""
    if not names:
        return set()
    from tracker.vocab import load_vocabulary

    vocab = load_vocabulary(obj.rules_path)
    out: set[str] = set()
    for name in names:
        mid = vocab.resolve(name)
        if mid is None or vocab.terms[mid].type not in ("mineral", "group", "item"):
            close = vocab.suggest(name)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise InputError(f"unknown mineral {name!r}{hint}")
        out |= vocab.expand([mid])
    return out


def today(obj: Context) -> date:
    """Today in the configured time zone."""
    return datetime.now(ZoneInfo(obj.config.timezone)).date()


@cli.command()
@click.option(
    "--mineral", "minerals", multiple=True, metavar="M", help="Any name, symbol or group (repeatable)."
)
@click.option(
    "--jurisdiction",
    "jurisdictions",
    multiple=True,
    metavar="J",
    help="ISO code such as CN, US, EU (repeatable).",
)
@click.option("--as-of", "as_of", metavar="DATE", help="The day to answer for (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(
    obj: Context, minerals: tuple[str, ...], jurisdictions: tuple[str, ...], as_of: str | None, as_json: bool
) -> None:
    """The controls in force on a day, per jurisdiction, measure and mineral: pending, active,
    suspended (until when) or lifted.

    Example: tracker status --mineral 镓 --as-of 2026-01-01
    """
    from tracker.state import status as do_status
    from tracker.store import Store

    day = parse_date(as_of) or today(obj)
    wanted = resolve_minerals(obj, minerals)
    with Store(obj.config.db_path) as store:
        rows = do_status(store, as_of=day, minerals=wanted, jurisdictions=[j.upper() for j in jurisdictions])
    if as_json:
        keys = ("jurisdiction", "measure", "mineral", "state", "since", "until")
        click.echo(json.dumps([{k: getattr(r, k) for k in keys} for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"no controls in force on {day} for the minerals and jurisdictions asked")
        return
    click.echo(f"{'jur':<4} {'measure':<18} {'mineral':<16} {'state':<10} {'since':<10}  until")
    for r in rows:
        click.echo(
            f"{r.jurisdiction:<4} {r.measure:<18} {r.mineral:<16} {r.state:<10} {r.since or '-':<10}  {r.until or '-'}"
        )


@cli.command()
@click.option(
    "--mineral", "minerals", multiple=True, metavar="M", help="Any name, symbol or group (repeatable)."
)
@click.option("--jurisdiction", "jurisdictions", multiple=True, metavar="J", help="ISO code (repeatable).")
@click.option(
    "--action", "actions", multiple=True, metavar="A", help="new_control, suspension, ... (repeatable)."
)
@click.option("--since", metavar="DATE", help="Announced on or after (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Announced on or before (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def timeline(
    obj: Context,
    minerals: tuple[str, ...],
    jurisdictions: tuple[str, ...],
    actions: tuple[str, ...],
    since: str | None,
    until: str | None,
    fmt: str,
) -> None:
    """Classified events, oldest first.

    Example: tracker timeline --mineral gallium --format json
    """
    from tracker.events import event_rows
    from tracker.store import Store

    wanted = resolve_minerals(obj, minerals)
    lo, hi = parse_date(since), parse_date(until)
    with Store(obj.config.db_path) as store:
        rows = [
            e
            for e in event_rows(store)
            if (not wanted or wanted & set(e["minerals"]))
            and (not jurisdictions or e["jurisdiction"] in {j.upper() for j in jurisdictions})
            and (not actions or e["action"] in actions)
            and (lo is None or (e["announced"] or "") >= lo.isoformat())
            and (hi is None or (e["announced"] or "9999") <= hi.isoformat())
        ]
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for e in rows:
        click.echo(event_line(e))


def event_line(e: dict[str, Any]) -> str:
    """One event as a table line."""
    ms = ", ".join(e["minerals"][:4]) + (f" +{len(e['minerals']) - 4}" if len(e["minerals"]) > 4 else "")
    dates = f"from {e['effective']}" if e["effective"] else ""
    dates += f" to {e['expires']}" if e["expires"] else ""
    return (
        f"{e['announced'] or '?':<10} {e['jurisdiction']:<3} {e['action']:<16} {e['doc_number'] or '-':<15} "
        f"{dates:<29} {clip(ms, 44):<44} {clip(e['title'], 40)}"
    )


def status_summary(rows: list[Status]) -> list[str]:
    """Controls in force, one line per measure and state, minerals listed."""
    grouped: dict[tuple[str, str, str, str | None, str | None, str | None], list[str]] = {}
    for r in rows:
        grouped.setdefault((r.jurisdiction, r.measure, r.state, r.since, r.until, r.changed_by), []).append(
            r.mineral
        )
    lines = []
    for (jur, measure, state, since, until, by), minerals in grouped.items():
        span = f"since {since}" if since else ""
        span += f" until {until}" if until else ""
        if by:
            span += f" ({'by' if state != 'active' else 'after'} {by})"
        lines.append(f"{jur:<3} {measure:<15} {state:<10} {span:<52} {', '.join(minerals)}")
    return lines
