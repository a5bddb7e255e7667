"""The sources against the shapes of the live sites: recorded responses of the Federal Register and
the White House (tests/fixtures/recordings/), and MOFCOM's CMS as scrapers describe it, each served
by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_path, make_config
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WResponse

from tracker.demo.server import Reply, SiteServer
from tracker.demo.standins import UNIT_PATH, MofcomCms
from tracker.http import Response
from tracker.pipeline import fetch
from tracker.sources.federalregister import FIELDS, TextRefused, raw_text, with_fields
from tracker.store import Store


def documents(db_path: Path, source: str | None = None) -> list[dict[str, Any]]:
    with Store(db_path) as store:
        return list(store.documents(source))


def by_number(db_path: Path) -> dict[str, dict[str, Any]]:
    return {d["doc_number"]: d for d in documents(db_path) if d["doc_number"]}


# --- Federal Register ----------------------------------------------------------------------------


def test_recorded_presidential_documents_are_numbered_and_dated_by_signing(
    httpserver: HTTPServer, db_path: Path
) -> None:
    body = fixture_path("recordings/federalregister/federalregister_presidential_documents.json").read_bytes()
    httpserver.expect_request("/api/v1/documents.json").respond_with_data(
        body, content_type="application/json"
    )
    config = make_config(
        db_path,
        {
            "federalregister": {
                "url": httpserver.url_for("/api/v1/documents.json") + "?conditions[type][]=PRESDOCU"
            }
        },
    )
    [stats] = fetch(config)
    assert stats.status == "ok", stats.error
    docs = by_number(db_path)
    eo = docs["EO 14431"]
    assert eo["published"] == "2026-09-18"  # signed on the 18th, published on the 23rd
    assert eo["title"].startswith("Enhancing Program Integrity")
    assert eo["kind"] == "presidential-document"
    proc = docs["Proclamation 11069"]
    assert proc["published"] == "2026-09-18"
    assert proc["title"] == "Restriction on Entry of Certain Nonimmigrant Workers"


def test_the_search_asks_for_every_field_it_reads(httpserver: HTTPServer, db_path: Path) -> None:
    body = fixture_path("recordings/federalregister/documents_newest.json").read_bytes()
    httpserver.expect_request("/api/v1/documents.json").respond_with_data(
        body, content_type="application/json"
    )
    config = make_config(
        db_path,
        {
            "federalregister": {
                "url": httpserver.url_for("/api/v1/documents.json") + "?order=newest&fields[]=title"
            }
        },
    )
    fetch(config)
    [(request, _)] = httpserver.log
    asked = request.args.getlist("fields[]")
    assert set(FIELDS) <= set(asked)
    assert asked.count("title") == 1  # a field the URL names already is not asked twice
    assert request.args.get("order") == "newest"
    for needed in (
        "signing_date",
        "executive_order_number",
        "proclamation_number",
        "subtype",
        "raw_text_url",
    ):
        assert needed in asked


def test_with_fields_leaves_other_urls_alone() -> None:
    assert with_fields("https://example.org/feed.xml") == "https://example.org/feed.xml"
    url = with_fields("https://www.federalregister.gov/api/v1/documents.json?conditions[term]=x")
    assert "conditions[term]=x" in url and "fields[]=signing_date" in url


def test_raw_text_envelope_is_removed_and_hidden_addresses_restored() -> None:
    content = fixture_path("recordings/federalregister/2026-00475.txt").read_bytes()
    text = raw_text(
        Response("https://www.federalregister.gov/x.txt", 200, content, "text/plain; charset=utf-8")
    )
    assert "<pre>" not in text and "<a href" not in text and "<script" not in text
    assert "[email" not in text
    assert "Email submission@ncpc.gov." in text  # decoded by hand from data-cfemail
    # GPO's wrapped lines are one paragraph again
    assert "Notice of Final Adoption and Effective Date for Updates to the Submission Guidelines" in text
    assert (
        "SUMMARY: The National Capital Planning Commission (NCPC) adopted updates to the Submission" in text
    )
    assert "-----" not in text


REQUEST_ACCESS = (
    "<!DOCTYPE html><html><head><title>Federal Register :: Request Access</title></head>"
    "<body><h1>Request Access</h1><p>Due to aggressive automated scraping …</p></body></html>"
)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (REQUEST_ACCESS, "text/html; charset=utf-8"),
        (REQUEST_ACCESS, "text/plain"),  # labelled as text, still the refusal page
        ("<html><body><p>Something else</p></body></html>", "text/plain"),
        ("   ", "text/plain"),
    ],
)
def test_a_refusal_is_never_taken_for_the_text(body: str, content_type: str) -> None:
    with pytest.raises(TextRefused):
        raw_text(Response("https://www.federalregister.gov/x.txt", 200, body.encode(), content_type))


def _fr_result(number: str, title: str, raw_text_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "document_number": number,
        "title": title,
        "type": "Rule",
        "abstract": "The Bureau suspends the rule for one year.",
        "action": "Final rule.",
        "dates": None,
        "publication_date": "2025-11-12",
        "signing_date": None,
        "html_url": f"https://www.federalregister.gov/documents/2025/11/12/{number}/x",
        "raw_text_url": raw_text_url,
        **extra,
    }


def test_refused_full_text_is_kept_pending_and_read_on_a_later_run(
    httpserver: HTTPServer, db_path: Path
) -> None:
    text_path = "/documents/full_text/text/2025/11/12/2025-19846.txt"
    search = {
        "count": 1,
        "results": [
            _fr_result("2025-19846", "Suspension of the Affiliates Rule", httpserver.url_for(text_path))
        ],
    }
    httpserver.expect_request("/api/v1/documents.json").respond_with_json(search)
    answers = [
        (REQUEST_ACCESS, "text/html; charset=utf-8"),
        (
            "<html>\n<head>\n<title>Federal Register</title>\n</head>\n<body><pre>\nRULE\n\nThe rule on\naffiliates "
            "is suspended until November 9,\n2026, for gallium and germanium.\n</pre></body>\n</html>",
            "text/plain; charset=utf-8",
        ),
    ]

    def handler(request: Request) -> WResponse:
        body, ctype = answers.pop(0) if len(answers) > 1 else answers[0]
        return WResponse(body, status=200, content_type=ctype)

    httpserver.expect_request(text_path).respond_with_handler(handler)
    config = make_config(db_path, {"federalregister": {"url": httpserver.url_for("/api/v1/documents.json")}})

    [first] = fetch(config)
    assert first.status == "ok", first.error  # a refusal is no failure of the source
    assert first.new_documents == 1
    assert any("refused" in n for n in first.notes)
    [doc] = documents(db_path)
    assert "Request Access" not in doc["text"] and "aggressive" not in doc["text"]
    assert doc["text"].startswith("The Bureau suspends the rule")  # the abstract until the text comes
    with Store(db_path) as store:
        assert store.pending_text_count("federalregister") == 1
        assert store.runs("federalregister")[0].notes

    [second] = fetch(config)
    assert second.status == "ok", second.error
    assert second.updated_documents == 1
    [doc] = documents(db_path)
    assert (
        "The rule on affiliates is suspended until November 9, 2026, for gallium and germanium."
        in doc["text"]
    )
    with Store(db_path) as store:
        assert store.pending_text_count("federalregister") == 0
        assert len(store.versions(doc["id"])) == 2  # the abstract-only delivery stays as a version

    [third] = fetch(config)  # nothing pending, nothing new: the text is not asked for again
    assert third.updated_documents == 0 and third.new_documents == 0
    assert sum(1 for req, _ in httpserver.log if req.path == text_path) == 2


def test_full_texts_beyond_the_run_limit_wait_for_the_next_runs(
    httpserver: HTTPServer, db_path: Path
) -> None:
    results = []
    for i in range(5):
        path = f"/documents/full_text/text/2025/11/12/2025-1000{i}.txt"
        results.append(_fr_result(f"2025-1000{i}", f"Notice {i}", httpserver.url_for(path)))
        httpserver.expect_request(path).respond_with_data(
            f"<html><body><pre>\nFull text of notice {i}.\n</pre></body></html>", content_type="text/plain"
        )
    httpserver.expect_request("/api/v1/documents.json").respond_with_json({"count": 5, "results": results})
    config = make_config(
        db_path, {"federalregister": {"url": httpserver.url_for("/api/v1/documents.json"), "max_texts": 2}}
    )
    [first] = fetch(config)
    assert first.new_documents == 5
    assert sum("Full text" in d["text"] for d in documents(db_path)) == 2
    fetch(config)
    assert sum("Full text" in d["text"] for d in documents(db_path)) == 4
    fetch(config)
    assert sum("Full text" in d["text"] for d in documents(db_path)) == 5
    text_requests = [req.path for req, _ in httpserver.log if req.path.endswith(".txt")]
    assert len(text_requests) == len(set(text_requests)) == 5  # each text read once


# --- White House ---------------------------------------------------------------------------------


def test_white_house_text_is_the_order_without_navigation_or_footer(
    httpserver: HTTPServer, db_path: Path
) -> None:
    recorded = fixture_path("recordings/whitehouse/presidential-actions_feed.first-item.xml").read_bytes()
    # the recording is an exact prefix of the feed: close the XML as the rest of the feed does
    httpserver.expect_request("/presidential-actions/feed/").respond_with_data(
        recorded + b"\n</channel>\n</rss>\n", content_type="application/rss+xml; charset=UTF-8"
    )
    config = make_config(db_path, {"whitehouse": {"url": httpserver.url_for("/presidential-actions/feed/")}})
    [stats] = fetch(config)
    assert stats.status == "ok", stats.error
    [doc] = documents(db_path)
    assert doc["text"].startswith("By the authority vested in me as President")
    for junk in ("Select Category", "Presidential Actions", "All News", "Search", "appeared first on"):
        assert junk not in doc["text"], junk
    assert doc["text"].rstrip().endswith("September 29, 2026.")
    assert doc["published"] == "2026-09-29"
    assert doc["meta"]["signing_date"] == "2026-09-29"
    assert doc["meta"]["guid"] == "https://www.whitehouse.gov/?p=51617"


def test_white_house_item_and_federal_register_document_are_one_document(
    httpserver: HTTPServer, db_path: Path
) -> None:
    recorded = fixture_path("recordings/whitehouse/presidential-actions_feed.first-item.xml").read_bytes()
    # posted at 01:10 UTC: already the next day in UTC, the evening of the 29th in Washington
    late = recorded.replace(b"Tue, 29 Sep 2026 21:23:48 +0000", b"Wed, 30 Sep 2026 01:10:00 +0000")
    httpserver.expect_request("/presidential-actions/feed/").respond_with_data(
        late + b"</channel></rss>", content_type="application/rss+xml"
    )
    newest = json.loads(fixture_path("recordings/federalregister/documents_newest.json").read_text("utf-8"))
    httpserver.expect_request("/api/v1/documents.json").respond_with_json(newest)
    config = make_config(
        db_path,
        {
            "whitehouse": {"url": httpserver.url_for("/presidential-actions/feed/")},
            "federalregister": {"url": httpserver.url_for("/api/v1/documents.json")},
        },
    )
    for stats in fetch(config):
        assert stats.status == "ok", stats.error
    [merged] = [d for d in documents(db_path) if "whitehouse" in d["sources"]]
    assert merged["sources"] == ["federalregister", "whitehouse"]
    assert merged["doc_number"] == "EO 14433"
    assert merged["published"] == "2026-09-29"
    assert merged["text"].startswith("By the authority vested in me")


def test_white_house_pubdate_is_read_in_washington_time_without_a_signature(
    httpserver: HTTPServer, db_path: Path
) -> None:
    feed = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>x</title><item><title>Memorandum on Something</title>"
        "<link>https://www.whitehouse.gov/presidential-actions/2026/09/memo/</link>"
        "<pubDate>Wed, 30 Sep 2026 01:10:00 +0000</pubDate>"
        "<category><![CDATA[Presidential Actions]]></category><category><![CDATA[Presidential Memoranda]]></category>"
        '<guid isPermaLink="false">https://www.whitehouse.gov/?p=1</guid>'
        "<content:encoded><![CDATA[<p>MEMORANDUM FOR THE SECRETARY OF THE INTERIOR</p>]]></content:encoded>"
        "</item></channel></rss>"
    )
    httpserver.expect_request("/feed/").respond_with_data(feed, content_type="application/rss+xml")
    config = make_config(db_path, {"whitehouse": {"url": httpserver.url_for("/feed/")}})
    fetch(config)
    [doc] = documents(db_path)
    assert doc["published"] == "2026-09-29"


# --- MOFCOM's CMS --------------------------------------------------------------------------------

COLUMN = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>政策发布_商务部</title></head><body>
<div class="location">首页 &gt; 政务公开 &gt; 政策发布</div>
<div id="unit-list"></div>
<script src="/cms_files/default/script/AuthorizedRead/unitbuild.js?v=1" url="{url}"
  queryData="{{'parseType':'bulidstatic','webId':'w1','tplSetId':'t1','pageType':'column','tagId':'分页列表','editType':'null','pageId':'p1'}}"></script>
</body></html>"""

ARTICLE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="ArticleTitle" content="{shown}"><meta name="PubDate" content="{pub} 17:03">
<meta name="MakeTime" content="2026-03-02 09:12:33"><title>{shown}_商务部</title></head><body>
<div class="location">首页 &gt; 政务公开 &gt; 政策发布</div>
<h1>{shown}</h1>
<div class="art-con art-con-gonggao"><p>【发布单位】安全与管制局</p><p>【发布文号】{number}</p><p>【发文日期】{issued}</p></div>
<div ergodic="article" class="art-con art-con-bottonmLine"><p>{body}</p>
<div class="article-tool"><a href="#">打印本页</a> <a href="#">关闭窗口</a> 分享到：</div>
<section class="related"><a href="/zwgk/zcfb/art/2025/art_other.html">相关链接：另一篇公告</a></section>
</div>
<div class="footer"><p>主办单位：中华人民共和国商务部</p><p>本站转载、编译或摘编文章原文均来自其他媒体。</p></div>
</body></html>"""


def _cms_site(root: Path, count: int, unit_url: str = UNIT_PATH) -> list[dict[str, str]]:
    """A column page without items, `count` announcements and their live-shaped article pages."""
    (root / "zwgk/zcfb/art/2025").mkdir(parents=True)
    (root / "zwgk/zcfb/index.html").write_text(COLUMN.format(url=unit_url), "utf-8")
    items = []
    for n in range(count, 0, -1):
        href = f"/zwgk/zcfb/art/2025/art_{n:032x}.html"
        number = f"商务部公告2025年第{n}号"
        (root / href.lstrip("/")).write_text(
            ARTICLE.format(
                shown=f"商务部公告2025第{n}号 公布对第{n}类物项实施出口管制的决定",
                number=number,
                pub=f"2025-03-{n:02d}",
                issued=f"2025年02月{n:02d}日",
                body=f"根据《中华人民共和国出口管制法》，决定对第{n}类物项实施出口管制。本公告自2025年4月1日起正式实施。",
            ),
            "utf-8",
        )
        items.append(
            {
                "href": href,
                "title": f"商务部公告2025年第{n}号 公布对第{n}类物项实施出口管制的决定",
                "date": f"2025-03-{n:02d}",
            }
        )
    return items


def _cms_server(
    root: Path, items: list[dict[str, str]], page_size: int, **kw: Any
) -> tuple[SiteServer, MofcomCms]:
    server = SiteServer(root)
    cms = MofcomCms(root, page_size, **kw)
    cms.expected = {"webId": "w1", "tplSetId": "t1", "pageId": "p1"}
    cms.items = items
    server.routes[UNIT_PATH] = cms
    return server, cms


def test_mofcom_reads_the_cms_list_endpoint_named_by_the_column_page(tmp_path: Path, db_path: Path) -> None:
    items = _cms_site(tmp_path / "site", 7)
    server, _ = _cms_server(tmp_path / "site", items, page_size=3)
    with server:
        config = make_config(
            db_path,
            {"mofcom": {"url": f"{server.base_url}/zwgk/zcfb/index.html", "web_id": "", "page_id": ""}},
        )
        [stats] = fetch(config, ["mofcom"], mode="backfill")
        requests = list(server.requests)
        headers = list(server.headers_seen)
    assert stats.status == "ok", stats.error
    assert stats.new_documents == 7
    unit = [(p, h) for p, h in zip(requests, headers, strict=True) if p.startswith(UNIT_PATH)]
    assert len(unit) == 3  # 7 items at 3 a page
    assert "paramJson" not in unit[0][0]
    assert "webId=w1" in unit[0][0] and "pageId=p1" in unit[0][0] and "tplSetId=t1" in unit[0][0]
    assert "pageNo%22%3A2" in unit[1][0] and "pageSize%22%3A3" in unit[1][0]
    assert all(h.get("Referer") == f"{server.base_url}/zwgk/zcfb/index.html" for _, h in unit)
    docs = by_number(db_path)
    assert sorted(docs) == [f"MOFCOM 2025-{n}" for n in range(1, 8)]
    d = docs["MOFCOM 2025-3"]
    assert d["published"] == "2025-02-03"  # 【发文日期】, not PubDate (03-03) nor MakeTime (2026)
    assert "决定对第3类物项实施出口管制" in d["text"]  # the body, not only the header block
    assert d["text"].startswith("【发布单位】安全与管制局\n【发布文号】商务部公告2025年第3号")
    for junk in ("打印本页", "相关链接", "主办单位", "本站转载", "分享到"):
        assert junk not in d["text"], junk
    assert d["meta"]["list_date"] == "2025-03-03"


def test_mofcom_fetch_reads_at_most_max_pages_of_the_cms_list(tmp_path: Path, db_path: Path) -> None:
    items = _cms_site(tmp_path / "site", 7)
    server, _ = _cms_server(tmp_path / "site", items, page_size=3)
    with server:
        config = make_config(
            db_path, {"mofcom": {"url": f"{server.base_url}/zwgk/zcfb/index.html", "max_pages": 2}}
        )
        [stats] = fetch(config, ["mofcom"])
        again = fetch(config, ["mofcom"])[0]
    assert stats.status == "ok", stats.error
    assert stats.new_documents == 6
    assert again.status == "ok" and again.new_documents == 0


def test_mofcom_configured_cms_values_stand_in_when_the_page_names_none(
    tmp_path: Path, db_path: Path
) -> None:
    root = tmp_path / "site"
    items = _cms_site(root, 2)
    (root / "zwgk/zcfb/index.html").write_text("<html><body><div id='list'></div></body></html>", "utf-8")
    server, _ = _cms_server(root, items, page_size=15)
    with server:
        config = make_config(
            db_path,
            {
                "mofcom": {
                    "url": f"{server.base_url}/zwgk/zcfb/index.html",
                    "web_id": "w1",
                    "tpl_set_id": "t1",
                    "page_id": "p1",
                }
            },
        )
        [stats] = fetch(config, ["mofcom"])
    assert stats.status == "ok", stats.error
    assert stats.new_documents == 2


def test_mofcom_refused_by_the_site_fails_saying_how_to_set_the_user_agent(
    tmp_path: Path, db_path: Path
) -> None:
    items = _cms_site(tmp_path / "site", 2)
    server, _ = _cms_server(tmp_path / "site", items, page_size=15)
    server.routes[UNIT_PATH] = lambda req: Reply(403, "text/html", b"<html><body>403 Forbidden</body></html>")
    with server:
        config = make_config(db_path, {"mofcom": {"url": f"{server.base_url}/zwgk/zcfb/index.html"}})
        [refused] = fetch(config, ["mofcom"])
    assert refused.status == "failed"
    assert refused.http_status == 403
    assert "refused" in (refused.error or "") and "user_agent" in (refused.error or "")


def test_mofcom_source_user_agent_is_sent(tmp_path: Path, db_path: Path) -> None:
    items = _cms_site(tmp_path / "site", 2)
    server, _ = _cms_server(tmp_path / "site", items, page_size=15)
    with server:
        config = make_config(
            db_path,
            {
                "mofcom": {
                    "url": f"{server.base_url}/zwgk/zcfb/index.html",
                    "user_agent": "Mozilla/5.0 (tracker test)",
                }
            },
        )
        [stats] = fetch(config, ["mofcom"])
        agents = {h.get("User-Agent") for h in server.headers_seen}
    assert stats.status == "ok", stats.error
    assert agents == {"Mozilla/5.0 (tracker test)"}


def test_mofcom_cms_error_answer_is_a_failure_with_its_message(tmp_path: Path, db_path: Path) -> None:
    items = _cms_site(tmp_path / "site", 2)
    server, cms = _cms_server(tmp_path / "site", items, page_size=15)
    cms.expected = {"webId": "another"}
    with server:
        config = make_config(db_path, {"mofcom": {"url": f"{server.base_url}/zwgk/zcfb/index.html"}})
        [stats] = fetch(config, ["mofcom"])
    assert stats.status == "failed"
    assert "参数错误" in (stats.error or "")


def test_mofcom_article_with_only_a_header_block_is_an_item_error(tmp_path: Path, db_path: Path) -> None:
    items = _cms_site(tmp_path / "site", 2)
    page = tmp_path / "site" / items[0]["href"].lstrip("/")
    html = page.read_text("utf-8")
    start = html.index('<div ergodic="article"')
    end = html.index('<div class="footer">')
    page.write_text(html[:start] + html[end:], "utf-8")
    server, _ = _cms_server(tmp_path / "site", items, page_size=15)
    with server:
        config = make_config(db_path, {"mofcom": {"url": f"{server.base_url}/zwgk/zcfb/index.html"}})
        [stats] = fetch(config, ["mofcom"])
    assert stats.status == "failed"
    assert stats.new_documents == 1  # the other announcement is stored
    assert any("no article text" in e for e in stats.item_errors)


def test_white_house_site_wide_etag_change_without_news_stores_nothing(
    httpserver: HTTPServer, db_path: Path
) -> None:
    recorded = fixture_path("recordings/whitehouse/presidential-actions_feed.first-item.xml").read_bytes()
    body = recorded + b"</channel></rss>"
    etags = iter(f'"site-{n}"' for n in range(100))  # one ETag for the whole site: it moves on anyway

    def handler(request: Request) -> WResponse:
        return WResponse(body, status=200, content_type="application/rss+xml", headers={"ETag": next(etags)})

    httpserver.expect_request("/presidential-actions/feed/").respond_with_handler(handler)
    config = make_config(db_path, {"whitehouse": {"url": httpserver.url_for("/presidential-actions/feed/")}})
    [first] = fetch(config)
    [second] = fetch(config)
    assert first.new_documents == 1
    assert second.status == "ok" and second.new_documents == second.updated_documents == 0
    [doc] = documents(db_path)
    with Store(db_path) as store:
        assert len(store.versions(doc["id"])) == 1


def test_check_names_missing_dates_and_empty_texts(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tracker.cli import cli

    root = tmp_path / "site"
    (root / "n").mkdir(parents=True)
    items = "".join(f'<li><a href="/n/{i}.html">Notice {i}</a></li>' for i in range(4))
    (root / "index.html").write_text(f"<html><body><ul class='notices'>{items}</ul></body></html>", "utf-8")
    for i in range(4):
        (root / f"n/{i}.html").write_text("<html><body><div class='article'></div></body></html>", "utf-8")
    with SiteServer(root) as server:
        cfg = tmp_path / "tracker.toml"
        cfg.write_text(
            f'[sources.ministry]\nkind = "html-list"\nurl = "{server.base_url}/index.html"\n'
            'item = "ul.notices li"\ndate = "span.date"\nbody = "div.article"\n',
            "utf-8",
        )
        result = CliRunner().invoke(cli, ["--config", str(cfg), "check", "--source", "ministry"])
    assert result.exit_code == 1
    assert "ministry (html-list): FAILED  HTTP 200, 4 items on the first page, 3 read" in result.output
    assert "error: no dates: none of the 3 items read has a date of issue" in result.output
    assert "error: text empty: none of the 3 items read has any text" in result.output
