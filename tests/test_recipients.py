"""Who gets which alerts, and what the commands around digests say: a new recipient's first digest
carries the last `[digest] backlog_days`, a preview changes nothing, `alerts` names the action and
who still waits, `digest --send` with nobody to send to exits 1, `ingest --url` shows its URL,
`run --once` prints counts the database bears out, and counts read '1 event', '2 events'.

A real SMTP server (aiosmtpd) and the sample site on 127.0.0.1, SQLite files in tmp_path."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result
from test_alerts_digest import SAMPLES, Inbox, at, free_port, ingest, make, parts

from tracker.alerts import list_alerts, sync_alerts
from tracker.app import Tracker
from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.server import SiteServer
from tracker.digest import prepare, send_digests
from tracker.errors import ConfigError
from tracker.scheduler import Scheduler
from tracker.settings import Config
from tracker.store import Store
from tracker.wording import plural

OLD, RECENT = SAMPLES[0], SAMPLES[1]  # MOFCOM 2023-23 (gallium), MOFCOM 2025-57 (holmium ...)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to `path`, committed and closed at the end."""
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()


def tracker(config: Config, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config.path), *args], catch_exceptions=False)


def alert_at(config: Config, page: Path, day: str) -> None:
    """Store `page` and bring the alerts up to date on `day`: its event alert is created then."""
    ingest(config, page)
    with Store(config.db_path) as store:
        sync_alerts(store, config, at(day))


def numbers(config: Config, alert_ids: list[int]) -> list[str]:
    """The document numbers of the events these alerts are about."""
    with database(config.db_path) as db:
        return [
            db.execute(
                "SELECT e.doc_number FROM alerts a JOIN events e ON e.id = a.event_id WHERE a.id = ?", [i]
            ).fetchone()[0]
            for i in alert_ids
        ]


def sent_alert_ids(config: Config, recipient: str) -> list[list[int]]:
    with database(config.db_path) as db:
        rows = db.execute(
            "SELECT alert_ids FROM digests WHERE recipient = ? AND status = 'sent' ORDER BY id", [recipient]
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


# --- a new recipient's first digest ---------------------------------------------------------------


def test_a_new_recipients_first_digest_carries_the_alerts_of_the_backlog_days_only(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    config = make(tmp_path, port)
    alert_at(config, OLD, "2026-10-01")  # 29 days before the first send: history
    alert_at(config, RECENT, "2026-10-25")  # 5 days before: within the default 7
    with Store(config.db_path) as store:
        listed = list_alerts(store, config, Tracker(config).routes.values(), now=at("2026-10-30"))
    by_number = {numbers(config, [a.alert.id])[0]: a for a in listed}
    # `alerts` says what the digest will do: the recent one waits, the old one is history
    assert by_number["MOFCOM 2025-57"].state == "pending"
    assert by_number["MOFCOM 2025-57"].pending_for == ["a@example.org"]
    assert by_number["MOFCOM 2023-23"].state == "old"
    assert by_number["MOFCOM 2023-23"].pending_for == []

    [out] = send_digests(config, at("2026-10-30"))

    assert (out.status, out.alerts) == ("sent", 1)
    [ids] = sent_alert_ids(config, "a@example.org")
    assert ids == [by_number["MOFCOM 2025-57"].alert.id]  # exactly what `alerts --pending` listed
    text, _ = parts(inbox.messages[0])
    assert "MOFCOM 2025-57" in text and "MOFCOM 2023-23" not in text


def test_backlog_days_reaches_as_far_back_as_configured(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    config = make(tmp_path, port, extra="[digest]\nbacklog_days = 30\n")
    alert_at(config, OLD, "2026-10-01")
    alert_at(config, RECENT, "2026-10-25")
    [out] = send_digests(config, at("2026-10-30"))
    assert out.alerts == 2
    assert sorted(numbers(config, sent_alert_ids(config, "a@example.org")[0])) == [
        "MOFCOM 2023-23",
        "MOFCOM 2025-57",
    ]


def test_with_no_backlog_the_first_digest_has_only_what_comes_from_then_on(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    _, port = smtp
    config = make(tmp_path, port, extra="[digest]\nbacklog_days = 0\n")
    alert_at(config, RECENT, "2026-10-29")
    [first] = send_digests(config, at("2026-10-30"))
    assert (first.status, first.alerts) == ("sent", 0)
    alert_at(config, OLD, "2026-10-31")  # after the first digest: the next one carries it
    [second] = send_digests(config, at("2026-10-31"))
    assert second.alerts == 1
    assert numbers(config, sent_alert_ids(config, "a@example.org")[1]) == ["MOFCOM 2023-23"]


def snapshot(path: Path) -> tuple[bytes, list[str]]:
    """The database file's bytes and every row of it."""
    with database(path) as db:
        rows = list(db.iterdump())
    return path.read_bytes(), rows


def test_a_preview_changes_nothing_and_the_send_after_it_still_carries_the_backlog(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    config = make(tmp_path, port)
    alert_at(config, RECENT, "2026-10-27")
    ingest(config, OLD)  # stored and classified; its alert would be created by the next sync
    before = snapshot(config.db_path)
    for day in ("2026-10-28", "2026-10-29"):  # previewed twice, on two days
        now = ["--now", f"{day}T01:00:00+00:00"]
        shown = tracker(config, "digest", *now)
        assert shown.exit_code == 0, shown.output
        assert "MOFCOM 2025-57" in shown.output and "MOFCOM 2023-23" in shown.output
        for name in ("d.txt", "d.html", "d.eml"):
            assert tracker(config, "digest", "--out", str(tmp_path / name), *now).exit_code == 0
        assert tracker(config, "digest", "--since", "2026-01-01", *now).exit_code == 0
    assert snapshot(config.db_path) == before  # not a byte: no alert, no recipient recorded as seen
    with database(config.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM recipients_seen").fetchone() == (0,)

    [out] = send_digests(config, at("2026-10-30"))

    assert (out.status, out.alerts) == ("sent", 2)  # the backlog and the alert created at the send
    text, _ = parts(inbox.messages[0])
    assert "MOFCOM 2025-57" in text and "MOFCOM 2023-23" in text
    with database(config.db_path) as db:
        assert db.execute("SELECT email, since FROM recipients_seen").fetchall() == [
            ("a@example.org", "2026-10-30T01:00:00+00:00")
        ]


def test_preparing_a_digest_as_the_demo_does_records_nobody(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())
    alert_at(config, RECENT, "2026-10-27")
    with Store(config.db_path) as store:
        rendered, alerts = prepare(store, Tracker(config), config.recipients[0], at("2026-10-28"))
        assert len(alerts) == 1 and "MOFCOM 2025-57" in rendered.text
        assert store.db.execute("SELECT COUNT(*) FROM recipients_seen").fetchone()[0] == 0


def test_a_recipient_added_later_gets_the_backlog_not_the_whole_history(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    config = make(tmp_path, port)
    alert_at(config, OLD, "2026-10-01")
    assert [o.alerts for o in send_digests(config, at("2026-10-01"))] == [1]
    alert_at(config, RECENT, "2026-10-20")
    assert [o.alerts for o in send_digests(config, at("2026-10-20"))] == [1]
    # b joins on the 25th: the 2025-57 alert (5 days old) is theirs, the 2023-23 one (24 days) is not
    cfg = Path(str(config.path))
    cfg.write_text(cfg.read_text("utf-8") + '[[recipients]]\nemail = "b@example.org"\n', "utf-8")
    config = load_config(cfg)
    with Store(config.db_path) as store:
        waiting = {
            a.alert.id: a.pending_for
            for a in list_alerts(store, config, Tracker(config).routes.values(), now=at("2026-10-25"))
        }
    assert sorted(waiting.values()) == [[], ["b@example.org"]]

    outcomes = {o.recipient: o for o in send_digests(config, at("2026-10-25"))}

    assert (outcomes["a@example.org"].status, outcomes["a@example.org"].alerts) == ("sent", 0)
    assert (outcomes["b@example.org"].status, outcomes["b@example.org"].alerts) == ("sent", 1)
    [ids] = sent_alert_ids(config, "b@example.org")
    assert ids == [i for i, who in waiting.items() if who == ["b@example.org"]]
    assert numbers(config, ids) == ["MOFCOM 2025-57"]
    to_b = [m for m in inbox.messages if m["X-Envelope-To"] == "b@example.org"]
    assert len(to_b) == 1 and "MOFCOM 2023-23" not in parts(to_b[0])[0]


@pytest.mark.parametrize("value", ["-1", "366", '"7"', "7.5"])
def test_backlog_days_out_of_bounds_is_a_config_error_naming_the_key(tmp_path: Path, value: str) -> None:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(f"[digest]\nbacklog_days = {value}\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    assert "digest.backlog_days" in str(caught.value) and str(cfg) in str(caught.value)


@pytest.mark.parametrize("value", [0, 365])
def test_backlog_days_accepts_its_bounds(tmp_path: Path, value: int) -> None:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(f"[digest]\nbacklog_days = {value}\n", "utf-8")
    assert load_config(cfg).digest.backlog_days == value


# --- what the commands say ---------------------------------------------------------------------------


def test_digest_send_with_nobody_to_send_to_exits_1_with_one_line(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    config = make(tmp_path, port, recipients="")
    ingest(config, RECENT)
    now = ["--now", "2026-10-30T01:00:00+00:00"]
    result = tracker(config, "digest", "--send", *now)
    assert result.exit_code == 1
    assert result.output == "no recipients: add [[recipients]] to the config, or give --to ADDR\n"
    assert inbox.messages == []
    given = tracker(config, "digest", "--send", "--to", "x@example.org", *now)
    assert given.exit_code == 0, given.output
    assert given.output.startswith("x@example.org: sent: 1 alert, <")  # '1 alert', not '1 alerts'
    assert len(inbox.messages) == 1


def table(output: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header of `tracker alerts` and its event rows by document number: created, severity,
    kind, action, state, waiting for, title."""
    header, *lines = output.splitlines()
    rows = [line.split(None, 6) for line in lines]
    by_number = {
        number: r
        for r in rows
        if r[2] == "event"
        for number in ("2023年第23号", "2025年第70号")
        if number in r[6]
    }
    return header.replace("waiting for", "waiting_for").split(), by_number


def test_alerts_table_shows_the_action_the_state_and_who_still_waits(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    _, port = smtp
    recipients = (
        '[[recipients]]\nemail = "ga@example.org"\nminerals = ["镓"]\n'
        '[[recipients]]\nemail = "susp@example.org"\nactions = ["suspension"]\n'
        '[[recipients]]\nemail = "all@example.org"\n'
    )
    config = make(tmp_path, port, recipients)
    ingest(config, SAMPLES[0], SAMPLES[2])  # 2023-23 gallium (a new control), 2025-70 (a suspension)

    header, rows = table(tracker(config, "alerts").output)

    assert header == ["created", "severity", "kind", "action", "state", "waiting_for", "title"]
    assert rows["2023年第23号"][3:6] == ["new_control", "pending", "ga@example.org,all@example.org"]
    assert rows["2025年第70号"][3:6] == ["suspension", "pending", "susp@example.org,all@example.org"]

    sent = tracker(config, "digest", "--send", "--to", "ga@example.org")
    assert sent.exit_code == 0, sent.output
    _, rows = table(tracker(config, "alerts").output)
    assert rows["2023年第23号"][4:6] == ["pending", "all@example.org"]
    sent = tracker(config, "digest", "--send", "--to", "all@example.org")
    assert sent.exit_code == 0, sent.output
    _, rows = table(tracker(config, "alerts").output)
    assert rows["2023年第23号"][4:6] == ["sent", "-"]  # delivered to all it routes to
    assert rows["2025年第70号"][4:6] == ["pending", "susp@example.org"]
    pending = tracker(config, "alerts", "--pending").output
    assert "2023年第23" not in pending and "2025年第70" in pending


def test_ingest_with_url_prints_the_url_it_stores(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())
    url = "https://www.mofcom.gov.cn/zwgk/zcfb/art/2025/art_64f9e0038defc1e5034f6a1b71e136b3.html"
    result = tracker(config, "ingest", str(RECENT), "--source", "mofcom", "--url", url)
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    assert line.startswith("new ") and line.endswith(f"({RECENT} as {url})")
    doc_id = int(line.split("#")[1].split()[0])
    with database(config.db_path) as db:
        stored = db.execute("SELECT url FROM document_urls WHERE document_id = ?", [doc_id]).fetchall()
    assert stored == [(url,)]
    plain = tracker(config, "ingest", str(OLD), "--source", "mofcom")
    assert plain.output.rstrip().endswith(f"({OLD})")  # without --url, the file is the whole story


# --- tracker run --once: the counts it prints, against the database -----------------------------------

LIST = "/mofcom/zwgk/zcfb/index.html"
OTHERS = "[sources.whitehouse]\nenabled = false\n[sources.federalregister]\nenabled = false\n[sources.usgs]\nenabled = false\n"


def once(cfg: Path) -> dict[str, str]:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--once"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return dict(line.split(None, 1) for line in result.stdout.strip().splitlines())


def last_run(db_path: Path) -> dict[str, Any]:
    with database(db_path) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM fetch_runs ORDER BY id DESC LIMIT 1").fetchone())


def count(db_path: Path, sql: str) -> int:
    with database(db_path) as db:
        return int(db.execute(sql).fetchone()[0])


def test_run_once_prints_the_counts_the_database_bears_out(
    site: SiteServer, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    db_path = tmp_path / "t.db"
    cfg = tmp_path / "tracker.toml"
    # the daily warnings are due from 00:05 local time: in the first minutes of a UTC day, the
    # config's zone is one an hour behind, so that both jobs are due whenever the test runs
    zone = "Etc/GMT+1" if datetime.now(UTC).time() < time(0, 15) else "UTC"
    cfg.write_text(
        f'timezone = "{zone}"\n'
        f'[fetch]\nhost_delay = 0.0\nretries = 0\ntimeout = 5.0\n[database]\npath = "{db_path}"\n'
        f'[sources.mofcom]\nurl = "{site.base_url}{LIST}"\n' + OTHERS + '[digest]\ntime = "00:00"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 5.0\n[[recipients]]\nemail = "a@example.org"\n',
        "utf-8",
    )
    served = len(site.requests)

    first = once(cfg)

    run = last_run(db_path)
    assert first["fetch:mofcom"] == (
        f"ok          {plural(run['items_seen'], 'item')}, {run['new_documents']} new, "
        f"{run['updated_documents']} updated, {plural(run['requests'], 'request')}"
    )
    assert run["new_documents"] == count(db_path, "SELECT COUNT(*) FROM documents") == 8
    assert run["requests"] == len(site.requests) - served
    assert first["warnings"] == "ok          0 alerts created"  # the fetch created them as it stored
    assert first["digest"] == "ok          1 sent, 0 skipped, 0 failed"
    assert count(db_path, "SELECT COUNT(*) FROM digests WHERE status = 'sent'") == len(inbox.messages) == 1

    with database(db_path) as db:  # a day later: every job is due again
        db.execute("UPDATE job_runs SET last_success = '2026-01-01T00:00:00+00:00'")
        db.execute("UPDATE source_state SET last_success = '2026-01-01T00:00:00+00:00'")
    served = len(site.requests)

    second = once(cfg)

    run = last_run(db_path)
    assert run["not_modified"] and run["items_seen"] == 0  # the list answered: nothing changed
    assert second["fetch:mofcom"] == "ok          not modified, 1 request"  # not '0 items', not '1 requests'
    assert run["requests"] == len(site.requests) - served == 1
    assert second["digest"] == "ok          0 sent, 1 skipped, 0 failed"
    assert count(db_path, "SELECT COUNT(*) FROM digests") == len(inbox.messages) == 1


def test_the_warnings_job_counts_the_alerts_it_created(tmp_path: Path) -> None:
    config = make(tmp_path, free_port(), extra="[sources.mofcom]\nenabled = false\n" + OTHERS)
    ingest(config, SAMPLES[2])  # 2025-70: the suspension ends 2026-11-10
    total = 0
    for day, created in (("2026-10-15", 2), ("2026-11-04", 1), ("2026-11-04", 0)):
        result = Scheduler(config, clock=lambda day=day: at(day)).run_job("warnings")
        now_total = count(config.db_path, "SELECT COUNT(*) FROM alerts")
        assert now_total - total == created
        assert result.detail == plural(created, "alert") + " created"
        total = now_total
    with database(config.db_path) as db:
        kinds = [r[0] for r in db.execute("SELECT kind FROM alerts ORDER BY id")]
    assert kinds == ["event", "deadline", "deadline"]


# --- counts in words ---------------------------------------------------------------------------------


def test_plural_says_1_event_and_2_events() -> None:
    assert [plural(n, "event") for n in (0, 1, 2)] == ["0 events", "1 event", "2 events"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


def test_a_source_failing_once_is_one_run_in_a_row(tmp_path: Path, site: SiteServer) -> None:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(
        f'[database]\npath = "{tmp_path / "t.db"}"\n[fetch]\nhost_delay = 0.0\nretries = 0\n'
        "[alerts]\nfailures_before_alert = 1\n"
        f'[sources.mofcom]\nurl = "{site.base_url}/mofcom/gone.html"\n' + OTHERS,
        "utf-8",
    )
    config = load_config(cfg)
    assert CliRunner().invoke(cli, ["--config", str(cfg), "fetch"]).exit_code == 1
    with Store(config.db_path) as store:
        [health] = [
            a.alert
            for a in list_alerts(store, config, Tracker(config).routes.values())
            if a.alert.kind == "health_open"
        ]
    assert health.detail["reason"].startswith("failed 1 run in a row: ")


def test_digest_send_says_1_alert_stays_pending(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())  # nothing listens there
    ingest(config, RECENT)
    result = tracker(config, "digest", "--send", "--now", "2026-10-30T01:00:00+00:00")
    assert result.exit_code == 1
    assert result.output.rstrip().endswith("; its 1 alert stays pending")
