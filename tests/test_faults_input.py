"""Hostile and broken input at ingest: no hang, no crash, no lost source, nothing unsafe stored.

Every case is served by a real HTTP server on 127.0.0.1 (pytest-httpserver) and goes through
`tracker.fetch.fetch` or the CLI into a real SQLite file; nothing of ours is mocked. The cases:
implausible dates of issue, one malformed item among good ones, control characters, unsafe URLs,
next-page cycles, and an html-list selector that matches navigation.
"""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import make_config
from pytest_httpserver import HTTPServer
from test_faults import documents, hits, html_response, mofcom_article, mofcom_list, url

from tracker.cli import cli
from tracker.fetch import source_report
from tracker.models import RunStats
from tracker.pipeline import fetch
from tracker.textutil import find_date, issue_date, latest_issue

TODAY = date.today()
RECENT = TODAY - timedelta(days=2)  # recent enough for its alerts to be news
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what a terminal acts on (tab, LF kept)
TITLE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
FEED_TYPE = "application/rss+xml; charset=utf-8"
FR_PATH = "/api/v1/documents.json"


# --- helpers -----------------------------------------------------------------------------------


def cli_run(db_path: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--db", str(db_path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def backfill(config: Any, name: str, seconds: float = 15.0) -> RunStats:
    """A backfill of one source, stopped after `seconds` at the latest (a walk that never ends
    fails the test instead of hanging it)."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    try:
        (stats,) = fetch(config, [name], mode="backfill", stop=stop, classify=False)
    finally:
        timer.cancel()
    assert not stop.is_set(), f"the walk did not end by itself within {seconds} s"
    return stats


def feed(items: list[dict[str, str]]) -> bytes:
    """An RSS 2.0 feed; each item a dict of its elements (title, link, guid, pubDate, description,
    category, content), written as given (no escaping: hostile bytes reach the parser)."""
    out = []
    for item in items:
        parts = []
        for key, value in item.items():
            if key == "content":
                parts.append(f"<content:encoded><![CDATA[{value}]]></content:encoded>")
            elif key == "guid":
                parts.append(f'<guid isPermaLink="false">{value}</guid>')
            else:
                parts.append(f"<{key}>{value}</{key}>")
        out.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Feed</title>'
        "<link>http://127.0.0.1/</link><description>d</description>" + "".join(out) + "</channel></rss>\n"
    ).encode()


def rfc822(day: date) -> str:
    return day.strftime("%a, %d %b %Y 12:00:00 +0000")


def fr_result(number: str, **fields: Any) -> dict[str, Any]:
    """A Federal Register search result (a rule on gallium export controls unless told otherwise)."""
    return {
        "document_number": number,
        "title": f"Export Administration Regulations: export controls on gallium ({number})",
        "type": "Rule",
        "abstract": "This rule imposes export controls on gallium.",
        "publication_date": "2025-10-10",
        "html_url": f"https://www.federalregister.gov/documents/2025/10/10/{number}/x",
        **fields,
    }


def fr_source(server: HTTPServer) -> dict[str, Any]:
    return {"kind": "federalregister", "url": url(server, FR_PATH), "full_text": False}


def html_list_page(rows: list[str], next_href: str | None = None) -> str:
    nxt = f'<a class="next" href="{next_href}">Older</a>' if next_href else ""
    return (
        '<html><head><meta charset="utf-8"></head><body>'
        f'<ul class="notices">{"".join(rows)}</ul>{nxt}</body></html>'
    )


def notice_row(href: str, title: str, day: str = "2025-10-09") -> str:
    return f'<li><a href="{href}">{title}</a><span class="date">{day}</span></li>'


def html_list_source(server: HTTPServer, path: str = "/notices/list.html", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "html-list",
        "url": url(server, path),
        "item": "ul.notices li",
        "title": "a",
        "link": "a",
        "date": "span.date",
        "next": "a.next",
        **extra,
    }


def gallium_article(n: int, issued: str, meta: str = '<meta charset="utf-8">') -> str:
    """A MOFCOM announcement the rules make a control on gallium and germanium of, in force from
    its date of issue."""
    return mofcom_article(
        f"商务部 海关总署公告2025年第{n}号 关于对镓、锗相关物项实施出口管制的公告",
        f"商务部 海关总署公告2025年第{n}号",
        issued,
        "根据《中华人民共和国出口管制法》，决定对镓、锗相关物项实施出口管制。本公告自公布之日起正式实施。",
        meta=meta,
    )


def notes_of(stats: RunStats) -> str:
    return " | ".join(stats.notes)


# --- 1. implausible dates of issue ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "kept"),
    [
        (date(1900, 1, 1), True),
        (date(1899, 12, 31), False),
        (TODAY + timedelta(days=300), True),
        (latest_issue(), True),
        (latest_issue() + timedelta(days=1), False),
        (date(9999, 12, 31), False),
    ],
    ids=["1900", "1899", "in-300-days", "in-a-year", "a-year-and-a-day", "9999"],
)
def test_a_date_of_issue_is_plausible_from_1900_to_a_year_from_today(day: date, kept: bool) -> None:
    assert issue_date(day) == (day if kept else None)
    written = f"{day.year}年{day.month}月{day.day}日"
    assert find_date(written, issue=True) == (day if kept else None)
    assert find_date(written) == day  # effective and expiry dates in rules stay unbounded


@pytest.mark.parametrize(
    ("issued", "pubdate_meta", "expected"),
    [
        ("9999年12月31日", None, "2025-10-09"),
        ("2999年01月01日", None, "2025-10-09"),
        ("1899年12月31日", None, "2025-10-09"),
        ("9999年12月31日", "2025-10-08 09:30", "2025-10-08"),
    ],
    ids=["year-9999-list-date", "year-2999-list-date", "before-1900-list-date", "year-9999-pubdate"],
)
def test_mofcom_implausible_issue_date_falls_back_and_the_control_stays_in_status(
    httpserver: HTTPServer, db_path: Path, issued: str, pubdate_meta: str | None, expected: str
) -> None:
    meta = '<meta charset="utf-8">' + (
        f'<meta name="PubDate" content="{pubdate_meta}">' if pubdate_meta else ""
    )
    httpserver.expect_request("/list.html").respond_with_response(
        html_response(mofcom_list([("/art/1.html", "公告一", "2025-10-09")]))
    )
    httpserver.expect_request("/art/1.html").respond_with_response(
        html_response(gallium_article(1, issued, meta))
    )
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})

    (stats,) = fetch(config, ["mof"])

    assert stats.status == "ok", stats.error
    [doc] = documents(db_path)
    assert doc["published"] == expected
    assert "implausible date(s) of issue ignored" in notes_of(stats)
    assert issued in notes_of(stats) and url(httpserver, "/art/1.html") in notes_of(stats)
    status = json.loads(cli_run(db_path, "status", "--format", "json").output)
    rows = [r for r in status if r["measure"] == "MOFCOM 2025-1"]
    assert {r["mineral"] for r in rows} == {"gallium", "germanium"}
    assert all(r["state"] == "active" and r["since"] == expected for r in rows)


def _fr_presidential(server: HTTPServer) -> tuple[dict[str, Any], str]:
    result = fr_result(
        "2025-04444",
        title="Immediate Measures to Increase American Mineral Production",
        type="Presidential Document",
        subtype="Executive Order",
        executive_order_number=14241,
        signing_date="9999-12-31",
        publication_date="2025-03-24",
    )
    server.expect_request(FR_PATH).respond_with_json({"count": 1, "results": [result]})
    return fr_source(server), "2025-03-24"  # the publication date stands in for the signing date


def _wordpress_signed(server: HTTPServer) -> tuple[dict[str, Any], str]:
    body = "<p>By the authority vested in me as President.</p><p>THE WHITE HOUSE,</p><p>March 20, 2025.</p>"
    server.expect_request("/wh/feed/").respond_with_data(
        feed(
            [
                {
                    "title": "Immediate Measures to Increase American Mineral Production",
                    "link": url(server, "/wh/2025/03/eo/"),
                    "guid": url(server, "/wh/?p=1"),
                    "pubDate": "Fri, 31 Dec 9999 12:00:00 +0000",
                    "category": "Presidential Actions",
                    "content": body,
                }
            ]
        ),
        content_type=FEED_TYPE,
    )
    source = {"kind": "wordpress-rss", "url": url(server, "/wh/feed/"), "timezone": "America/New_York"}
    return source, "2025-03-20"  # the date under the signature


def _rss_only_date(server: HTTPServer) -> tuple[dict[str, Any], None]:
    server.expect_request("/feed/").respond_with_data(
        feed(
            [
                {
                    "title": "Notice on gallium",
                    "link": url(server, "/n/1"),
                    "guid": "n-1",
                    "pubDate": "Mon, 31 Dec 2999 12:00:00 +0000",
                    "description": "A notice.",
                }
            ]
        ),
        content_type=FEED_TYPE,
    )
    return {"kind": "rss", "url": url(server, "/feed/")}, None  # no other date: undated, not 2999


def _html_list_body_date(server: HTTPServer) -> tuple[dict[str, Any], str]:
    server.expect_request("/notices/list.html").respond_with_response(
        html_response(html_list_page([notice_row("/notices/1.html", "Notice 1", "31 December 2999")]))
    )
    server.expect_request("/notices/1.html").respond_with_response(
        html_response('<html><body><div class="article"><p>Issued on 9 October 2025.</p></div></body></html>')
    )
    return html_list_source(server, body="div.article"), "2025-10-09"  # the date in the page's text


def _usgs_page(server: HTTPServer) -> tuple[dict[str, Any], str]:
    server.expect_request("/usgs/list.html").respond_with_response(
        html_response(
            "<html><body><main><h1>2025 List of Critical Minerals</h1><p>The list was published "
            "December 31, 9999.</p><p>Notice of 2025-11-07.</p></main></body></html>"
        )
    )
    return {"kind": "usgs-list", "url": url(server, "/usgs/list.html")}, "2025-11-07"


@pytest.mark.parametrize(
    "serve",
    [_fr_presidential, _wordpress_signed, _rss_only_date, _html_list_body_date, _usgs_page],
    ids=["federalregister-signing-date", "wordpress-pubdate", "rss-pubdate", "html-list-date", "usgs-page"],
)
def test_every_kind_refuses_an_implausible_date_and_takes_the_next_one(
    httpserver: HTTPServer,
    db_path: Path,
    serve: Callable[[HTTPServer], tuple[dict[str, Any], str | None]],
) -> None:
    source, expected = serve(httpserver)
    config = make_config(db_path, {"src": source})

    (stats,) = fetch(config, ["src"])

    assert stats.status == "ok", stats.error
    [doc] = documents(db_path)
    assert doc["published"] == expected
    assert "implausible date(s) of issue ignored" in notes_of(stats)
    assert re.search(r"9999|2999", notes_of(stats))


# --- 2. one malformed item among good ones -------------------------------------------------------

HUGE = "9" * 5000


def test_mofcom_5000_digit_number_is_no_number_and_the_items_after_it_are_stored(
    httpserver: HTTPServer, db_path: Path
) -> None:
    httpserver.expect_request("/list.html").respond_with_response(
        html_response(mofcom_list([(f"/art/{n}.html", f"公告{n}", "2025-10-09") for n in (1, 2, 3)]))
    )
    httpserver.expect_request("/art/1.html").respond_with_response(
        html_response(gallium_article(1, "2025年10月09日"))
    )
    httpserver.expect_request("/art/2.html").respond_with_response(
        html_response(
            mofcom_article(
                f"商务部公告2025年第{HUGE}号 关于对镓相关物项实施出口管制的公告",
                f"商务部公告2025年第{HUGE}号",
                "2025年10月09日",
                "决定对镓相关物项实施出口管制。",
            )
        )
    )
    httpserver.expect_request("/art/3.html").respond_with_response(
        html_response(gallium_article(3, "2025年10月09日"))
    )
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})

    (stats,) = fetch(config, ["mof"])

    assert stats.status == "ok", stats.error
    assert stats.new_documents == 3
    numbers = sorted(str(d["doc_number"]) for d in documents(db_path))
    assert numbers == ["MOFCOM 2025-1", "MOFCOM 2025-3", "None"]


def _fr_body(results: list[str]) -> bytes:
    return f'{{"count": {len(results)}, "results": [{", ".join(results)}]}}'.encode()


def _with(number: str, **fields: Any) -> str:
    return json.dumps(fr_result(number, **fields))


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (_with("2025-2", agencies=5), "'agencies' is a number"),
        (_with("2025-2", title={"text": "Gallium"}), "'title' is an object"),
        (_with("2025-2", signing_date=20250101), "'signing_date' is a number"),
        (_with("2025-2", html_url=["https://x/"]), "'html_url' is a list"),
        (_with("2025-2", abstract=json.loads("[" * 500 + "]" * 500)), "'abstract' is a list"),
        (_with(HUGE), "without a readable 'document_number'"),
        (_with("2025-2").replace('"Rule"', '"Rule", "executive_order_number": ' + HUGE), "expected a number"),
        ("5", "not an object"),
        ('{"title": "no number"}', "without a readable 'document_number' (none)"),
    ],
    ids=[
        "agencies-number",
        "title-object",
        "date-number",
        "url-list",
        "deep-field",
        "5000-digit-document-number",
        "5000-digit-eo-number",
        "result-not-object",
        "no-document-number",
    ],
)
def test_federalregister_result_of_the_wrong_shape_is_an_item_error_and_the_rest_is_stored(
    httpserver: HTTPServer, db_path: Path, bad: str, said: str
) -> None:
    httpserver.expect_request(FR_PATH).respond_with_data(
        _fr_body([_with("2025-1"), bad, _with("2025-3")]), content_type="application/json"
    )
    config = make_config(db_path, {"fr": fr_source(httpserver)})

    (stats,) = fetch(config, ["fr"])

    assert stats.status == "failed"
    assert stats.error is None  # the run as such was read: no "internal error"
    [error] = stats.item_errors
    assert "result 2" in error and said in error
    assert sorted(d["doc_number"] for d in documents(db_path)) == ["FR 2025-1", "FR 2025-3"]

    (again,) = fetch(config, ["fr"])  # the next run: the same item error, nothing lost or doubled
    assert len(again.item_errors) == 1 and len(documents(db_path)) == 2


DEEP = b"[" * 100_000 + b"]" * 100_000


def _deep_federalregister(server: HTTPServer) -> dict[str, Any]:
    server.expect_request(FR_PATH).respond_with_data(DEEP, content_type="application/json")
    return fr_source(server)


def _deep_mofcom_endpoint(server: HTTPServer) -> dict[str, Any]:
    column = (
        '<html><head><meta charset="utf-8"></head><body><div id="list"></div>'
        '<script src="/js/loader.js" url="/api/unit" '
        "querydata=\"{'webId':'1','pageId':'2','tplSetId':'3','tagId':'分页列表'}\"></script></body></html>"
    )
    server.expect_request("/column/index.html").respond_with_response(html_response(column))
    server.expect_request("/api/unit").respond_with_data(
        b'{"data": ' + DEEP + b"}", content_type="application/json"
    )
    return {"kind": "mofcom", "url": url(server, "/column/index.html")}


@pytest.mark.parametrize(
    "serve", [_deep_federalregister, _deep_mofcom_endpoint], ids=["federalregister", "mofcom-cms"]
)
def test_json_nested_100000_deep_fails_its_source_cleanly_and_the_others_run(
    httpserver: HTTPServer, db_path: Path, serve: Callable[[HTTPServer], dict[str, Any]]
) -> None:
    httpserver.expect_request("/ok/feed/").respond_with_data(
        feed([{"title": "Fine", "link": url(httpserver, "/ok/1"), "guid": "ok-1", "description": "d"}]),
        content_type=FEED_TYPE,
    )
    config = make_config(
        db_path, {"deep": serve(httpserver), "fine": {"kind": "rss", "url": url(httpserver, "/ok/feed/")}}
    )

    deep, fine = fetch(config, ["deep", "fine"])

    assert deep.status == "failed"
    assert deep.error is not None and "nested too deeply" in deep.error
    assert "internal error" not in deep.error and "RecursionError" not in deep.error
    assert fine.status == "ok" and fine.new_documents == 1


def test_article_nested_100000_elements_deep_is_read(httpserver: HTTPServer, db_path: Path) -> None:
    deep = "<div>" * 100_000 + "<p>决定对镓相关物项实施出口管制。</p>" + "</div>" * 100_000
    page = gallium_article(1, "2025年10月09日").replace("<p>根据", deep + "<p>根据")
    httpserver.expect_request("/list.html").respond_with_response(
        html_response(mofcom_list([("/art/1.html", "公告一", "2025-10-09")]))
    )
    httpserver.expect_request("/art/1.html").respond_with_response(html_response(page))
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})

    (stats,) = fetch(config, ["mof"])

    assert stats.status == "ok", stats.error
    [doc] = documents(db_path)
    assert "决定对镓相关物项实施出口管制。" in doc["text"]


# --- 3. control characters ---------------------------------------------------------------------

HOSTILE_TITLE = (
    "Export controls on gallium\x1b]8;;http://evil\x07 and germanium\x1b]8;;\x07\x1b[2J\x00 announced\x07"
)
CLEAN_TITLE = "Export controls on gallium and germanium announced"


def test_feed_title_escape_sequences_reach_no_terminal_and_no_atom_feed(
    httpserver: HTTPServer, db_path: Path, tmp_path: Path
) -> None:
    httpserver.expect_request("/feed/").respond_with_data(
        feed(
            [
                {
                    "title": HOSTILE_TITLE,
                    "link": url(httpserver, "/n/1"),
                    "guid": "n-1",
                    "pubDate": rfc822(RECENT),
                    "description": "Export controls \x1b[31mon\x1b[0m gallium:\x0c a\x08 notice.",
                }
            ]
        ),
        content_type=FEED_TYPE,
    )
    config = make_config(db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}})

    (stats,) = fetch(config, ["feed"])

    assert stats.status == "ok", stats.error
    [doc] = documents(db_path)
    assert doc["title"] == CLEAN_TITLE
    assert doc["text"] == "Export controls on gallium: a notice."
    timeline = cli_run(db_path, "timeline").output
    assert CLEAN_TITLE[:30] in timeline and not RAW_CONTROL.search(timeline)
    [event] = json.loads(cli_run(db_path, "timeline", "--format", "json").output)
    shown = cli_run(db_path, "show", event["id"]).output
    assert CLEAN_TITLE in shown and not RAW_CONTROL.search(shown)
    out = tmp_path / "alerts.xml"
    cli_run(db_path, "feed", "--out", str(out))
    xml = out.read_text("utf-8")
    titles = [t.text or "" for t in ET.fromstring(xml).iter("{http://www.w3.org/2005/Atom}title")]
    assert any(CLEAN_TITLE in t for t in titles), titles
    assert not RAW_CONTROL.search(xml)


@pytest.mark.parametrize(
    "kind",
    ["federalregister", "html-list", "mofcom"],
)
def test_control_characters_are_stripped_from_titles_and_texts_of_every_kind(
    httpserver: HTTPServer, db_path: Path, kind: str
) -> None:
    # (a NUL only in JSON: an HTML parser turns it into U+FFFD itself)
    title = "Gallium\x1b]8;;http://evil\x07 notice\x1b[2J\x9b2J on\tcontrols\x7f"
    if kind == "federalregister":
        httpserver.expect_request(FR_PATH).respond_with_json(
            {
                "count": 1,
                "results": [
                    fr_result("2025-1", title=title + "\x00", abstract="Line one\x1b[1m\r\nline\ttwo\x00.")
                ],
            }
        )
        source = fr_source(httpserver)
    elif kind == "html-list":
        httpserver.expect_request("/notices/list.html").respond_with_response(
            html_response(html_list_page([notice_row("/notices/1.html", title)]))
        )
        httpserver.expect_request("/notices/1.html").respond_with_response(
            html_response(
                "<html><body><div class='article'><p>Line one\x1b[1m</p><p>line\x9b two\x07.</p></div></body></html>"
            )
        )
        source = html_list_source(httpserver, body="div.article")
    else:
        httpserver.expect_request("/list.html").respond_with_response(
            html_response(mofcom_list([("/art/1.html", "公告", "2025-10-09")]))
        )
        httpserver.expect_request("/art/1.html").respond_with_response(
            html_response(
                mofcom_article(
                    title, "商务部公告2025年第1号", "2025年10月09日", "正文\x1b[2J\x9b有\x07控制字符。"
                )
            )
        )
        source = {"kind": "mofcom", "url": url(httpserver, "/list.html")}
    config = make_config(db_path, {"src": source})

    (stats,) = fetch(config, ["src"])

    assert stats.status == "ok", stats.error
    [doc] = documents(db_path)
    assert doc["title"] == "Gallium notice2J on controls"
    assert not TITLE_CONTROL.search(doc["title"])
    assert not RAW_CONTROL.search(doc["text"]) and "http://evil" not in doc["text"]
    assert not RAW_CONTROL.search(json.dumps(doc["meta"], ensure_ascii=False))


# --- 4. URLs at ingest -------------------------------------------------------------------------

FORGED = "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:forged"


@pytest.mark.parametrize(
    "html_url",
    [
        "https://www.federalregister.gov/d/2025-2" + FORGED,
        "javascript:alert(document.domain)",
        "data:text/html,<script>alert(1)</script>",
        "https://www.federalregister.gov/d/2025 2",
        "//www.federalregister.gov/d/2025-2",
    ],
    ids=["crlf", "javascript", "data", "space", "no-scheme"],
)
def test_federalregister_html_url_that_is_no_web_address_becomes_its_pseudo_url(
    httpserver: HTTPServer, db_path: Path, html_url: str
) -> None:
    bad = fr_result(
        "2025-2",
        html_url=html_url,
        raw_text_url="javascript:fetch('/steal')",
        pdf_url="https://www.govinfo.gov/x.pdf\r\nX: y",
        publication_date=RECENT.isoformat(),
    )
    httpserver.expect_request(FR_PATH).respond_with_json({"count": 2, "results": [fr_result("2025-1"), bad]})
    config = make_config(db_path, {"fr": {**fr_source(httpserver), "full_text": True}})

    (stats,) = fetch(config, ["fr"])

    assert stats.status == "ok", stats.error
    assert stats.requests == 1  # the search only: no raw_text_url of either was asked for
    docs = {d["doc_number"]: d for d in documents(db_path)}
    assert docs["FR 2025-2"]["urls"] == ["federalregister:2025-2"]
    assert "raw_text_url" not in docs["FR 2025-2"]["meta"] and "pdf_url" not in docs["FR 2025-2"]["meta"]
    assert docs["FR 2025-1"]["urls"] == [fr_result("2025-1")["html_url"]]
    assert "link that is not an http(s) address" in notes_of(stats) and "FR 2025-2" in notes_of(stats)
    ics = cli_run(db_path, "timeline", "--format", "ics").output
    assert "forged" not in ics and "javascript:" not in ics
    markdown = cli_run(db_path, "timeline", "--format", "md").output
    assert "javascript:" not in markdown and "data:" not in markdown


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:void(0)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "/art/\x1b[2J.html",
        "/art/a b.html",
    ],
    ids=["javascript", "javascript-case", "data", "escape", "space"],
)
def test_mofcom_list_item_with_an_unsafe_link_is_skipped_with_a_note(
    httpserver: HTTPServer, db_path: Path, href: str
) -> None:
    httpserver.expect_request("/list.html").respond_with_response(
        html_response(
            mofcom_list(
                [
                    ("/art/1.html", "公告一", "2025-10-09"),
                    (href, "恶意链接", "2025-10-09"),
                    ("/art/3.html", "公告三", "2025-10-08"),
                ]
            )
        )
    )
    for n in (1, 3):
        httpserver.expect_request(f"/art/{n}.html").respond_with_response(
            html_response(gallium_article(n, "2025年10月09日"))
        )
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})

    (stats,) = fetch(config, ["mof"])

    assert stats.status == "ok", stats.error
    assert stats.requests == 3  # the list and the two good articles
    urls = sorted(u for d in documents(db_path) for u in d["urls"])
    assert urls == [url(httpserver, "/art/1.html"), url(httpserver, "/art/3.html")]
    assert "item(s) skipped: the link is not an http(s) address" in notes_of(stats)


def test_feed_item_with_an_unsafe_link_is_skipped_and_a_linkless_one_lives_in_the_feed(
    httpserver: HTTPServer, db_path: Path
) -> None:
    items = [
        {"title": "Good", "link": url(httpserver, "/n/1"), "guid": "g-1", "description": "One."},
        {"title": "Script", "link": "javascript:alert(1)", "guid": "g-2", "description": "Two."},
        {"title": "Data", "link": "data:text/html,x", "guid": "g-3", "description": "Three."},
        {"title": "No link", "guid": "g 4\x1b[2J", "description": "Four."},
    ]
    httpserver.expect_request("/feed/").respond_with_data(feed(items), content_type=FEED_TYPE)
    config = make_config(db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}})

    (stats,) = fetch(config, ["feed"])

    assert stats.status == "ok", stats.error
    docs = {d["title"]: d for d in documents(db_path)}
    assert sorted(docs) == ["Good", "No link"]
    assert docs["Good"]["urls"] == [url(httpserver, "/n/1")]
    assert docs["No link"]["urls"] == [url(httpserver, "/feed/") + "#g%204%1B%5B2J"]
    assert "item(s) skipped: the link is not an http(s) address" in notes_of(stats)
    assert "(2): 'javascript:alert(1)', 'data:text/html,x'" in notes_of(stats)


# --- 5. next-page cycles -------------------------------------------------------------------------


def _html_list_self(server: HTTPServer) -> tuple[dict[str, Any], dict[str, int]]:
    server.expect_request("/notices/list.html").respond_with_response(
        html_response(html_list_page([notice_row("/notices/1.html", "Notice 1")], next_href="list.html"))
    )
    return html_list_source(server), {"/notices/list.html": 1}


def _html_list_two_pages(server: HTTPServer) -> tuple[dict[str, Any], dict[str, int]]:
    server.expect_request("/notices/list.html").respond_with_response(
        html_response(html_list_page([notice_row("/notices/1.html", "Notice 1")], next_href="page2.html"))
    )
    server.expect_request("/notices/page2.html").respond_with_response(
        html_response(html_list_page([notice_row("/notices/2.html", "Notice 2")], next_href="list.html#top"))
    )
    return html_list_source(server), {"/notices/list.html": 1, "/notices/page2.html": 1}


def _mofcom_self(server: HTTPServer) -> tuple[dict[str, Any], dict[str, int]]:
    page = mofcom_list([("/art/1.html", "公告一", "2025-10-09")]).replace(
        "</ul>", '</ul><div class="page"><a href="list.html">下一页</a></div>'
    )
    server.expect_request("/list.html").respond_with_response(html_response(page))
    server.expect_request("/art/1.html").respond_with_response(
        html_response(gallium_article(1, "2025年10月09日"))
    )
    return {"kind": "mofcom", "url": url(server, "/list.html")}, {"/list.html": 1}


def _fr_self(server: HTTPServer) -> tuple[dict[str, Any], dict[str, int]]:
    def page(request: Any) -> Any:
        from werkzeug import Response as WResponse

        # the API's own next_page_url: the URL asked for, as the server spells it
        body = {"count": 40, "results": [fr_result("2025-1")], "next_page_url": request.url}
        return WResponse(json.dumps(body), content_type="application/json")

    server.expect_request(FR_PATH).respond_with_handler(page)
    return fr_source(server), {FR_PATH: 1}


def _fr_two_pages(server: HTTPServer) -> tuple[dict[str, Any], dict[str, int]]:
    first = {
        "count": 40,
        "results": [fr_result("2025-1")],
        "next_page_url": url(server, "/api/v1/page2.json"),
    }
    second = {
        "count": 40,
        "results": [fr_result("2025-2")],
        "next_page_url": url(server, FR_PATH) + "?page=1",
    }
    server.expect_request(FR_PATH).respond_with_json(first)
    server.expect_request("/api/v1/page2.json").respond_with_json(second)
    # page 1 again under another spelling: read once more, recognised by its body
    return fr_source(server), {FR_PATH: 2, "/api/v1/page2.json": 1}


def _fr_other_host(server: HTTPServer) -> tuple[dict[str, Any], dict[str, int]]:
    elsewhere = f"http://localhost:{server.port}/elsewhere.json"
    server.expect_request(FR_PATH).respond_with_json(
        {"count": 40, "results": [fr_result("2025-1")], "next_page_url": elsewhere}
    )
    server.expect_request("/elsewhere.json").respond_with_json({"count": 0, "results": []})
    return fr_source(server), {FR_PATH: 1, "/elsewhere.json": 0}


def _feed_ignoring_paged(server: HTTPServer) -> tuple[dict[str, Any], dict[str, int]]:
    server.expect_request("/feed/").respond_with_data(
        feed([{"title": "One", "link": url(server, "/n/1"), "guid": "g-1", "description": "d"}]),
        content_type=FEED_TYPE,
    )
    return {"kind": "rss", "url": url(server, "/feed/"), "page_param": "paged"}, {"/feed/": 2}


@pytest.mark.parametrize(
    ("serve", "note"),
    [
        (_html_list_self, "next-page link to a page already read"),
        (_html_list_two_pages, "next-page link to a page already read"),
        (_mofcom_self, "next-page link to a page already read"),
        (_fr_self, "next-page link to a page already read"),
        (_fr_two_pages, "repeats one read before"),
        (_fr_other_host, "next-page link not followed (another host"),
        (_feed_ignoring_paged, "repeats one read before"),
    ],
    ids=[
        "html-list-self",
        "html-list-a-b-a",
        "mofcom-self",
        "fr-self",
        "fr-a-b-a",
        "fr-other-host",
        "feed-paged-ignored",
    ],
)
def test_backfill_walk_ends_at_a_page_already_read_with_a_note(
    httpserver: HTTPServer,
    db_path: Path,
    serve: Callable[[HTTPServer], tuple[dict[str, Any], dict[str, int]]],
    note: str,
) -> None:
    source, expected_hits = serve(httpserver)
    config = make_config(db_path, {"src": source})

    stats = backfill(config, "src")

    assert stats.status == "ok", stats.error
    assert {path: hits(httpserver, path) for path in expected_hits} == expected_hits
    assert note in notes_of(stats)
    assert documents(db_path)  # what the pages held is stored


# --- 6. html-list selectors that match navigation --------------------------------------------------

NAVIGATION = [
    '<li><a href="#">We use cookies to improve your experience. Accept</a></li>',
    '<li><a href="/">Home</a></li>',
    '<li><a href="javascript:void(0)">Menu</a><span class="date">2025-10-09</span></li>',
    '<li><a href="list.html#main">Skip to content</a><span class="date">2025-10-09</span></li>',
    '<li><a href="http://elsewhere.example/share">Share</a><span class="date">2025-10-09</span></li>',
    "<li>Contact us<span class='date'>2025-10-09</span></li>",
]


def test_html_list_navigation_items_are_rejected_with_a_note_and_notices_stored(
    httpserver: HTTPServer, db_path: Path
) -> None:
    rows = [
        NAVIGATION[0],
        notice_row("/notices/1.html", "Notice 1 on gallium"),
        *NAVIGATION[1:],
        notice_row("/notices/2.html", "Notice 2 without a date yet", day=""),  # a notice, undated
    ]
    httpserver.expect_request("/notices/list.html").respond_with_response(html_response(html_list_page(rows)))
    config = make_config(db_path, {"ministry": html_list_source(httpserver)})

    (stats,) = fetch(config, ["ministry"])

    assert stats.status == "ok", stats.error
    docs = {d["title"]: d for d in documents(db_path)}
    assert sorted(docs) == ["Notice 1 on gallium", "Notice 2 without a date yet"]
    assert docs["Notice 2 without a date yet"]["published"] is None
    notes = notes_of(stats)
    assert (
        "html-list item(s) rejected: no link to this site's pages (navigation, a cookie banner?) (5)" in notes
    )
    assert "html-list item(s) rejected: no element where the `date` selector points (1): 'Home'" in notes


def test_html_list_whose_items_are_all_navigation_is_a_layout_failure(
    httpserver: HTTPServer, db_path: Path
) -> None:
    httpserver.expect_request("/notices/list.html").respond_with_response(
        html_response(html_list_page(NAVIGATION))
    )
    config = make_config(db_path, {"ministry": html_list_source(httpserver)})

    (stats,) = fetch(config, ["ministry"])

    assert stats.status == "failed"
    assert stats.error is not None and "layout may have changed" in stats.error
    assert "none of the 6 elements the item selector matches is a notice" in stats.error
    assert (
        "5 without a link to another page of this site, 1 without a date element ('span.date')" in stats.error
    )
    assert documents(db_path) == []
    [row] = [r for r in source_report(config) if r["name"] == "ministry"]
    assert row["consecutive_failures"] == 1 and "layout" in row["last_error"]
