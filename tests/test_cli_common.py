"""What every command shares: a database must exist to be read, one date syntax for every date
option, and tables cut only to fit a terminal."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import CLI_TODAY
from tracker import render
from tracker.catalog import DocumentEvent, StoredDocument
from tracker.cli import NEEDS_DATABASE, cli
from tracker.cli.docs import document_line
from tracker.dates import DATE_FORMS, parse_when
from tracker.demo.server import SiteServer, site_root
from tracker.errors import InputError, MissingDatabaseError
from tracker.models import Document, RunStats, sha256
from tracker.store import Store
from tracker.timeline import Filters

LIST = "/mofcom/zwgk/zcfb/index.html"
ARTICLE = site_root() / "mofcom/zwgk/zcfb/art/2025/art_225cdea2e0df055cbf1899687ca2ed06.html"
NO_DB = "error: tracker-dmeo.db: no such database (fetch creates one; check --db or [database] path)\n"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def site_toml(folder: Path, site: SiteServer) -> str:
    """A config whose only source is MOFCOM on the sample site."""
    cfg = folder / "site.toml"
    cfg.write_text(
        "[fetch]\nhost_delay = 0.0\nretries = 0\ntimeout = 5.0\n"
        "[sources.whitehouse]\nenabled = false\n[sources.federalregister]\nenabled = false\n"
        f'[sources.usgs]\nenabled = false\n[sources.mofcom]\nurl = "{site.base_url}{LIST}"\nmax_pages = 1\n',
        "utf-8",
    )
    return str(cfg)


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# --- a database must exist to be read ------------------------------------------------------------

READERS = [
    ("status",),
    ("timeline",),
    ("show", "faa3b6a7"),
    ("documents",),
    ("alerts",),
    ("digest",),
    ("digest", "--send"),
    ("feed", "--out", "alerts.xml"),
    ("reclassify",),
]


def test_every_command_that_needs_the_database_is_in_the_table_below() -> None:
    assert {args[0] for args in READERS} == NEEDS_DATABASE


@pytest.mark.parametrize("args", [*READERS, ("rules", "explain", "1")], ids=" ".join)
def test_a_reading_command_on_a_missing_database_exits_2_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = invoke("--db", "tracker-dmeo.db", *args)
    assert result.exit_code == 2
    assert result.output == NO_DB
    assert files(tmp_path) == set()  # no database, no -wal, no lock file, no feed


def test_the_database_path_from_the_config_is_named_too(tmp_path: Path) -> None:
    (tmp_path / "tracker.toml").write_text('[database]\npath = "tracker-dmeo.db"\n', "utf-8")
    result = invoke("status")
    assert result.exit_code == 2 and result.output.endswith(NO_DB.removeprefix("error: "))
    assert files(tmp_path) == {"tracker.toml"}


def test_a_reading_command_on_an_existing_database_answers(tmp_path: Path, cli_today: date) -> None:
    Store(tmp_path / "t.db").close()
    result = invoke("--db", "t.db", "status")
    assert result.exit_code == 0
    assert result.output == f"no controls in force on {cli_today} for the minerals and jurisdictions asked\n"


def test_store_opened_for_reading_refuses_a_missing_file_and_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    with pytest.raises(MissingDatabaseError, match=r"typo\.db: no such database"):
        Store(path, create=False)
    assert files(tmp_path) == set()
    Store(path).close()  # by default a missing file becomes a new database
    with Store(path, create=False) as store:
        assert store.document_counts() == {}


def test_ingest_fetch_backfill_and_run_create_the_database(tmp_path: Path, site: SiteServer) -> None:
    cfg = site_toml(tmp_path, site)
    ingest = invoke("--config", cfg, "--db", "ingest.db", "ingest", str(ARTICLE), "--source", "mofcom")
    assert ingest.exit_code == 0, ingest.output
    for name, command in (
        ("fetch.db", ["fetch"]),
        ("backfill.db", ["backfill", "--source", "mofcom"]),
        ("run.db", ["run", "--once"]),
    ):
        result = invoke("--config", cfg, "--db", name, *command)
        assert result.exit_code == 0, (command, result.output)
    assert {"ingest.db", "fetch.db", "backfill.db", "run.db"} <= files(tmp_path)
    # and a reader finds what they stored
    assert "MOFCOM 2025-18" in invoke("--config", cfg, "--db", "ingest.db", "documents").output


def test_check_and_sources_work_without_a_database_and_create_none(tmp_path: Path, site: SiteServer) -> None:
    cfg = site_toml(tmp_path, site)
    check = invoke("--config", cfg, "--db", "none.db", "check")
    assert check.exit_code == 0 and check.output.startswith("mofcom (mofcom): OK"), check.output
    table = invoke("--config", cfg, "--db", "none.db", "sources")
    assert table.exit_code == 0
    assert table.stderr == "note: none.db: no database yet: no source has run (fetch creates it)\n"
    lines = table.stdout.splitlines()
    rows = [line for line in lines[1:] if not line.startswith(" ")]  # each description is indented below
    assert lines[0].startswith("source") and len(rows) == 8  # every configured source, built-in ones too
    assert rows[0].split()[:3] == ["mofcom", "mofcom", "never"]
    assert all(row.split()[2] in ("never", "disabled") for row in rows)
    report = json.loads(invoke("--config", cfg, "--db", "none.db", "sources", "--json").stdout)
    assert {r["name"]: (r["last_success"], r["documents"]) for r in report}["mofcom"] == (None, 0)
    assert invoke("--db", "none.db", "rules", "check").exit_code == 0
    assert files(tmp_path) == {"site.toml"}


# --- one date syntax for every date option -------------------------------------------------------

# value, as the first day of a period (--since, backfill --until), as its last (--until, --as-of);
# the spans count back from CLI_TODAY, 2026-11-23
DATES = [
    ("2025", date(2025, 1, 1), date(2025, 12, 31)),
    ("2025-04", date(2025, 4, 1), date(2025, 4, 30)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("2025-04-04", date(2025, 4, 4), date(2025, 4, 4)),
    ("30d", date(2026, 10, 24), date(2026, 10, 24)),
    ("6w", date(2026, 10, 12), date(2026, 10, 12)),
    ("3m", date(2026, 8, 23), date(2026, 8, 23)),
    ("1y", date(2025, 11, 23), date(2025, 11, 23)),
    (" 2W ", date(2026, 11, 9), date(2026, 11, 9)),
    ("0d", CLI_TODAY, CLI_TODAY),
]


@pytest.mark.parametrize(("value", "first", "last"), DATES)
def test_parse_when_reads_every_form(value: str, first: date, last: date) -> None:
    assert parse_when(value, today=CLI_TODAY) == first
    assert parse_when(value, end=True, today=CLI_TODAY) == last


def test_a_month_back_keeps_the_day_or_takes_the_last_day_of_a_shorter_month() -> None:
    assert parse_when("1m", today=date(2026, 3, 31)) == date(2026, 2, 28)
    assert parse_when("13m", today=date(2026, 1, 15)) == date(2024, 12, 15)
    assert parse_when("1y", today=date(2028, 2, 29)) == date(2027, 2, 28)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "April 2025",
        "2025-13",
        "2025-02-30",
        "20250404",
        "25",
        "-30d",
        "1.5y",
        "30x",
        "9999999d",
        "999999y",
        "999999w",
    ],
)
def test_anything_else_is_an_input_error_naming_the_forms(value: str) -> None:
    with pytest.raises(InputError) as err:
        parse_when(value, today=CLI_TODAY)
    assert str(err.value) == f"{value!r} is not a date: use {DATE_FORMS}"


class Spy:
    """Stands in for the library call behind a command and keeps the arguments it was given."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.kwargs: dict[str, Any] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        return self.result


# command, option, where the library receives the date, whether a year or month means its last day
OPTIONS = [
    (["timeline"], "--since", ("tracker.timeline.asked", "since"), False),
    (["timeline"], "--until", ("tracker.timeline.asked", "until"), True),
    (["documents"], "--since", ("tracker.catalog.list_documents", "since"), False),
    (["digest", "--now", "2026-11-23T12:00:00+00:00"], "--since", ("tracker.digest.preview", "since"), False),
    (["backfill", "--source", "mofcom"], "--until", ("tracker.fetch.fetch", "until"), False),
]


@pytest.fixture
def empty_db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "t.db"
    Store(path).close()
    yield path


@pytest.mark.parametrize(("command", "option", "target", "end"), OPTIONS, ids=lambda x: str(x))
@pytest.mark.parametrize(("value", "first", "last"), DATES)
def test_every_date_option_takes_every_form(
    monkeypatch: pytest.MonkeyPatch,
    empty_db: Path,
    cli_today: date,
    command: list[str],
    option: str,
    target: tuple[str, str],
    end: bool,
    value: str,
    first: date,
    last: date,
) -> None:
    where, keyword = target
    empty: dict[str, Any] = {
        "tracker.timeline.asked": Filters(),
        "tracker.catalog.list_documents": iter([]),
        "tracker.digest.preview": (SimpleNamespace(text=""), []),
        "tracker.fetch.fetch": [],
    }
    spy = Spy(empty[where])
    monkeypatch.setattr(where, spy)
    result = invoke("--db", str(empty_db), *command, option, value)
    assert result.exit_code == 0, result.output
    expected = last if end else first
    given = spy.kwargs[keyword]
    assert (date.fromisoformat(given) if isinstance(given, str) else given) == expected


@pytest.mark.parametrize(("value", "first", "last"), DATES)
def test_status_as_of_a_year_or_month_is_its_last_day(
    empty_db: Path, cli_today: date, value: str, first: date, last: date
) -> None:
    result = invoke("--db", str(empty_db), "status", "--as-of", value)
    assert result.output == f"no controls in force on {last} for the minerals and jurisdictions asked\n"


@pytest.mark.parametrize(
    ("command", "option"),
    [(["status"], "--as-of"), *((c, o) for c, o, _, _ in OPTIONS)],
    ids=lambda x: str(x),
)
def test_a_bad_date_is_one_line_naming_the_option_and_the_forms(
    empty_db: Path, command: list[str], option: str
) -> None:
    result = invoke("--db", str(empty_db), *command, option, "yesterday")
    assert result.exit_code == 2
    assert result.output == f"error: {option}: 'yesterday' is not a date: use {DATE_FORMS}\n"


# --- tables: whole when piped, fitted on a terminal, whole again with --wide ------------------------

LONG_TITLE = " ".join(["Notice on the export control of gallium, germanium and antimony items"] * 4)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return True


def test_the_width_is_decided_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "77")
    assert render.table_columns(stream=Terminal()) == 77
    assert render.table_columns(stream=Terminal(), wide=True) is None  # --wide
    assert render.table_columns(stream=io.StringIO()) is None  # a pipe or a file
    closed = Terminal()
    closed.close()
    assert render.table_columns(stream=closed) is None


def test_cells_and_lines_are_cut_only_when_fitting_a_width() -> None:
    assert render.cell("MOFCOM 2025-70", 8, 80) == "MOFCOM …"
    assert render.cell("MOFCOM 2025-70", 8, None) == "MOFCOM 2025-70"
    assert render.cell("Ga", 4, None) == "Ga  "
    assert render.clip("商务部公告" * 4, 9) == "商务部公…"  # CJK characters take two columns
    assert render.clip(LONG_TITLE, None) == LONG_TITLE
    line = render.last_cell("head ", LONG_TITLE, 40)
    assert render.width(line) == 40 and line.startswith("head Notice") and line.endswith("…")
    assert render.last_cell("h" * 50, "title", 40) == "h" * 50 + "title"  # never less than 10 columns


def stored(store: Store, title: str, issued: date) -> None:
    text = f"{title}. Nothing about minerals here."
    doc = Document(
        source="whitehouse",
        url=f"https://www.whitehouse.gov/notes/{sha256(title)[:8]}",
        title=title,
        text=text,
        raw_hash=sha256(text),
        published=issued,
    )
    store.save_document(doc)


@pytest.fixture
def long_rows(tmp_path: Path, site: SiteServer) -> Path:
    """A database with a long-titled document, a long-titled event and a long source error."""
    db = tmp_path / "t.db"
    page = tmp_path / "long.html"
    page.write_text(
        "<html><body><h1 class='art-title'>商务部公告2026年第9号 关于对镓、锗相关物项实施出口管制的公告"
        f"{'（' + '附件' * 40 + '）'}</h1><div class='art-con'><p>【发布文号】商务部公告2026年第9号</p>"
        "<p>【发文日期】2026年09月01日</p><p>决定对镓、锗相关物项实施出口管制。本公告自公布之日起正式实施。</p>"
        "</div></body></html>",
        "utf-8",
    )
    assert invoke("--db", str(db), "ingest", str(page), "--source", "mofcom").exit_code == 0
    with Store(db) as store:
        stored(store, LONG_TITLE, date(2026, 10, 1))
        run = store.start_run("mofcom", "fetch")
        store.finish_run(run, RunStats(source="mofcom", status="failed", error="HTTP 503 " + "x" * 200))
    return db


EVENT_TITLE = "关于对镓、锗相关物项实施出口管制的公告（" + "附件" * 40 + "）"


def test_piped_tables_are_never_cut(long_rows: Path) -> None:
    """CliRunner's output is not a terminal: as a pipe or a file, every column whole."""
    documents = invoke("--db", str(long_rows), "documents").output
    assert LONG_TITLE in documents and "…" not in documents
    timeline = invoke("--db", str(long_rows), "timeline").output
    assert EVENT_TITLE in timeline
    sources = invoke("--db", str(long_rows), "sources").stdout
    assert "HTTP 503 " + "x" * 200 in sources
    status = invoke("--db", str(long_rows), "status", "--as-of", "2026-10-01").output
    assert "MOFCOM 2026-9" in status and "…" not in status


def test_on_a_terminal_tables_fit_and_wide_shows_every_column_whole(
    monkeypatch: pytest.MonkeyPatch, long_rows: Path
) -> None:
    monkeypatch.setattr(render, "is_terminal", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "100")
    for command in (["documents"], ["timeline"], ["sources"], ["status", "--as-of", "2026-10-01"]):
        fitted = invoke("--db", str(long_rows), *command).stdout
        assert max(render.width(line) for line in fitted.splitlines()) <= 100, command
        assert "…" in fitted, command
        wide = invoke("--db", str(long_rows), *command, "--wide").stdout
        assert "…" not in wide, command
    assert LONG_TITLE in invoke("--db", str(long_rows), "documents", "--wide").output
    assert EVENT_TITLE in invoke("--db", str(long_rows), "timeline", "--wide").output


def test_a_document_line_fits_an_explicit_width() -> None:
    doc = StoredDocument(
        id=7,
        doc_number="MOFCOM 2025-70 (corrigendum)",
        title=LONG_TITLE,
        published="2025-11-07",
        language="en",
        sources=["mofcom"],
        urls=[],
        events=[DocumentEvent("a", "suspension", "CN", ["gallium"])],
    )
    fitted = document_line(doc, 100)
    assert render.width(fitted) == 100 and "MOFCOM 2025-70 (c…" in fitted and fitted.endswith("…")
    whole = document_line(doc, None)
    assert "MOFCOM 2025-70 (corrigendum)" in whole and whole.endswith(LONG_TITLE)
