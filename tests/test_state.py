"""The controls in force as stored intervals: the same answer as deriving each state on the day,
kept in step with the events on every path that changes them."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tracker.cli import cli
from tracker.demo.server import site_root
from tracker.state import OPEN_END, intervals, rebuild_all_states, state_on, status
from tracker.store import Store
from tracker.store.events import Control, Modifier
from tracker.timeline import get

RULES = Path(__file__).parent.parent / "rules"
ART = site_root() / "mofcom/zwgk/zcfb/art"
NO70 = ART / "2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html"  # suspends 2025-55 ... 2025-62
NO57 = ART / "2025/art_64f9e0038defc1e5034f6a1b71e136b3.html"
ALL = sorted(ART.glob("*/*.html"))


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _day(rng: random.Random, start: date, span: int) -> str:
    return (start + timedelta(days=rng.randrange(span))).isoformat()


def random_measure(rng: random.Random) -> tuple[Control, list[Modifier]]:
    """A control and a handful of suspensions, lifts and reinstatements with dates that overlap,
    touch, come before the announcement or have no expiry."""
    start = date(2025, 1, 1)
    announced = _day(rng, start, 60)
    effective = rng.choice([None, announced, _day(rng, start, 120)])
    control = Control("c1", "CN", announced, effective, "C 1", ["gallium"])
    mods = []
    for n in range(rng.randrange(5)):
        mods.append(
            Modifier(
                action=rng.choice(["suspension", "suspension", "lift", "reinstatement"]),
                jurisdiction="CN",
                announced=_day(rng, start, 200),
                effective=rng.choice([None, _day(rng, start, 220)]),
                expires=rng.choice([None, _day(rng, start, 260)]),
                doc_number=f"M{n}",
                ref="C 1",
            )
        )
    return control, mods


@pytest.mark.parametrize("seed", range(300))
def test_intervals_give_the_state_of_every_day(seed: int) -> None:
    rng = random.Random(seed)
    control, mods = random_measure(rng)
    spans = intervals(control, mods)
    for offset in range(-5, 300):
        day = date(2025, 1, 1) + timedelta(days=offset)
        expected = state_on(control, mods, day)
        found = [s for s in spans if s[0] <= day.isoformat() < s[1]]
        if expected is None:
            assert found == [], day
            continue
        state, since, until, by = expected
        assert len(found) == 1, (day, spans)
        assert found[0][2:] == (
            state,
            since.isoformat() if since else None,
            until.isoformat() if until else None,
            by,
        ), day
    # the intervals tile time from the announcement on, the last one open, no two alike in a row
    assert spans[0][0] == control.announced and spans[-1][1] == OPEN_END
    assert all(a[1] == b[0] and a[2:] != b[2:] for a, b in zip(spans, spans[1:], strict=False))


def stored(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM measure_states ORDER BY event_id, mineral, valid_from").fetchall()


def recomputed(db: Path) -> list[tuple[Any, ...]]:
    """The states computed again from all the events, in a transaction that is rolled back."""
    with Store(db) as store, store.rehearsal():
        rebuild_all_states(store)
        return store.db.execute(
            "SELECT * FROM measure_states ORDER BY event_id, mineral, valid_from"
        ).fetchall()


@pytest.mark.parametrize("seed", range(4))
def test_stored_states_equal_a_full_recompute_whatever_order_documents_arrive_in(
    tmp_path: Path, seed: int
) -> None:
    db = tmp_path / "t.db"
    files = list(ALL)
    random.Random(seed).shuffle(files)
    for page in files:
        run("--db", str(db), "ingest", str(page), "--source", "mofcom")
        assert stored(db) == recomputed(db), page.name
    # the suspension reached the measures it names, whichever came first
    with Store(db) as store:
        rows = status(store, as_of=date(2026, 1, 1), minerals=["holmium"])
    assert [(r.measure, r.state, r.until) for r in rows] == [("MOFCOM 2025-57", "suspended", "2026-11-10")]


def test_a_suspension_that_disappears_on_reclassify_takes_its_states_with_it(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    run("--db", str(db), "ingest", str(NO57), str(NO70), "--source", "mofcom")
    before = json.loads(
        run("--db", str(db), "status", "--mineral", "Ho", "--as-of", "2026-01-01", "--json").output
    )
    assert [s["state"] for s in before] == ["suspended"]
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    cn = rules / "cn-mofcom.yaml"
    text = cn.read_text("utf-8")
    assert "any: [暂停实施, 暂停执行, 暂缓实施, 暂停适用]" in text
    cn.write_text(
        text.replace("any: [暂停实施, 暂停执行, 暂缓实施, 暂停适用]", "any: [不会出现的词]"), "utf-8"
    )
    dry = run("--db", str(db), "--rules", str(rules), "reclassify", "--dry-run")
    assert "1 would disappear" in dry.output
    assert (
        stored(db) == recomputed(db)
        and json.loads(
            run("--db", str(db), "status", "--mineral", "Ho", "--as-of", "2026-01-01", "--json").output
        )
        == before
    )  # a dry run keeps nothing, states included
    run("--db", str(db), "--rules", str(rules), "reclassify")
    after = json.loads(
        run("--db", str(db), "status", "--mineral", "Ho", "--as-of", "2026-01-01", "--json").output
    )
    assert [(s["measure"], s["state"], s["until"]) for s in after] == [("MOFCOM 2025-57", "active", None)]
    assert stored(db) == recomputed(db)


def test_opening_an_older_database_fills_the_states_from_its_events(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    run("--db", str(db), "ingest", *map(str, ALL), "--source", "mofcom")
    full = stored(db)
    assert len({r[3] for r in full}) >= 4  # states of several controls
    with sqlite3.connect(db) as conn:  # the database as migration 0005 left it
        conn.execute("DROP TABLE measure_states")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0006_measure_states'")
    with Store(db) as store:
        rows = status(store, as_of=date(2024, 1, 1), minerals=["gallium"])
    assert [(r.measure, r.state) for r in rows] == [("MOFCOM 2023-23", "active")]
    assert stored(db) == full


def test_status_filters_by_measure_and_jurisdiction(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    run("--db", str(db), "ingest", *map(str, ALL), "--source", "mofcom")
    with Store(db) as store:
        day = date(2026, 1, 1)
        everything = status(store, as_of=day)
        one = status(store, as_of=day, measures=["MOFCOM 2025-57"])
        elsewhere = status(store, as_of=day, jurisdictions=["US"])
        control = get(store, one[0].event_id)
    assert control.doc_number == "MOFCOM 2025-57" and control.action == "new_control"
    assert one and {r.measure for r in one} == {"MOFCOM 2025-57"}
    assert one == [r for r in everything if r.measure == "MOFCOM 2025-57"]
    assert len({r.measure for r in everything}) > 1 and elsewhere == []


def test_status_filters_by_several_values_as_by_each_one(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    run("--db", str(db), "ingest", *map(str, ALL), "--source", "mofcom")
    with Store(db) as store:
        day = date(2026, 1, 1)
        everything = status(store, as_of=day)
        first = everything[0]
        other = next(r for r in everything if r.measure != first.measure and r.mineral != first.mineral)
        measures, minerals = [first.measure, other.measure], [first.mineral, other.mineral, "no-such"]
        several = status(store, as_of=day, measures=measures, minerals=minerals, jurisdictions=["CN", "US"])
        each = [
            status(store, as_of=day, measures=[m], minerals=[x], jurisdictions=["CN"])
            for m in measures
            for x in minerals
        ]
    expected = [r for r in everything if r.measure in measures and r.mineral in minerals]
    assert several == expected and sorted(several) == sorted(r for rows in each for r in rows)
    assert first in several and other in several


def test_a_database_whose_states_were_never_derived_gets_them_on_the_first_answer(tmp_path: Path) -> None:
    # a database created before the states were stored: events, and no measure_states rows (its
    # migration only makes the table; the rows are derived by tracker.state, never by a migration)
    db = tmp_path / "t.db"
    run("--db", str(db), "ingest", str(NO57), str(NO70), "--source", "mofcom")
    expected = stored(db)
    assert expected
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM measure_states")
    with Store(db) as store:
        rows = status(store, as_of=date(2026, 1, 1), minerals=["holmium"])
    assert [(r.measure, r.state, r.until) for r in rows] == [("MOFCOM 2025-57", "suspended", "2026-11-10")]
    assert stored(db) == expected
