"""The scheduler behind `tracker run`: each enabled source on its interval, the expiry warnings and
the digest daily, in the config's time zone.

APScheduler keeps its jobs in memory; they are registered from the config at start-up with fixed
ids (`fetch:<source>`, `warnings`, `digest`) and our own table `job_runs` remembers when each last
succeeded (the start of that run). The first run of each job comes from it: a source whose last
success is older than its interval runs at once, and so do the warnings and the digest when their
time passed today without a run. Missed runs are coalesced into one; and since APScheduler sleeps
on a monotonic clock, which stands still while a laptop sleeps, a watch thread wakes it every
minute and, after a jump of the wall clock, runs each overdue job once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tracker import alerts, digest, pipeline
from tracker.app import Tracker
from tracker.digest import DigestOutcome
from tracker.errors import TrackerError
from tracker.models import RunStats
from tracker.settings import Config
from tracker.wording import plural
from tracker.yamlfile import RuleFileError

log = logging.getLogger(__name__)

WARNINGS, DIGEST = "warnings", "digest"
WARNINGS_TIME = "00:05"  # local time of the daily expiry warnings, before any morning digest


def fetch_source(app: Tracker, name: str, stop: threading.Event) -> Sequence[RunStats]:
    """Fetch one source through the pipeline; with broken rules its news is stored unclassified
    rather than lost."""

    def warn(exc: RuleFileError) -> None:
        log.warning("rules not loaded (%s): %s is stored unclassified", exc, name)

    return pipeline.fetch(app, [name], stop=stop, on_broken_rules=warn)


def sync_alerts(app: Tracker, now: datetime) -> int:
    """Create the alerts due at `now`; how many were created."""
    with app.store() as store:
        return len(alerts.sync_alerts(store, app.config, now))


def send_digests(app: Tracker, now: datetime) -> Sequence[DigestOutcome]:
    """Send each recipient's digest."""
    return digest.send_digests(app, now)


@dataclass(frozen=True)
class Actions:
    """What the jobs call (tests replace some of them)."""

    fetch: Callable[[Tracker, str, threading.Event], Sequence[RunStats]] = fetch_source
    sync_alerts: Callable[[Tracker, datetime], int] = sync_alerts
    send_digests: Callable[[Tracker, datetime], Sequence[DigestOutcome]] = send_digests


@dataclass(frozen=True)
class JobResult:
    """What one job did: status is 'ok', 'failed', 'interrupted' or 'skipped' (not due, stopping)."""

    job: str
    status: str
    detail: str = ""


class Scheduler:
    """The jobs of one config, run by an APScheduler BackgroundScheduler or once (`run_due`)."""

    def __init__(
        self,
        app: Tracker | Config,
        *,
        actions: Actions | None = None,
        jitter: int = 30,
        misfire_grace_time: int = 600,
        check_every: float = 60.0,
        clock: Callable[[], datetime] | None = None,
    ):
        self.app = Tracker.of(app)
        self.config = config = self.app.config
        self.actions = actions or Actions()
        self.jitter = jitter  # seconds, at most a tenth of a source's interval
        self.check_every = check_every
        self.tz = ZoneInfo(config.timezone)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stop = threading.Event()  # set: running fetches stop after their current document
        self.aps = BackgroundScheduler(
            timezone=self.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace_time},
        )
        self._closing = threading.Event()
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def _daily(self) -> dict[str, str]:
        return {WARNINGS: WARNINGS_TIME, DIGEST: self.config.digest.time}

    def plan(self, now: datetime | None = None) -> dict[str, datetime]:
        """When each job should next run, from its last success; `now` for each job that is due."""
        now = now or self.clock()
        last = self._last_successes()
        plan: dict[str, datetime] = {}
        for s in self.config.sources.values():
            if not s.enabled:
                continue
            job, interval = f"fetch:{s.name}", timedelta(seconds=s.interval)
            slack = min(timedelta(minutes=1), interval / 10)  # a timer firing a little early
            t = last.get(job)
            plan[job] = now if t is None or t + interval - slack <= now else t + interval
        local = now.astimezone(self.tz)
        for job, hhmm in self._daily().items():
            hour, minute = (int(p) for p in hhmm.split(":"))
            slot = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            t = last.get(job)
            done_today = t is not None and t.astimezone(self.tz).date() >= local.date()
            if local < slot:
                plan[job] = slot
            else:
                plan[job] = slot + timedelta(days=1) if done_today else now
        return plan

    def _last_successes(self) -> dict[str, datetime]:
        with self.app.store() as store:
            rows = store.last_successes()
        last: dict[str, datetime] = {}
        for job, text in rows:
            last[job] = max(datetime.fromisoformat(text), last.get(job, datetime.min.replace(tzinfo=UTC)))
        return last

    def register(self, now: datetime | None = None) -> dict[str, datetime]:
        """(Re)register every job from the config, due ones to run at once; returns `plan`."""
        now = now or self.clock()
        plan = self.plan(now)
        for s in self.config.sources.values():
            if s.enabled:
                jitter = min(self.jitter, s.interval // 10) or None
                trigger = IntervalTrigger(seconds=s.interval, timezone=self.tz, jitter=jitter)
                self._add(f"fetch:{s.name}", trigger, next_run_time=plan[f"fetch:{s.name}"])
        for job, hhmm in self._daily().items():
            hour, minute = hhmm.split(":")
            trigger = CronTrigger(hour=int(hour), minute=int(minute), timezone=self.tz)
            self._add(job, trigger, **({"next_run_time": now} if plan[job] <= now else {}))  # catch-up
        return plan

    def _add(self, job: str, trigger: BaseTrigger, **first: datetime) -> None:
        self.aps.add_job(self.run_job, trigger, [job], id=job, name=job, replace_existing=True, **first)

    def start(self, *, paused: bool = False) -> dict[str, datetime]:
        """Register the jobs and run them in background threads until `shutdown`; returns `plan`.
        Every recipient's filters are checked first: a mistyped mineral stops the start with a
        ConfigError, not the first digest hours later."""
        _ = self.app.routes
        plan = self.register()
        self.aps.start(paused=paused)
        threading.Thread(target=self._watch_clock, name="tracker-clock", daemon=True).start()
        return plan

    def next_run_times(self) -> dict[str, datetime | None]:
        """Each registered job's next run."""
        return {job.id: job.next_run_time for job in self.aps.get_jobs()}

    def shutdown(self) -> None:
        """Stop: running fetches end after their current document; waits for the running jobs."""
        self.stop.set()
        self._closing.set()
        if self.aps.running:
            self.aps.shutdown(wait=True)

    def _watch_clock(self) -> None:
        wall, mono = time.time(), time.monotonic()
        while not self._closing.wait(self.check_every):
            jump = (time.time() - wall) - (time.monotonic() - mono)
            wall, mono = time.time(), time.monotonic()
            if jump > max(60.0, self.check_every):
                log.info("the clock jumped %.0f s ahead (the machine slept?): catching up", jump)
                self.catch_up()
            else:
                self.aps.wakeup()

    def catch_up(self, now: datetime | None = None) -> list[str]:
        """Run at once (once) each job that is due by `job_runs` and not running; their ids."""
        now = now or self.clock()
        with self._lock:
            running = set(self._running)
        due = [job for job, t in self.plan(now).items() if t <= now and job not in running]
        for job in due:
            if self.aps.get_job(job) is not None:
                self.aps.modify_job(job, next_run_time=now)
        self.aps.wakeup()
        return due

    def run_due(self, now: datetime | None = None) -> list[JobResult]:
        """Run each due job once (fetches side by side, then the warnings, then the digest); the
        others come back 'skipped'."""
        now = now or self.clock()
        plan = self.plan(now)
        due = [job for job, t in plan.items() if t <= now]
        fetches = [job for job in due if job.startswith("fetch:")]
        done: dict[str, JobResult] = {}
        if fetches:
            with ThreadPoolExecutor(max(1, min(self.config.fetch.workers, len(fetches)))) as pool:
                futures = [pool.submit(self.run_job, job) for job in fetches]
                try:
                    done.update((r.job, r) for r in (f.result() for f in futures))
                except KeyboardInterrupt:
                    self.stop.set()
                    raise
        done.update((job, self.run_job(job)) for job in (WARNINGS, DIGEST) if job in due)
        return [
            done.get(job)
            or JobResult(job, "skipped", f"not due until {t.astimezone(self.tz):%Y-%m-%d %H:%M %Z}")
            for job, t in plan.items()
        ]

    def run_job(self, job: str) -> JobResult:
        """Run one job now and record it in `job_runs`; a failure is recorded, never raised."""
        if self.stop.is_set():
            return JobResult(job, "skipped", "stopping")
        started = self.clock()
        with self._lock:
            self._running.add(job)
        try:
            self._record(job, last_start=_iso(started))
            try:
                result = self._call(job, started.astimezone(self.tz))
            except TrackerError as exc:
                result = JobResult(job, "failed", " ".join(str(exc).split()))
            except Exception as exc:  # a bug in one job must not stop the scheduler
                log.exception("%s: unexpected error", job)
                result = JobResult(job, "failed", f"internal error: {type(exc).__name__}: {exc}")
            except BaseException:  # Ctrl-C with `--once`
                self._record(job, last_error="interrupted")
                raise
            if result.status == "ok":
                self._record(job, last_success=_iso(started), clear_error=True)
            else:
                self._record(job, last_error=result.detail or result.status)
        finally:
            with self._lock:
                self._running.discard(job)
        level = logging.WARNING if result.status == "failed" else logging.INFO
        log.log(level, "%s: %s: %s", job, result.status, result.detail)
        return result

    def _call(self, job: str, now: datetime) -> JobResult:
        if job.startswith("fetch:"):
            # the pipeline also brings the alerts up to date, so new events become alerts at once
            stats = self.actions.fetch(self.app, job.removeprefix("fetch:"), self.stop)
            statuses = {s.status for s in stats}
            status = "ok" if statuses <= {"ok"} else "interrupted" if "interrupted" in statuses else "failed"
            return JobResult(job, status, "; ".join(s.summary() for s in stats))
        if job == WARNINGS:
            created = self.actions.sync_alerts(self.app, now)
            return JobResult(job, "ok", f"{plural(created, 'alert')} created")
        if job == DIGEST:
            outcomes = self.actions.send_digests(self.app, now)
            kinds = ("sent", "skipped", "failed", "uncertain")
            counts = {s: sum(o.status == s for o in outcomes) for s in kinds}
            if not counts["uncertain"]:
                del counts["uncertain"]  # shown only when a message may have been delivered
            detail = ", ".join(f"{n} {s}" for s, n in counts.items()) if outcomes else "no recipients"
            errors = [f"{o.recipient}: {o.error}" for o in outcomes if o.status in ("failed", "uncertain")]
            return JobResult(job, "failed" if errors else "ok", "; ".join([detail, *errors]))
        raise KeyError(f"unknown job {job!r}")

    def _record(
        self,
        job: str,
        *,
        last_start: str | None = None,
        last_success: str | None = None,
        last_error: str | None = None,
        clear_error: bool = False,
    ) -> None:
        with self.app.store() as store:
            store.record_job(
                job,
                last_start=last_start,
                last_success=last_success,
                last_error=last_error,
                clear_error=clear_error,
            )


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat()
