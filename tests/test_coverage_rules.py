"""The rules and event fields for BIS, DPA awards, Japan and Australia: sums of money read one
way, `amount` and `recipient` in rule files (checked with file:line errors, compared by the
examples), the labelled set of tracker/demo/site/coverage scored by `tracker rules eval`, and
the new jurisdictions, the funding action and its amount in `show`, the timeline and the digest.

Expected values are written out by hand from the texts (sums, companies, dates), never produced
by the code under test."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import textwrap
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.amounts import Money, find_money
from tracker.cli import cli
from tracker.demo.evaluate import evaluate, set_config
from tracker.demo.server import SiteServer, site_root
from tracker.digest import preview
from tracker.pipeline import fetch
from tracker.rulefile import check_rules, load_rules, run_tests
from tracker.settings import Config, Recipient

REPO_RULES = Path(__file__).parent.parent / "rules"
COVERAGE = site_root() / "coverage"
SOURCES = {
    "bis": "/bis/api/v1/documents.json",
    "dow": "/dow/releases.xml",
    "meti": "/meti/ml_index_release_atom.xml",
    "australia": "/australia/news.xml",
}


# --- sums of money --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "written"),
    [
        ("DoD Awards $35 Million to MP Materials", "USD", "USD 35 million"),
        ("DoD Issues $24.8M Critical Minerals Award", "USD", "USD 24.8 million"),
        ("awarded a $35 million contract", "USD", "USD 35 million"),  # 'a' is no currency prefix
        ("an investment of US$1.2 billion", "AUD", "USD 1.2 billion"),
        ("up to A$50 million in grants", "USD", "AUD 50 million"),
        ("will receive up to USD $200 million in concessional equity", "AUD", "USD 200 million"),
        ("at least AUD1 billion in financing", "USD", "AUD 1 billion"),
        ("its $1.2 billion Critical Minerals Strategic Reserve", "AUD", "AUD 1.2 billion"),
        ("a grant of $250,000", "USD", "USD 250,000"),
        ("$5,000,000 for a pilot plant", "USD", "USD 5 million"),
        ("$400 more than planned", "USD", "USD 400"),  # 'm' starting a word is no scale
        ("€2 billion", "USD", "EUR 2 billion"),
        ("予備費から390億円を支出", "USD", "JPY 39 billion"),
        ("1,000億円の基金", "USD", "JPY 100 billion"),
        ("12億円", "USD", "JPY 1.2 billion"),
        ("1兆2,000億円", "USD", "JPY 1.2 trillion"),
        ("3億5,000万円", "USD", "JPY 350 million"),
        ("１２億円", "USD", "JPY 1.2 billion"),  # full-width digits
        ("￥300億円", "USD", "JPY 30 billion"),  # the longer reading of one stretch of text
        ("10億ドルを投資", "USD", "USD 1 billion"),
        ("5亿美元", "USD", "USD 500 million"),
    ],
)
def test_a_sum_is_read_into_a_currency_and_written_one_way(text: str, currency: str, written: str) -> None:
    money = find_money(text, currency)
    assert money is not None and str(money) == written


def test_text_without_a_sum_has_none_and_the_first_sum_wins() -> None:
    assert find_money("Executive Order 14241 of March 20, 2025, section 3") is None
    assert find_money("no money here, 2025") is None
    first = find_money("$9.6M to MP Materials, out of $35 million in all")
    assert first == Money("USD", Decimal("9.6") * 10**6)


# --- amount and recipient in rule files ----------------------------------------------------------

AWARD_RULE = r"""
rules:
  - id: us-test-award
    title: A defense award for a mineral
    severity: low
    match:
      kinds: [rss]
      title:
        any: [awards]
      minerals: required
    emit:
      action: funding
      jurisdiction: US
      amount:
        extract: money
        currency: USD
      recipient:
        patterns: ['Awards \$[\d.]+ [Mm]illion to (?P<recipient>[A-Z][\w.]*(?: [A-Z][\w.]*){0,4})']
    tests:
      - title: DoD Awards $35 Million to MP Materials to Build U.S. Heavy Rare Earth Separation Capacity
        kind: rss
        expect: {action: funding, amount: USD 35 million, recipient: MP Materials}
"""


def rules_folder(tmp_path: Path, text: str) -> Path:
    """A rules folder: the real vocabulary files and one rule file."""
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("minerals.yaml", "countries.yaml"):
        shutil.copy(REPO_RULES / name, folder / name)
    (folder / "test.yaml").write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
    return folder


def line_of(text: str, fragment: str) -> int:
    lines = [
        i for i, line in enumerate(textwrap.dedent(text).lstrip("\n").splitlines(), 1) if fragment in line
    ]
    assert len(lines) == 1, (fragment, lines)
    return lines[0]


def test_a_rule_gives_an_amount_and_a_recipient_and_its_example_checks_them(tmp_path: Path) -> None:
    ruleset = load_rules(rules_folder(tmp_path, AWARD_RULE))
    [result] = run_tests(ruleset)
    assert result.ok, result.problems


def test_an_example_expecting_another_sum_or_company_fails_saying_which(tmp_path: Path) -> None:
    text = AWARD_RULE.replace(
        "amount: USD 35 million, recipient: MP Materials", "amount: USD 5 million, recipient: Lynas"
    )
    folder = rules_folder(tmp_path, text)
    result = CliRunner().invoke(cli, ["--rules", str(folder), "rules", "test"])
    assert result.exit_code == 1
    where = f"{folder / 'test.yaml'}:{line_of(text, '- title: DoD Awards')}"
    assert f"{where}: us-test-award: amount: expected 'USD 5 million', got 'USD 35 million'" in result.output
    assert "recipient: expected 'Lynas', got 'MP Materials'" in result.output


@pytest.mark.parametrize(
    ("old", "new", "fragment", "message"),
    [
        (
            "        currency: USD",
            "        currancy: USD",
            "currancy",
            "unknown key 'currancy' in amount of rule 'us-test-award' (did you mean 'currency'?)",
        ),
        (
            "        currency: USD",
            "        currency: usd",
            "currency: usd",
            "currency must be a three-letter code such as USD, AUD or JPY, got 'usd'",
        ),
        (
            "        extract: money",
            "        extract: cash",
            "extract: cash",
            "extract must be money, got 'cash'",
        ),
        ("(?P<recipient>", "(?P<company>", "(?P<company>", "needs a (?P<recipient>…) group"),
        (
            "      recipient:\n",
            "      recipient:\n        extract: words\n",
            "extract: words",
            "unknown key 'extract' in recipient of rule 'us-test-award'",
        ),
        (
            "      amount:\n        extract: money\n        currency: USD\n",
            "      amount: {in: text}\n",
            "amount: {in: text}",
            "amount needs 'patterns' or 'extract'",
        ),
        ("amount: USD 35 million", "amount: 35", "expect: {action", "amount must be text or null"),
    ],
)
def test_a_bad_amount_or_recipient_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, fragment: str, message: str
) -> None:
    assert AWARD_RULE.count(old) == 1
    text = AWARD_RULE.replace(old, new)
    folder = rules_folder(tmp_path, text)
    _, problems = check_rules(folder)
    found = [p for p in problems if message in p.message]
    assert len(found) == 1, [str(p) for p in problems]
    assert found[0].line == line_of(text, fragment.split("\n")[0])
    result = CliRunner().invoke(cli, ["--rules", str(folder), "rules", "check"])
    assert result.exit_code != 0 and f"{folder / 'test.yaml'}:{found[0].line}: " in result.output


def test_the_shipped_rule_files_for_the_new_sources_check_clean_and_every_example_holds() -> None:
    ruleset, problems = check_rules(REPO_RULES)
    assert problems == [] and ruleset is not None
    files = {Path(r.file).name for r in ruleset.rules}
    assert {"us-bis.yaml", "us-dpa.yaml", "jp.yaml", "au.yaml"} <= files
    results = run_tests(ruleset)
    assert all(r.ok for r in results), [f"{r.where}: {r.problems}" for r in results if not r.ok]
    new = [
        r for r in results if Path(r.rule.file).name in ("us-bis.yaml", "us-dpa.yaml", "jp.yaml", "au.yaml")
    ]
    assert len(new) >= 25
    funding = [r.test.expect for r in new if r.test.expect and r.test.expect.get("action") == "funding"]
    assert sum("amount" in e for e in funding) >= 8 and sum("recipient" in e for e in funding) >= 6


# --- the labelled set of the new sources --------------------------------------------------------


def test_the_labelled_set_of_the_new_sources_scores_every_expectation() -> None:
    report = evaluate(COVERAGE / "expected.json")
    missed = [f"{x.what}: {x.detail}" for x in [*report.expected, *report.absent, *report.status] if not x.ok]
    assert missed == []
    assert len(report.expected) == 12 and len(report.absent) == 6 and len(report.status) == 4
    assert report.recall == 1.0 and report.precision == 1.0 and report.unexpected == []


def test_rules_eval_scores_the_set_from_the_command_line() -> None:
    result = CliRunner().invoke(cli, ["rules", "eval", str(COVERAGE / "expected.json")])
    assert result.exit_code == 0, result.output
    assert "FR 2025-19001 in US on 2026-01-01: suspended until 2026-11-09" in result.output
    assert (
        "precision 1.00 (11/11 events), recall 1.00 (12/12 expected), absent 6/6, status 4/4" in result.output
    )


def test_the_set_fails_when_a_rule_file_is_missing(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO_RULES, rules)
    (rules / "us-dpa.yaml").unlink()  # the awards fall to us.yaml: funding without sum or company
    report = evaluate(COVERAGE / "expected.json", rules)
    missed = {x.what.split(":")[0] for x in report.expected if not x.ok}
    assert (
        "DoD Awards $35 Million to MP Materials to Build U.S. Heavy Rare Earth Separation Capacity" in missed
    )
    assert not report.ok


# --- the new jurisdictions, the funding action and its sum where people read ---------------------


@pytest.fixture(scope="module")
def coverage_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """The labelled set fetched once through the pipeline into a database."""
    tmp = tmp_path_factory.mktemp("coverage")
    with SiteServer(COVERAGE) as server:
        config = set_config(server.base_url, tmp / "t.db", SOURCES)
        runs = fetch(config)
        assert [r.status for r in runs] == ["ok"] * 4, [r.error for r in runs]
    yield config


def run_cli(config: Config, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(config.db_path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_timeline_json_csv_and_table_carry_amount_and_recipient(coverage_db: Config) -> None:
    rows = json.loads(run_cli(coverage_db, "timeline", "--action", "funding", "--format", "json"))
    by_title = {r["title"]: r for r in rows}
    award = by_title[
        "DoD Awards $35 Million to MP Materials to Build U.S. Heavy Rare Earth Separation Capacity"
    ]
    assert (award["amount"], award["recipient"], award["jurisdiction"]) == (
        "USD 35 million",
        "MP Materials",
        "US",
    )
    # the English line, the same macro the digest uses, says the sum and to whom
    assert "USD 35 million to MP Materials" in award["description"]
    reserve = by_title["Delivering Australia's Critical Minerals Supply"]
    assert (reserve["amount"], reserve["recipient"], reserve["jurisdiction"]) == (
        "AUD 1.2 billion",
        None,
        "AU",
    )
    parsed = list(csv.DictReader(io.StringIO(run_cli(coverage_db, "timeline", "--format", "csv"))))
    cells = {p["title"]: (p["amount"], p["recipient"]) for p in parsed}
    assert cells["DoD Issues $24.8M Critical Minerals Award to Perpetua Resources"] == (
        "USD 24.8 million",
        "Perpetua Resources",
    )
    assert cells["Expansion of End-User Controls To Cover Affiliates of Certain Listed Entities"] == ("", "")
    table = run_cli(coverage_db, "timeline", "--jurisdiction", "US", "--action", "funding")
    header, *lines = table.splitlines()
    assert header.split()[5:8] == ["force", "amount", "minerals"]
    award = next(x for x in lines if "USD 35M" in x)
    assert award.split()[:3] == ["2022-02-22", "US", "funding"]
    # a funding event is no measure in force: its line says no date in force
    assert "in force" not in award.split("USD 35M", 1)[1]
    assert any("USD 27M" in line and "antimony" in line for line in lines)


def test_show_says_the_sum_and_the_company(coverage_db: Config) -> None:
    rows = json.loads(
        run_cli(coverage_db, "timeline", "--action", "funding", "--jurisdiction", "AU", "--format", "json")
    )
    grant = next(r for r in rows if r["recipient"])
    out = run_cli(coverage_db, "show", grant["id"][:10])
    assert "  amount: USD 200 million" in out and "  recipient: Alcoa-Sojitz Gallium Recovery Project" in out
    shown = json.loads(run_cli(coverage_db, "show", grant["id"], "--json"))
    assert (shown["amount"], shown["recipient"]) == (
        "USD 200 million",
        "Alcoa-Sojitz Gallium Recovery Project",
    )


def test_the_timeline_page_names_japan_and_australia_and_shows_the_amounts(coverage_db: Config) -> None:
    page = run_cli(coverage_db, "timeline", "--format", "html", "--lanes", "jurisdiction")
    assert '<td data-label="Jurisdiction">Japan (JP)</td>' in page
    assert '<td data-label="Jurisdiction">Australia (AU)</td>' in page
    assert '<td data-label="Jurisdiction">United States (US)</td>' in page
    assert re.search(r'<label class="a-funding">.*?</span>Funding</label>', page)
    assert (
        '<td data-label="Amount">USD 27 million<div class="to">to United States Antimony Corporation</div></td>'
        in page
    )
    names = json.loads(re.search(r"data-jurisdictions='([^']*)'", page).group(1))  # type: ignore[union-attr]
    assert names == [["AU", "Australia"], ["JP", "Japan"], ["US", "United States"]]


def test_the_digest_groups_japan_and_australia_and_says_each_sum(coverage_db: Config) -> None:
    rendered, _ = preview(
        coverage_db, Recipient("analyst@example.org"), datetime.fromisoformat("2026-10-01T01:00:00+00:00")
    )
    text, html = rendered.text, rendered.html
    assert "-- Japan (JP) --" in text and "-- Australia (AU) --" in text
    assert "  Amount: USD 27 million, to United States Antimony Corporation" in text
    assert "Funding: antimony; USD 27 million to United States Antimony Corporation" in text
    assert "  Amount: AUD 1.2 billion\n" in text
    award = text.split("DoD Awards $35 Million to MP Materials", 1)[1].split("\n*", 1)[0]
    assert "In force:" not in award  # a funding event is not a measure in force
    assert ">Japan (JP)</td>" in html and ">Australia (AU)</td>" in html
    assert "<strong>Amount: USD 24.8 million</strong>, to Perpetua Resources</div>" in html


def test_a_scraped_company_name_is_escaped_in_the_html_digest(tmp_path: Path) -> None:
    feed = (
        (COVERAGE / "dow/releases.xml")
        .read_text("utf-8")
        .replace("to MP Materials to Build", "to AT&amp;T Rare&amp;Earth to Build")
    )
    root = tmp_path / "site"
    shutil.copytree(COVERAGE, root)
    (root / "dow/releases.xml").write_text(feed, "utf-8")
    with SiteServer(root) as server:
        config = set_config(server.base_url, tmp_path / "t.db", {"dow": SOURCES["dow"]})
        fetch(config)
    rendered, _ = preview(
        config, Recipient("a@example.org"), datetime.fromisoformat("2026-10-01T01:00:00+00:00")
    )
    assert "Amount: USD 35 million, to AT&T Rare&Earth" in rendered.text
    assert "to AT&amp;T Rare&amp;Earth</div>" in rendered.html and "AT&T Rare&Earth" not in rendered.html


def test_a_measure_naming_no_mineral_is_in_its_jurisdictions_status_and_no_minerals(
    coverage_db: Config,
) -> None:
    # the affiliates rule names no mineral: in its jurisdiction's status, with no mineral
    out = json.loads(
        run_cli(coverage_db, "status", "--jurisdiction", "US", "--as-of", "2026-01-01", "--format", "json")
    )
    rule = [r for r in out if r["measure"] == "FR 2025-19001"]
    assert len(rule) == 1 and (rule[0]["mineral"], rule[0]["state"], rule[0]["until"]) == (
        "",
        "suspended",
        "2026-11-09",
    )
    assert rule[0]["changed_by"] == "FR 2025-19846"
    assert "FR 2025-19001" not in run_cli(
        coverage_db, "status", "--mineral", "silicon", "--as-of", "2026-10-01"
    )
