"""Bringing alerts up to date looks only at the events written since the last sync, and makes
exactly the alerts a look at every event would: two databases go through the same fetches and
reclassifications, one synced incrementally, the other looking at every event each time.

SQLite files in tmp_path, the sample MOFCOM announcements ingested through the CLI."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from test_alerts_digest import RULES, SAMPLES, at, free_port, ingest, make

from tracker.alerts import sync_alerts
from tracker.cli import cli
from tracker.config import load_config
from tracker.settings import Config
from tracker.store import Store

GALLIUM, HOLMIUM, SUSPENSION = SAMPLES  # MOFCOM 2023-23, 2025-57, 2025-70 (suspended until 2026-11-10)
EXPIRY = "          - '至(?P<date>\\d{4}年\\d{1,2}月\\d{1,2}日)'\n"
SUSPENDS = "any: [暂停实施, 暂停执行, 暂缓实施, 暂停适用]"


def rules_variant(tmp_path: Path, name: str, old: str = "", new: str = "") -> Path:
    """A copy of the built-in rules with `old` in cn-mofcom.yaml replaced by `new`."""
    folder = tmp_path / name
    shutil.copytree(RULES, folder)
    cn = folder / "cn-mofcom.yaml"
    text = cn.read_text("utf-8")
    assert old in text
    cn.write_text(text.replace(old, new), "utf-8")
    return folder


def config_in(folder: Path) -> Config:
    folder.mkdir()
    return make(folder, free_port())


def reclassify(config: Config, rules: Path) -> None:
    run = CliRunner().invoke(cli, ["--config", str(config.path), "--rules", str(rules), "reclassify"])
    assert run.exit_code == 0, run.output


def table(config: Config, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(config.db_path) as db:
        return db.execute(sql).fetchall()


def test_incremental_sync_makes_the_alerts_a_look_at_every_event_makes(tmp_path: Path) -> None:
    incremental, everything = config_in(tmp_path / "a"), config_in(tmp_path / "b")
    base = rules_variant(tmp_path, "rules")
    no_expiry = rules_variant(tmp_path, "no-expiry", EXPIRY, "          - '不会出现(?P<date>\\d{4}年)'\n")
    no_suspension = rules_variant(tmp_path, "no-suspension", SUSPENDS, "any: [不会出现的词]")
    steps = [
        ("2026-09-01", lambda c: ingest(c, GALLIUM, SUSPENSION)),  # two events, no deadline yet
        ("2026-09-02", lambda c: ingest(c, HOLMIUM)),  # a new event
        ("2026-09-03", lambda c: reclassify(c, no_expiry)),  # the suspension's expiry is gone
        ("2026-09-04", lambda c: reclassify(c, base)),  # ... and back: its first substance again
        ("2026-09-05", lambda c: reclassify(c, no_suspension)),  # the suspension event is deleted
        ("2026-09-06", lambda c: reclassify(c, base)),  # ... and comes back (a new row, same id)
        ("2026-09-07", lambda c: reclassify(c, no_expiry)),  # a substance told before, not the last
        ("2026-09-08", lambda c: reclassify(c, base)),
        ("2026-10-15", lambda c: None),  # 26 days before the expiry: the 30-day warning
        ("2026-10-16", lambda c: None),
        ("2026-11-04", lambda c: None),  # 6 days: the 7-day warning
        ("2026-11-11", lambda c: None),  # expired
    ]
    made: dict[str, list[list[str]]] = {"incremental": [], "everything": []}
    for day, step in steps:
        for name, config, every in (("incremental", incremental, False), ("everything", everything, True)):
            step(config)
            with Store(config.db_path) as store:
                created = sync_alerts(store, config, at(day), every_event=every)
            made[name].append([a.key for a in created])
        columns = "id, key, kind, event_id, source, severity, title, detail, created_at, suppressed"
        sql = f"SELECT {columns} FROM alerts ORDER BY id"
        assert table(incremental, sql) == table(everything, sql), day
    assert made["incremental"] == made["everything"]
    kinds = [k.split(":")[0] for keys in made["incremental"] for k in keys]
    # the run covers what it is meant to: events, changes of substance, and deadline warnings
    assert kinds.count("event") == 3 + 2  # first alerts, then one per substance not told last
    assert kinds.count("deadline") == 2
    # the event back with the substance told last, then with one told before: nothing to tell
    assert made["incremental"][5] == made["incremental"][6] == made["incremental"][7] == []


def test_a_sync_looks_only_at_the_events_written_since_the_last(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())
    ingest(config, GALLIUM, HOLMIUM)
    queued = "SELECT event_id FROM events_to_alert"
    assert len(table(config, queued)) == 2  # the store noted both as they were written
    with Store(config.db_path) as store:
        assert len(sync_alerts(store, config, at("2026-09-01"))) == 2
    assert table(config, queued) == []
    with sqlite3.connect(config.db_path) as db:
        # an alert lost behind the sync's back is not made again: the event was not written since
        db.execute(
            "DELETE FROM alerts WHERE event_id = (SELECT id FROM events WHERE doc_number = 'MOFCOM 2025-57')"
        )
        db.execute("UPDATE events SET expires = '2027-01-01' WHERE doc_number = 'MOFCOM 2023-23'")
    assert [r[0] for r in table(config, queued)] == [
        r[0] for r in table(config, "SELECT id FROM events WHERE doc_number = 'MOFCOM 2023-23'")
    ]
    with Store(config.db_path) as store:
        assert [a.kind for a in sync_alerts(store, config, at("2026-09-02"))] == ["event_updated"]
        assert sync_alerts(store, config, at("2026-09-02")) == []
        # looking at every event finds the one whose alert went missing
        assert [a.kind for a in sync_alerts(store, config, at("2026-09-02"), every_event=True)] == ["event"]


def test_the_first_sync_after_the_upgrade_looks_at_every_event(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())
    ingest(config, GALLIUM, HOLMIUM)
    with Store(config.db_path) as store:
        sync_alerts(store, config, at("2026-09-01"))
    with sqlite3.connect(config.db_path) as db:  # the database as the previous release left it
        for statement in (
            "DROP TRIGGER events_to_alert_insert",
            "DROP TRIGGER events_to_alert_update",
            "DROP TABLE events_to_alert",
            "DROP INDEX idx_events_effective",
            "DROP INDEX idx_events_expires",
            "DELETE FROM _sqlite_migrations WHERE name = '0012_events_to_alert'",
            # which wrote events without noting them
            "UPDATE events SET expires = '2027-01-01' WHERE doc_number = 'MOFCOM 2023-23'",
        ):
            db.execute(statement)
    config = load_config(config.path)
    with Store(config.db_path) as store:  # opening it applies 0012
        assert [a.kind for a in sync_alerts(store, config, at("2026-09-02"))] == ["event_updated"]
        assert store.db.execute("SELECT COUNT(*) FROM events_to_alert").fetchone()[0] == 0


def test_the_benchmark_runs_and_finds_nothing_new_after_the_full_sync(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "sync_alerts.py"
    args = ["--sizes", "2000", "--runs", "5", "--dir", str(tmp_path), "--max-ms", "1000"]
    result = subprocess.run(
        [sys.executable, str(script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [row] = [line.split() for line in result.stdout.splitlines() if line.lstrip().startswith("2,000")]
    events, made, _, first, unit = row[:5]
    assert int(made.replace(",", "")) >= int(events.replace(",", ""))  # an alert for every event
    assert float(first) > 0 and unit == "s"  # by the first sync, timed on this fresh database
    assert "FAIL" not in result.stdout
