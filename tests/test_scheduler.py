"""The scheduler (`tracker run`): jobs fire, missed runs coalesce, first runs come from job_runs,
--once, the single-instance lock and SIGTERM, against the sample site on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from click.testing import CliRunner, Result

import tracker.scheduler as scheduler_module
from tests.conftest import make_config
from tracker.cli import cli
from tracker.demo.server import SiteServer
from tracker.errors import AlreadyRunningError
from tracker.lock import InstanceLock
from tracker.scheduler import Actions, Scheduler
from tracker.settings import Config
from tracker.store import Store

LIST = "/mofcom/zwgk/zcfb/index.html"
FEEDS = ["/whitehouse/presidential-actions/feed/", "/whitehouse/briefings-statements/feed/"]
OTHERS = "[sources.whitehouse]\nenabled = false\n[sources.federalregister]\nenabled = false\n[sources.usgs]\nenabled = false\n"


def now() -> datetime:
    return datetime.now(UTC)


def mofcom_config(site: SiteServer, db_path: Path, **sources: dict[str, Any]) -> Config:
    return make_config(db_path, {"mofcom": {"url": f"{site.base_url}{LIST}"}, **sources})


def whitehouse(site: SiteServer) -> dict[str, Any]:
    return {"urls": [site.base_url + f for f in FEEDS], "interval": "1h"}


def job_run(db_path: Path, job: str) -> dict[str, Any]:
    with Store(db_path) as store:
        rows = list(store.db.query("SELECT * FROM job_runs WHERE job = ?", [job]))
    return rows[0] if rows else {}


def seed(db_path: Path, job: str, last_success: datetime) -> None:
    with Store(db_path) as store, store.write():
        store.db.execute(
            "INSERT OR REPLACE INTO job_runs(job, last_start, last_success) VALUES (?, ?, ?)",
            [job, last_success.isoformat(), last_success.isoformat()],
        )


def wait_until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def succeeded_after(db_path: Path, job: str, after: datetime) -> Callable[[], bool]:
    def check() -> bool:
        last = job_run(db_path, job).get("last_success")
        return bool(last) and datetime.fromisoformat(last) >= after.replace(microsecond=0)

    return check


def fetch_runs(db_path: Path, source: str) -> list[str]:
    with Store(db_path) as store:
        return [r.status for r in store.runs(source)]


@pytest.fixture
def running() -> Iterator[list[Scheduler]]:
    """Schedulers a test starts; each is shut down afterwards, whatever happened."""
    started: list[Scheduler] = []
    yield started
    for s in started:
        s.shutdown()


def test_a_due_source_job_fires_stores_the_documents_and_records_its_run(
    site: SiteServer, db_path: Path, running: list[Scheduler]
) -> None:
    config = mofcom_config(site, db_path)
    sched = Scheduler(config)
    running.append(sched)
    begin = now()
    sched.start()
    assert set(sched.next_run_times()) == {"fetch:mofcom", "warnings", "digest"}  # disabled: no job
    wait_until(succeeded_after(db_path, "fetch:mofcom", begin))
    row = job_run(db_path, "fetch:mofcom")
    assert row["last_error"] is None and row["last_start"] == row["last_success"]
    assert fetch_runs(db_path, "mofcom") == ["ok"]
    with Store(db_path) as store:
        assert store.document_counts() == {"mofcom": 8}
    # the next fetch is one interval (6 h, plus up to 30 s of jitter) after this one
    next_run = sched.next_run_times()["fetch:mofcom"]
    assert next_run is not None
    after = next_run - datetime.fromisoformat(row["last_start"])  # last_start is to the second
    assert timedelta(hours=6, seconds=-1) <= after <= timedelta(hours=6, seconds=31)


def test_several_missed_runs_of_a_job_are_coalesced_into_one(
    site: SiteServer, db_path: Path, running: list[Scheduler]
) -> None:
    config = mofcom_config(site, db_path)
    interval = timedelta(seconds=config.sources["mofcom"].interval)
    # a grace time of a week: without coalescing, all five missed runs would be run
    sched = Scheduler(config, jitter=0, misfire_grace_time=7 * 86400)
    running.append(sched)
    executed: list[JobExecutionEvent] = []
    sched.aps.add_listener(
        lambda e: executed.append(e) if e.job_id == "fetch:mofcom" else None, EVENT_JOB_EXECUTED
    )
    sched.start(paused=True)
    begin = now()
    sched.aps.modify_job("fetch:mofcom", next_run_time=begin - 4 * interval - timedelta(seconds=10))
    sched.aps.resume()
    wait_until(succeeded_after(db_path, "fetch:mofcom", begin))
    wait_until(lambda: executed)
    assert fetch_runs(db_path, "mofcom") == ["ok"]
    assert len(executed) == 1
    next_run = sched.next_run_times()["fetch:mofcom"]
    assert next_run is not None and next_run > begin + interval - timedelta(seconds=11)


def test_first_runs_come_from_job_runs_a_recent_source_waits_an_old_one_runs_at_start(
    site: SiteServer, db_path: Path, running: list[Scheduler]
) -> None:
    config = mofcom_config(site, db_path, whitehouse=whitehouse(site))
    recent, old = now() - timedelta(minutes=5), now() - timedelta(hours=2)
    seed(db_path, "fetch:mofcom", recent)  # every 6 h: not due
    seed(db_path, "fetch:whitehouse", old)  # every hour: due
    sched = Scheduler(config)
    running.append(sched)
    begin = now()
    sched.start()
    wait_until(succeeded_after(db_path, "fetch:whitehouse", begin))
    assert any(p.startswith("/whitehouse/") for p in site.requests)
    assert not any(p.startswith("/mofcom/") for p in site.requests)
    assert sched.next_run_times()["fetch:mofcom"] == recent + timedelta(hours=6)
    assert fetch_runs(db_path, "mofcom") == []


@pytest.mark.parametrize(
    ("at", "last_success", "due"),
    [
        ("2026-11-20T00:00:00+00:00", None, True),  # 08:00 in Shanghai, never sent
        ("2026-11-19T23:00:00+00:00", None, False),  # 07:00 in Shanghai: not yet 07:30
        ("2026-11-20T00:00:00+00:00", "2026-11-19T23:35:00+00:00", False),  # sent today 07:35 local
        ("2026-11-20T00:00:00+00:00", "2026-11-19T00:00:00+00:00", True),  # last sent yesterday
    ],
)
def test_a_catch_up_digest_is_due_when_todays_time_passed_without_one_in_local_time(
    db_path: Path, at: str, last_success: str | None, due: bool
) -> None:
    config = dataclasses.replace(make_config(db_path, {}), timezone="Asia/Shanghai")
    if last_success:
        seed(db_path, "digest", datetime.fromisoformat(last_success))
    now_ = datetime.fromisoformat(at)
    sched = Scheduler(config)
    planned = sched.plan(now_)["digest"]
    assert (planned <= now_) is due
    if not due:
        assert planned.astimezone(sched.tz).strftime("%H:%M") == "07:30"


def test_after_the_machine_slept_each_overdue_job_runs_once(
    site: SiteServer, db_path: Path, running: list[Scheduler], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db_path, "fetch:mofcom", now() - timedelta(minutes=5))
    sched = Scheduler(mofcom_config(site, db_path), check_every=0.05)
    running.append(sched)
    sched.start()
    before = sched.next_run_times()["fetch:mofcom"]
    assert before is not None and before > now() + timedelta(hours=5)
    # seven hours pass on the wall clock while the monotonic clock stands still
    seed(db_path, "fetch:mofcom", now() - timedelta(hours=7))
    slept = SimpleNamespace(time=lambda: time.time() + 7 * 3600, monotonic=time.monotonic)
    begin = now()
    monkeypatch.setattr(scheduler_module, "time", slept)
    wait_until(succeeded_after(db_path, "fetch:mofcom", begin))
    assert fetch_runs(db_path, "mofcom") == ["ok"]
    assert "fetch:mofcom" not in sched.catch_up()  # now up to date


def test_a_failing_job_is_recorded_and_never_stops_the_others(site: SiteServer, db_path: Path) -> None:
    def broken(config: Config, now: datetime) -> list[Any]:
        raise RuntimeError("smtp exploded")

    config = mofcom_config(site, db_path, broken={"kind": "rss", "url": f"{site.base_url}/missing.xml"})
    config = dataclasses.replace(config, digest=dataclasses.replace(config.digest, time="00:00"))
    results = {r.job: r for r in Scheduler(config, actions=Actions(send_digests=broken)).run_due()}
    assert results["fetch:mofcom"].status == "ok"
    assert results["fetch:broken"].status == "failed"
    assert results["digest"].status == "failed"
    assert "HTTP 404" in results["fetch:broken"].detail
    assert job_run(db_path, "digest")["last_error"] == "internal error: RuntimeError: smtp exploded"
    assert job_run(db_path, "digest")["last_success"] is None
    assert job_run(db_path, "fetch:mofcom")["last_error"] is None


def test_a_fetch_job_stopped_between_list_pages_is_completed_by_the_next_run(
    site: SiteServer, db_path: Path
) -> None:
    config = mofcom_config(site, db_path)
    sched = Scheduler(config)
    site.delays["/mofcom/zwgk/zcfb/index_2.html"] = 0.3  # page 1 is stored, page 2 on its way

    def stop_on_page_2() -> None:
        wait_until(lambda: any(p.startswith("/mofcom/zwgk/zcfb/index_2") for p in site.requests))
        sched.stop.set()

    stopper = threading.Thread(target=stop_on_page_2)
    stopper.start()
    first = sched.run_job("fetch:mofcom")
    stopper.join()
    assert first.status == "interrupted" and first.detail == "stopped before the end (5 new stored)"
    site.delays.clear()
    # the list's first page is unchanged (a 304), yet the next run goes on to page 2
    [again] = [r for r in Scheduler(config).run_due() if r.job == "fetch:mofcom"]
    assert again.status == "ok" and ", 3 new," in again.detail
    with Store(db_path) as store:
        assert store.document_counts() == {"mofcom": 8}


def write_config(tmp_path: Path, site: SiteServer, db_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(
        "[fetch]\nhost_delay = 0.0\nretries = 0\ntimeout = 5.0\n"
        f'[database]\npath = "{db_path}"\n'
        f'[sources.mofcom]\nurl = "{site.base_url}{LIST}"\n' + OTHERS + extra,
        "utf-8",
    )
    return cfg


def tracker(cfg: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(cfg), *args], catch_exceptions=False)


def lines(result: Result) -> dict[str, str]:
    """The job lines --once prints on stdout, by job."""
    return dict(line.split(None, 1) for line in result.stdout.strip().splitlines())


def test_once_runs_only_the_due_jobs_and_a_second_once_fetches_nothing(
    site: SiteServer, tmp_path: Path, db_path: Path
) -> None:
    cfg = write_config(tmp_path, site, db_path)
    first = tracker(cfg, "run", "--once")
    assert first.exit_code == 0, first.output
    out = lines(first)
    assert set(out) == {"fetch:mofcom", "warnings", "digest"}
    assert out["fetch:mofcom"].startswith("ok") and "8 new" in out["fetch:mofcom"]
    requests = len(site.requests)
    second = tracker(cfg, "run", "--once")
    assert second.exit_code == 0, second.output
    assert lines(second)["fetch:mofcom"].startswith("skipped     not due until ")
    assert len(site.requests) == requests
    assert fetch_runs(db_path, "mofcom") == ["ok"]


def test_once_exits_1_when_a_job_failed(site: SiteServer, tmp_path: Path, db_path: Path) -> None:
    cfg = write_config(
        tmp_path, site, db_path, f'[sources.gone]\nkind = "rss"\nurl = "{site.base_url}/missing.xml"\n'
    )
    result = tracker(cfg, "run", "--once")
    assert result.exit_code == 1
    out = lines(result)
    assert out["fetch:gone"].startswith("failed") and "HTTP 404" in out["fetch:gone"]
    assert out["fetch:mofcom"].startswith("ok")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope.content)
        return "250 OK"


def test_once_sends_the_digest_to_a_real_smtp_server_once_a_day(
    site: SiteServer, tmp_path: Path, db_path: Path
) -> None:
    with socket.socket() as s:  # aiosmtpd cannot bind port 0
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cfg = write_config(
            tmp_path,
            site,
            db_path,
            '[digest]\ntime = "00:00"\n'  # always passed today
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 5.0\n'
            '[[recipients]]\nemail = "a@example.org"\n',
        )
        first = tracker(cfg, "run", "--once")
        assert first.exit_code == 0, first.output
        assert lines(first)["digest"].startswith("ok          1 sent")
        assert len(inbox.messages) == 1
        second = tracker(cfg, "run", "--once")
        assert lines(second)["digest"].startswith("skipped     not due until ")
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


def start_tracker_run(cfg: Path, db_path: Path) -> subprocess.Popen[bytes]:
    """`tracker run` in a subprocess, once it holds the lock."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--config", str(cfg), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lock = Path(f"{db_path}.lock")
    deadline = time.monotonic() + 10
    while not (lock.exists() and lock.read_text().strip() == str(proc.pid)):
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "tracker run did not take the lock"
        time.sleep(0.02)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_a_second_tracker_run_on_the_same_database_exits_with_a_message(
    site: SiteServer, tmp_path: Path, db_path: Path
) -> None:
    cfg = write_config(tmp_path, site, db_path)
    first = start_tracker_run(cfg, db_path)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "tracker", "--config", str(cfg), "run", "--once"],
            capture_output=True,
            timeout=20,
        )
        assert second.returncode == 2
        assert second.stderr.decode() == (
            f"error: another 'tracker run' (pid {first.pid}) is using {db_path} (lock file {db_path}.lock)\n"
        )
        assert second.stdout == b""
        first.kill()  # a crash: the kernel releases the lock
        first.communicate()
        with InstanceLock(db_path):
            with pytest.raises(AlreadyRunningError):
                InstanceLock(db_path).__enter__()
    finally:
        stop(first)


def test_sigterm_stops_tracker_run_after_the_current_document_and_exits_0(
    site: SiteServer, tmp_path: Path, db_path: Path
) -> None:
    site.delays["/mofcom/zwgk/zcfb/art/"] = 0.4
    cfg = write_config(tmp_path, site, db_path)
    proc = start_tracker_run(cfg, db_path)
    try:
        with Store(db_path) as store:
            wait_until(lambda: store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] >= 2, 10)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - sent < 10  # generous: that it stopped early is `stored < 8` below
    finally:
        stop(proc)
    assert proc.returncode == 0, err.decode()
    log = err.decode().splitlines()
    assert "stopping: the running jobs finish their current document" in log and log[-1] == "stopped"
    with Store(db_path) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        assert 2 <= stored < 8
        # every stored document is whole: its version and URL rows were written with it
        assert store.db.execute("SELECT COUNT(*) FROM document_versions").fetchone()[0] == stored
        assert (
            store.db.execute("SELECT COUNT(DISTINCT document_id) FROM document_urls").fetchone()[0] == stored
        )
    assert fetch_runs(db_path, "mofcom") == ["interrupted"]
    row = job_run(db_path, "fetch:mofcom")
    assert row["last_success"] is None and "stopped before the end" in row["last_error"]
