"""What a new user and a rule maintainer meet first: an install that carries the rules and the
templates, `tracker init`, which rules run, and the demo's links."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result

from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.run import run_demo
from tracker.models import Document
from tracker.rules import default_rules_dir
from tracker.settings import AlertSettings, DigestSettings, FetchSettings, SmtpSettings
from tracker.starter import starter_config
from tracker.store import Store

CHECKOUT = Path(__file__).resolve().parent.parent
RULES = CHECKOUT / "rules"
TEMPLATES = CHECKOUT / "templates"
OFFICIAL_HOSTS = {"www.mofcom.gov.cn", "www.whitehouse.gov", "www.federalregister.gov"}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def shipped_rule_files() -> list[str]:
    return sorted(p.name for p in (*RULES.glob("*.yaml"), RULES / "README.md"))


# --- the wheel -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built with pip from a copy of the checkout's files (the build writes nothing into
    the source tree)."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, src / name)
    for name in ("tracker", "rules", "templates"):
        shutil.copytree(CHECKOUT / name, src / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheels")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    [built] = out.glob("minerals_tracker-*.whl")
    return built


def test_the_wheel_carries_the_rules_the_templates_and_every_module(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = {f"tracker/_rules/{name}" for name in shipped_rule_files()}
    templates = {f"tracker/_templates/{p.name}" for p in TEMPLATES.glob("*.j2")}
    assert len(rules) >= 6 and len(templates) >= 6
    assert rules | templates <= names
    # the same bytes as the checkout's folders, the one copy that is edited
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("tracker/_rules/minerals.yaml") == (RULES / "minerals.yaml").read_bytes()
        assert zf.read("tracker/_templates/digest.html.j2") == (TEMPLATES / "digest.html.j2").read_bytes()
    # every module of the package (pyproject.toml lists the packages: a new one must be added)
    modules = {p.relative_to(CHECKOUT).as_posix() for p in (CHECKOUT / "tracker").rglob("*.py")}
    assert modules - names == set()
    assert {"tracker/defaults.toml", "tracker/py.typed", "tracker/demo/live/mofcom/unit/items.json"} <= names
    # nothing outside the package: no top-level rules/ or templates/ in site-packages
    assert {n.split("/")[0] for n in names} == {"tracker", wheel.name.split("-")[0] + "-0.1.0.dist-info"}


def test_a_wheel_installed_in_a_fresh_venv_runs_from_any_folder(wheel: Path, tmp_path: Path) -> None:
    """The wheel in a new venv (its dependencies lent by this one, read as plain paths), run from a
    folder that is not the checkout: the rules and templates come from inside the package."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "lent-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", "utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "rules").mkdir()  # a stray ./rules is not read
    (elsewhere / "rules" / "minerals.yaml").write_text("minerals: [broken\n", "utf-8")

    def tracker(*args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        return subprocess.run(
            [str(venv / "bin" / "tracker"), *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    where = subprocess.run(
        [str(python), "-c", "import tracker; print(tracker.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)
    checked = tracker("rules", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"{site / 'tracker' / '_rules'}: ") and checked.stdout.rstrip().endswith(
        "OK"
    )
    demo = tracker("demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "== digest preview: minerals-tracker" in demo.stdout
    assert "New export control" in (elsewhere / "tracker-demo.digest.txt").read_text("utf-8")
    assert (elsewhere / "tracker-demo.digest.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    init = tracker("init", "mine")
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in (elsewhere / "mine" / "rules").iterdir()) == shipped_rule_files()
    assert (elsewhere / "mine/rules/us.yaml").read_bytes() == (RULES / "us.yaml").read_bytes()
    own = tracker("--config", "mine/tracker.toml", "rules", "check")
    assert own.returncode == 0 and own.stdout.startswith("mine/rules: "), own.stdout + own.stderr


def test_the_checkout_keeps_one_copy_and_a_source_install_reads_it() -> None:
    # the build maps rules/ and templates/ into the package; no copy of them lives in tracker/
    assert not (CHECKOUT / "tracker" / "_rules").exists()
    assert not (CHECKOUT / "tracker" / "_templates").exists()
    from tracker.templating import default_templates_dir

    # the tests run against the checkout (an editable install, as .ci/run makes): its own folders
    assert not (Path(sys.modules["tracker"].__file__ or "").parent / "_rules").is_dir()
    assert default_rules_dir().resolve() == RULES
    assert default_templates_dir().resolve() == TEMPLATES


# --- tracker init ----------------------------------------------------------------------------------


def test_init_writes_a_config_that_loads_and_a_copy_of_the_rules_that_checks(tmp_path: Path) -> None:
    result = run("init")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "rules").iterdir()) == shipped_rule_files()
    for name in shipped_rule_files():
        assert (tmp_path / "rules" / name).read_bytes() == (RULES / name).read_bytes()
    lines = result.output.splitlines()
    assert lines[:2] == [
        "wrote tracker.toml",
        f"wrote rules/ ({len(shipped_rule_files())} files: {', '.join(shipped_rule_files())})",
    ]
    assert "  tracker check " in result.output and "  tracker fetch " in result.output
    config = load_config(tmp_path / "tracker.toml")
    assert config.rules_dir == tmp_path / "rules"
    defaults = load_config(None, use_user_config=False)
    assert (config.fetch, config.sources, config.smtp, config.recipients) == (
        defaults.fetch,
        defaults.sources,
        defaults.smtp,
        (),
    )
    checked = run("--config", str(tmp_path / "tracker.toml"), "rules", "check")
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith(f"{tmp_path / 'rules'}: ")


def test_init_into_another_folder_names_its_config_in_the_next_commands(tmp_path: Path) -> None:
    result = run("init", "etc/tracker", "--db", "/var/lib/minerals-tracker/tracker.db")
    assert result.exit_code == 0, result.output
    assert "  tracker --config etc/tracker/tracker.toml check " in result.output
    config = load_config(tmp_path / "etc/tracker/tracker.toml")
    assert config.db_path == Path("/var/lib/minerals-tracker/tracker.db")
    assert config.rules_dir == tmp_path / "etc/tracker/rules"
    checked = run("--config", "etc/tracker/tracker.toml", "rules", "check")
    assert checked.exit_code == 0 and checked.output.startswith("etc/tracker/rules: "), checked.output


def test_init_replaces_nothing_without_force(tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    (tmp_path / "tracker.toml").write_text('timezone = "Asia/Tokyo"\n', "utf-8")
    (tmp_path / "rules" / "us.yaml").unlink()
    result = run("init")
    assert result.exit_code == 2
    assert (
        result.output.startswith("error: ") and "tracker.toml" in result.output and "--force" in result.output
    )
    assert len(result.output.strip().splitlines()) == 1
    # nothing written: the edited config stays, the removed file is not put back
    assert (tmp_path / "tracker.toml").read_text("utf-8") == 'timezone = "Asia/Tokyo"\n'
    assert not (tmp_path / "rules" / "us.yaml").exists()


def test_init_force_replaces_its_own_files_and_keeps_the_others(tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    (tmp_path / "tracker.toml").write_text('timezone = "Asia/Tokyo"\n', "utf-8")
    (tmp_path / "rules" / "cn-mofcom.yaml").write_text("rules: []\n", "utf-8")
    (tmp_path / "rules" / "mine.yaml").write_text("rules: []\n", "utf-8")
    result = run("init", "--force")
    assert result.exit_code == 0, result.output
    assert load_config(tmp_path / "tracker.toml").timezone == "UTC"
    assert (tmp_path / "rules" / "cn-mofcom.yaml").read_bytes() == (RULES / "cn-mofcom.yaml").read_bytes()
    assert (tmp_path / "rules" / "mine.yaml").read_text("utf-8") == "rules: []\n"


def test_init_into_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", "utf-8")
    result = run("init", "taken")
    assert result.exit_code == 2 and "taken" in result.output and "Traceback" not in result.output


def test_the_starter_config_shows_every_setting_with_the_default_a_run_uses(tmp_path: Path) -> None:
    text = starter_config()
    for cls, section in (
        (FetchSettings, "fetch"),
        (AlertSettings, "alerts"),
        (DigestSettings, "digest"),
        (SmtpSettings, "smtp"),
    ):
        body = text.split(f"\n[{section}]\n", 1)[1].split("\n\n", 1)[0]
        keys = [line[2:].split(" = ")[0] for line in body.splitlines() if line.startswith("# ")]
        assert keys == [f.name for f in dataclasses.fields(cls)], section
    defaults = load_config(None, use_user_config=False)
    for source in defaults.sources.values():
        assert f"[sources.{source.name}]" in text
        assert all(url in text for url in source.urls)
    assert '# password_env = "TRACKER_SMTP_PASSWORD"' in text
    assert "\n# [[recipients]]\n# email = " in text
    # every commented-out value, switched on, is the default a run uses
    on = tmp_path / "on.toml"
    on.write_text(starter_config(commented=False), "utf-8")
    config = load_config(on)
    for field in ("timezone", "db_path", "fetch", "alerts", "digest", "smtp"):
        assert getattr(config, field) == getattr(defaults, field), field
    assert {n: s for n, s in config.sources.items() if n in defaults.sources} == dict(defaults.sources)
    assert config.sources["ministry"].kind == "html-list"
    assert [r.email for r in config.recipients] == ["analyst@example.org"]


# --- which rules run -------------------------------------------------------------------------------


def broken_rules(folder: Path) -> Path:
    """A copy of the shipped rules with a broken file: `rules check` fails if it reads them."""
    shutil.copytree(RULES, folder)
    (folder / "zz-broken.yaml").write_text("rules:\n  - id: broken\n", "utf-8")
    return folder


def test_a_rules_folder_in_the_working_directory_is_not_read_by_chance(tmp_path: Path) -> None:
    broken_rules(tmp_path / "rules")
    result = run("rules", "check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{default_rules_dir()}: ")


def test_rules_dir_in_the_config_is_read_from_the_config_files_folder(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    shutil.copytree(RULES, tmp_path / "etc" / "my-rules")
    (tmp_path / "etc" / "tracker.toml").write_text('[rules]\ndir = "my-rules"\n', "utf-8")
    broken_rules(tmp_path / "rules")
    result = run("--config", "etc/tracker.toml", "rules", "check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("etc/my-rules: ")


def test_the_rules_option_comes_before_the_config(tmp_path: Path) -> None:
    (tmp_path / "tracker.toml").write_text('[rules]\ndir = "rules"\n', "utf-8")
    shutil.copytree(RULES, tmp_path / "rules")
    broken = broken_rules(tmp_path / "other")
    result = run("--rules", str(broken), "rules", "check")
    assert result.exit_code == 1
    assert "zz-broken.yaml" in result.output
    assert run("rules", "check").output.startswith("rules: ")


def test_the_old_rules_dir_key_still_works_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copytree(RULES, tmp_path / "old-rules")
    (tmp_path / "tracker.toml").write_text('rules_dir = "old-rules"\n', "utf-8")
    with caplog.at_level(logging.WARNING, logger="tracker"):
        config = load_config(tmp_path / "tracker.toml")
    assert config.rules_dir == tmp_path / "old-rules"
    assert any(
        "rules_dir is deprecated" in r.getMessage() and "[rules] dir" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[rules]\ndir = 5\n", "tracker.toml:rules.dir: expected a string, got 5"),
        ('[rules]\ndirs = "r"\n', "tracker.toml:rules.dirs: unknown key (did you mean 'dir'?)"),
        ('rules = "r"\n', "tracker.toml:rules: must be a table"),
        ('[rules]\ndir = ""\n', "tracker.toml:rules.dir: must name a folder"),
        (
            'rules_dir = "a"\n[rules]\ndir = "b"\n',
            "tracker.toml:rules_dir: give the rules folder once, as [rules] dir",
        ),
    ],
)
def test_a_bad_rules_setting_is_one_line_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "tracker.toml").write_text(toml, "utf-8")
    result = run("rules", "check")
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}"), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_templates_come_from_the_package_unless_the_config_names_a_folder(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    for name in ("subject.txt.j2", "digest.txt.j2"):
        (tmp_path / "templates" / name).write_text("STRAY TEMPLATE\n", "utf-8")
    (tmp_path / "mine").mkdir()
    Store(tmp_path / "t.db").close()
    (tmp_path / "mine" / "digest.txt.j2").write_text("MY OWN DIGEST\n", "utf-8")
    plain = run("--db", "t.db", "digest")
    assert plain.exit_code == 0, plain.output
    assert "STRAY TEMPLATE" not in plain.output and "MY OWN DIGEST" not in plain.output
    (tmp_path / "tracker.toml").write_text('[digest]\ntemplates = "mine"\n', "utf-8")
    own = run("--db", "t.db", "digest")
    assert own.exit_code == 0, own.output
    assert "MY OWN DIGEST" in own.output


# --- the demo's links ------------------------------------------------------------------------------


def stored_urls(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        urls = [
            r[0]
            for t in ("documents", "document_urls", "document_versions")
            for r in conn.execute(f"SELECT url FROM {t}")
        ]
        for (meta,) in conn.execute("SELECT meta FROM documents"):
            urls += [v for v in json.loads(meta).values() if isinstance(v, str) and "://" in v]
    finally:
        conn.close()
    return urls


def test_the_demo_database_links_to_the_official_sites(tmp_path: Path) -> None:
    db = tmp_path / "tracker-demo.db"
    result = run_demo(db)
    urls = stored_urls(db)
    hosts = {urlsplit(u).hostname for u in urls}
    assert "127.0.0.1" not in hosts
    assert {"www.mofcom.gov.cn", "www.whitehouse.gov", "www.federalregister.gov"} <= hosts
    assert all(u.startswith("https://") for u in urls if urlsplit(u).hostname in OFFICIAL_HOSTS)
    # the MOFCOM pages keep their paths on the official host
    assert "https://www.mofcom.gov.cn/zwgk/zcfb/art/2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html" in urls
    for path in result.digest_files:
        assert "127.0.0.1" not in path.read_text("utf-8")
    page = tmp_path / "timeline.html"
    shown = run("--db", str(db), "timeline", "--format", "html", "--out", str(page))
    assert shown.exit_code == 0, shown.output
    html = page.read_text("utf-8")
    assert 'href="https://www.mofcom.gov.cn/zwgk/zcfb/art/' in html and "127.0.0.1" not in html


def test_moving_an_origin_leaves_other_ports_and_hosts_alone(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        for url in (
            "http://127.0.0.1:800/a.html",
            "http://127.0.0.1:8000/b.html",
            "https://example.org/c.html",
        ):
            meta = {"raw_text_url": url.replace(".html", ".txt")}
            store.save_document(Document("s", url, f"title of {url}", f"text of {url}", url, meta=meta))
        changed = store.move_origin("http://127.0.0.1:800", "https://www.example.gov")
    urls = stored_urls(tmp_path / "t.db")
    assert {u for u in urls if u.endswith(".html")} == {
        "https://www.example.gov/a.html",
        "http://127.0.0.1:8000/b.html",
        "https://example.org/c.html",
    }
    assert {u for u in urls if u.endswith(".txt")} == {
        "https://www.example.gov/a.txt",
        "http://127.0.0.1:8000/b.txt",
        "https://example.org/c.txt",
    }
    assert changed == 4  # the document, its URL, its first version, its metadata


def test_git_ignores_what_the_demo_writes() -> None:
    names = ["tracker-demo.db", "tracker-demo.db-wal", "tracker-demo.digest.txt", "tracker-demo.digest.html"]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=CHECKOUT, capture_output=True, text=True
    )
    assert result.stdout.split() == names
