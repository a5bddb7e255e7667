"""The built-in sources that are off by default (bis, dow, meti, australia): each turned on by
`enabled = true` in a user's tracker.toml and pointed at 127.0.0.1, where the responses of
tests/fixtures/builtin/ (shaped like the live ones, see its README) are served under the path and
query of the real default URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner
from conftest import fixture_path

from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.server import SiteServer
from tracker.errors import ConfigError
from tracker.pipeline import fetch
from tracker.settings import Config
from tracker.store import Store

NEW = ("bis", "dow", "meti", "australia")
ON_BY_DEFAULT = ("mofcom", "whitehouse", "federalregister", "usgs")
KINDS = {"bis": "federalregister", "dow": "rss", "meti": "rss", "australia": "rss"}
FR = "https://www.federalregister.gov"
# the full texts served, by document number: the date folder of its raw_text_url
TEXTS = {
    "2025-19846": "2025/11/12",
    "2026-19537": "2026/09/24",
    "2026-19927": "2026/09/29",
    "2026-20058": "2026/09/30",
}
FEEDS = {
    "dow": "dow/releases.xml",
    "meti": "meti/ml_index_release_atom.xml",
    "australia": "australia/news.xml",
}


def defaults() -> Config:
    return load_config(None, use_user_config=False)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteServer]:
    """The four sites on one loopback server: each response at the path of its default URL."""
    root = tmp_path / "site"
    root.mkdir()
    with SiteServer(root) as server:
        search = fixture_path("builtin/bis/documents.json").read_text("utf-8")
        (root / "api/v1").mkdir(parents=True)
        (root / "api/v1/documents.json").write_text(search.replace(FR, server.base_url), "utf-8")
        for number, day in TEXTS.items():
            text = root / f"documents/full_text/text/{day}/{number}.txt"
            text.parent.mkdir(parents=True, exist_ok=True)
            text.write_bytes(fixture_path(f"builtin/bis/{number}.txt").read_bytes())
        for name, fixture in FEEDS.items():
            [url] = defaults().sources[name].urls
            server.aliases[urlsplit(url).path] = fixture_path("builtin", fixture)
        yield server


def loopback(server: SiteServer, name: str) -> str:
    """The source's default URL with its scheme and host moved onto the loopback server."""
    [url] = defaults().sources[name].urls
    parts = urlsplit(url)
    return f"{server.base_url}{parts.path}?{parts.query}"


def user_toml(tmp_path: Path, server: SiteServer, turned_on: tuple[str, ...] = NEW, **extra: str) -> Path:
    """A user's tracker.toml: the sources on by default switched off, the four new ones at their
    loopback URLs, `enabled = true` for those in `turned_on` and nothing else of theirs changed."""
    lines = ["[fetch]", "host_delay = 0.0", "retries = 0", "timeout = 5.0"]
    for name in ON_BY_DEFAULT:
        lines += [f"[sources.{name}]", "enabled = false"]
    for name in NEW:
        lines += [f"[sources.{name}]", f'url = "{loopback(server, name)}"']
        if name in turned_on:
            lines.append("enabled = true")
        if name in extra:
            lines.append(extra[name])
    path = tmp_path / "tracker.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def fetch_from(tmp_path: Path, server: SiteServer, name: str, **extra: str) -> list[dict[str, Any]]:
    """Fetch one of the four (turned on by the user's file alone) and return its stored documents,
    oldest first; the rules are left out: what the source stores is under test here."""
    config = load_config(user_toml(tmp_path, server, (name,), **extra), db_path=tmp_path / "t.db")
    [stats] = fetch(config, classify=False)
    assert (stats.source, stats.status) == (name, "ok"), stats.error
    assert not stats.item_errors and not stats.notes, (stats.item_errors, stats.notes)
    with Store(tmp_path / "t.db") as store:
        return sorted(store.documents(name), key=lambda d: d["published"])


def by_title(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["title"]: d for d in docs}


# --- off by default --------------------------------------------------------------------------


def test_the_four_are_built_in_off_and_described() -> None:
    config = defaults()
    for name in NEW:
        source = config.sources[name]
        assert (source.kind, source.enabled) == (KINDS[name], False), name
        assert source.description and "\n" not in source.description, name
    for name in ON_BY_DEFAULT:
        assert config.sources[name].enabled and config.sources[name].description, name


def test_a_fetch_with_the_defaults_runs_none_of_the_four(tmp_path: Path, site: SiteServer) -> None:
    config = load_config(user_toml(tmp_path, site, turned_on=()), db_path=tmp_path / "t.db")

    assert fetch(config, classify=False) == []
    assert site.requests == []


def test_enabled_true_alone_turns_each_on_for_a_plain_fetch(tmp_path: Path, site: SiteServer) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(user_toml(tmp_path, site)), "--db", str(tmp_path / "t.db"), "fetch"]
    )

    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines() if line[:1].isalpha()}
    assert {name: lines.get(name) for name in NEW} == dict.fromkeys(NEW, "ok")
    with Store(tmp_path / "t.db") as store:
        counts = {name: len(list(store.documents(name))) for name in NEW}
    assert counts == {"bis": 4, "dow": 3, "meti": 3, "australia": 3}


# --- what each stores ------------------------------------------------------------------------


def test_bis_stores_agency_rules_and_notices_with_their_full_text(tmp_path: Path, site: SiteServer) -> None:
    docs = {d["doc_number"]: d for d in fetch_from(tmp_path, site, "bis")}

    assert set(docs) == {f"FR {n}" for n in TEXTS}
    suspension = docs["FR 2025-19846"]
    assert suspension["title"] == (
        "One Year Suspension of Expansion of End-User Controls for Affiliates of Certain Listed Entities"
    )
    # no signing date on an agency rule: dated by publication, kept apart from presidential documents
    assert suspension["published"] == "2025-11-12" and suspension["kind"] == "notice"
    assert suspension["language"] == "en"
    assert "The suspension is set to end November 9, 2026, absent a future extension." in suspension["text"]
    assert "This rule is effective November 10, 2025." in suspension["text"]
    assert "<pre>" not in suspension["text"]
    with Store(tmp_path / "t.db") as store:
        assert store.has_full_text(["FR 2025-19846"])
    polysilicon = docs["FR 2026-19537"]
    assert polysilicon["published"] == "2026-09-24"
    assert "polysilicon derivatives, products of silicon" in polysilicon["text"]
    assert docs["FR 2026-19927"]["title"].endswith("Order Renewing Temporary Denial of Export Privileges")


def test_bis_asks_for_the_agency_rules_and_notices_and_the_fields_it_reads(
    tmp_path: Path, site: SiteServer
) -> None:
    fetch_from(tmp_path, site, "bis")

    [search] = [r for r in site.requests if r.startswith("/api/v1/documents.json")]
    query = parse_qsl(urlsplit(search).query)
    assert ("conditions[agencies][]", "industry-and-security-bureau") in query
    assert {v for k, v in query if k == "conditions[type][]"} == {"RULE", "NOTICE"}
    assert ("order", "newest") in query and ("per_page", "50") in query
    assert {"raw_text_url", "signing_date", "type", "agencies"} <= {v for k, v in query if k == "fields[]"}
    assert sum(r.startswith("/documents/full_text/text/") for r in site.requests) == len(TEXTS)


def test_dow_release_text_is_the_item_description_dated_in_washington(
    tmp_path: Path, site: SiteServer
) -> None:
    docs = by_title(fetch_from(tmp_path, site, "dow"))

    antimony = docs[
        "Department of War Invests $27M for the Domestic Excavation, Extraction, Processing and Refining of Antimony"
    ]
    assert antimony["published"] == "2026-03-04"  # pubDate 01:30 GMT on the 5th: the evening of the 4th
    assert "$27 million to United States Antimony Corporation under Title III" in antimony["text"]
    assert "img" not in antimony["text"] and "<br" not in antimony["text"]
    rare_earths = docs["DOD Announces Rare Earth Element Awards to Strengthen Domestic Industrial Base"]
    assert rare_earths["published"] == "2020-11-17"
    assert "will contribute $9.6M to MP Materials" in rare_earths["text"]
    assert rare_earths["urls"] == [
        "https://www.defense.gov/News/Releases/Release/Article/2418542/"
        "dod-announces-rare-earth-element-awards-to-strengthen-domestic-industrial-base/"
    ]
    assert {d["language"] for d in docs.values()} == {"en"}
    assert len(site.requests) == 1  # the feed only: no article page is asked for


def test_meti_japanese_titles_in_japanese_dated_by_the_day_in_tokyo(tmp_path: Path, site: SiteServer) -> None:
    docs = by_title(fetch_from(tmp_path, site, "meti"))

    framework = docs[
        "「採掘及び加工を通じた重要鉱物及びレアアースの供給確保のための日米枠組み」に署名しました"
    ]
    assert framework["published"] == "2025-10-28"  # 00:00+09:00, still the 27th in UTC
    assert "重要鉱物及びレアアースは、先端技術の生成に不可欠であり" in framework["text"]
    # entries without an <id>: each is its link
    assert framework["urls"] == ["https://www.meti.go.jp/press/2025/10/20251028001/20251028001.html"]
    [user_list] = [d for t, d in docs.items() if "「外国ユーザーリスト」を改正しました" in t]
    assert user_list["published"] == "2025-09-29"  # written 15:00Z on the 28th: midnight in Tokyo
    assert docs["令和6年度電子商取引に関する市場調査の結果を取りまとめました"]["published"] == "2025-08-26"
    assert {d["language"] for d in docs.values()} == {"ja"}


def test_meti_without_a_time_zone_keeps_the_day_each_timestamp_writes(
    tmp_path: Path, site: SiteServer
) -> None:
    docs = fetch_from(tmp_path, site, "meti", meti='timezone = ""')

    dates = {d["title"][:6]: d["published"] for d in docs}
    assert dates["「採掘及び加"] == "2025-10-28"  # its own +09:00 day, never the UTC one
    assert dates["大量破壊兵器"] == "2025-09-28"  # a UTC stamp read as written


def test_australia_news_is_dated_by_the_day_in_canberra(tmp_path: Path, site: SiteServer) -> None:
    docs = by_title(fetch_from(tmp_path, site, "australia"))

    reserve = docs["Delivering Australia's Critical Minerals Supply"]
    assert reserve["published"] == "2026-01-12"  # 22:30 UTC on the 11th
    assert "will be antimony, gallium and rare earth elements" in reserve["text"]
    assert "<p>" not in reserve["text"]
    assert reserve["urls"] == [
        "https://www.industry.gov.au/news/delivering-australias-critical-minerals-supply"
    ]
    office = [d for t, d in docs.items() if t.startswith("Critical Minerals Facilitation Office")]
    assert [d["published"] for d in office] == ["2020-01-18"]
    assert {d["language"] for d in docs.values()} == {"en"}


def test_a_refetch_of_each_unchanged_response_stores_nothing(tmp_path: Path, site: SiteServer) -> None:
    config = load_config(user_toml(tmp_path, site), db_path=tmp_path / "t.db")
    fetch(config, classify=False)

    again = fetch(config, classify=False)

    assert {r.source: (r.status, r.new_documents, r.updated_documents) for r in again} == dict.fromkeys(
        NEW, ("ok", 0, 0)
    )


# --- tracker sources and tracker check ---------------------------------------------------------


def test_sources_lists_each_with_its_description_and_off(tmp_path: Path) -> None:
    config = defaults()
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "sources"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in NEW:
        [row] = [i for i, line in enumerate(lines) if line.split()[:1] == [name]]
        assert lines[row].split()[1:3] == [KINDS[name], "disabled"]
        assert lines[row + 1] == "  " + config.sources[name].description
    rows = json.loads(
        CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "sources", "--json"]).stdout
    )
    described = {r["name"]: (r["enabled"], r["description"]) for r in rows}
    assert {n: described[n] for n in NEW} == {n: (False, config.sources[n].description) for n in NEW}


@pytest.mark.parametrize("name", NEW)
def test_check_save_reads_each_shape_and_keeps_the_responses(
    tmp_path: Path, site: SiteServer, name: str
) -> None:
    saved = tmp_path / "responses"
    args = ["--config", str(user_toml(tmp_path, site)), "--db", str(tmp_path / "t.db")]

    result = CliRunner().invoke(cli, [*args, "check", "--source", name, "--save", str(saved)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{name} ({KINDS[name]}): OK  HTTP 200, ")
    assert "3 read: 3 dated" in result.output and "3 with text" in result.output
    assert "warning" not in result.output and "error" not in result.output
    [first] = sorted((saved / name).glob("01-*.http.json"))
    head = json.loads(first.read_text("utf-8"))
    assert head["status"] == 200
    body = (saved / name / head["body"]).read_bytes()
    expected = fixture_path("builtin", FEEDS.get(name, "bis/documents.json")).read_bytes()
    assert body == (expected.replace(FR.encode(), site.base_url.encode()) if name == "bis" else expected)
    assert not (tmp_path / "t.db").exists()  # check stores nothing


def test_a_description_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text('[sources.bis]\ndescription = "two\\nlines"\n', "utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(cfg)

    assert caught.value.key == "sources.bis.description"
    assert "one line" in caught.value.message


def test_an_unknown_feed_time_zone_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text('[sources.meti]\nenabled = true\ntimezone = "Asia/Tokio"\n', "utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(cfg)

    assert caught.value.key == "sources.meti.timezone"
    assert "unknown time zone 'Asia/Tokio'" in caught.value.message
