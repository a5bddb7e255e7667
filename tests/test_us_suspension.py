"""A suspension on the US side is a suspension: BIS's affiliates rule (FR 2025-19001, in force
2025-09-29) and its one-year suspension (FR 2025-19846, 2025-11-10 to 2026-11-09), fetched
through the pipeline from a Federal Register-shaped search served on 127.0.0.1 for a
federalregister source configured here (not the built-in `bis`), make the rule a US measure that
`tracker status --jurisdiction US` shows suspended until its expiry, and whose expiry the alerts
and the digest warn of as they do China's, whichever of the two documents arrives first and
whether or not the full text could be read.

The search results are the real ones (titles, numbers, dates, citations, abstracts); the full
texts hold their real summaries and dates, and the citation of the rule suspended as the
Federal Register writes one (the heading lines abridged)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracker.alerts import sync_alerts
from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.server import SiteServer
from tracker.digest import preview
from tracker.pipeline import fetch
from tracker.settings import Config, Recipient
from tracker.state import status
from tracker.store import Store

AGENCIES = [
    {
        "raw_name": "DEPARTMENT OF COMMERCE",
        "name": "Commerce Department",
        "id": 54,
        "slug": "commerce-department",
    },
    {
        "raw_name": "Bureau of Industry and Security",
        "name": "Industry and Security Bureau",
        "id": 241,
        "slug": "industry-and-security-bureau",
    },
]
RULE = {
    "document_number": "2025-19001",
    "title": "Expansion of End-User Controls To Cover Affiliates of Certain Listed Entities",
    "type": "Rule",
    "action": "Interim final rule.",
    "abstract": (
        "In this interim final rule (IFR), the Bureau of Industry and Security (BIS) amends the Export "
        "Administration Regulations (EAR) to address diversion concerns involving entities on the Entity "
        "List and certain other restricted end users. Under this IFR, any entity that is at least 50 "
        "percent owned by one or more entities on the Entity List will itself automatically be subject to "
        "Entity List restrictions."
    ),
    "dates": "Effective date: This rule is effective September 29, 2025.",
    "citation": "90 FR 47201",
    "publication_date": "2025-09-30",
    "effective_on": "2025-09-29",
    "day": "2025/09/30",
}
SUSPENSION = {
    "document_number": "2025-19846",
    "title": "One Year Suspension of Expansion of End-User Controls for Affiliates of Certain Listed Entities",
    "type": "Rule",
    "action": "Final rule.",
    "abstract": (
        "In this final rule, the Bureau of Industry and Security (BIS) imposes a one-year suspension of "
        'the interim final rule, "Expansion of End-User Controls to Cover Affiliates of Certain Listed '
        'Entities,". The suspension is set to end November 9, 2026, absent a future extension.'
    ),
    "dates": "This rule is effective November 10, 2025.",
    "citation": "90 FR 50857",
    "publication_date": "2025-11-12",
    "effective_on": "2025-11-10",
    "day": "2025/11/12",
}
TEXTS = {
    "2025-19001": """[FR Doc No: 2025-19001]

DEPARTMENT OF COMMERCE

Bureau of Industry and Security

Expansion of End-User Controls To Cover Affiliates of Certain
Listed Entities

ACTION: Interim final rule.

SUMMARY: In this interim final rule (IFR), the Bureau of Industry and
Security (BIS) amends the Export Administration Regulations (EAR) to
address diversion concerns involving entities on the Entity List and
certain other restricted end users.

DATES: Effective date: This rule is effective September 29, 2025.
""",
    "2025-19846": """[FR Doc No: 2025-19846]

DEPARTMENT OF COMMERCE

Bureau of Industry and Security

One Year Suspension of Expansion of End-User Controls for Affiliates
of Certain Listed Entities

ACTION: Final rule.

SUMMARY: In this final rule, the Bureau of Industry and Security (BIS)
imposes a one-year suspension of the interim final rule, ``Expansion of
End-User Controls to Cover Affiliates of Certain Listed Entities,''
(90 FR 47201, September 30, 2025). The suspension is set to end
November 9, 2026, absent a future extension.

DATES: This rule is effective November 10, 2025.
""",
}
SEARCH = "/api/v1/documents.json"


def result(doc: dict[str, Any], base: str, full_text: bool) -> dict[str, Any]:
    """One result of a documents search, as the API gives it."""
    number, day = doc["document_number"], doc["day"]
    out = {k: v for k, v in doc.items() if k != "day"}
    out.update(
        agencies=AGENCIES,
        html_url=f"https://www.federalregister.gov/documents/{day}/{number}/x",
        pdf_url=f"https://www.govinfo.gov/content/pkg/FR-{day.replace('/', '-')}/pdf/{number}.pdf",
        signing_date=None,
        subtype=None,
        excerpts=None,
        executive_order_number=None,
        proclamation_number=None,
    )
    if full_text:
        out["raw_text_url"] = f"{base}/documents/full_text/text/{day}/{number}.txt"
    return out


@dataclass
class Site:
    """The loopback server and the folder it serves, with the search answering what `serve` put."""

    server: SiteServer
    root: Path

    def serve(self, *docs: dict[str, Any], full_text: bool = True) -> None:
        """The search answers with these documents, newest first."""
        results = [result(d, self.server.base_url, full_text) for d in docs]
        page = {"count": len(results), "total_pages": 1, "results": results}
        (self.root / "api/v1/documents.json").write_text(json.dumps(page), "utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "site"
    (root / "api/v1").mkdir(parents=True)
    for doc in (RULE, SUSPENSION):
        number = doc["document_number"]
        text = root / f"documents/full_text/text/{doc['day']}/{number}.txt"
        text.parent.mkdir(parents=True, exist_ok=True)
        body = f"<html><head><title>Federal Register</title></head><body><pre>\n{TEXTS[number]}</pre></body></html>"
        text.write_text(body, "utf-8")
    with SiteServer(root) as server:
        yield Site(server, root)


def config_for(tmp_path: Path, site: Site) -> Config:
    """A user's tracker.toml with one federalregister source of their own, named `commerce`,
    searching BIS documents on the loopback server; every built-in source off."""
    lines = [
        'timezone = "UTC"',
        "[database]",
        f'path = "{tmp_path / "t.db"}"',
        "[alerts]",
        "max_age_days = 0",
    ]
    lines += ["[fetch]", "host_delay = 0.0", "retries = 0"]
    for name in ("mofcom", "whitehouse", "federalregister", "usgs"):
        lines += [f"[sources.{name}]", "enabled = false"]
    lines += [
        "[sources.commerce]",
        'kind = "federalregister"',
        f'url = "{site.server.base_url}{SEARCH}?conditions[agencies][]=industry-and-security-bureau&order=newest"',
    ]
    path = tmp_path / "tracker.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return load_config(path)


def fetched(config: Config) -> None:
    [run] = fetch(config)
    assert (run.source, run.status) == ("commerce", "ok"), run.error


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00")


def states(config: Config, day: str) -> list[tuple[str, str, str, str | None, str | None]]:
    with Store(config.db_path) as store:
        rows = status(store, as_of=date.fromisoformat(day), jurisdictions=["US"])
    return [(r.measure, r.mineral, r.state, r.until, r.changed_by) for r in rows]


def cli_out(config: Config, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config.path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("order", ["rule first", "suspension first"])
@pytest.mark.parametrize("full_text", [True, False], ids=["full text", "abstract only"])
def test_the_affiliates_rule_is_a_us_measure_suspended_until_its_expiry(
    tmp_path: Path, site: Site, order: str, full_text: bool
) -> None:
    config = config_for(tmp_path, site)
    first, then = (RULE, SUSPENSION) if order == "rule first" else (SUSPENSION, RULE)
    site.serve(first, full_text=full_text)
    fetched(config)
    site.serve(SUSPENSION, RULE, full_text=full_text)
    fetched(config)
    suspended = ("FR 2025-19001", "", "suspended", "2026-11-09", "FR 2025-19846")
    assert states(config, "2025-10-01") == [("FR 2025-19001", "", "active", None, None)]
    assert states(config, "2026-01-01") == [suspended]
    assert states(config, "2026-11-08") == [suspended]
    assert states(config, "2026-12-01") == [("FR 2025-19001", "", "active", None, "FR 2025-19846")]
    # the suspension names the measure by its number once both are stored
    events = json.loads(cli_out(config, "timeline", "--format", "json"))
    by_action = {e["action"]: e for e in events}
    assert set(by_action) == {"expanded_control", "suspension"}
    susp = by_action["suspension"]
    assert (susp["jurisdiction"], susp["effective"], susp["expires"]) == ("US", "2025-11-10", "2026-11-09")
    assert susp["refers_to"] == ["FR 2025-19001"] and susp["doc_number"] == "FR 2025-19846"
    rule = by_action["expanded_control"]
    assert (rule["jurisdiction"], rule["effective"], rule["minerals"]) == ("US", "2025-09-29", [])


def test_status_of_the_us_shows_the_suspension_with_its_expiry(tmp_path: Path, site: Site) -> None:
    config = config_for(tmp_path, site)
    site.serve(SUSPENSION, RULE)
    fetched(config)
    rows = json.loads(
        cli_out(config, "status", "--jurisdiction", "US", "--as-of", "2026-01-01", "--format", "json")
    )
    assert [(r["measure"], r["state"], r["since"], r["until"], r["changed_by"]) for r in rows] == [
        ("FR 2025-19001", "suspended", "2025-11-10", "2026-11-09", "FR 2025-19846")
    ]
    assert rows[0]["title"] == RULE["title"]
    assert rows[0]["description"] == "FR 2025-19001 — control expanded; suspended until 2026-11-09"
    table = cli_out(config, "status", "--jurisdiction", "us", "--as-of", "2026-01-01")
    assert "FR 2025-19001" in table and "suspended" in table and "2026-11-09" in table
    # a status for China, or for a mineral, does not list it
    assert "FR 2025-19001" not in cli_out(config, "status", "--jurisdiction", "CN", "--as-of", "2026-01-01")
    assert "FR 2025-19001" not in cli_out(config, "status", "--mineral", "gallium", "--as-of", "2026-01-01")
    shown = cli_out(
        config,
        "show",
        json.loads(cli_out(config, "timeline", "--action", "suspension", "--format", "json"))[0]["id"],
    )
    assert "refers to: FR 2025-19001 (expanded_control" in shown
    assert "FR 2025-19001   suspended  since 2025-11-10 until 2026-11-09 (by FR 2025-19846)" in shown


def test_the_expiry_is_warned_once_per_threshold_and_in_the_digest(tmp_path: Path, site: Site) -> None:
    config = config_for(tmp_path, site)
    site.serve(SUSPENSION, RULE)
    fetched(config)
    with Store(config.db_path) as store:

        def deadlines(day: str) -> list[tuple[str, str, int, str]]:
            return [
                (a.detail["field"], a.detail["date"], a.detail["threshold"], a.detail["doc_number"])
                for a in sync_alerts(store, config, at(day))
                if a.kind == "deadline"
            ]

        assert deadlines("2026-09-01") == []  # 69 days ahead
        assert deadlines("2026-10-15") == [("expires", "2026-11-09", 30, "FR 2025-19846")]  # 25 days
        assert deadlines("2026-10-16") == []
        assert deadlines("2026-11-03") == [("expires", "2026-11-09", 7, "FR 2025-19846")]  # 6 days
        assert deadlines("2026-11-10") == []  # expired
    rendered, _ = preview(config, Recipient("analyst@example.org"), at("2026-10-20"))
    text = rendered.text
    assert "-- United States (US) --" in text
    assert "* Suspension expires in 25 days (2026-11-09)" in text
    assert "* suspension of FR 2025-19846 expires 2026-11-09, in 20 days" in text
    assert "Suspension expires in 25 days (2026-11-09)" in rendered.html


def test_a_database_of_the_previous_release_gains_the_fields_and_the_measures_without_minerals(
    tmp_path: Path, site: Site
) -> None:
    config = config_for(tmp_path, site)
    site.serve(SUSPENSION, RULE)
    fetched(config)
    with Store(config.db_path) as store:  # back to the schema before 0013, as the last release left it
        with store.write():
            for stmt in (
                "DROP TABLE event_aliases",
                "DROP INDEX idx_event_refs_lower",
                "ALTER TABLE events DROP COLUMN amount",
                "ALTER TABLE events DROP COLUMN recipient",
                "DELETE FROM measure_states WHERE mineral = ''",  # it derived none for such a control
                "DELETE FROM _sqlite_migrations WHERE name = '0013_amounts_recipients_aliases'",
            ):
                store.db.execute(stmt)
    assert states(config, "2026-01-01") == [
        ("FR 2025-19001", "", "suspended", "2026-11-09", "FR 2025-19846")
    ]  # opening it applied 0013, and the first status derived every state again
    with Store(config.db_path) as store:
        assert {e.amount for e in store.all_events()} == {None}
        assert store.db.execute("SELECT count(*) FROM event_aliases").fetchone()[0] == 0
    cli_out(config, "reclassify")  # the aliases of the controls come with reclassifying
    with Store(config.db_path) as store:
        aliases = {r[0] for r in store.db.execute("SELECT alias FROM event_aliases")}
    assert {
        "90 fr 47201",
        "expansion of end-user controls to cover affiliates of certain listed entities",
    } <= aliases
