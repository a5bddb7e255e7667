"""`tracker run`: the scheduler in the foreground, or every due job once (`--once`)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

import click

from tracker.cli import EXIT_FAILED, EXIT_INTERRUPTED, Context, cli, stoppable

if TYPE_CHECKING:  # APScheduler is imported only when the command runs
    from tracker.scheduler import Scheduler


@cli.command()
@click.option("--once", is_flag=True, help="Run every due job once and exit (for cron or a systemd timer).")
@click.option(
    "--jitter",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="SECONDS",
    help="Up to this many seconds added at random to each source's interval (at most a tenth of it).",
)
@click.pass_obj
def run(obj: Context, once: bool, jitter: int) -> None:
    """Run the scheduler in the foreground: each enabled source on its interval, expiry warnings
    daily, the digest daily at [digest] time; overdue jobs run at start.

    Ctrl-C or SIGTERM stops it once the running fetches have stored their current document. With
    --once, runs the jobs that are due, prints a line per job and exits (status 1 when one failed).
    Only one `tracker run` at a time may use a database.

    Example: tracker --log-level info run
    """
    from tracker.lock import InstanceLock
    from tracker.scheduler import Scheduler

    config = obj.config
    with InstanceLock(config.db_path):
        scheduler = Scheduler(config, jitter=jitter)
        if not once:
            _serve(scheduler)
            return
        with stoppable():
            results = scheduler.run_due()
        for r in results:
            click.echo(f"{r.job:<24} {r.status:<11} {r.detail}".rstrip())
        if any(r.status == "failed" for r in results):
            sys.exit(EXIT_FAILED)


def _serve(scheduler: Scheduler) -> None:
    """Run until Ctrl-C or SIGTERM, then wait for the running jobs; a second signal exits at once."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    def force(signum: int, frame: FrameType | None) -> None:
        os.write(2, b"stopped without waiting for the running jobs\n")
        os._exit(EXIT_INTERRUPTED)

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our own log says the same
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, interrupt)
    try:
        try:
            plan = scheduler.start()
            click.echo(f"tracker run: started (pid {os.getpid()}); Ctrl-C or SIGTERM stops it", err=True)
            now = scheduler.clock()
            for job, when in plan.items():
                at = "now" if when <= now else f"{when.astimezone(scheduler.tz):%Y-%m-%d %H:%M %Z}"
                click.echo(f"  {job:<24} first run {at}", err=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopping: the running jobs finish their current document", err=True)
        for sig, handler in previous.items():
            if handler != signal.SIG_IGN:  # SIGINT stays ignored under nohup or in a background job
                signal.signal(sig, force)
        scheduler.shutdown()
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
    click.echo("stopped", err=True)
