"""Commands that answer questions: status (controls in force), timeline (events) and show."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

import click

from tracker.cli import Context, cli, clip, parse_date, wide_option
from tracker.safe import json_text, md_text, terminal

if TYPE_CHECKING:  # the commands import these when they run (tracker.cli says why)
    from tracker.state import Status
    from tracker.timeline import EventView, TimelineEvent


def resolve_minerals(obj: Context, names: tuple[str, ...]) -> set[str]:
    """Canonical ids for any aliases given ('镓', 'Ga', 'gallium'); a group brings its members.
    With no name, the vocabulary is not read."""
    if not names:
        return set()
    from tracker.timeline import resolve_minerals as resolve

    return resolve(obj.tracker.vocab, names)


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
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="The day to answer for (default: today): 2026-01-01, or 2026 or 2026-06 (their last day), "
    "or back from today: 30d, 6w, 3m, 1y.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv", "md"]), default="table", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@wide_option
@click.pass_obj
def status(
    obj: Context,
    minerals: tuple[str, ...],
    jurisdictions: tuple[str, ...],
    as_of: str | None,
    fmt: str,
    as_json: bool,
    wide: bool,
) -> None:
    """The controls in force on a day, per jurisdiction, measure and mineral: pending, active,
    suspended (until when) or lifted, each with its measure's title and a line in English.

    Example: tracker status --mineral 镓 --as-of 2026-01-01
    """
    from tracker import render
    from tracker.describe import describer, status_records
    from tracker.state import status as do_status
    from tracker.store import Store

    day = parse_date(as_of, option="--as-of", end=True, today=obj.today()) or obj.today()
    wanted = resolve_minerals(obj, minerals)
    with Store(obj.config.db_path) as store:
        rows = do_status(store, as_of=day, minerals=wanted, jurisdictions=[j.upper() for j in jurisdictions])
        records = [r.as_dict() for r in status_records(store, rows, describer(obj.tracker))]
    keys = ("jurisdiction", "measure", "mineral", "state", "since", "until")
    if as_json or fmt == "json":
        click.echo(json_text(json.dumps(records, ensure_ascii=False, indent=2)))
        return
    if fmt == "csv":
        for chunk in render.status_csv_lines(records):
            click.echo(chunk, nl=False)
        return
    if fmt == "md":
        click.echo("| " + " | ".join(k.capitalize() for k in keys) + " |")
        click.echo("|" + "---|" * len(keys))
        for r in rows:
            click.echo("| " + " | ".join(md_text(str(getattr(r, k) or "")) for k in keys) + " |")
        return
    if not rows:
        click.echo(f"no controls in force on {day} for the minerals and jurisdictions asked")
        return
    for line in render.status_table(records, columns=render.table_columns(wide=wide)):
        click.echo(line)


FORMATS = ("table", "json", "csv", "md", "html", "ics")
DESCRIBED = ("table", "json", "csv", "html")  # the formats that carry the English line


@cli.command()
@click.option(
    "--mineral", "minerals", multiple=True, metavar="M", help="Any name, symbol or group (repeatable)."
)
@click.option("--jurisdiction", "jurisdictions", multiple=True, metavar="J", help="ISO code (repeatable).")
@click.option(
    "--action", "actions", multiple=True, metavar="A", help="new_control, suspension, ... (repeatable)."
)
@click.option(
    "--source", "sources", multiple=True, metavar="S", help="Only events a source carried (repeatable)."
)
@click.option(
    "--since",
    metavar="DATE",
    help="Announced on or after DATE: 2025, 2025-04, 2025-04-04, or back from today: 30d, 6w, 3m, 1y.",
)
@click.option("--until", metavar="DATE", help="Announced on or before DATE (same forms; 2025: its last day).")
@click.option("--search", metavar="TEXT", help="Full text over titles and documents (Chinese too).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N events (newest first).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--lanes",
    type=click.Choice(["mineral", "jurisdiction"]),
    default="mineral",
    show_default=True,
    help="Swimlanes of the html format.",
)
@click.option("--out", "out", metavar="FILE", help="Write to FILE instead of stdout.")
@wide_option
@click.pass_obj
def timeline(
    obj: Context,
    minerals: tuple[str, ...],
    jurisdictions: tuple[str, ...],
    actions: tuple[str, ...],
    sources: tuple[str, ...],
    since: str | None,
    until: str | None,
    search: str | None,
    limit: int | None,
    fmt: str,
    lanes: str,
    out: str | None,
    wide: bool,
) -> None:
    """Classified events, newest first, as a table, JSON, CSV, Markdown, a calendar or a page.

    Example: tracker timeline --mineral 镓 --jurisdiction CN --since 2023 --format csv
    """
    from tracker import render
    from tracker.describe import described, describer
    from tracker.store import Store
    from tracker.timeline import asked, events

    day = obj.today()
    wanted = asked(
        obj.config,
        minerals=resolve_minerals(obj, minerals),
        since=parse_date(since, option="--since", today=day),
        until=parse_date(until, option="--until", end=True, today=day),
        jurisdictions=jurisdictions,
        actions=actions,
        sources=sources,
        search=search,
        limit=limit,
    )
    with output(out) as stream, Store(obj.config.db_path) as store:
        found = events(store, wanted)
        if fmt in DESCRIBED:
            found = described(found, describer(obj.tracker))
        if fmt == "html":
            title = "minerals-tracker timeline" + (f": {', '.join(minerals)}" if minerals else "")
            page = render.html_page(
                list(found),
                lanes=lanes,
                title=title,
                environment=obj.tracker.templates,
                generated=day.isoformat(),
                jurisdictions={t.id: t.name for t in obj.tracker.vocab.of_type("country")},
            )
            write(stream, page)
        else:
            write_events(found, fmt, stream, search=bool(search), wide=wide)
    if out:
        click.echo(f"wrote {out}", err=True)


@contextmanager
def output(out: str | None) -> Iterator[TextIO | None]:
    """The file `out` opened for writing (closed at the end), or None for standard output."""
    if out is None:
        yield None
        return
    with open(out, "w", encoding="utf-8", newline="") as stream:
        yield stream


def write(stream: TextIO | None, text: str) -> None:
    """`text` to `stream`, or to standard output when it is None."""
    if stream is not None:
        stream.write(text)
    else:
        click.echo(text, nl=False)


def write_events(
    events: Iterable[TimelineEvent], fmt: str, stream: TextIO | None, *, search: bool, wide: bool
) -> None:
    """The events in `fmt` (any of FORMATS but html) to `stream` or standard output; the table
    in colour on a terminal, cut to fit it unless `wide`, with search snippets under `search`."""
    from tracker import render  # loaded with the command that calls this (tracker.cli says why)

    if fmt == "table":
        colour = stream is None and sys.stdout.isatty()
        rows = 0
        # off a terminal (a pipe, a file), or --wide: every cell whole, the title after the description
        columns = render.table_columns(wide=wide, stream=stream)
        for line in render.table(events, colour=colour, search=search, columns=columns, wide=columns is None):
            write(stream, line + "\n")
            rows += 1
        if rows == 1:
            write(stream, "no events match\n")
        return
    writer = {
        "json": render.json_lines,
        "csv": render.csv_lines,
        "md": render.markdown_lines,
        "ics": render.ics_lines,
    }[fmt]
    for chunk in writer(events):
        write(stream, chunk)


@cli.command()
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show(obj: Context, event_id: str, as_json: bool) -> None:
    """One event: its documents and links, the sentence that triggered it, what it refers to and
    what refers to it, and the state it led to.

    Example: tracker show faa3b6a7
    """
    from tracker.describe import describer
    from tracker.store import Store
    from tracker.timeline import view

    with Store(obj.config.db_path) as store:
        shown = view(store, event_id, today=obj.today(), describe=describer(obj.tracker).event)
    if as_json:
        click.echo(json_text(json.dumps(shown.as_dict(), ensure_ascii=False, indent=2)))
        return
    for line in view_lines(shown):
        click.echo(terminal(line))  # stored text: no control character reaches the terminal raw


def view_lines(v: EventView) -> Iterator[str]:
    """`tracker show` as lines of text: the event, its documents and links, its references and
    the states on its day."""
    ev, rel = v.event, v.related
    yield f"{ev.id}  {ev.action} ({ev.jurisdiction}), severity {ev.severity}, rule {ev.rule}"
    yield f"  {ev.description}"
    yield f"  {ev.title}"
    yield (
        f"  document {ev.doc_number or '-'}, issued {ev.announced or '?'}"
        + (f", in force {ev.effective}" if ev.effective else "")
        + (f" until {ev.expires}" if ev.expires else "")
    )
    for label, values in (("minerals", ev.minerals), ("items", ev.items), ("targets", ev.targets)):
        if values:
            yield f"  {label}: {', '.join(values)}"
    if ev.amount:
        yield f"  amount: {ev.amount}"
    if ev.recipient:
        yield f"  recipient: {ev.recipient}"
    if ev.trigger:
        yield f"  triggered by: “{ev.trigger}”"
    yield "  sources:"
    for d in v.documents:
        yield f"    #{d.id} {d.source}: {d.title} ({d.published})"
    for url in ev.urls:
        yield f"    {url}"
    if ev.refers_to:
        known = {r.doc_number: r for r in rel.refers_to}
        yield "  refers to: " + ", ".join(
            f"{ref} ({known[ref].action} {known[ref].id})" if ref in known else f"{ref} (not stored)"
            for ref in ev.refers_to
        )
    if rel.referred_by:
        yield "  referred to by: " + ", ".join(
            f"{r.doc_number or r.title} ({r.action} {r.id})" for r in rel.referred_by
        )
    if v.states:
        yield f"  state on {v.day}:"
        for line in status_summary(v.states):
            yield "    " + line


def event_line(e: TimelineEvent) -> str:
    """One event as a table line."""
    ms = ", ".join(e.minerals[:4]) + (f" +{len(e.minerals) - 4}" if len(e.minerals) > 4 else "")
    dates = f"from {e.effective}" if e.effective else ""
    dates += f" to {e.expires}" if e.expires else ""
    return (
        f"{e.announced or '?':<10} {e.jurisdiction:<3} {e.action:<16} {e.doc_number or '-':<15} "
        f"{dates:<29} {clip(ms, 44):<44} {clip(e.title, 40)}"
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
