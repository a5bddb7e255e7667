"""The `tracker` command driven through click's runner: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from tracker.cli import cli
from tracker.demo.server import SiteServer, site_root

LIST = "/mofcom/zwgk/zcfb/index.html"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_config(tmp_path: Path, body: str) -> Path:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(
        "[fetch]\nhost_delay = 0.0\nretries = 0\ntimeout = 5.0\n"
        "[sources.whitehouse]\nenabled = false\n[sources.federalregister]\nenabled = false\n"
        "[sources.usgs]\nenabled = false\n" + body,
        "utf-8",
    )
    return cfg


def test_fetch_prints_a_line_per_source_and_exits_1_when_one_failed(site: SiteServer, tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        f'[sources.mofcom]\nurl = "{site.base_url}{LIST}"\n'
        f'[sources.gone]\nkind = "rss"\nurl = "{site.base_url}/missing.xml"\n',
    )
    result = run("--config", str(cfg), "--db", str(tmp_path / "t.db"), "fetch")
    assert result.exit_code == 1
    lines = dict(line.split(None, 1) for line in result.output.strip().splitlines())
    assert lines["mofcom"].startswith("ok") and "8 new" in lines["mofcom"]
    assert lines["gone"].startswith("FAILED") and "HTTP 404" in lines["gone"]
    again = run("--config", str(cfg), "--db", str(tmp_path / "t.db"), "fetch", "--source", "mofcom")
    assert again.exit_code == 0
    assert "not modified" in again.output


def test_tracker_toml_in_the_working_directory_is_read(site: SiteServer, tmp_path: Path) -> None:
    write_config(tmp_path, f'[database]\npath = "here.db"\n[sources.mofcom]\nurl = "{site.base_url}{LIST}"\n')
    result = run("fetch")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "here.db").exists()


def test_config_from_environment_variable(site: SiteServer, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config(
        tmp_path / "elsewhere" if (tmp_path / "elsewhere").mkdir() is None else tmp_path,
        f'[sources.mofcom]\nurl = "{site.base_url}{LIST}"\n',
    )
    monkeypatch.setenv("TRACKER_CONFIG", str(cfg))
    result = run("--db", str(tmp_path / "env.db"), "sources", "--json")
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["mofcom"]["urls"] == [f"{site.base_url}{LIST}"]


def test_sources_json_reports_health(site: SiteServer, tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        f'[sources.mofcom]\nurl = "{site.base_url}{LIST}"\n'
        f'[sources.gone]\nkind = "rss"\nurl = "{site.base_url}/missing.xml"\n',
    )
    db = str(tmp_path / "t.db")
    run("--config", str(cfg), "--db", db, "fetch")
    run("--config", str(cfg), "--db", db, "fetch")
    result = run("--config", str(cfg), "--db", db, "sources", "--json")
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["mofcom"]["last_success"] and rows["mofcom"]["consecutive_failures"] == 0
    assert rows["mofcom"]["documents"] == 8
    assert rows["mofcom"]["items_seen"] == 8  # the 304 re-run keeps the last real count
    assert rows["gone"]["last_success"] is None
    assert rows["gone"]["consecutive_failures"] == 2
    assert "HTTP 404" in rows["gone"]["last_error"]
    assert rows["whitehouse"]["enabled"] is False
    table = run("--config", str(cfg), "--db", db, "sources")
    assert "failing" in table.output and "disabled" in table.output


def test_sources_kinds_lists_every_kind_with_settings() -> None:
    result = run("sources", "--kinds")
    for kind in ("mofcom", "wordpress-rss", "rss", "federalregister", "usgs-list", "html-list"):
        assert f"\n{kind}\n" in "\n" + result.output
    assert "item_selector" in result.output and "page_param" in result.output


def test_ingest_stores_local_files_through_the_parser(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "")
    db = str(tmp_path / "t.db")
    art = site_root() / "mofcom/zwgk/zcfb/art/2025/art_225cdea2e0df055cbf1899687ca2ed06.html"
    gbk = site_root() / "mofcom/article/zcfb/zcblgg/202408/20240815666047.shtml"
    result = run("--config", str(cfg), "--db", db, "ingest", str(art), str(gbk), "--source", "mofcom")
    assert result.exit_code == 0, result.output
    assert "MOFCOM 2025-18" in result.output and "MOFCOM 2024-33" in result.output
    # each line starts with its outcome; the file names at their ends may hold any word ("new" too)
    assert [line.split()[0] for line in result.output.splitlines()] == ["new", "new"]
    again = run(
        "--config",
        str(cfg),
        "--db",
        db,
        "ingest",
        str(art),
        "--source",
        "mofcom",
        "--url",
        "https://www.mofcom.gov.cn/zwgk/zcfb/art/2025/art_225cdea2e0df055cbf1899687ca2ed06.html",  # a url as data
    )
    assert again.output.startswith("merged")  # same number, another URL: still one document
    feed = site_root() / "whitehouse/briefings-statements/feed/index.xml"
    fr = run("--config", str(cfg), "--db", db, "ingest", str(feed), "--source", "whitehouse")
    assert fr.exit_code == 0 and [line.split()[0] for line in fr.output.splitlines()] == ["new", "new"]


def test_ingest_of_a_list_page_is_a_clear_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "")
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(cfg),
            "--db",
            str(tmp_path / "t.db"),
            "ingest",
            str(site_root() / "mofcom/zwgk/zcfb/index.html"),
            "--source",
            "mofcom",
        ],
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "list pages cannot be ingested" in result.output
    assert "Traceback" not in result.output


def test_user_errors_are_one_line_naming_file_and_key(tmp_path: Path) -> None:
    cases = [
        (
            '[sources.mofcom]\nintervall = "1h"\n',
            "sources.mofcom.intervall: unknown key for kind 'mofcom' (did you mean 'interval'?)",
        ),
        ('[sources.mofcom]\ninterval = "often"\n', "sources.mofcom.interval: expected a duration"),
        ('[sources.mofcom]\nenabled = "yes"\n', "sources.mofcom.enabled: expected true or false"),
        (
            '[sources.x]\nkind = "rsss"\nurl = "http://127.0.0.1/"\n',
            "sources.x.kind: unknown source kind 'rsss' (did you mean 'rss'?)",
        ),
        ('[sources.x]\nkind = "rss"\n', "sources.x: missing key 'url' (or 'urls')"),
        ('[sources.x]\nkind = "rss"\nurl = "ftp://127.0.0.1/"\n', "sources.x.url: not an http(s) URL"),
        (
            '[sources.x]\nkind = "html-list"\nurl = "http://127.0.0.1/"\n',
            "sources.x.item: kind 'html-list' needs an 'item'",
        ),
        (
            '[sources.x]\nkind = "html-list"\nurl = "http://127.0.0.1/"\nitem = "li[["\n',
            "sources.x.item: invalid CSS selector",
        ),
        ("[fetch]\ntimeout = -1\n", "fetch.timeout: must be a finite number above 0 and at most 3,600"),
        ("[fetch]\nretry = 3\n", "fetch.retry: unknown key (did you mean 'retries'?)"),
        ('timezone = "Mars/Olympus"\n', "timezone: unknown time zone"),
        ("fetch = 0\n", "fetch: must be a table: [fetch] with its keys below it"),
        ("database = 5\n", "database: must be a table: [database]"),
        ('digest = "x"\n', "digest: must be a table: [digest]"),
        ("smtp = 3\n", "smtp: must be a table: [smtp]"),
        ("alerts = []\n", "alerts: must be a table: [alerts]"),
        ("[sources.mofcom\n", "invalid TOML"),
    ]
    for body, expected in cases:
        cfg = tmp_path / "bad.toml"
        cfg.write_text(body, "utf-8")
        result = CliRunner().invoke(cli, ["--config", str(cfg), "sources"])
        assert result.exit_code == 2, body
        assert result.output.count("\n") == 1, result.output
        assert result.output.startswith(f"error: {cfg}:"), result.output
        assert expected in result.output, (body, result.output)


def test_unknown_source_and_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fetch", "--source", "mofcon"])
    assert result.exit_code == 2
    assert "unknown source 'mofcon' (did you mean 'mofcom'?)" in result.output
    missing = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.toml"), "sources"])
    assert missing.exit_code == 2 and "nope.toml: config file not found" in missing.output
    unreadable = CliRunner().invoke(cli, ["ingest", str(tmp_path / "nothing.html"), "--source", "mofcom"])
    assert unreadable.exit_code == 2 and "cannot read" in unreadable.output


def test_demo_runs_offline_end_to_end(tmp_path: Path) -> None:
    import json
    import re

    from tracker.demo.standins import live_root

    db = tmp_path / "demo.db"
    result = run("demo", "--db", str(db))
    assert result.exit_code == 0, result.output
    out = result.output
    listed = len(json.loads((live_root() / "mofcom/unit/items.json").read_text("utf-8")))
    # the MOFCOM CMS list, both pages; the refused full text noted, then read on the second round
    assert f"mofcom           ok      {listed} items, {listed} new" in out
    assert "1 full text refused by the server" in out
    assert "federalregister  ok      not modified, 1 updated" in out
    # the USGS search holds the 2022 final list, then the 2025 draft and final lists too
    assert "usgs             ok      1 item, 1 new" in out
    assert "usgs             ok      3 items, 2 new" in out
    assert "list version #1 of usgs, published 2022-02-24: 50 entries (it states 50)" in out
    assert "list version #2 of usgs, published 2025-11-07: 60 entries (it states 60)" in out
    lines = out.splitlines()
    header = next(x for x in lines if re.match(r"== \d+ events", x))
    events = lines[lines.index(header) + 1 :][: int(header.split()[1])]
    assert any("list_addition" in x and "FR 2025-19813" in x and "boron, copper" in x for x in events)
    assert any(
        "suspension" in x and "MOFCOM 2025-70" in x and "from 2025-11-07 to 2026-11-10" in x for x in events
    )
    assert any("agreement" in x and "Japan" in x for x in events)
    assert any("executive_action" in x and "EO 14241" in x and x.startswith("2025-03-20") for x in events)
    assert "== controls in force on " in out
    assert any(x.startswith("CN  MOFCOM 2023-23  active") and "gallium, germanium" in x for x in lines)
    # run twice: the demo database is replaced, not appended to
    documents = next(x for x in lines if re.match(r"== \d+ documents", x)).split(" in ")[0]
    again = run("demo", "--db", str(db))
    assert documents in again.output and header in again.output


def test_backfill_shows_progress_per_page_and_a_summary(site: SiteServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f'[sources.mofcom]\nurl = "{site.base_url}{LIST}"\nmax_pages = 1\n')
    db = str(tmp_path / "t.db")
    first = run("--config", str(cfg), "--db", db, "fetch")
    assert "5 new" in first.stdout
    result = run("--config", str(cfg), "--db", db, "backfill", "--source", "mofcom")
    assert result.exit_code == 0
    assert "mofcom: page 1" in result.stderr and "mofcom: page 2" in result.stderr
    assert result.stdout.startswith("mofcom") and "3 new" in result.stdout
    bad = CliRunner().invoke(
        cli, ["--config", str(cfg), "backfill", "--source", "mofcom", "--until", "last year"]
    )
    assert bad.exit_code == 2
    assert bad.output == (
        "error: --until: 'last year' is not a date: "
        "use YYYY, YYYY-MM, YYYY-MM-DD, or a span back from today such as 30d, 6w, 3m, 1y\n"
    )
