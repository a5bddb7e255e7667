"""The `tracker` command: parses options, calls the library, prints; errors become one line.

Commands are grouped by noun in the modules of this package; each is a few lines over a
library function."""

from __future__ import annotations

import logging
import signal
import sqlite3
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
    """Global options, and the config loaded once on first use."""

    def __init__(self, config_path: str | None, db_path: str | None, rules_dir: str | None = None):
        self.config_path = config_path
        self.db_path = db_path
        self.rules_dir = rules_dir
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        """The configuration, with --db and --rules applied."""
        if self._config is None:
            self._config = load_config(self.config_path, db_path=self.db_path, rules_dir=self.rules_dir)
        return self._config

    @property
    def rules_path(self) -> Path:
        """The rules folder in use."""
        from tracker.rules import default_rules_dir

        return self.config.rules_dir or default_rules_dir()


class TrackerGroup(click.Group):
    """Turns library errors into one line on stderr and exit status 2, never a traceback; so is
    an error SQLite reports about the database file (read-only, full, corrupt) wherever it
    happens."""

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


def parse_date(value: str | None) -> date | None:
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
@click.option(
    "--rules", "rules_dir", metavar="DIR", help="Rules folder (default: rules_dir in config, else ./rules)."
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
    """`text` cut to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


from tracker.cli import docs, fetching, notify, query, rulescmd, runcmd  # noqa: E402,F401  (they register their commands)
