"""Hostile stored data and a hostile environment: every output escapes for its own syntax, and
every problem with the database file is one line with a hint and exit status 2.

The hostile rows are written with sqlite3 over events the real rules made, as a database of an
older version (whose ingest did not clean titles and URLs) would hold them: what is tested here is
the second line of defence, at render time, whatever ingest does today."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from click.testing import CliRunner, Result

from tracker.cli import cli
from tracker.demo.server import SiteServer, site_root
from tracker.errors import StoreError
from tracker.events import Classifier
from tracker.models import Document, sha256
from tracker.rulefile import load_rules
from tracker.rules import default_rules_dir
from tracker.store import Store

FEED = site_root() / "whitehouse/briefings-statements/feed/index.xml"
DAY = date.today() - timedelta(days=1)  # recent: its alerts are news, not suppressed history
# what a terminal acts on: C0 controls but tab and newline, DEL, C1 controls
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Hostile:
    key: str
    title: str
    url: str


GOOD_URL = "https://www.mofcom.gov.cn/zwgk/zcfb/art/{n}.html"
FORGED = "https://x/\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:forged"
HOSTILE = [
    Hostile("crlf", "Gallium\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:forged title", FORGED),
    Hostile("js", "<script>alert(1)</script> | [click](javascript:alert(2)) `x` *y*", "javascript:alert(3)"),
    Hostile("hyperlink", '=HYPERLINK("http://evil","x")', GOOD_URL),
    Hostile("plus", "+1+cmd|' /C calc'!A0", GOOD_URL),
    Hostile("minus", "-2+3", GOOD_URL),
    Hostile("at", "@SUM(1+1)*cmd|' /C calc'!A0", GOOD_URL),
    Hostile("tab", "\t=1+1", GOOD_URL),
    Hostile("cr", "\r=1+1", GOOD_URL),
    Hostile("terminal", "\x1b]0;owned\x07\x1b[2J\x9b31m\x00red\x7f end", GOOD_URL + "\x1b[0m"),
    Hostile("xml", "bad \x00\x01\x0b\ufffe\uffff chars & <b>bold</b>", GOOD_URL),
    Hostile("plain", "商务部公告 关于对镓相关物项实施出口管制的公告", GOOD_URL),
]


@dataclass
class HostileDb:
    path: Path
    ids: dict[str, str]  # key -> event id

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", str(self.path), *args], catch_exceptions=False)


def store_announcements(db: Path, count: int, day: date = DAY) -> list[tuple[int, str]]:
    """`count` MOFCOM announcements saved and classified with the real rules: (document, event)."""
    classifier = Classifier(load_rules(default_rules_dir()))
    made = []
    with Store(db) as store:
        for n in range(1, count + 1):
            number = f"商务部公告{day.year}年第{900 + n}号"
            text = f"【发布文号】{number}\n决定对镓相关物项实施出口管制。本公告自公布之日起正式实施。"
            doc = Document(
                source="mofcom",
                url=GOOD_URL.format(n=n),
                title=f"{number} 关于对镓相关物项实施出口管制的公告",
                text=text,
                raw_hash=sha256(text),
                published=day,
                language="zh",
                doc_number=f"MOFCOM {day.year}-{900 + n}",
                source_kind="mofcom",
            )
            _, doc_id = store.save_document(doc)
            classifier(store, doc_id)
            [event_id] = [
                r[0]
                for r in store.db.execute("SELECT event_id FROM event_drafts WHERE document_id = ?", [doc_id])
            ]
            made.append((doc_id, event_id))
    return made


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> HostileDb:
    db = tmp_path_factory.mktemp("hostile") / "tracker.db"
    made = store_announcements(db, len(HOSTILE))
    conn = sqlite3.connect(db)
    with conn:
        for (doc_id, event_id), h in zip(made, HOSTILE, strict=True):
            url = h.url.format(n=doc_id)
            conn.execute(
                "UPDATE events SET title = ?, trigger = ? WHERE id = ?", [h.title, h.title, event_id]
            )
            conn.execute("UPDATE documents SET title = ?, url = ? WHERE id = ?", [h.title, url, doc_id])
            conn.execute("UPDATE document_urls SET url = ? WHERE document_id = ?", [url, doc_id])
    conn.close()
    return HostileDb(db, {h.key: event_id for (_, event_id), h in zip(made, HOSTILE, strict=True)})


def by_key(hostile: HostileDb, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = {v: k for k, v in hostile.ids.items()}
    return {keys[r["id"]]: r for r in rows}


# --- iCalendar ---------------------------------------------------------------------------------


def test_ics_escapes_every_value_so_a_crlf_forges_no_event_and_no_javascript_url(hostile: HostileDb) -> None:
    text = hostile.run("timeline", "--format", "ics").stdout_bytes.decode("utf-8")
    cal = icalendar.Calendar.from_ical(text)
    events = cal.walk("VEVENT")
    assert sorted(str(e["UID"]) for e in events) == sorted(
        f"{i}-effective@minerals-tracker" for i in hostile.ids.values()
    ), "exactly one VEVENT per event"
    lines = text.replace("\r\n ", "").split("\r\n")
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == len(HOSTILE)
    assert not any("forged" in str(e["SUMMARY"]) for e in events)
    urls = {str(e["UID"]).split("-")[0]: str(e.get("URL", "")) for e in events}
    assert urls[hostile.ids["crlf"]] == "" and urls[hostile.ids["js"]] == ""
    assert not any("javascript" in u.lower() for u in urls.values())
    assert urls[hostile.ids["plain"]].startswith("https://www.mofcom.gov.cn/")
    crlf = next(e for e in events if str(e["UID"]).startswith(hostile.ids["crlf"]))
    # escaped, not lost: the title comes back whole, its line breaks as text
    assert str(crlf["DESCRIPTION"]) == "Gallium\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:forged title — gallium"
    unfolded = text.replace("\r\n ", "")
    assert "\r" not in unfolded.replace("\r\n", "") and "\n" not in unfolded.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n")), "folded at 75 octets"
    assert not RAW_CONTROL.search(text.replace("\r\n", ""))


# --- Markdown ----------------------------------------------------------------------------------

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
LINK = re.compile(r"(?<!\\)\]\(([^)]*)\)")


def test_markdown_escapes_every_cell_and_links_only_to_http_urls(hostile: HostileDb) -> None:
    md = hostile.run("timeline", "--format", "md").output
    lines = md.splitlines()
    assert len(lines) == 2 + len(HOSTILE), "no title breaks its row"
    assert all(len(UNESCAPED_PIPE.findall(line)) == 8 for line in lines), "7 cells in every row"
    assert "<script>" not in md and "<b>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "\\[click\\](javascript:alert(2))" in md, "a link written in a title is text"
    targets = LINK.findall(md)
    assert targets and all(t.startswith("https://www.mofcom.gov.cn/") for t in targets)
    assert "javascript:alert(3)" not in md
    js_row = next(line for line in lines if "alert(1)" in line)
    assert not LINK.search(js_row), "a javascript: URL is never a link"
    plain = next(line for line in lines if "商务部公告" in line)
    assert LINK.search(plain), "an https URL is"
    assert not RAW_CONTROL.search(md)


def test_status_markdown_escapes_its_cells(hostile: HostileDb) -> None:
    conn = sqlite3.connect(hostile.path)
    with conn:  # a measure name as an older version could have stored it
        conn.execute("UPDATE measure_states SET measure = 'MOFCOM <i>x</i> | y'")
    conn.close()
    md = hostile.run("status", "--as-of", DAY.isoformat(), "--format", "md").output.splitlines()
    assert len(md) > 2 and all(len(UNESCAPED_PIPE.findall(line)) == 7 for line in md)
    assert any("MOFCOM &lt;i&gt;x&lt;/i&gt; \\| y" in line for line in md)


# --- CSV ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def csv_rows(hostile: HostileDb) -> dict[str, dict[str, str]]:
    out = hostile.run("timeline", "--format", "csv").stdout_bytes.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert len(rows) == len(HOSTILE)
    return by_key(hostile, rows)


@pytest.mark.parametrize(
    ("key", "cell"),
    [
        ("hyperlink", '\'=HYPERLINK("http://evil","x")'),
        ("plus", "'+1+cmd|' /C calc'!A0"),
        ("minus", "'-2+3"),
        ("at", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("tab", "'\t=1+1"),
        ("cr", "'\n=1+1"),  # a line break in a cell is written as \n
        ("plain", "商务部公告 关于对镓相关物项实施出口管制的公告"),
        ("js", "<script>alert(1)</script> | [click](javascript:alert(2)) `x` *y*"),
    ],
)
def test_csv_cells_a_spreadsheet_would_run_get_a_leading_quote(
    csv_rows: dict[str, dict[str, str]], key: str, cell: str
) -> None:
    assert csv_rows[key]["title"] == cell
    assert csv_rows[key]["trigger"] == cell


def test_csv_leaves_dates_numbers_and_ids_as_they_are(
    hostile: HostileDb, csv_rows: dict[str, dict[str, str]]
) -> None:
    row = csv_rows["hyperlink"]
    assert row["announced"] == row["effective"] == DAY.isoformat()
    assert row["doc_number"].startswith(f"MOFCOM {DAY.year}-9")
    assert row["id"] == hostile.ids["hyperlink"] and row["minerals"] == "gallium"
    assert row["urls"].startswith("https://www.mofcom.gov.cn/")


# --- terminal ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("timeline",),
        ("timeline", "--search", "镓"),
        ("show", "{terminal}"),
        ("show", "{crlf}"),
        ("documents",),
        ("documents", "--text"),
        ("alerts",),
        ("digest",),
    ],
)
def test_no_stored_control_character_reaches_the_terminal(hostile: HostileDb, args: tuple[str, ...]) -> None:
    result = hostile.run(*(a.format(**hostile.ids) for a in args))
    assert result.exit_code == 0, result.output
    assert not RAW_CONTROL.search(result.output), repr(RAW_CONTROL.findall(result.output))
    if args[0] in ("timeline", "documents") or args[1:] == ("{terminal}",):
        assert "]0;owned" in result.output, "the text around a control character is kept"


@pytest.mark.parametrize("args", [("timeline", "--format", "json"), ("show", "{terminal}", "--json")])
def test_json_escapes_c1_controls_and_keeps_every_value(hostile: HostileDb, args: tuple[str, ...]) -> None:
    out = hostile.run(*(a.format(**hostile.ids) for a in args)).output
    assert not RAW_CONTROL.search(out)
    data = json.loads(out)
    titles = [r["title"] for r in data] if isinstance(data, list) else [data["title"]]
    assert "\x1b]0;owned\x07\x1b[2J\x9b31m\x00red\x7f end" in titles, "JSON loses nothing"


def test_an_error_line_carries_no_control_character(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "\x1b]0;owned\x07" / "t.db"), "timeline"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "does not exist" in result.output
    assert not RAW_CONTROL.search(result.output)


# --- XML and HTML ------------------------------------------------------------------------------


def test_the_atom_feed_parses_whatever_the_titles_hold(hostile: HostileDb, tmp_path: Path) -> None:
    out = tmp_path / "alerts.xml"
    assert hostile.run("feed", "--out", str(out)).exit_code == 0
    text = out.read_text("utf-8")
    assert not NOT_XML.search(text)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [t.text or "" for t in ET.fromstring(text).iterfind("a:entry/a:title", ns)]
    assert any(t.endswith("<script>alert(1)</script> | [click](javascript:alert(2)) `x` *y*") for t in titles)
    assert any(t.endswith("bad  chars & <b>bold</b>") for t in titles), "only what XML forbids is gone"
    links = [link.get("href", "") for link in ET.fromstring(text).iterfind("a:entry/a:link", ns)]
    assert links and all(h.startswith("https://") for h in links)


def test_the_html_timeline_autoescapes_and_links_no_javascript(hostile: HostileDb, tmp_path: Path) -> None:
    out = tmp_path / "timeline.html"
    assert hostile.run("timeline", "--format", "html", "--out", str(out)).exit_code == 0
    page = out.read_text("utf-8")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bold" not in page
    assert not re.search(r"href\s*=\s*[\"']?\s*javascript", page, re.I)
    assert not NOT_XML.search(page)


def test_the_html_digest_autoescapes(hostile: HostileDb, tmp_path: Path) -> None:
    out = tmp_path / "digest.html"
    result = hostile.run("digest", "--since", DAY.isoformat(), "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text("utf-8")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"href\s*=\s*[\"']?\s*javascript", page, re.I)
    assert not NOT_XML.search(page)


# --- the database file -------------------------------------------------------------------------


def one_error_line(output: str, expected: str) -> None:
    assert output.count("\n") == 1, output
    assert output.startswith("error: ") and expected in output, output
    assert "Traceback" not in output and "internal error" not in output


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_config(folder: Path, mofcom: str = "http://127.0.0.1:9/") -> Path:
    """A config whose sources are all on 127.0.0.1 (a closed port unless `mofcom` is given)."""
    cfg = folder / "tracker.toml"
    cfg.write_text(
        "[fetch]\nretries = 0\ntimeout = 5.0\nhost_delay = 0.0\n"
        + f'[sources.mofcom]\nurl = "{mofcom}"\n'
        + "".join(f"[sources.{s}]\nenabled = false\n" for s in ("whitehouse", "federalregister", "usgs")),
        "utf-8",
    )
    return cfg


def tracker(tmp_path: Path, db: Path, *args: str) -> Result:
    cfg = tmp_path / "tracker.toml"
    if not cfg.exists():
        write_config(tmp_path)
    return CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), *args])


COMMANDS = [
    ("timeline",),
    ("status",),
    ("show", "abcdef12"),
    ("documents",),
    ("alerts",),
    ("digest",),
    ("feed", "--out", "feed.xml"),
    ("ingest", str(FEED), "--source", "whitehouse"),
    ("fetch", "--source", "mofcom"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_a_0_byte_file_is_refused_never_taken_for_an_empty_tracker(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    db = tmp_path / "tracker.db"
    db.touch()
    result = tracker(tmp_path, db, *args)
    assert result.exit_code == 2
    one_error_line(result.output, f"{db}: the file is empty (0 bytes), not a tracker database")
    assert "delete it or use --db" in result.output
    assert db.stat().st_size == 0, "nothing was written into it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracker.db", "tracker.toml"]


def garbage(path: Path) -> None:
    path.write_bytes(b"this is no database\n" + bytes(range(256)) * 64)


def another_programs_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (garbage, "not a tracker database or corrupt (file is not a database): restore it from a backup"),
        (another_programs_database, "not a tracker database (a SQLite database of another program"),
    ],
    ids=["garbage", "foreign"],
)
@pytest.mark.parametrize(
    "args", [("timeline",), ("ingest", str(FEED), "--source", "whitehouse")], ids=lambda a: a[0]
)
def test_a_file_that_is_no_tracker_database_is_refused_and_left_untouched(
    tmp_path: Path, make: Callable[[Path], None], expected: str, args: tuple[str, ...]
) -> None:
    db = tmp_path / "tracker.db"
    make(db)
    before = sha(db)
    result = tracker(tmp_path, db, *args)
    assert result.exit_code == 2
    one_error_line(result.output, f"{db}: {expected}")
    assert sha(db) == before


def test_corruption_found_by_a_query_is_one_line_with_a_hint(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    marker = b"ZQXJ" * 2000
    store_announcements(db, 3)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE documents SET text = ? WHERE id = 2", [marker.decode()])
    conn.close()
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")  # the page size, from the file's header
    hit = [p for p in range(1, len(data) // page) if marker[:64] in data[p * page : (p + 1) * page]]
    assert hit, "the text is in the file"
    for p in hit:  # only the pages of that text: the schema and the other tables are intact
        data[p * page : (p + 1) * page] = b"\xff" * page
    db.write_bytes(bytes(data))
    assert tracker(tmp_path, db, "timeline").exit_code == 0, "opening still works"
    result = tracker(tmp_path, db, "documents", "--text")
    assert result.exit_code == 2
    one_error_line(
        result.output, f"{db}: not a tracker database or corrupt (database disk image is malformed)"
    )


def test_a_folder_is_no_database_file(tmp_path: Path) -> None:
    result = tracker(tmp_path, tmp_path, "timeline")
    assert result.exit_code == 2
    one_error_line(result.output, f"{tmp_path}: is a folder, not a database file")


def test_a_new_database_appears_whole_even_when_opened_side_by_side(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_it() -> None:
        start.wait()
        try:
            with Store(db) as store:
                store.db.execute("SELECT count(*) FROM documents").fetchone()
        except BaseException as exc:  # reported below, from the main thread
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir() if p.name != "new.db"] == [], "no temporary file is left"


# --- read-only files and folders (the tracker in a process without the right to write) --------


def unprivileged() -> list[str]:
    """The prefix that runs a command without the power to ignore file permissions: nothing for
    a normal user; for root, setpriv dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root: these tests need setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


def tracker_process(tmp_path: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = write_config(tmp_path)
    return subprocess.run(
        [*unprivileged(), sys.executable, "-m", "tracker", "--config", str(cfg), "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Callable[[Path, int], None]]:
    changed: list[tuple[Path, int]] = []

    def chmod(path: Path, mode: int) -> None:
        changed.append((path, path.stat().st_mode))
        path.chmod(mode)

    yield chmod
    for path, mode in reversed(changed):  # so that the temp folder can be removed
        path.chmod(mode)


INGEST = ("ingest", str(FEED), "--source", "whitehouse")


@pytest.mark.parametrize(
    ("what", "args", "expected"),
    [
        ("file", ("timeline",), None),
        ("file", INGEST, "tracker.db: the database is read-only: check the permissions of the file"),
        ("file", ("fetch", "--source", "mofcom"), "tracker.db: the database is read-only"),
        ("folder", ("timeline",), "tracker.db: its folder is read-only: SQLite writes -wal and -shm"),
        ("new", INGEST, "new.db: cannot create the database: Permission denied"),  # a reader creates none
    ],
    ids=["file-read", "file-ingest", "file-fetch", "folder", "new-in-folder"],
)
def test_a_read_only_database_is_read_and_refuses_writes_with_a_hint(
    tmp_path: Path,
    read_only: Callable[[Path, int], None],
    what: str,
    args: tuple[str, ...],
    expected: str | None,
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "tracker.db"
    store_announcements(db, 2)
    before = sha(db)
    if what == "file":
        read_only(db, 0o444)
    else:
        read_only(folder, 0o555)
    proc = tracker_process(tmp_path, folder / "new.db" if what == "new" else db, *args)
    if expected is None:
        assert proc.returncode == 0, proc.stderr
        assert "MOFCOM" in proc.stdout and proc.stderr == ""
    else:
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        one_error_line(proc.stderr, expected)
    assert sha(db) == before
    assert not (folder / "new.db").exists()


# --- a full disk (SQLite's max_page_count stands in for a small file system) --------------------


def big_document(n: int) -> Document:
    text = f"【发布文号】商务部公告{DAY.year}年第{800 + n}号\n" + "决定对镓相关物项实施出口管制。" * 4000
    return Document(
        source="mofcom",
        url=f"https://www.mofcom.gov.cn/zwgk/zcfb/art/big{n}.html",
        title=f"商务部公告{DAY.year}年第{800 + n}号",
        text=text,
        raw_hash=sha256(text),
        published=DAY,
        language="zh",
        doc_number=f"MOFCOM {DAY.year}-{800 + n}",
    )


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = ("documents", "document_versions", "document_urls", "document_keys", "documents_fts")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_a_full_disk_fails_the_write_with_a_hint_and_keeps_none_of_it(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    with Store(db) as store:
        store.save_document(big_document(1))
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        before = counts(store.db.conn)
        with pytest.raises(StoreError, match=r"tracker\.db: disk full: free space on its disk") as info:
            store.save_document(big_document(2))
        assert "\n" not in str(info.value)
        assert counts(store.db.conn) == before, "nothing of the failed document is stored"
        store.db.execute("PRAGMA max_page_count = 1073741823")  # space was freed
        assert store.save_document(big_document(2))[0] == "new", "the connection is usable again"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


@pytest.fixture
def small_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, int], None]:
    """Every SQLite connection opened from now on may grow `db` by `pages` pages only."""

    def limit(db: Path, pages: int) -> None:
        probe = sqlite3.connect(db)
        probe.execute("VACUUM")  # no free page left: a new row needs a new page
        ceiling = probe.execute("PRAGMA page_count").fetchone()[0] + pages
        probe.close()
        connect = sqlite3.connect

        def limited(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = connect(*args, **kwargs)
            conn.execute(f"PRAGMA max_page_count = {ceiling}")
            return conn

        monkeypatch.setattr(sqlite3, "connect", limited)

    return limit


def test_a_full_disk_during_ingest_is_one_line_and_exit_2(
    tmp_path: Path, small_disk: Callable[[Path, int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "tracker.db"
    page = tmp_path / "announcement.html"
    body = "决定对镓相关物项实施出口管制。" * 3000  # more than the free room of any page
    page.write_text(
        "<html><body><h1 class='art-title'>商务部公告2025年第907号 关于对镓相关物项实施出口管制的公告</h1>"
        f"<div class='art-con'><p>【发布文号】商务部公告2025年第907号</p><p>【发文日期】2025年03月01日</p><p>{body}</p></div>"
        "</body></html>",
        "utf-8",
    )
    Store(db).close()
    small_disk(db, 0)
    result = tracker(tmp_path, db, "ingest", str(page), "--source", "mofcom")
    assert result.exit_code == 2
    one_error_line(result.output, f"{db}: disk full: free space on its disk, then run the command again")
    monkeypatch.undo()
    conn = sqlite3.connect(db)
    assert counts(conn)["documents"] == 0 and conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def whole_and_classified(conn: sqlite3.Connection) -> dict[str, int]:
    """Counts of a consistent database: every document kept has its version, URL and full-text row,
    and its events or a note that its classification is still to come."""
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = counts(conn)
    assert stored["document_versions"] == stored["document_urls"] == stored["documents_fts"]
    assert stored["documents"] == stored["documents_fts"]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    later = "SELECT document_id FROM unclassified" if "unclassified" in tables else "SELECT NULL"
    missing = conn.execute(
        "SELECT count(*) FROM documents d WHERE NOT EXISTS "
        f"(SELECT 1 FROM event_drafts x WHERE x.document_id = d.id) AND d.id NOT IN ({later})"
    ).fetchone()[0]
    assert missing == 0, "a stored document is neither classified nor marked for classification"
    return stored


def test_a_disk_full_in_the_middle_of_a_fetch_fails_it_with_the_hint_and_loses_nothing(
    site: SiteServer,
    tmp_path: Path,
    db_path: Path,
    small_disk: Callable[[Path, int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = write_config(tmp_path, f"{site.base_url}/mofcom/zwgk/zcfb/index.html")
    args = ["--config", str(cfg), "--db", str(db_path), "fetch", "--source", "mofcom"]
    Store(db_path).close()
    small_disk(db_path, 12)  # room for a few of the eight announcements
    result = CliRunner().invoke(cli, args)
    monkeypatch.undo()
    assert result.exit_code != 0
    assert "disk full: free space on its disk" in result.output, result.output
    assert "Traceback" not in result.output
    conn = sqlite3.connect(db_path)
    assert 0 < whole_and_classified(conn)["documents"] < 8, "it failed in the middle"
    conn.close()
    again = CliRunner().invoke(cli, args)  # once space is freed
    assert again.exit_code == 0, again.output
    conn = sqlite3.connect(db_path)
    assert whole_and_classified(conn)["documents"] == 8
    assert conn.execute("SELECT count(*) FROM unclassified").fetchone()[0] == 0
    conn.close()
