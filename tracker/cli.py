"""The `tracker` command: parses options, calls the library, prints; errors become one line."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click

from tracker import __version__
from tracker.config import Config, load_config
from tracker.errors import TrackerError
from tracker.models import RunStats

EXIT_FAILED = 1  # a source failed
EXIT_USAGE = 2  # bad config, bad input, unknown name
DEMO_SHOWN = 8  # documents listed per source by `tracker demo`
EXIT_INTERNAL = 3  # a bug in the tracker
EXIT_INTERRUPTED = 130


@contextmanager
def _stoppable() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C: the current document is finished, the run is recorded as
    interrupted, and the exit status is 130."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous: Callable[..., object] | int | None = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt:
        click.echo("interrupted: the documents stored so far are kept; run again to continue", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)


class Context:
    """Global options, and the config loaded once on first use."""

    def __init__(self, config_path: str | None, db_path: str | None):
        self.config_path = config_path
        self.db_path = db_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, db_path=self.db_path)
        return self._config


class TrackerGroup(click.Group):
    """Turns library errors into one line on stderr and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            click.echo(f"error: {_one_line(str(exc))}", err=True)
            ctx.exit(EXIT_USAGE)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt, SystemExit, BrokenPipeError):
            raise
        except Exception as exc:  # a bug: still one line; the traceback goes to the debug log
            logging.getLogger("tracker").debug("internal error", exc_info=True)
            click.echo(
                f"error: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                "(run with --log-level debug for the traceback)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group(cls=TrackerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="Config file (default: $TRACKER_CONFIG, else ./tracker.toml).",
)
@click.option(
    "--db", "db_path", metavar="FILE", help="Database file (default: [database] path, else tracker.db)."
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="How much to log to stderr.",
)
@click.version_option(__version__, prog_name="tracker")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db_path: str | None, log_level: str) -> None:
    """Track which governments impose, suspend or lift controls on critical minerals.

    Example: tracker fetch --source mofcom
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_path, db_path)


def _summary_line(s: RunStats) -> str:
    if s.status == "ok":
        if s.not_modified and not s.items_seen:
            detail = "not modified"
        else:
            detail = f"{s.items_seen} items, {s.new_documents} new, {s.updated_documents} updated"
        extra = f"; {s.skipped_offhost} off-host links not followed" if s.skipped_offhost else ""
        return f"{s.source:<16} ok      {detail}, {s.requests} requests{extra}"
    reason = s.error or "failed"
    return f"{s.source:<16} {s.status.upper():<7} {reason} ({s.new_documents} new stored)"


def _print_runs(results: list[RunStats]) -> None:
    for s in results:
        click.echo(_summary_line(s))


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.pass_obj
def fetch(obj: Context, sources: tuple[str, ...]) -> None:
    """Fetch new announcements from every enabled source (or those named).

    Exit status 1 when any source failed; the others are still stored.

    Example: tracker fetch --source mofcom --source usgs
    """
    from tracker.fetch import fetch as do_fetch

    config = obj.config
    with _stoppable():
        results = do_fetch(config, list(sources) or None)
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
@click.option("--until", metavar="DATE", help="Stop at items issued before this date (YYYY-MM-DD).")
@click.pass_obj
def backfill(obj: Context, sources: tuple[str, ...], until: str | None) -> None:
    """Walk a source's older pages (下一页, ?paged=N, API pages) to the end or to --until.

    Example: tracker backfill --source mofcom --until 2023-01-01
    """
    from tracker.fetch import fetch as do_fetch

    until_date = _date(until)
    interactive = sys.stderr.isatty()

    def progress(name: str, page: int, stats: RunStats) -> None:
        bar = "#" * min(page, 40)
        line = f"{name}: page {page} {bar} {stats.items_seen} items, {stats.new_documents} new"
        click.echo(("\r" + line) if interactive else line, err=True, nl=not interactive)

    config = obj.config
    with _stoppable():
        results = do_fetch(config, list(sources), mode="backfill", until=until_date, progress=progress)
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
    """Store local HTML/XML/JSON files (archived or hand-saved pages) through a source's parser.

    Example: tracker ingest saved/announcement-2025-70.html --source mofcom
    """
    from tracker.fetch import ingest as do_ingest

    for row in do_ingest(obj.config, source, list(files), url):
        number = f" [{row['doc_number']}]" if row["doc_number"] else ""
        click.echo(f"{row['outcome']:<9} #{row['id']}{number} {row['title']}  ({row['file']})")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--kinds", is_flag=True, help="List the source kinds a config may use, with their settings.")
@click.pass_obj
def sources(obj: Context, as_json: bool, kinds: bool) -> None:
    """Each source's health: last success, last error, failures in a row, items, documents.

    Example: tracker sources --json
    """
    if kinds:
        _print_kinds()
        return
    from tracker.fetch import source_report

    rows = source_report(obj.config)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    header = f"{'source':<16} {'kind':<16} {'state':<9} {'last success':<26} {'fails':>5} {'items':>5} {'docs':>5}  last error"
    click.echo(header)
    for r in rows:
        state = (
            "disabled"
            if not r["enabled"]
            else ("failing" if r["consecutive_failures"] else ("ok" if r["last_success"] else "never"))
        )
        click.echo(
            f"{r['name']:<16} {r['kind']:<16} {state:<9} {r['last_success'] or '-':<26} "
            f"{r['consecutive_failures']:>5} {r['items_seen'] if r['items_seen'] is not None else '-':>5} "
            f"{r['documents']:>5}  {r['last_error'] or ''}"
        )


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
def demo(db_path: str) -> None:
    """Serve the bundled sample sites on 127.0.0.1 and run the whole pipeline on them.

    Needs no network. Example: tracker demo --db /tmp/demo.db
    """
    from tracker.demo.run import run_demo

    def on_round(label: str, results: list[RunStats]) -> None:
        click.echo(f"== {label}")
        _print_runs(results)

    result = run_demo(Path(db_path), on_round=on_round)
    click.echo(f"\n== {len(result.documents)} documents in {result.db_path}")
    by_source: dict[str, list[dict[str, Any]]] = {}
    for d in sorted(result.documents, key=lambda d: d["published"] or "", reverse=True):
        by_source.setdefault(d["sources"][0], []).append(d)
    for source, docs in by_source.items():
        click.echo(f"{source} ({len(docs)}):")
        for d in docs[:DEMO_SHOWN]:
            number = d["doc_number"] or "-"
            click.echo(f"  {d['published'] or '?':<10}  {number:<18} {_clip(d['title'], 72)}")
        if len(docs) > DEMO_SHOWN:
            click.echo(f"  … and {len(docs) - DEMO_SHOWN} more")
    for lv in result.lists:
        stated = f", stated {lv['stated_count']}" if lv["stated_count"] is not None else ""
        click.echo(
            f"list version #{lv['id']} of {lv['source']}, published {lv['published']}: {len(lv['items'])} entries{stated}"
        )
    if len(result.lists) >= 2:
        old, new = set(result.lists[-2]["items"]), set(result.lists[-1]["items"])
        click.echo("  entries as the lists print them:")
        click.echo(f"  added:   {', '.join(sorted(new - old, key=str.lower))}")
        click.echo(f"  removed: {', '.join(sorted(old - new, key=str.lower))}")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="tracker")
    except BrokenPipeError:  # `tracker ... | head`: the reader left, which is no error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
