"""Whole fetch runs: idempotence, conditional GET, dedup, versions, backfill, crash recovery."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import make_config, site_config
from tracker.demo.server import SiteServer, site_root
from tracker.pipeline import fetch
from tracker.store import Store

LIST = "/mofcom/zwgk/zcfb/index.html"


def _count(db_path: Path, sql: str) -> int:
    with Store(db_path) as store:
        return int(store.db.execute(sql).fetchone()[0])


def _copy_site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(site_root(), root)
    return root


def test_refetch_of_unchanged_sources_stores_nothing_and_costs_one_conditional_get_each(
    site: SiteServer, db_path: Path
) -> None:
    config = site_config(site, db_path)
    first = fetch(config)
    assert all(s.status == "ok" for s in first), [s.error for s in first]
    docs_before = _count(db_path, "SELECT COUNT(*) FROM documents")
    versions_before = _count(db_path, "SELECT COUNT(*) FROM document_versions")
    assert docs_before == 8 + 32 + 20 + 1 - _orders_in_both_feed_and_register()
    requests_before = len(site.requests)

    second = fetch(config)
    assert all(s.status == "ok" for s in second)
    assert sum(s.new_documents + s.updated_documents for s in second) == 0
    # one request per configured URL, each answered 304
    assert len(site.requests) - requests_before == 5
    assert sum(s.requests for s in second) == 5
    assert sum(s.not_modified for s in second) == 5
    assert _count(db_path, "SELECT COUNT(*) FROM documents") == docs_before
    assert _count(db_path, "SELECT COUNT(*) FROM document_versions") == versions_before


def _orders_in_both_feed_and_register() -> int:
    """Presidential documents the sample White House feed and Federal Register search both carry
    (same words in the title, signed the day the feed dates the item): each is one document."""
    import email.utils
    import json
    import re
    import xml.etree.ElementTree as ET

    def words(title: str) -> str:
        return " ".join(re.findall(r"[a-z0-9]+", title.lower().replace("’", "").replace("'", "")))

    feed = ET.parse(site_root() / "whitehouse/presidential-actions/feed/index.xml")
    items = {
        (
            words(i.findtext("title") or ""),
            email.utils.parsedate_to_datetime(i.findtext("pubDate") or "").date(),
        )
        for i in feed.iter("item")
    }
    fr = json.loads((site_root() / "federalregister/api/v1/documents.json").read_text("utf-8"))
    signed = {
        (words(r["title"]), date.fromisoformat(r["signing_date"]))
        for r in fr["results"]
        if r.get("signing_date")
    }
    both = len(items & signed)
    assert both > 0  # the samples do hold orders carried by both
    return both


def test_server_without_validators_is_recognised_by_body_hash(tmp_path: Path, db_path: Path) -> None:
    with SiteServer(site_root(), validators=False) as srv:
        config = make_config(db_path, {"mofcom": {"url": f"{srv.base_url}{LIST}"}})
        fetch(config)
        before = len(srv.requests)
        [again] = fetch(config)
        assert again.status == "ok"
        assert again.new_documents == again.updated_documents == 0
        assert len(srv.requests) - before == 1  # the identical list page is not processed again


def test_same_announcement_from_two_sources_is_one_document(tmp_path: Path, db_path: Path) -> None:
    # a mirror re-posts No. 70 under another path and id (as exportcontrol.mofcom.gov.cn does)
    mirror = tmp_path / "mirror"
    (mirror / "article").mkdir(parents=True)
    src = site_root() / "mofcom/zwgk/zcfb/art/2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html"
    (mirror / "article/202511/").mkdir()
    (mirror / "article/202511/7.html").write_bytes(
        src.read_bytes().replace("特此公告".encode(), "特此公告。【发布单位】安全与管制局".encode())
    )
    (mirror / "index.html").write_text(
        '<ul><li><a href="/article/202511/7.html">商务部 海关总署公告2025年第70号</a><span>2025-11-20</span></li></ul>',
        "utf-8",
    )
    with SiteServer(site_root()) as official, SiteServer(mirror) as copy:
        config = make_config(
            db_path,
            {
                "mofcom": {"url": f"{official.base_url}{LIST}"},
                "mirror": {"kind": "mofcom", "url": f"{copy.base_url}/index.html"},
            },
        )
        results = fetch(config)
    assert all(s.status == "ok" for s in results), [s.error for s in results]
    with Store(db_path) as store:
        docs = [d for d in store.documents() if d["doc_number"] == "MOFCOM 2025-70"]
        assert len(docs) == 1
        assert docs[0]["sources"] == ["mirror", "mofcom"]
        assert len(docs[0]["urls"]) == 2
        assert docs[0]["published"] == "2025-11-07"  # the date of issue, not the mirror's list date
        # the mirror's different text is kept as a version, not lost
        assert len(store.versions(docs[0]["id"])) == 2


def test_feed_and_api_carrying_one_federal_register_document_store_it_once(
    tmp_path: Path, db_path: Path
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    raw = json.loads((site_root() / "federalregister/api/v1/documents.json").read_text("utf-8"))
    first = raw["results"][0]
    (root / "documents.json").write_text(json.dumps({**raw, "results": [first]}), "utf-8")
    (root / "documents.rss").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>FR</title><item><title>{first["title"]}</title>'
        f"<link>{first['html_url']}</link><guid>{first['html_url']}</guid>"
        "<pubDate>Wed, 23 Sep 2026 04:00:00 -0400</pubDate><description>x</description></item></channel></rss>",
        "utf-8",
    )
    with SiteServer(root) as srv:
        config = make_config(
            db_path,
            {
                "federalregister": {"url": f"{srv.base_url}/documents.json"},
                "fr_rss": {"kind": "rss", "url": f"{srv.base_url}/documents.rss"},
            },
            fetch={"workers": 1},
        )
        results = fetch(config)
    assert all(s.status == "ok" for s in results)
    assert _count(db_path, "SELECT COUNT(*) FROM documents") == 1
    assert _count(db_path, "SELECT COUNT(DISTINCT source) FROM document_urls") == 2


def test_changed_page_becomes_a_new_version_and_keeps_the_old_one(tmp_path: Path, db_path: Path) -> None:
    root = _copy_site(tmp_path)
    article = root / "mofcom/zwgk/zcfb/art/2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html"
    with SiteServer(root) as srv:
        config = make_config(db_path, {"mofcom": {"url": f"{srv.base_url}{LIST}"}})
        fetch(config)
        article.write_text(article.read_text("utf-8").replace("2026年11月10日", "2026年12月31日"), "utf-8")
        index = root / "mofcom/zwgk/zcfb/index.html"
        index.write_text(
            index.read_text("utf-8").replace("<span>[2025-11-07]</span>", "<span>[2025-11-07]</span> "),
            "utf-8",
        )
        for changed in (article, index):  # a later Last-Modified, without waiting for the clock
            mtime = changed.stat().st_mtime + 2
            os.utime(changed, (mtime, mtime))
        [stats] = fetch(config)
    assert stats.status == "ok", stats.error
    assert stats.updated_documents == 1 and stats.new_documents == 0
    with Store(db_path) as store:
        [doc] = [d for d in store.documents() if d["doc_number"] == "MOFCOM 2025-70"]
        assert doc["version"] == 2
        assert "2026年12月31日" in doc["text"]
        versions = store.versions(doc["id"])
        assert [v["version"] for v in versions] == [1, 2]
        assert "2026年11月10日" in versions[0]["text"]


def test_fetch_reads_older_pages_only_while_everything_is_new(site: SiteServer, db_path: Path) -> None:
    config = make_config(db_path, {"mofcom": {"url": f"{site.base_url}{LIST}", "max_pages": 1}})
    [stats] = fetch(config)
    assert stats.pages == 1 and stats.new_documents == 5


def test_backfill_walks_pages_back_and_stops_at_the_date(site: SiteServer, db_path: Path) -> None:
    config = make_config(db_path, {"mofcom": {"url": f"{site.base_url}{LIST}", "max_pages": 1}})
    fetch(config)
    from datetime import date

    [stats] = fetch(config, ["mofcom"], mode="backfill", until=date(2023, 10, 1))
    assert stats.status == "ok", stats.error
    with Store(db_path) as store:
        numbers = {d["doc_number"] for d in store.documents()}
    assert "MOFCOM 2024-33" in numbers and "MOFCOM 2023-39" in numbers
    assert "MOFCOM 2023-23" not in numbers  # issued 2023-07-03, before --until


def _feed(items: list[tuple[str, str]]) -> str:
    entries = "".join(
        f"<item><title>Item {guid}</title><link>http://127.0.0.1/{guid}/</link>"
        f'<guid isPermaLink="false">{guid}</guid><pubDate>{day}</pubDate>'
        f"<content:encoded><![CDATA[<p>Body {guid}</p>]]></content:encoded></item>"
        for guid, day in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>f</title>{entries}</channel></rss>"
    )


def test_backfill_of_a_wordpress_feed_walks_paged_until_404(httpserver, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    httpserver.expect_request("/feed/", query_string="").respond_with_data(
        _feed([("p1", "Tue, 10 Nov 2026 10:00:00 +0000")]), content_type="application/rss+xml"
    )
    httpserver.expect_request("/feed/", query_string="paged=2").respond_with_data(
        _feed([("p2", "Tue, 20 Oct 2026 10:00:00 +0000")]), content_type="application/rss+xml"
    )
    httpserver.expect_request("/feed/", query_string="paged=3").respond_with_data(
        _feed([("p3", "Tue, 01 Sep 2026 10:00:00 +0000")]), content_type="application/rss+xml"
    )
    httpserver.expect_request("/feed/", query_string="paged=4").respond_with_data("gone", status=404)
    url = httpserver.url_for("/feed/")
    config = make_config(db_path, {"whitehouse": {"url": url}})
    [plain] = fetch(config)
    assert plain.new_documents == 1 and plain.pages == 1  # a plain fetch never pages a feed

    [limited] = fetch(config, mode="backfill", until=date(2026, 10, 1))
    assert limited.status == "ok", limited.error
    assert limited.new_documents == 1  # p2; p3 is older than --until, so page 4 is never asked for
    assert not any(req.query_string == b"paged=4" for req, _ in httpserver.log)

    [full] = fetch(config, mode="backfill")
    assert full.status == "ok", full.error  # the 404 past the end is the end, not a failure
    assert full.new_documents == 1
    with Store(db_path) as store:
        assert sorted(d["meta"]["guid"] for d in store.documents()) == ["p1", "p2", "p3"]


def test_interrupted_run_leaves_the_database_consistent_and_the_next_run_completes(
    tmp_path: Path, db_path: Path
) -> None:
    with SiteServer(site_root()) as srv:
        srv.delays["/mofcom/zwgk/zcfb/art/"] = 0.4
        srv.delays["/mofcom/article/"] = 0.4
        cfg = tmp_path / "tracker.toml"
        cfg.write_text(
            "[fetch]\nhost_delay = 0.0\nretries = 0\n"
            f'[database]\npath = "{db_path}"\n'
            f'[sources.mofcom]\nurl = "{srv.base_url}{LIST}"\n'
            "[sources.whitehouse]\nenabled = false\n[sources.federalregister]\nenabled = false\n"
            "[sources.usgs]\nenabled = false\n",
            "utf-8",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "tracker", "--config", str(cfg), "fetch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 20
            stored = 0
            while time.monotonic() < deadline and stored < 2:
                time.sleep(0.05)
                if db_path.exists():
                    try:
                        stored = _count(db_path, "SELECT COUNT(*) FROM documents")
                    except sqlite3.OperationalError:
                        stored = 0
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 130, err.decode()
        assert b"interrupted" in err
        with Store(db_path) as store:
            assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            partial = _count(db_path, "SELECT COUNT(*) FROM documents")
            assert 2 <= partial < 8
            assert store.runs("mofcom")[0].status == "interrupted"
            # every stored document is whole: its version and URL rows were written with it
            assert _count(db_path, "SELECT COUNT(*) FROM document_versions") == partial
        srv.delays.clear()
        from tracker.config import load_config

        [stats] = fetch(load_config(cfg))
    assert stats.status == "ok", stats.error
    assert _count(db_path, "SELECT COUNT(*) FROM documents") == 8
    assert stats.new_documents == 8 - partial


@pytest.mark.parametrize("workers", [1, 4])
def test_one_failing_source_never_stops_the_others(site: SiteServer, db_path: Path, workers: int) -> None:
    config = make_config(
        db_path,
        {
            "mofcom": {"url": f"{site.base_url}{LIST}"},
            "broken": {"kind": "rss", "url": f"{site.base_url}/no/such/feed.xml"},
        },
        fetch={"workers": workers},
    )
    results = {s.source: s for s in fetch(config)}
    assert results["broken"].status == "failed"
    assert "HTTP 404" in (results["broken"].error or "")
    assert results["mofcom"].status == "ok"
    assert results["mofcom"].new_documents == 8
    with Store(db_path) as store:
        assert store.source_state("broken").consecutive_failures == 1
        assert store.source_state("mofcom").consecutive_failures == 0
