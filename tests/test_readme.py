"""Every example the README documents is run here, so the README stays true."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

from click.testing import CliRunner

from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.server import SiteServer, site_root

README = Path(__file__).parent.parent / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text("utf-8"), re.S)


def test_the_configuration_example_is_valid(tmp_path: Path) -> None:
    example, notify = _blocks("toml")
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(example, "utf-8")
    config = load_config(cfg)
    assert config.timezone == "Asia/Shanghai"
    assert config.sources["whitehouse"].enabled is False
    ministry = config.sources["ministry"]
    assert ministry.kind == "html-list" and ministry.settings.item == "ul.notices li"
    assert config.sources["mofcom"].interval == 6 * 3600
    assert config.fetch.user_agent.startswith("minerals-tracker/0.")
    cfg.write_text(notify, "utf-8")
    config = load_config(cfg)
    assert (config.smtp.security, config.smtp.port, config.digest.time) == ("starttls", 587, "07:30")
    assert [r.email for r in config.recipients] == ["analyst@example.org", "ops@example.org"]
    assert config.recipients[0].minerals == ("稀土", "gallium")


def test_the_cli_examples_run(tmp_path: Path) -> None:
    examples = [line for block in _blocks("sh") for line in block.splitlines() if line.startswith("tracker ")]
    assert len(examples) == 22
    saved = tmp_path / "saved"
    saved.mkdir()
    shutil.copy(
        site_root() / "mofcom/zwgk/zcfb/art/2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html",
        saved / "2025-70.html",
    )
    with SiteServer(site_root()) as site:
        site.aliases["/usgs/list.html"] = site_root() / "usgs/2022/critical-minerals-list.html"
        cfg = tmp_path / "loopback.toml"
        cfg.write_text(
            "[fetch]\nhost_delay = 0.0\nretries = 0\n[alerts]\nmax_age_days = 0\n"
            f'[sources.mofcom]\nurl = "{site.base_url}/mofcom/zwgk/zcfb/index.html"\n'
            f'[sources.usgs]\nurl = "{site.base_url}/usgs/list.html"\n'
            "[sources.whitehouse]\nenabled = false\n[sources.federalregister]\nenabled = false\n",
            "utf-8",
        )
        # the fetch examples come first so that the queries have something to answer
        examples.sort(
            key=lambda line: not line.startswith(("tracker fetch", "tracker backfill", "tracker ingest"))
        )
        outputs = {}
        for line in examples:
            args = [
                "--config",
                str(cfg),
                "--db",
                str(tmp_path / "t.db"),
                *shlex.split(line, comments=True)[1:],
            ]
            result = CliRunner().invoke(cli, args, catch_exceptions=False)
            # with no recipient configured, `digest --send` has nobody to send to: exit 1, for cron
            expected = 1 if line.startswith("tracker digest --send") else 0
            assert result.exit_code == expected, (line, result.output)
            outputs[line.split("#")[0].strip()] = result.output
    assert '"mofcom"' in outputs["tracker sources --json"]
    assert "gallium" in outputs["tracker status --mineral 镓 --as-of 2024-01-01"]
    explained = outputs["tracker rules explain --text saved/2025-70.html --source mofcom"]
    assert "event from cn-mofcom-suspension:" in explained
    assert "suspended" in outputs["tracker status --mineral holmium --as-of 2026-01-01"]
    assert "would change" in outputs["tracker reclassify --dry-run"]
    assert "New export control" in outputs["tracker digest"]
    assert (tmp_path / "today.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    assert outputs["tracker digest --send"].startswith("no recipients")
    assert (tmp_path / "alerts.xml").exists()
    assert json.loads(outputs["tracker status --jurisdiction CN --format json"])[0]["jurisdiction"] == "CN"
    assert (tmp_path / "ree.csv").read_text("utf-8").startswith("id,announced,")
    assert "«暂停实施»" in outputs["tracker timeline --search 暂停实施"]
    assert (tmp_path / "timeline.html").read_text("utf-8").lstrip().lower().startswith("<!doctype html>")
    assert "suspension (CN)" in outputs["tracker show faa3b6a7"]
    assert outputs["tracker check --source mofcom --save responses/"].startswith("mofcom (mofcom): OK")
    assert len(list((tmp_path / "responses" / "mofcom").glob("*.http.json"))) == 4  # list and 3 articles
    # every sample MOFCOM page gives an event (shared/samples/expected.json): nothing unclassified
    assert outputs["tracker documents --unclassified --source mofcom"] == "no documents match\n"
    # the Python example, on the same database
    [code] = re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), re.S)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code.replace('"tracker.db"', repr(str(tmp_path / "t.db"))), {})
    assert "new_control MOFCOM 2023-23" in printed.getvalue()


def test_the_rule_file_example_in_rules_readme_is_valid_and_its_examples_hold(tmp_path: Path) -> None:
    from tracker.rulefile import check_rules, run_tests

    text = (README.parent / "rules" / "README.md").read_text("utf-8")
    [example] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("minerals.yaml", "countries.yaml"):
        shutil.copy(README.parent / "rules" / name, folder / name)
    (folder / "example.yaml").write_text(example, "utf-8")
    ruleset, problems = check_rules(folder)
    assert problems == []
    assert ruleset is not None
    results = run_tests(ruleset)
    assert len(results) == 2 and all(r.ok for r in results), [r.problems for r in results]


def test_the_systemd_example_matches_the_shipped_unit() -> None:
    [ini] = _blocks("ini")
    unit = (README.parent / "docs/systemd/minerals-tracker.service").read_text("utf-8")
    for line in ini.splitlines():
        if line and not line.startswith("#"):
            assert line.split("  #")[0].strip() in unit, line
    assert (README.parent / "docs/systemd/minerals-tracker-once.timer").is_file()
