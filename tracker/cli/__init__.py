"""The `tracker` command: parses options, calls the library, prints; errors become one line.

Commands are grouped by noun in the modules of this package; each is a few lines over a
library function. Commands import the library modules they call inside their bodies, on purpose:
`tracker --help` and a command that only reads the database load neither the HTTP client, nor
BeautifulSoup, nor the scheduler."""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tracker import __version__
from tracker.errors import InputError, TrackerError
from tracker.settings import Config

if TYPE_CHECKING:
    from tracker.app import Tracker

EXIT_FAILED = 1  # a source failed
EXIT_USAGE = 2  # bad config, bad input, unknown name
EXIT_INTERNAL = 3  # a bug in the tracker
EXIT_INTERRUPTED = 130


@contextmanager
def stoppable() -> Iterator[None]:
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
    """Global options, and the config (and the Tracker wired from it) loaded once on first use."""

    def __init__(self, config_path: str | None, db_path: str | None, rules_dir: str | None = None):
        self.config_path = config_path
        self.db_path = db_path
        self.rules_dir = rules_dir
        self._config: Config | None = None
        self._tracker: Tracker | None = None

    @property
    def config(self) -> Config:
        """The configuration, with --db and --rules applied."""
        if self._config is None:
            # deferred: reading a config imports every source kind (and the HTTP client), which
            # `tracker --help` and `tracker COMMAND --help` never need
            from tracker.config import load_config

            self._config = load_config(self.config_path, db_path=self.db_path, rules_dir=self.rules_dir)
        return self._config

    @property
    def tracker(self) -> Tracker:
        """The Tracker over `config`: rules, vocabulary and templates, each loaded once."""
        if self._tracker is None:
            from tracker.app import Tracker

            self._tracker = Tracker(self.config)
        return self._tracker

    def today(self) -> date:
        """Today in the configured time zone: the day `status` answers for, and the day `30d` and
        the other spans count back from."""
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo(self.config.timezone)).date()

    @property
    def rules_path(self) -> Path:
        """The rules folder in use."""
        return self.tracker.rules_dir


# Commands that answer from the database (and reclassify, which rewrites what is in it): a missing
# file is a mistyped --db or [database] path, not a new tracker, so they stop with exit 2 rather
# than create an empty database and answer "nothing". Only fetch, backfill, ingest, run and demo
# create one; check and sources work without one and create none; `rules explain DOC_ID` opens the
# database with Store(create=False) itself, as its --text form needs none.
NEEDS_DATABASE = frozenset(
    {"status", "timeline", "show", "documents", "alerts", "digest", "feed", "reclassify"}
)


class TrackerCommand(click.Command):
    """A command of `tracker`: one in NEEDS_DATABASE first checks that the database exists."""

    def invoke(self, ctx: click.Context) -> Any:
        obj = ctx.find_object(Context)
        if obj is not None and command_name(ctx) in NEEDS_DATABASE:
            from tracker.store import require_database

            require_database(obj.config.db_path)
        return super().invoke(ctx)


def command_name(ctx: click.Context) -> str:
    """The command as typed after `tracker`: 'status', 'rules check'."""
    names: list[str] = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


class TrackerGroup(click.Group):
    """Turns library errors into one line on stderr and exit status 2, never a traceback; so is
    an error SQLite reports about the database file (read-only, full, corrupt) wherever it
    happens."""

    command_class = TrackerCommand
    group_class = type  # groups under it (`rules`) are TrackerGroups, their commands TrackerCommands

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            click.echo(f"error: {one_line(str(exc))}", err=True)
            ctx.exit(EXIT_USAGE)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt, SystemExit, BrokenPipeError):
            raise
        except Exception as exc:  # a bug: still one line; the traceback goes to the debug log
            if isinstance(exc, sqlite3.DatabaseError) and (error := _database_error(ctx, exc)):
                click.echo(f"error: {one_line(str(error))}", err=True)
                ctx.exit(EXIT_USAGE)
            logging.getLogger("tracker").debug("internal error", exc_info=True)
            click.echo(
                f"error: internal error: {type(exc).__name__}: {one_line(str(exc))} "
                "(run with --log-level debug for the traceback)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


def one_line(text: str) -> str:
    """`text` on one line, with no control character a terminal would act on."""
    from tracker.safe import terminal

    return " ".join(terminal(text).split())


def _database_error(ctx: click.Context, exc: sqlite3.DatabaseError) -> TrackerError | None:
    from tracker.store import database_error

    obj = ctx.find_object(Context)
    try:
        path = str(obj.config.db_path) if obj is not None else "database"
    except TrackerError:
        path = "database"
    return database_error(path, exc)


def parse_date(
    value: str | None, *, option: str | None = None, end: bool = False, today: date | None = None
) -> date | None:
    """A date option in the one syntax of them all (tracker.dates): YYYY, YYYY-MM, YYYY-MM-DD or a
    span back from `today` (30d, 6w, 3m, 1y); None when not given. `end` reads a year or month as
    its last day. A bad value is one line naming the option and the accepted forms, exit 2."""
    if value is None:
        return None
    from tracker.dates import parse_when

    try:
        return parse_when(value, end=end, today=today)
    except InputError as exc:
        raise InputError(f"{option}: {exc}" if option else str(exc)) from None


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
@click.option(
    "--rules",
    "rules_dir",
    metavar="DIR",
    help="Rules folder (default: [rules] dir in the config, else the built-in rules).",
)
@click.version_option(__version__, prog_name="tracker")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, db_path: str | None, log_level: str, rules_dir: str | None
) -> None:
    """Track which governments impose, suspend or lift controls on critical minerals.

    Example: tracker fetch --source mofcom
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_path, db_path, rules_dir)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="tracker")
    except BrokenPipeError:  # `tracker ... | head`: the reader left, which is no error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


def clip(text: str, width: int) -> str:
    """A table cell `text` cut to `width` characters with an ellipsis when the output is a terminal;
    whole when it is not (a pipe, a file), as render.table_columns decides for every table."""
    from tracker.render import table_columns

    if table_columns() is None:
        return text
    return text if len(text) <= width else text[: width - 1] + "…"


# --wide, on every command that prints a table (render.table_columns makes the decision)
wide_option = click.option(
    "--wide",
    is_flag=True,
    help="On a terminal, show every column whole (piped or redirected, a table is never cut).",
)


from tracker.cli import docs, fetching, initcmd, notify, query, rulescmd, runcmd  # noqa: E402,F401  (they register their commands)
