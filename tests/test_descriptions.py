"""The English line that says what an event or a control is (templates/_describe.j2), in `status`
(table, JSON, CSV), `timeline` (table, JSON, HTML), `show`, the digest (text and HTML) and the feed.

Every expected line is written out by hand from the sample pages (numbers, minerals, dates in the
comments below), never produced by the code under test."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracker import render
from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.server import site_root
from tracker.describe import described, describer
from tracker.store import Store
from tracker.timeline import TimelineEvent, get

ART = site_root() / "mofcom/zwgk/zcfb/art"
NO23 = ART / "2023/art_4c332aac5913fbf1a8fdee22623aa328.html"  # gallium, germanium; in force 2023-08-01
NO18 = ART / "2025/art_225cdea2e0df055cbf1899687ca2ed06.html"  # 7 rare earths + the group; 2025-04-04
NO57 = ART / "2025/art_64f9e0038defc1e5034f6a1b71e136b3.html"  # Ho Er Tm Eu Yb + group, magnets; 2025-11-08
NO70 = ART / "2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html"  # suspends 2025-57 ... to 2026-11-10
USGS = [site_root() / f"usgs/{year}/critical-minerals-list.html" for year in (2018, 2022)]  # +Ni, Zn

TITLE23 = "商务部 海关总署公告2023年第23号 关于对镓、锗相关物项实施出口管制的公告"
TITLE57 = "商务部 海关总署公告2025年第57号 公布对钬、铒、铥、铕、镱等中重稀土相关物项实施出口管制的决定"
TITLE70 = (
    "商务部 海关总署公告2025年第70号 公布暂停实施商务部 海关总署公告2025年第55号、56号、57号、58号"
    "及商务部公告2025年第61号、62号的决定"
)
LINE23 = "MOFCOM 2023 No. 23 — new export control: gallium, germanium; in force from 2023-08-01"
LINE18 = (
    "MOFCOM 2025 No. 18 — new export control: samarium, gadolinium, terbium, dysprosium +4;"
    " in force from 2025-04-04"
)
# five rare earths, the group, and the magnets as an item class: four named, three more
LINE57 = (
    "MOFCOM 2025 No. 57 — new export control: holmium, erbium, thulium, europium +3; in force from 2025-11-08"
)
LINE70 = "MOFCOM 2025 No. 70 — suspension: holmium, erbium, thulium, europium +2; suspended until 2026-11-10"
LINE_USGS = "87 FR 10381 — added to the critical-minerals list: nickel, zinc"
# a control whose scraped title is a spreadsheet formula
FORMULA = '=HYPERLINK("http://evil.example/","商务部公告2027年第5号 关于对镓实施出口管制的公告")'
FORMULA_PAGE = (
    f"<html><body><h1 class='art-title'>{FORMULA}</h1><div class='art-con'>"
    "<p>【发布文号】商务部公告2027年第5号</p><p>【发文日期】2027年01月05日</p>"
    "<p>决定对镓相关物项实施出口管制。本公告自2027年3月1日起正式实施。</p></div></body></html>"
)


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A database of the sample pages (four MOFCOM announcements, the 2018 and 2022 USGS lists, a
    control with a formula for a title) and a config that alerts on all of them."""
    tmp = tmp_path_factory.mktemp("describe")
    db, cfg = tmp / "t.db", tmp / "tracker.toml"
    cfg.write_text(
        'timezone = "Asia/Shanghai"\n[alerts]\nmax_age_days = 0\n[[recipients]]\nemail = "a@example.org"\n',
        "utf-8",
    )
    page = tmp / "formula.html"
    page.write_text(FORMULA_PAGE, "utf-8")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("TRACKER_"):
                mp.delenv(name)
        mp.chdir(tmp)
        base = ["--config", str(cfg), "--db", str(db)]
        run(*base, "ingest", *map(str, (NO23, NO18, NO57, NO70)), "--source", "mofcom")
        url = "https://www.mofcom.gov.cn/zwgk/zcfb/art/2027/art_formula.html"
        run(*base, "ingest", str(page), "--source", "mofcom", "--url", url)
        for notice in USGS:
            run(*base, "ingest", str(notice), "--source", "usgs")
    return {"dir": tmp, "db": db, "cfg": cfg, "base": base}


def cli_out(sample: dict[str, Any], *args: str) -> str:
    return run(*sample["base"], *args)


def test_each_kind_of_event_reads_as_one_line_with_a_readable_number(sample: dict[str, Any]) -> None:
    events = json.loads(cli_out(sample, "timeline", "--format", "json"))
    lines = {(e["doc_number"], e["action"]): e["description"] for e in events}
    assert lines[("MOFCOM 2023-23", "new_control")] == LINE23  # a control
    assert lines[("MOFCOM 2025-70", "suspension")] == LINE70  # a suspension with its expiry
    assert lines[("MOFCOM 2025-18", "new_control")] == LINE18  # eight minerals: four, then +4
    assert lines[("MOFCOM 2025-57", "new_control")] == LINE57  # an item class counts too
    assert lines[("87 FR 10381", "list_addition")] == LINE_USGS  # a list addition, no dates
    assert lines[("87 FR 10381", "list_removal")] == (
        "87 FR 10381 — removed from the critical-minerals list: helium, potash, rhenium, strontium +1"
    )
    # the Chinese titles stay as they were, beside the line
    assert {e["title"] for e in events} >= {TITLE23, TITLE57, TITLE70}


def test_numbers_other_than_mofcom_stay_as_written_and_words_come_from_the_labels() -> None:
    config = load_config(None, use_user_config=False)
    d = describer(config)

    def event(**kw: Any) -> TimelineEvent:
        base: dict[str, Any] = dict(
            id="x",
            announced="2025-03-20",
            effective=None,
            expires=None,
            jurisdiction="US",
            targets=[],
            action="executive_action",
            minerals=[],
            items=[],
            doc_number=None,
            refers_to=[],
            title="t",
            urls=[],
            sources=[],
            rule="r",
            severity="high",
        )
        return TimelineEvent(**{**base, **kw})

    # EO 14241 (20 March 2025): uranium, copper, potash, in force on signing
    eo = event(doc_number="EO 14241", minerals=["uranium", "copper", "potash"], effective="2025-03-20")
    assert d.event(eo) == "EO 14241 — executive action: uranium, copper, potash; in force from 2025-03-20"
    # FR 2025-19813, the final 2025 list: ten additions
    added = ["boron", "copper", "lead", "metallurgical-coal", "phosphate", "potash", "rhenium", "silicon"]
    fr = event(action="list_addition", doc_number="FR 2025-19813", minerals=[*added, "silver", "uranium"])
    assert d.event(fr) == (
        "FR 2025-19813 — added to the critical-minerals list: boron, copper, lead, metallurgical coal +6"
    )
    # no number: the action's words open the line; a lift and a control with an end date
    assert d.event(event(action="agreement", minerals=["rare-earths"])) == "Agreement: rare earth elements"
    lift = event(action="lift", doc_number="MOFCOM 2026-3", minerals=["gallium"], effective="2026-01-01")
    assert d.event(lift) == "MOFCOM 2026 No. 3 — control lifted: gallium; lifted on 2026-01-01"
    spans = event(
        action="new_control", doc_number="Notice 2025-7", effective="2025-05-01", expires="2025-12-31"
    )
    assert d.event(spans) == "Notice 2025-7 — new export control; in force from 2025-05-01 until 2025-12-31"


@pytest.mark.parametrize(
    ("mineral", "day", "line"),
    [
        # announced 2025-10-09, in force from 2025-11-08: pending in between
        ("Ho", "2025-10-20", LINE57.replace("in force from 2025-11-08", "pending, in force from 2025-11-08")),
        # suspended by 2025-70 from 2025-11-07 to 2026-11-10, then in force again
        ("Ho", "2026-01-01", LINE57.replace("in force from 2025-11-08", "suspended until 2026-11-10")),
        ("Ho", "2026-12-01", LINE57.replace("in force from 2025-11-08", "in force since 2026-11-10")),
        ("Ga", "2024-01-01", LINE23.replace("in force from", "in force since")),
    ],
)
def test_status_says_what_each_measure_is_in_its_state_that_day(
    sample: dict[str, Any], mineral: str, day: str, line: str
) -> None:
    [row] = json.loads(cli_out(sample, "status", "--mineral", mineral, "--as-of", day, "--format", "json"))
    assert row["description"] == line


def test_status_json_keeps_its_keys_and_adds_title_and_description(sample: dict[str, Any]) -> None:
    rows = json.loads(cli_out(sample, "status", "--mineral", "Ho", "--as-of", "2026-01-01", "--json"))
    assert rows == [
        {
            "jurisdiction": "CN",
            "measure": "MOFCOM 2025-57",
            "title": TITLE57,
            "description": LINE57.replace("in force from 2025-11-08", "suspended until 2026-11-10"),
            "mineral": "holmium",
            "state": "suspended",
            "since": "2025-11-07",
            "until": "2026-11-10",
            "changed_by": "MOFCOM 2025-70",
            "event_id": rows[0]["event_id"],
        }
    ]
    assert rows[0]["event_id"]


def test_status_csv_has_every_field_and_no_formula(sample: dict[str, Any]) -> None:
    text = cli_out(sample, "status", "--mineral", "gallium", "--as-of", "2027-03-02", "--format", "csv")
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == [
        "jurisdiction",
        "measure",
        "title",
        "description",
        "mineral",
        "state",
        "since",
        "until",
        "changed_by",
        "event_id",
    ]
    rows = {r["measure"]: r for r in reader}
    assert rows["MOFCOM 2023-23"]["title"] == TITLE23
    assert rows["MOFCOM 2023-23"]["description"] == LINE23.replace("in force from", "in force since")
    formula = rows["MOFCOM 2027-5"]
    assert formula["title"] == "'" + FORMULA  # a spreadsheet shows it, never runs it
    assert (
        formula["description"] == "MOFCOM 2027 No. 5 — new export control: gallium; in force since 2027-03-01"
    )
    assert (formula["state"], formula["since"], formula["until"], formula["changed_by"]) == (
        "active",
        "2027-03-01",
        "",
        "",
    )


def test_status_table_shows_the_line_and_the_title_where_there_is_room(sample: dict[str, Any]) -> None:
    # not a terminal (CliRunner): nothing cut, the title after the line
    out = cli_out(sample, "status", "--mineral", "Ga", "--as-of", "2024-01-01").splitlines()
    assert out[0].split()[-2:] == ["description", "title"]
    assert LINE23.replace("in force from", "in force since") in out[1] and out[1].endswith(TITLE23)
    # on a terminal 100 columns wide: the line cut to fit, no title
    with_desc = [
        {"jurisdiction": "CN", "measure": "MOFCOM 2025-57", "mineral": "holmium", "state": "suspended"}
    ]
    records = [{**with_desc[0], "since": "2025-11-07", "until": "2026-11-10", "title": TITLE57}]
    records[0]["description"] = LINE57
    lines = list(render.status_table(records, columns=100))
    assert lines[0].split()[-1] == "description" and "title" not in lines[0]
    assert max(render.width(line) for line in lines) <= 100
    assert "MOFCOM 2025 No. 57 — new" in lines[1] and lines[1].endswith("…") and TITLE57 not in lines[1]


def test_timeline_table_shows_the_line(sample: dict[str, Any]) -> None:
    out = cli_out(sample, "timeline", "--mineral", "Ho")
    header, *rows = out.splitlines()
    assert header.split()[-2:] == ["description", "title"]
    assert any(LINE70 in r and r.endswith(TITLE70) for r in rows)
    assert any(LINE57 in r and r.endswith(TITLE57) for r in rows)
    # cut to a terminal's width, the line stays and the title goes
    with Store(sample["db"]) as store:
        events = list(described([get(store, "faa3b6a7")], describer(load_config(sample["cfg"]))))
    for columns in (120, 250):
        header, row = render.table(events, columns=columns)
        assert header.split()[-1] == "description" and TITLE70 not in row
        assert max(render.width(header), render.width(row)) <= columns
        if columns == 120:
            assert "MOFCOM 2025 No. 70 — " in row and row.endswith("…")
        else:
            assert row.endswith(LINE70)


def test_show_says_what_the_event_is(sample: dict[str, Any]) -> None:
    out = cli_out(sample, "show", "faa3b6a7").splitlines()
    assert out[1] == f"  {LINE70}" and out[2] == f"  {TITLE70}"


def test_timeline_page_shows_the_line_in_the_table_and_the_details(
    sample: dict[str, Any], tmp_path: Path
) -> None:
    page = tmp_path / "timeline.html"
    cli_out(sample, "timeline", "--mineral", "Ho", "--format", "html", "--out", str(page))
    html = page.read_text("utf-8")
    assert f'<div class="desc">{LINE70}</div>{TITLE70}' in html
    assert f'<div class="desc">{LINE57}</div>{TITLE57}' in html
    # the details of the suspension, as Chromium draws them from the embedded data
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail("Chromium is missing (/usr/bin/chromium): .ci/run installs Debian's chromium package")
    flags = ["--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    flags += ["--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"]
    flags += ["--virtual-time-budget=2000", f"--user-data-dir={tmp_path / 'profile'}"]
    flags += ["--no-sandbox"] if os.geteuid() == 0 else []
    proc = subprocess.run(
        [str(chromium), *flags, "--dump-dom", page.as_uri() + "#ev-faa3b6a7b8dcdaab"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    panel = re.search(r'<section id="details"([^>]*)>(.*?)</section>', proc.stdout, re.S)
    assert panel and "hidden" not in panel.group(1), "the details panel did not open"
    assert f"<h3>{TITLE70}</h3><p>{LINE70}</p>" in panel.group(2)
    assert not [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_digest_text_html_and_feed_show_the_line(sample: dict[str, Any], tmp_path: Path) -> None:
    import feedparser

    now = ["--now", "2026-10-30T00:00:00+00:00"]  # 11 days before the suspension ends
    for name in ("d.txt", "d.html"):
        cli_out(sample, "digest", "--out", str(tmp_path / name), *now)
    text = (tmp_path / "d.txt").read_text("utf-8")
    html = (tmp_path / "d.html").read_text("utf-8")
    for line in (LINE23, LINE18, LINE57, LINE70, LINE_USGS):
        assert f"\n  {line}\n" in text  # under the heading, above the original title
        assert f"<div>{line}</div>" in html
    assert f"  {LINE70}\n  {TITLE70}\n" in text
    assert f"<div>{LINE70}</div>\n    <div>{TITLE70}</div>" in html
    cli_out(sample, "feed", "--out", str(tmp_path / "feed.xml"))
    feed = feedparser.parse((tmp_path / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    contents = {entry.summary for entry in feed.entries}
    # the feed has the room for every mineral, and says when the document was issued
    assert (
        "MOFCOM 2025 No. 70 — suspension: holmium, erbium, thulium, europium, ytterbium, rare earth elements;"
        " suspended until 2026-11-10; issued 2025-11-07"
    ) in contents
    assert f"{LINE23}; issued 2023-07-03" in contents
    assert f"{LINE_USGS}; issued 2022-02-24" in contents
