"""Commands that read sources: fetch, backfill, ingest, check, sources, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracker.cli import EXIT_FAILED, Context, cli, clip, parse_date, stoppable, wide_option
from tracker.models import RunStats
from tracker.safe import terminal
from tracker.wording import plural

if TYPE_CHECKING:
    from tracker.check import SourceCheck
    from tracker.yamlfile import RuleFileError


def _summary_line(s: RunStats) -> str:
    return f"{s.source:<16} {'ok' if s.ok else s.status.upper():<7} {s.summary()}"


def _warn_broken_rules(exc: RuleFileError) -> None:
    """With broken rules a fetch goes on: news is stored unclassified rather than lost, and the
    first fetch after the rules are fixed classifies it (the rules are loaded only when a
    document needs them, so a fetch that finds nothing new says nothing)."""
    click.echo(
        f"warning: rules not loaded ({exc}); new documents are stored unclassified: fix the rules "
        "(tracker rules check); the next fetch classifies them",
        err=True,
    )


def _print_runs(results: list[RunStats]) -> None:
    for s in results:
        click.echo(terminal(_summary_line(s)))


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.pass_obj
def fetch(obj: Context, sources: tuple[str, ...]) -> None:
    """Fetch new announcements from every enabled source (or those named).

    Exit status 1 when any source failed; the others are still stored.

    Example: tracker fetch --source mofcom --source usgs
    """
    from tracker.pipeline import fetch as do_fetch

    with stoppable():
        results = do_fetch(obj.tracker, list(sources) or None, on_broken_rules=_warn_broken_rules)
    _print_runs(results)
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILED)


@cli.command()
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    metavar="NAME",
    help="Source to walk back (repeatable).",
)
@click.option(
    "--until",
    metavar="DATE",
    help="Stop at items issued before DATE: 2023-01-01, 2023 (its first day), 2023-06, or back from today: 1y.",
)
@click.pass_obj
def backfill(obj: Context, sources: tuple[str, ...], until: str | None) -> None:
    """Walk a source's older pages (下一页, ?paged=N, API pages) to the end or to --until.

    Example: tracker backfill --source mofcom --until 2023-01-01
    """
    from tracker.pipeline import fetch as do_fetch

    until_date = parse_date(until, option="--until", today=obj.today())
    interactive = sys.stderr.isatty()

    def progress(name: str, page: int, stats: RunStats) -> None:
        bar = "#" * min(page, 40)
        line = f"{name}: page {page} {bar} {plural(stats.items_seen, 'item')}, {stats.new_documents} new"
        click.echo(("\r" + line) if interactive else line, err=True, nl=not interactive)

    with stoppable():
        results = do_fetch(
            obj.tracker,
            list(sources),
            mode="backfill",
            until=until_date,
            progress=progress,
            on_broken_rules=_warn_broken_rules,
        )
    if interactive:
        click.echo("", err=True)
    _print_runs(results)
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--source", "source", required=True, metavar="NAME", help="Source whose parser reads the files."
)
@click.option("--url", metavar="URL", help="The page's original URL (one file only).")
@click.pass_obj
def ingest(obj: Context, files: tuple[str, ...], source: str, url: str | None) -> None:
    """Store local HTML/XML/JSON files (archived or hand-saved pages) through a source's parser;
    with --url, each line shows the URL the document is stored under.

    Example: tracker ingest saved/announcement-2025-70.html --source mofcom
    """
    from tracker.pipeline import ingest as do_ingest

    for row in do_ingest(obj.tracker, source, list(files), url):
        number = f" [{row['doc_number']}]" if row["doc_number"] else ""
        where = f"{row['file']} as {row['url']}" if url else row["file"]
        click.echo(terminal(f"{row['outcome']:<9} #{row['id']}{number} {row['title']}  ({where})"))


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--save",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Write every raw response (status, headers, body) into DIR/<source>/.",
)
@click.pass_obj
def check(obj: Context, sources: tuple[str, ...], fmt: str, save: str | None) -> None:
    """Read each source's first list page and up to 3 items as a fetch would, store nothing, and
    report what was found and what is wrong. Run it after installing, and when a site changes.

    Exit status 1 when any source fails.

    Example: tracker check --source mofcom --save responses/
    """
    from tracker.check import check as do_check

    with stoppable():
        reports = do_check(obj.config, list(sources) or None, save=Path(save) if save else None)
    if fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        for r in reports:
            for line in _check_lines(r):
                click.echo(terminal(line))
    if any(not r.ok for r in reports):
        sys.exit(EXIT_FAILED)


def _check_lines(r: SourceCheck) -> list[str]:
    status = f"HTTP {r.http_status}" if r.http_status else "no answer"
    lines = [
        f"{r.source} ({r.kind}): {'OK' if r.ok else 'FAILED'}  {status}, {plural(r.items, 'item')} on the "
        f"first page{'' if len(r.urls) == 1 else f's of {len(r.urls)} URLs'}, {r.read} read: {r.dated} dated, "
        f"{r.numbered} numbered, {r.with_text} with text; "
        f"{plural(r.requests, 'request')}"
    ]
    for s in r.samples:
        lines.append(f"    {s.issued or '-':<10}  {s.number or '-':<18} {clip(s.title, 70)}")
    for p in r.problems:
        lines.append(f"  {p.level}: {p.message}")
    if r.saved:
        lines.append(f"  saved {plural(len(r.saved) // 2, 'response')} in {Path(r.saved[0]).parent}")
    return lines


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--kinds", is_flag=True, help="List the source kinds a config may use, with their settings.")
@wide_option
@click.pass_obj
def sources(obj: Context, as_json: bool, kinds: bool, wide: bool) -> None:
    """Each source's health: last success, last error, failures in a row, items, documents, and
    under it the line that describes it (its `description`). Disabled sources are listed too, so
    the built-in ones that are off show what `enabled = true` would add. Without a database yet,
    every configured source is listed as never run (and no database is created).

    Example: tracker sources --json
    """
    if kinds:
        _print_kinds()
        return
    from tracker.fetch import source_report
    from tracker.store import source_health

    rows = source_report(obj.config)
    for r in rows:
        r["description"] = obj.config.sources[r["name"]].description
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not Path(obj.config.db_path).exists():
        click.echo(
            f"note: {obj.config.db_path}: no database yet: no source has run (fetch creates it)", err=True
        )
    from tracker.render import last_cell, table_columns

    header = f"{'source':<16} {'kind':<16} {'state':<9} {'last success':<26} {'fails':>5} {'items':>5} {'docs':>5}  last error"
    click.echo(header)
    columns = table_columns(wide=wide)
    for r in rows:
        state = source_health(r["consecutive_failures"], r["last_success"]) if r["enabled"] else "disabled"
        head = (
            f"{r['name']:<16} {r['kind']:<16} {state:<9} {r['last_success'] or '-':<26} "
            f"{r['consecutive_failures']:>5} {r['items_seen'] if r['items_seen'] is not None else '-':>5} "
            f"{r['documents']:>5}  "
        )
        error = (r["last_error"] or "") + (
            f" ({r['texts_pending']} full texts pending)" if r["texts_pending"] else ""
        )
        click.echo(last_cell(terminal(head), terminal(error), columns).rstrip())
        if r["description"]:
            click.echo(last_cell("  ", terminal(r["description"]), columns))


def _print_kinds() -> None:
    import dataclasses

    from tracker.sources import KINDS

    for name in sorted(KINDS):
        cls = KINDS[name]
        click.echo(f"{name}\n  " + " ".join(cls.help().split()))
        for f in dataclasses.fields(cls.Settings):
            click.echo(f"    {f.name} = {f.default!r}")


@cli.command()
@click.option(
    "--db",
    "db_path",
    default="tracker-demo.db",
    show_default=True,
    metavar="FILE",
    help="Database the demo creates (replaced if it exists).",
)
@click.pass_obj
def demo(obj: Context, db_path: str) -> None:
    """Serve the bundled sample sites on 127.0.0.1 and run the whole pipeline on them.

    Needs no network. Example: tracker demo --db /tmp/demo.db
    """
    from tracker.cli.query import event_line, status_summary
    from tracker.demo.run import run_demo

    def on_round(label: str, results: list[RunStats]) -> None:
        click.echo(f"== {label}")
        _print_runs(results)

    result = run_demo(Path(db_path), on_round=on_round, as_of=obj.today())
    counts: dict[str, int] = {}
    for d in result.documents:
        counts[d["sources"][0]] = counts.get(d["sources"][0], 0) + 1
    click.echo(
        f"\n== {plural(len(result.documents), 'document')} in {result.db_path} "
        f"({', '.join(f'{s} {n}' for s, n in counts.items())})"
    )
    for lv in result.lists:
        stated = f" (it states {lv['stated_count']})" if lv["stated_count"] is not None else ""
        click.echo(
            f"  list version #{lv['id']} of {lv['source']}, published {lv['published']}: "
            f"{plural(len(lv['items']), 'entry', 'entries')}{stated}"
        )
    click.echo(f"\n== {plural(len(result.events), 'event')} (tracker --db {result.db_path} timeline)")
    for e in result.events:
        click.echo(event_line(e))
    click.echo(f"\n== controls in force on {result.as_of} (tracker --db {result.db_path} status)")
    for line in status_summary(result.status):
        click.echo(line)
    click.echo(f"\n== digest preview: {result.digest_subject}")
    click.echo("   " + ", ".join(str(p) for p in result.digest_files))
