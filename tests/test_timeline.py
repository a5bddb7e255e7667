"""Timeline queries over a real database built from the samples and from generated documents."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import icalendar
import pytest
from click.testing import CliRunner, Result

from tracker.cli import cli
from tracker.demo.server import site_root
from tracker.errors import InputError
from tracker.store import Hits, Store, Walk
from tracker.timeline import Filters, TimelineEvent, fts_query, parse_when, plan, query, walk_bound

ART = site_root() / "mofcom/zwgk/zcfb/art"
SAMPLES = sorted(ART.glob("*/*.html")) + [
    site_root() / "mofcom/article/zcfb/zcblgg/202408/20240815666047.shtml"
]
FEED = site_root() / "whitehouse/briefings-statements/feed/index.xml"


def generated_page(folder: Path, n: int, year: int, title_minerals: str, day: str) -> Path:
    page = folder / f"gen{n}.html"
    page.write_text(
        f"<html><body><h1 class='art-title'>商务部公告{year}年第{n}号 关于对{title_minerals}相关物项实施出口管制的公告</h1>"
        f"<div class='art-con'><p>【发布文号】商务部公告{year}年第{n}号</p><p>【发文日期】{day}</p>"
        f"<p>决定对{title_minerals}相关物项实施出口管制。本公告自公布之日起正式实施。</p></div></body></html>",
        "utf-8",
    )
    return page


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("timeline")
    db = folder / "t.db"
    gen = [
        generated_page(folder, 101, 2026, "镓", "2026年09月01日"),
        generated_page(folder, 102, 2026, "钨、钼", "2026年10月15日"),
        generated_page(folder, 103, 2019, "稀土", "2019年05月20日"),
    ]
    runner = CliRunner()
    for files, source in ((SAMPLES + gen, "mofcom"), ([FEED], "whitehouse")):
        result = runner.invoke(cli, ["--db", str(db), "ingest", *map(str, files), "--source", source])
        assert result.exit_code == 0, result.output
    return db


def run(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)


def ids(events: list[TimelineEvent]) -> list[str | None]:
    return [e.doc_number or e.title[:20] for e in events]


def test_python_api_returns_plain_objects_newest_first(db: Path) -> None:
    with Store(db) as store:
        events = list(query(store))
    assert all(isinstance(e, TimelineEvent) for e in events)
    dates = [e.announced for e in events]
    assert dates == sorted(dates, reverse=True)
    assert len(events) == 13  # 8 MOFCOM samples (the Q&A is an "other" event), 3 generated, 2 frameworks
    first = events[0].as_dict()
    assert first["doc_number"] == "MOFCOM 2026-102" and first["minerals"] == ["tungsten", "molybdenum"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["镓"], ["MOFCOM 2026-101", "MOFCOM 2023-23"]),
        (["Ga"], ["MOFCOM 2026-101", "MOFCOM 2023-23"]),
        (["gallium"], ["MOFCOM 2026-101", "MOFCOM 2023-23"]),
        (["ガリウム"], ["MOFCOM 2026-101", "MOFCOM 2023-23"]),
        (["Mo", "W"], ["MOFCOM 2026-102"]),
    ],
)
def test_minerals_accept_any_alias(db: Path, names: list[str], expected: list[str]) -> None:
    args = [a for n in names for a in ("--mineral", n)]
    rows = json.loads(run(db, "timeline", *args, "--format", "json").output)
    assert [r["doc_number"] for r in rows] == expected


def test_a_group_expands_to_its_members(db: Path) -> None:
    rows = json.loads(run(db, "timeline", "--mineral", "稀土", "--format", "json").output)
    numbers = {r["doc_number"] for r in rows}
    # 2025-18 names seven rare earths individually; 2025-57 five; the frameworks the group
    assert {
        "MOFCOM 2025-18",
        "MOFCOM 2025-57",
        "MOFCOM 2025-56",
        "MOFCOM 2025-70",
        "MOFCOM 2019-103",
    } <= numbers
    assert sum(r["jurisdiction"] == "US" for r in rows) == 2
    only_dy = json.loads(run(db, "timeline", "--mineral", "Dy", "--format", "json").output)
    assert [r["doc_number"] for r in only_dy] == ["MOFCOM 2025-18"]


def test_filters_combine(db: Path) -> None:
    cn_controls_2025 = json.loads(
        run(
            db,
            "timeline",
            "--jurisdiction",
            "cn",
            "--action",
            "new_control",
            "--since",
            "2025",
            "--until",
            "2025",
            "--format",
            "json",
        ).output
    )
    assert [r["doc_number"] for r in cn_controls_2025] == [
        "MOFCOM 2025-56",
        "MOFCOM 2025-57",
        "MOFCOM 2025-18",
    ] or [r["doc_number"] for r in cn_controls_2025] == ["MOFCOM 2025-57", "MOFCOM 2025-56", "MOFCOM 2025-18"]
    us = json.loads(
        run(db, "timeline", "--jurisdiction", "US", "--source", "whitehouse", "--format", "json").output
    )
    assert {r["action"] for r in us} == {"agreement"} and len(us) == 2
    assert (
        json.loads(
            run(db, "timeline", "--jurisdiction", "US", "--source", "mofcom", "--format", "json").output
        )
        == []
    )
    month = json.loads(
        run(db, "timeline", "--since", "2025-10", "--until", "2025-10", "--format", "json").output
    )
    assert {r["announced"][:7] for r in month} == {"2025-10"} and len(month) == 5  # 56, 57, Q&A, 2 frameworks
    limited = json.loads(run(db, "timeline", "--limit", "2", "--format", "json").output)
    assert [r["doc_number"] for r in limited] == ["MOFCOM 2026-102", "MOFCOM 2026-101"]


def test_relative_and_partial_dates() -> None:
    today = date(2026, 11, 23)
    assert parse_when("30d", today=today) == date(2026, 10, 24)
    assert parse_when("2w", today=today) == date(2026, 11, 9)
    assert parse_when("3m", today=today) == date(2026, 8, 23)
    assert parse_when("1y", today=today) == date(2025, 11, 23)
    assert parse_when("2025", today=today) == date(2025, 1, 1)
    assert parse_when("2025", end=True, today=today) == date(2025, 12, 31)
    assert parse_when("2024-02", end=True, today=today) == date(2024, 2, 29)
    assert parse_when("2025-04-04", today=today) == date(2025, 4, 4)
    with pytest.raises(InputError, match="YYYY, YYYY-MM, YYYY-MM-DD, or a span"):
        parse_when("April 2025")


def test_relative_since_through_the_cli(db: Path, cli_today: date) -> None:
    # today is frozen at 2026-11-23: 1y is 2025-11-23, 20y reaches before the 2019 notice
    every = json.loads(run(db, "timeline", "--format", "json").output)
    rows = json.loads(run(db, "timeline", "--since", "20y", "--format", "json").output)
    assert len(rows) == len(every) == 13
    recent = json.loads(run(db, "timeline", "--since", "1y", "--format", "json").output)
    assert recent == [r for r in every if r["announced"] >= "2025-11-23"]
    assert {r["doc_number"] for r in recent} >= {"MOFCOM 2026-101", "MOFCOM 2026-102"}


def test_full_text_search_in_chinese_and_english_with_snippets(db: Path) -> None:
    one_char = json.loads(run(db, "timeline", "--search", "镓", "--format", "json").output)
    assert {"MOFCOM 2023-23", "MOFCOM 2026-101"} <= {r["doc_number"] for r in one_char}
    assert all("«镓»" in r["snippet"] for r in one_char)
    phrase = json.loads(run(db, "timeline", "--search", "暂停实施", "--format", "json").output)
    assert [r["doc_number"] for r in phrase] == ["MOFCOM 2025-70"]
    english = json.loads(run(db, "timeline", "--search", "Tokyo", "--format", "json").output)
    assert len(english) == 1 and "Japan" in english[0]["title"] and "«Tokyo»" in english[0]["snippet"]
    both = json.loads(run(db, "timeline", "--search", "rare earths Australia", "--format", "json").output)
    assert len(both) == 1 and "Australia" in both[0]["title"]
    table = run(db, "timeline", "--search", "暂停实施").output
    assert "«暂停实施»" in table
    assert json.loads(run(db, "timeline", "--search", "zzzz", "--format", "json").output) == []
    quoted = run(db, "timeline", "--search", 'gallium" OR title:*', "--format", "json")
    assert quoted.exit_code == 0  # user text never reaches FTS5 as syntax


@pytest.mark.parametrize("words", ["出口管制", "公告", "稀土", "minerals", "critical minerals"])
@pytest.mark.parametrize("limit", [1, 3, 50])
@pytest.mark.parametrize("oldest_first", [False, True])
def test_a_common_word_walks_the_events_and_finds_the_same_page(
    db: Path, words: str, limit: int, oldest_first: bool
) -> None:
    """The plan for words that match many documents (walk events by date) and the plan for rare
    words (order every hit) give the same page, ties on a date included."""
    with Store(db) as store:
        bound = walk_bound(store, fts_query(words), limit, 0, words, not oldest_first)
        hits = list(query(store, search=words, oldest_first=oldest_first))
        walked = list(query(store, search=words, limit=limit, oldest_first=oldest_first, walk_above=0))
        ordered = list(query(store, search=words, limit=limit, oldest_first=oldest_first, walk_above=10**9))
    assert bound is not None  # the walk is the plan taken
    assert [(e.id, e.snippet) for e in walked] == [(e.id, e.snippet) for e in ordered]
    assert [e.id for e in walked] == [e.id for e in hits[:limit]] and walked
    assert all(e.snippet for e in walked)


def test_the_plan_leads_with_the_one_mineral_and_walks_only_a_bare_page_of_search(db: Path) -> None:
    with Store(db) as store:
        one = plan(store, Filters.of(minerals=["gallium"], search="公告", limit=3), walk_above=0)
        two = plan(store, Filters.of(minerals=["gallium", "tungsten"]))
        page = plan(store, Filters.of(search="公告", limit=3), walk_above=0)
        rare = plan(store, Filters.of(search="公告", limit=3))
        every = plan(store, Filters.of(search="公告"), walk_above=0)
    assert one.by_mineral and one.search == Hits(fts_query("公告"))  # another filter: no walk, no top
    assert not two.by_mineral and two.minerals == ("gallium", "tungsten")
    assert isinstance(page.search, Walk) and page.search.match == fts_query("公告")
    assert rare.search == Hits(fts_query("公告"), top=3)  # fewer hits than WALK_ABOVE: ordered
    assert every.search == Hits(fts_query("公告"))  # no limit: no page to walk to


def test_the_sample_log_has_common_words_matching_events_of_the_same_day(db: Path) -> None:
    with Store(db) as store:
        days = [e.announced for e in query(store, search="公告")]
    assert len(days) >= 6 and len(set(days)) < len(days)  # ties, so the order on id is exercised


def test_json_csv_and_markdown_carry_every_field(db: Path) -> None:
    rows = json.loads(run(db, "timeline", "--format", "json").output)
    fields = {
        "id",
        "announced",
        "effective",
        "expires",
        "jurisdiction",
        "targets",
        "action",
        "minerals",
        "items",
        "doc_number",
        "refers_to",
        "title",
        "urls",
        "sources",
        "rule",
        "severity",
    }
    assert all(fields <= set(r) for r in rows)
    parsed = list(csv.DictReader(io.StringIO(run(db, "timeline", "--format", "csv").output)))
    assert len(parsed) == len(rows) and fields <= set(parsed[0])
    by_id = {p["id"]: p for p in parsed}
    for r in rows:
        assert by_id[r["id"]]["minerals"] == "; ".join(r["minerals"])
        assert by_id[r["id"]]["title"] == r["title"]
    md = run(db, "timeline", "--mineral", "Ho", "--format", "md").output.splitlines()
    assert md[0].startswith("| Announced |") and md[1].startswith("|---")
    assert any("MOFCOM 2025-70" in line and "2025-11-07 to 2026-11-10" in line for line in md)


def test_ics_puts_effective_and_expiry_dates_in_a_calendar(db: Path) -> None:
    text = run(db, "timeline", "--mineral", "holmium", "--format", "ics").stdout_bytes.decode("utf-8")
    cal = icalendar.Calendar.from_ical(text)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    susp = [e for uid, e in events.items() if uid.endswith("-expires@minerals-tracker")]
    assert len(susp) == 1 and susp[0].decoded("DTSTART") == date(2026, 11, 10)
    assert "MOFCOM 2025-70" in str(susp[0]["SUMMARY"])
    effective = {
        e.decoded("DTSTART") for uid, e in events.items() if uid.endswith("-effective@minerals-tracker")
    }
    assert {date(2025, 11, 8), date(2025, 11, 7)} <= effective
    assert all(line.endswith("\r") or not line for line in text.split("\n"))  # CRLF line ends
    assert all(len(line.encode()) <= 76 for line in text.split("\n"))  # folded at 75 octets (+CR)


def test_table_fits_the_terminal_width(db: Path) -> None:
    from tracker import render
    from tracker.render import width

    with Store(db) as store:
        lines = list(render.table(query(store), columns=100))
    assert len(lines) == 14 and lines[0].startswith("announced")
    assert max(width(line) for line in lines) <= 100


def test_empty_results_and_bad_input(db: Path) -> None:
    assert run(db, "timeline", "--mineral", "lithium").output == (
        run(db, "timeline", "--mineral", "lithium").output
    )
    assert "no events match" in run(db, "timeline", "--mineral", "lithium").output
    assert json.loads(run(db, "timeline", "--mineral", "lithium", "--format", "json").output) == []
    bad = CliRunner().invoke(cli, ["--db", str(db), "timeline", "--mineral", "galium"])
    assert bad.exit_code == 2 and "unknown mineral 'galium' (did you mean 'gallium'" in bad.output
    date_ = CliRunner().invoke(cli, ["--db", str(db), "timeline", "--since", "yesterday"])
    assert date_.exit_code == 2 and "use YYYY, YYYY-MM, YYYY-MM-DD, or a span back from today" in date_.output
    act = CliRunner().invoke(cli, ["--db", str(db), "timeline", "--action", "ban"])
    assert act.exit_code == 2 and "unknown action 'ban'" in act.output
    src = CliRunner().invoke(cli, ["--db", str(db), "timeline", "--source", "mofcon"])
    assert src.exit_code == 2 and "did you mean 'mofcom'" in src.output


def test_several_bad_filters_report_the_first_in_option_order(db: Path) -> None:
    """Minerals, then dates, then actions, then sources: the first wrong one is the error."""
    bad = [
        "--source",
        "mofcon",
        "--action",
        "ban",
        "--until",
        "soon",
        "--since",
        "yesterday",
        "--mineral",
        "galium",
    ]
    for option, message in (
        ("--mineral", "unknown mineral 'galium'"),
        ("--since", "--since: 'yesterday' is not a date"),
        ("--until", "--until: 'soon' is not a date"),
        ("--action", "unknown action 'ban'"),
        ("--source", "unknown source 'mofcon'"),
    ):
        result = CliRunner().invoke(cli, ["--db", str(db), "timeline", *bad])
        assert result.exit_code == 2 and result.output.startswith(f"error: {message}"), result.output
        bad = bad[: bad.index(option)]  # fixed: the next one is reported


def test_show_explains_an_event(db: Path) -> None:
    rows = json.loads(run(db, "timeline", "--action", "suspension", "--format", "json").output)
    [susp] = rows
    out = run(db, "show", susp["id"][:8]).output
    assert "suspension (CN), severity high, rule cn-mofcom-suspension" in out
    assert "triggered by: “经批准，自即日起至2026年11月10日" in out
    assert "refers to: MOFCOM 2025-55 (not stored), MOFCOM 2025-56 (new_control" in out
    assert "MOFCOM 2025-57  suspended" in out and "until 2026-11-10" in out
    measure = json.loads(
        run(db, "timeline", "--search", "钬", "--action", "new_control", "--format", "json").output
    )[0]
    shown = json.loads(run(db, "show", measure["id"], "--json").output)
    assert shown["referred_by_events"] == [susp["id"]]
    # on the day it was to take effect, 2025-11-08, the suspension from 2025-11-07 already held it
    assert [(s["state"], s["until"]) for s in shown["states"]] == [("suspended", "2026-11-10")] * 6
    missing = CliRunner().invoke(cli, ["--db", str(db), "show", "ffffffff"])
    assert missing.exit_code == 2 and "no event 'ffffffff'" in missing.output


def test_status_formats(db: Path) -> None:
    md = run(db, "status", "--mineral", "Ga", "--as-of", "2026-12-01", "--format", "md").output.splitlines()
    assert md[0] == "| Jurisdiction | Measure | Mineral | State | Since | Until |"
    assert {line.split("|")[2].strip() for line in md[2:]} == {"MOFCOM 2023-23", "MOFCOM 2026-101"}
    js = json.loads(run(db, "status", "--mineral", "Ga", "--as-of", "2026-12-01", "--format", "json").output)
    assert {r["state"] for r in js} == {"active"}
