"""Each source kind against the sample sites served on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import make_config, site_config
from tracker.demo.server import SiteServer, site_root
from tracker.pipeline import fetch
from tracker.settings import SourceConfig
from tracker.sources import get_kind
from tracker.sources.feeds import RssSettings
from tracker.sources.htmllist import HtmlListSettings, HtmlListSource
from tracker.store import Store


def _docs(db_path: Path, source: str | None = None) -> dict[str, dict]:
    with Store(db_path) as store:
        return {f"{d['url']}#{d['id']}": d for d in store.documents(source)}


def test_mofcom_list_and_articles_give_one_document_per_announcement(site: SiteServer, db_path: Path) -> None:
    config = site_config(site, db_path)
    [stats] = fetch(config, ["mofcom"])
    assert stats.status == "ok", stats.error
    docs = _docs(db_path, "mofcom")
    assert len(docs) == 8
    by_number = {d["doc_number"]: d for d in docs.values()}
    assert set(by_number) == {
        "MOFCOM 2023-23",
        "MOFCOM 2023-39",
        "MOFCOM 2024-33",
        "MOFCOM 2025-18",
        "MOFCOM 2025-56",
        "MOFCOM 2025-57",
        "MOFCOM 2025-70",
        None,
    }
    d70 = by_number["MOFCOM 2025-70"]
    assert d70["published"] == "2025-11-07"
    assert d70["language"] == "zh"
    assert "暂停实施" in d70["text"]
    assert d70["title"].startswith("商务部 海关总署公告2025年第70号")
    # no navigation or footer boilerplate in the text
    for d in docs.values():
        assert "本站转载" not in d["text"]
        assert "主办单位" not in d["text"]
        assert "首页" not in d["text"]
    # the Q&A has no number and is kept as an article keyed by its URL
    qa = by_number[None]
    assert qa["kind"] == "article"
    assert "答记者问" in qa["title"]


def test_mofcom_date_of_issue_comes_from_the_article_not_the_list(tmp_path: Path, db_path: Path) -> None:
    # a re-post listed weeks after the announcement's 【发文日期】
    root = tmp_path / "site"
    (root / "art").mkdir(parents=True)
    article = (site_root() / "mofcom/zwgk/zcfb/art/2023/art_4c332aac5913fbf1a8fdee22623aa328.html").read_text(
        "utf-8"
    )
    (root / "art/a.html").write_text(article.replace("2023-07-03 18:00", "2023-07-20 09:00"), "utf-8")
    (root / "index.html").write_text(
        '<html><body><ul><li><a href="/art/a.html" title="商务部 海关总署公告2023年第23号">x</a>'
        "<span>[2023-07-20]</span></li></ul></body></html>",
        "utf-8",
    )
    with SiteServer(root) as srv:
        config = make_config(db_path, {"mofcom": {"url": f"{srv.base_url}/index.html"}})
        [stats] = fetch(config)
    assert stats.status == "ok", stats.error
    [doc] = _docs(db_path).values()
    assert doc["published"] == "2023-07-03"
    assert doc["meta"]["list_date"] == "2023-07-20"


def test_gbk_legacy_page_decodes(site: SiteServer, db_path: Path) -> None:
    config = site_config(site, db_path)
    fetch(config, ["mofcom"])
    docs = _docs(db_path, "mofcom")
    gbk = next(d for d in docs.values() if d["url"].endswith(".shtml"))
    assert gbk["doc_number"] == "MOFCOM 2024-33"
    assert gbk["published"] == "2024-08-15"
    assert "锑矿及原料" in gbk["text"]
    assert "\ufffd" not in gbk["text"]


def test_wordpress_feed_items_keyed_by_guid_with_clean_bodies(site: SiteServer, db_path: Path) -> None:
    config = site_config(site, db_path)
    [stats] = fetch(config, ["whitehouse"])
    assert stats.status == "ok", stats.error
    docs = _docs(db_path, "whitehouse")
    assert len(docs) == 32
    japan = next(d for d in docs.values() if "Japan Framework" in d["title"])
    assert japan["published"] == "2025-10-28"
    assert japan["meta"]["guid"] == "https://www.whitehouse.gov/?p=61301"  # the guid url, as data
    assert "signed in Tokyo on October 28, 2025" in japan["text"]
    assert "appeared first on" not in japan["text"]
    assert not japan["text"].startswith("United States-Japan Framework")  # the topper heading is dropped
    # HTML entities in titles are decoded
    assert any("America’s Hunting Heritage" in d["title"] for d in docs.values())
    # feed items whose pages live on another host are stored from the feed alone, not followed
    assert not any("whitehouse.gov" in r for r in site.requests)


def test_feed_date_keeps_the_publishers_offset(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>Beijing item</title><link>http://127.0.0.1/x</link><guid>g1</guid>"
        "<pubDate>Mon, 10 Nov 2025 00:30:00 +0800</pubDate><description>body</description></item>"
        "</channel></rss>",
        "utf-8",
    )
    with SiteServer(root) as srv:
        config = make_config(db_path, {"cn": {"kind": "rss", "url": f"{srv.base_url}/feed.xml"}})
        [stats] = fetch(config)
    assert stats.status == "ok", stats.error
    [doc] = _docs(db_path).values()
    assert doc["published"] == "2025-11-10"  # UTC would say 2025-11-09


def test_federal_register_numbers_and_signing_dates(site: SiteServer, db_path: Path) -> None:
    config = site_config(site, db_path)
    [stats] = fetch(config, ["federalregister"])
    assert stats.status == "ok", stats.error
    raw = json.loads((site_root() / "federalregister/api/v1/documents.json").read_text("utf-8"))
    docs = {d["meta"]["document_number"]: d for d in _docs(db_path, "federalregister").values()}
    assert len(docs) == len(raw["results"]) == 20
    for r in raw["results"]:
        d = docs[r["document_number"]]
        assert d["published"] == r["signing_date"]
        if r["executive_order_number"]:
            assert d["doc_number"] == f"EO {r['executive_order_number']}"
        elif r["proclamation_number"]:
            assert d["doc_number"] == f"Proclamation {r['proclamation_number']}"
        else:
            assert d["doc_number"] == f"FR {r['document_number']}"
        assert d["url"] == r["html_url"]


def test_federal_register_follows_next_page_url(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    raw = json.loads((site_root() / "federalregister/api/v1/documents.json").read_text("utf-8"))
    with SiteServer(root) as srv:
        first = {**raw, "results": raw["results"][:10], "next_page_url": f"{srv.base_url}/p2.json"}
        second = {**raw, "results": raw["results"][10:], "next_page_url": None}
        (root / "p1.json").write_text(json.dumps(first), "utf-8")
        (root / "p2.json").write_text(json.dumps(second), "utf-8")
        config = make_config(db_path, {"federalregister": {"url": f"{srv.base_url}/p1.json"}})
        [stats] = fetch(config)
    assert stats.status == "ok", stats.error
    assert stats.new_documents == 20
    assert stats.pages == 2


def test_usgs_list_versions_are_stored_and_diffable(site: SiteServer, db_path: Path) -> None:
    config = site_config(site, db_path)
    [first] = fetch(config, ["usgs"])
    assert first.status == "ok", first.error
    site.aliases["/usgs/list.html"] = site_root() / "usgs/2022/critical-minerals-list.html"
    [second] = fetch(config, ["usgs"])
    assert second.status == "ok", second.error
    with Store(db_path) as store:
        versions = store.list_versions("usgs")
    assert [len(v["items"]) for v in versions] == [35, 50]
    assert [v["stated_count"] for v in versions] == [35, 50]
    assert [v["published"] for v in versions] == ["2018-05-18", "2022-02-24"]
    assert "nickel" in versions[1]["items"] and "nickel" not in versions[0]["items"]
    assert "helium" in versions[0]["items"] and "helium" not in versions[1]["items"]
    # each version is its own document, numbered by its citation
    numbers = sorted(d["doc_number"] for d in _docs(db_path, "usgs").values())
    assert numbers == ["83 FR 23295", "87 FR 10381"]
    # unchanged page: no new version
    [third] = fetch(config, ["usgs"])
    assert third.status == "ok"
    with Store(db_path) as store:
        assert len(store.list_versions("usgs")) == 2


def test_usgs_list_count_mismatch_is_a_failure_not_a_partial_list(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    page = (site_root() / "usgs/2022/critical-minerals-list.html").read_text("utf-8")
    (root / "list.html").write_text(page.replace("zinc, and zirconium", "and zirconium"), "utf-8")
    with SiteServer(root) as srv:
        config = make_config(db_path, {"usgs": {"url": f"{srv.base_url}/list.html"}})
        [stats] = fetch(config)
    assert stats.status == "failed"
    assert "50" in (stats.error or "") and "49" in (stats.error or "")
    with Store(db_path) as store:
        assert store.list_versions() == []


def test_html_list_source_from_config_selectors(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "site"
    (root / "news").mkdir(parents=True)
    (root / "list.html").write_text(
        '<html><body><div class="news">'
        '<div class="row"><a class="t" href="/news/1.html">Ministry notice No. 12 on cobalt</a><em>2026-03-02</em></div>'
        '<div class="row"><a class="t" href="/news/2.html">Ministry notice No. 13 on lithium</a><em>2026-03-09</em></div>'
        '</div><a class="older" href="/list2.html">older</a></body></html>',
        "utf-8",
    )
    (root / "list2.html").write_text(
        '<html><body><div class="row"><a class="t" href="/news/3.html">Ministry notice No. 11</a>'
        "<em>2026-01-05</em></div></body></html>",
        "utf-8",
    )
    for n in (1, 2, 3):
        (root / f"news/{n}.html").write_text(
            f'<html><body><nav>Home</nav><div class="content"><p>Notice body {n}.</p><p>Second paragraph.</p></div>'
            "<footer>Copyright</footer></body></html>",
            "utf-8",
        )
    with SiteServer(root) as srv:
        config = make_config(
            db_path,
            {
                "ministry": {
                    "kind": "html-list",
                    "url": f"{srv.base_url}/list.html",
                    "item": "div.row",
                    "title": "a.t",
                    "link": "a.t",
                    "date": "em",
                    "next": "a.older",
                    "body": "div.content",
                    "number": r"No\. (\d+)",
                    "language": "en",
                }
            },
        )
        [stats] = fetch(config)
        assert stats.status == "ok", stats.error
        docs = sorted(_docs(db_path).values(), key=lambda d: d["url"])
        assert [d["doc_number"] for d in docs] == ["12", "13", "11"]
        assert docs[0]["text"] == "Notice body 1.\nSecond paragraph."
        assert docs[0]["published"] == "2026-03-02"


def test_mofcom_json_list_endpoint_is_read_like_the_html_list(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "site"
    (root / "art").mkdir(parents=True)
    article = (
        site_root() / "mofcom/zwgk/zcfb/art/2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html"
    ).read_bytes()
    (root / "art/x.html").write_bytes(article)
    html = '<ul><li><a href="/art/x.html" title="商务部 海关总署公告2025年第70号">t</a><span>[2025-11-07]</span></li></ul>'
    (root / "unit.json").write_text(
        json.dumps({"success": True, "code": 200, "data": {"html": html}}), "utf-8"
    )
    with SiteServer(root) as srv:
        config = make_config(db_path, {"mofcom": {"url": f"{srv.base_url}/unit.json"}})
        [stats] = fetch(config)
    assert stats.status == "ok", stats.error
    [doc] = _docs(db_path).values()
    assert doc["doc_number"] == "MOFCOM 2025-70"
    assert doc["published"] == date(2025, 11, 7).isoformat()


def test_each_source_carries_the_frozen_settings_of_its_own_kind(db_path: Path) -> None:
    config = make_config(
        db_path,
        {"ministry": {"kind": "html-list", "url": "https://ministry.example/list", "item": "li.notice"}},
        only=False,
    )
    for source in config.sources.values():
        assert type(source.settings) is get_kind(source.kind).Settings, source.name
    ministry = config.source("ministry").settings
    assert isinstance(ministry, HtmlListSettings) and ministry.item == "li.notice"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ministry.item = "div"  # type: ignore[misc]
    with Store(":memory:") as store:
        kind = get_kind("html-list")(config.source("ministry"), None, store)
        assert kind.settings is ministry


def test_a_kind_refuses_settings_built_for_another_kind() -> None:
    source = SourceConfig("s", "html-list", ("https://s.example/list",), settings=RssSettings(authority="x"))
    with Store(":memory:") as store, pytest.raises(TypeError) as caught:
        HtmlListSource(source, None, store)
    assert str(caught.value) == (
        "source 's': settings of kind 'html-list' (HtmlListSettings) expected, got RssSettings"
    )
