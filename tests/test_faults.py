"""Fault cases of fetching, each served by a real HTTP server on 127.0.0.1.

pytest-httpserver serves most cases; the few a WSGI server cannot produce (a server that never
answers, a body cut short, a body trickled byte by byte) come from `RawServer`, a bare socket
server below. Nothing of ours is mocked: every test goes through `tracker.fetch.fetch`.
"""

from __future__ import annotations

import gzip
import pyexpat
import re
import socket
import threading
import time
import xml.parsers.expat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_config
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tracker.models import RunStats
from tracker.pipeline import fetch
from tracker.store import Run, SourceState, Store

# --- helpers -----------------------------------------------------------------------------------


def url(server: HTTPServer, path: str) -> str:
    u = server.url_for(path)
    assert u.startswith("http://127.0.0.1:"), u
    return u


def hits(server: HTTPServer, path: str) -> int:
    """Requests the server received for `path`."""
    return sum(1 for req, _ in server.log if req.path == path)


def run(config: Any, *names: str) -> list[RunStats]:
    return fetch(config, list(names))


def documents(db_path: Path, source: str | None = None) -> list[dict[str, Any]]:
    with Store(db_path) as store:
        return list(store.documents(source))


def state(db_path: Path, source: str) -> SourceState:
    with Store(db_path) as store:
        row = store.source_state(source)
    assert row is not None, f"no source_state row for {source}"
    return row


def last_run(db_path: Path, source: str) -> Run:
    with Store(db_path) as store:
        return store.runs(source)[0]


def rss(items: list[tuple[str, str]], title: str = "Test feed") -> bytes:
    """An RSS 2.0 feed; each item is (guid, title) with a description as its body."""
    entries = "".join(
        f"""
  <item>
    <title>{t}</title>
    <link>http://127.0.0.1/{g}</link>
    <guid isPermaLink="false">{g}</guid>
    <pubDate>Fri, 18 Sep 2026 22:02:43 +0000</pubDate>
    <description>Body of {t}: export controls on gallium and germanium.</description>
  </item>"""
        for g, t in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title>"
        f"<link>http://127.0.0.1/</link><description>d</description>{entries}\n</channel></rss>\n"
    ).encode()


FEED_TYPE = "application/rss+xml; charset=utf-8"


def mofcom_list(links: list[tuple[str, str, str]], meta: str = '<meta charset="utf-8">') -> str:
    """A MOFCOM list page; each link is (href, title, list date)."""
    lis = "\n".join(
        f'<li><a href="{h}" title="{t}" target="_blank">{t}</a><span>[{d}]</span></li>' for h, t, d in links
    )
    return (
        f'<!DOCTYPE html>\n<html lang="zh-CN"><head>{meta}'
        "<title>政策发布_商务部</title></head><body>\n"
        f'<div class="location">首页 &gt; 政务公开 &gt; 政策发布</div>\n'
        f'<div class="listCon"><ul class="txtList_01">\n{lis}\n</ul></div>\n</body></html>\n'
    )


def mofcom_article(
    title: str, number: str, issued: str, body: str, meta: str = '<meta charset="utf-8">'
) -> str:
    """A MOFCOM article page with 【发布文号】 and 【发文日期】 header lines (no PubDate meta,
    so the issue date can only come from the 【发文日期】 line)."""
    return (
        f'<!DOCTYPE html>\n<html lang="zh-CN"><head>\n{meta}\n'
        f"<title>{title}_商务部</title>\n</head><body>\n"
        f'<div class="header"><a href="/">中华人民共和国商务部</a></div>\n'
        f'<h1 class="art-title">{title}</h1>\n<div class="art-con" id="zoom">\n'
        f"<p>【发布文号】{number}</p>\n<p>【发文日期】{issued}</p>\n<p>{body}</p>\n</div>\n"
        f'<div class="art-share">分享到：</div>\n</body></html>\n'
    )


def html_response(
    text: str,
    encoding: str = "utf-8",
    content_type: str = "text/html; charset=utf-8",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        text.encode(encoding),
        status=status,
        headers={"Content-Type": content_type, **(headers or {})},
    )


def simple_article(n: int) -> str:
    return mofcom_article(
        f"商务部公告2025年第{n}号 关于对相关物项实施出口管制的公告",
        f"商务部公告2025年第{n}号",
        "2025年10月09日",
        f"第{n}号公告正文：根据《中华人民共和国出口管制法》有关规定，决定对下列物项实施出口管制。",
    )


class RawServer:
    """A bare TCP server on 127.0.0.1 for answers a WSGI server cannot give. Each connection's
    request head is read, then `handler(conn, stop)` writes whatever it likes; `stop` is set on
    close so that a handler waiting forever returns at once."""

    def __init__(self, handler: Callable[[socket.socket, threading.Event], None]):
        self.handler = handler
        self.stop = threading.Event()
        self.connections = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                self.handler(conn, self.stop)
            except OSError:
                pass  # the client gave up (timed out) and closed its end

    def close(self) -> None:
        self.stop.set()
        self._acceptor.join(5)
        for t in self._threads:
            t.join(5)
        self._sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, threading.Event], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Callable[[socket.socket, threading.Event], None]) -> RawServer:
        server = RawServer(handler)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()


# --- 1. HTTP 500 -------------------------------------------------------------------------------


def test_http_500_feed_fails_with_reason_after_retries_and_other_source_is_still_stored(
    httpserver: HTTPServer, db_path: Path
) -> None:
    httpserver.expect_request("/broken/feed/").respond_with_data("oops", status=500)
    httpserver.expect_request("/healthy/feed/").respond_with_data(
        rss([("h-1", "Healthy one"), ("h-2", "Healthy two")]), content_type=FEED_TYPE
    )
    config = make_config(
        db_path,
        {
            "broken": {"kind": "rss", "url": url(httpserver, "/broken/feed/")},
            "healthy": {"kind": "rss", "url": url(httpserver, "/healthy/feed/")},
        },
        fetch={"retries": 2},
    )

    broken, healthy = run(config, "broken", "healthy")

    assert broken.status == "failed"
    assert broken.error is not None and "HTTP 500" in broken.error
    assert "after 3 attempts" in broken.error
    assert broken.http_status == 500
    assert hits(httpserver, "/broken/feed/") == 3  # retries + 1
    assert last_run(db_path, "broken").status == "failed"
    assert "HTTP 500" in last_run(db_path, "broken").error
    assert state(db_path, "broken").consecutive_failures == 1
    assert state(db_path, "broken").last_success is None

    assert healthy.status == "ok" and healthy.new_documents == 2
    assert sorted(d["title"] for d in documents(db_path, "healthy")) == [
        "Healthy one",
        "Healthy two",
    ]
    assert documents(db_path, "broken") == []

    broken2, healthy2 = run(config, "broken", "healthy")
    assert broken2.status == "failed"
    assert hits(httpserver, "/broken/feed/") == 6
    assert state(db_path, "broken").consecutive_failures == 2
    assert "HTTP 500" in state(db_path, "broken").last_error
    assert healthy2.status == "ok"
    assert state(db_path, "healthy").consecutive_failures == 0
    assert state(db_path, "healthy").last_success is not None
    assert len(documents(db_path, "healthy")) == 2


# --- 2. 429 + Retry-After ----------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out_then_succeeds(httpserver: HTTPServer, db_path: Path) -> None:
    httpserver.expect_oneshot_request("/feed/").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_request("/feed/").respond_with_data(
        rss([("g-1", "After the wait")]), content_type=FEED_TYPE
    )
    config = make_config(db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}})

    t0 = time.monotonic()
    (stats,) = run(config, "feed")
    elapsed = time.monotonic() - t0

    assert stats.status == "ok", stats.error
    assert stats.new_documents == 1
    assert hits(httpserver, "/feed/") == 2
    assert elapsed >= 0.9, "Retry-After: 1 was not honoured (backoff alone is 0.01 s)"
    assert [d["title"] for d in documents(db_path)] == ["After the wait"]
    assert state(db_path, "feed").consecutive_failures == 0


# --- 3. timeouts -------------------------------------------------------------------------------


def _never_answers(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(10)


def _headers_then_stall(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 1000\r\n\r\n<?xml")
    stop.wait(10)


@pytest.mark.parametrize("handler", [_never_answers, _headers_then_stall], ids=["no-answer", "body-stalls"])
def test_server_slower_than_timeout_fails_as_timed_out_quickly(
    raw_server: Callable[..., RawServer], db_path: Path, handler: Callable[..., None]
) -> None:
    server = raw_server(handler)
    config = make_config(
        db_path, {"feed": {"kind": "rss", "url": server.url("/feed/")}}, fetch={"timeout": 0.5}
    )

    t0 = time.monotonic()
    (stats,) = run(config, "feed")
    elapsed = time.monotonic() - t0

    assert stats.status == "failed"
    assert stats.error is not None and "timed out" in stats.error
    assert server.connections == 2  # retries + 1
    assert elapsed < 6, f"took {elapsed:.1f} s"  # generous: without a timeout, 2 x 10 s
    assert "timed out" in state(db_path, "feed").last_error
    assert documents(db_path) == []


def test_body_trickled_slower_than_timeout_in_total_fails_as_timed_out(
    raw_server: Callable[..., RawServer], db_path: Path
) -> None:
    """Each byte arrives well within the timeout, but the whole response takes far longer: the
    timeout bounds the request, so a trickling server cannot hold a run for ever."""
    body = rss([("t-1", "Trickled")])
    pieces = [body[i : i + len(body) // 15 + 1] for i in range(0, len(body), len(body) // 15 + 1)]

    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        for piece in pieces:  # about 8 s in all
            if stop.wait(0.5):
                return
            conn.sendall(piece)

    server = raw_server(trickle)
    config = make_config(
        db_path,
        {"feed": {"kind": "rss", "url": server.url("/feed/")}},
        fetch={"timeout": 0.5, "retries": 0},
    )

    t0 = time.monotonic()
    (stats,) = run(config, "feed")
    elapsed = time.monotonic() - t0

    assert stats.status == "failed", "a response trickled over ~8 s beat a 0.5 s timeout"
    assert stats.error is not None and "timed out" in stats.error
    assert elapsed < 4, f"took {elapsed:.1f} s"  # generous, and still half the trickle
    assert documents(db_path) == []


# --- 4. truncated body -------------------------------------------------------------------------


def _full_feed() -> bytes:
    return rss([(f"t-{i}", f"Truncated item {i}") for i in range(1, 6)])


def _short_content_length(conn: socket.socket, stop: threading.Event) -> None:
    body = _full_feed()
    cut = body.index(b"<item>", body.index(b"Truncated item 3"))  # items 1-3 complete, 4-5 missing
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body[:cut]
    )


def _chunked_without_last_chunk(conn: socket.socket, stop: threading.Event) -> None:
    body = _full_feed()
    cut = body.index(b"<item>", body.index(b"Truncated item 3"))
    part = body[:cut]
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(part) + part + b"\r\n"
    )


@pytest.mark.parametrize(
    "handler",
    [_short_content_length, _chunked_without_last_chunk],
    ids=["content-length", "chunked"],
)
def test_truncated_body_fails_and_stores_nothing(
    raw_server: Callable[..., RawServer], db_path: Path, handler: Callable[..., None]
) -> None:
    server = raw_server(handler)
    feed_url = server.url("/feed/")
    config = make_config(db_path, {"feed": {"kind": "rss", "url": feed_url}})

    (stats,) = run(config, "feed")

    assert stats.status == "failed"
    assert stats.error is not None and feed_url in stats.error
    assert stats.new_documents == 0 and stats.items_seen == 0
    assert documents(db_path) == []
    with Store(db_path) as store:
        assert store.cache_entry(feed_url) is None
    assert last_run(db_path, "feed").status == "failed"


# --- 5. charsets -------------------------------------------------------------------------------

GBK_TITLE = "商务部 海关总署公告2024年第33号 关于对锑等物项实施出口管制的公告（镕、堃、&#38218;）"
GBK_TITLE_TEXT = GBK_TITLE.replace("&#38218;", chr(38218))  # 镊


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html; charset=utf-8",  # wrong: bytes are GBK
        "text/html; charset=iso-8859-1",  # wrong, and latin-1 decodes anything
        "text/html",  # missing: only <meta> says
        "text/html; charset=GB2312",  # right label, but 镕 and 堃 are GBK-only
    ],
    ids=["header-utf8", "header-latin1", "no-header-charset", "header-gb2312"],
)
def test_mofcom_gbk_pages_decode_despite_wrong_or_missing_charset(
    httpserver: HTTPServer, db_path: Path, content_type: str
) -> None:
    for ch in "镕堃":  # the test is only meaningful if these are outside GB2312
        with pytest.raises(UnicodeEncodeError):
            ch.encode("gb2312")
    article = mofcom_article(
        GBK_TITLE,
        "商务部 海关总署公告2024年第33号",
        "2024年08月15日",
        "根据《中华人民共和国出口管制法》有关规定，决定对锑（镕、堃、&#38218;）等物项实施出口管制。",
        meta='<meta charset="gb2312">',
    )
    listing = mofcom_list(
        [("/art/33.html", GBK_TITLE, "2024-08-16")],
        meta='<meta http-equiv="Content-Type" content="text/html; charset=gb2312">',
    )
    httpserver.expect_request("/list.html").respond_with_response(html_response(listing, "gbk", content_type))
    httpserver.expect_request("/art/33.html").respond_with_response(
        html_response(article, "gbk", content_type)
    )
    config = make_config(db_path, {"gbk": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})

    (stats,) = run(config, "gbk")

    assert stats.status == "ok", stats.error
    assert stats.new_documents == 1
    (doc,) = documents(db_path)
    assert doc["title"] == GBK_TITLE_TEXT
    assert "镕" in doc["text"] and "堃" in doc["text"] and chr(38218) in doc["text"]
    assert "\ufffd" not in doc["text"] + doc["title"]
    assert "【发文日期】2024年08月15日" in doc["text"]
    assert doc["published"] == "2024-08-15"  # from 【发文日期】, not the list's 2024-08-16
    assert doc["doc_number"] == "MOFCOM 2024-33"
    assert doc["meta"]["发文日期"] == "2024年08月15日"
    assert doc["meta"]["list_date"] == "2024-08-16"
    assert doc["language"] == "zh"


# --- 6. oversized bodies -----------------------------------------------------------------------


def _big_feed() -> bytes:
    return rss([(f"b-{i}", f"Big item {i}") for i in range(40)])


@pytest.mark.parametrize("how", ["content-length", "no-content-length"])
def test_body_over_max_bytes_fails_with_byte_limit_message(
    httpserver: HTTPServer, db_path: Path, how: str
) -> None:
    body = _big_feed()
    assert len(body) > 5000
    if how == "content-length":
        httpserver.expect_request("/feed/").respond_with_data(body, content_type=FEED_TYPE)
    else:  # streamed: the size is only known by counting
        httpserver.expect_request("/feed/").respond_with_response(
            Response(
                (body[i : i + 500] for i in range(0, len(body), 500)),
                headers={"Content-Type": FEED_TYPE},
            )
        )
    config = make_config(
        db_path,
        {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}},
        fetch={"max_bytes": 1000},
    )

    (stats,) = run(config, "feed")

    assert stats.status == "failed"
    assert stats.error is not None and "1,000-byte limit" in stats.error
    assert hits(httpserver, "/feed/") == 1  # a size error is not retried
    assert documents(db_path) == []


def test_gzip_body_expanding_beyond_max_bytes_is_stopped(httpserver: HTTPServer, db_path: Path) -> None:
    plain = _big_feed() + b"<!--" + b" " * 5_000_000 + b"-->"
    bomb = gzip.compress(plain, compresslevel=9)
    assert len(bomb) < 1000 * 20 and len(plain) > 5_000_000
    httpserver.expect_request("/feed/").respond_with_response(
        Response(bomb, headers={"Content-Type": FEED_TYPE, "Content-Encoding": "gzip"})
    )
    config = make_config(
        db_path,
        {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}},
        fetch={"max_bytes": 1000},
    )

    (stats,) = run(config, "feed")

    assert stats.status == "failed"
    assert stats.error is not None and "1,000-byte limit" in stats.error
    assert documents(db_path) == []


def test_gzip_body_within_max_bytes_is_decoded(httpserver: HTTPServer, db_path: Path) -> None:
    """The control for the gzip case: compressed bodies themselves are fine."""
    httpserver.expect_request("/feed/").respond_with_response(
        Response(
            gzip.compress(rss([("z-1", "Zipped")])),
            headers={"Content-Type": FEED_TYPE, "Content-Encoding": "gzip"},
        )
    )
    config = make_config(db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}})

    (stats,) = run(config, "feed")

    assert stats.status == "ok", stats.error
    assert [d["title"] for d in documents(db_path)] == ["Zipped"]


# --- 7. malformed feeds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"\x00\x01\x02 this is \xff\xfe not xml at all", FEED_TYPE),
        (b"", FEED_TYPE),
        (
            b"<html><head><title>Error</title></head><body><p>Service unavailable</p></body></html>",
            "text/html; charset=utf-8",
        ),
        (b'{"items": [{"title": "json, not a feed"}]}', "application/json"),
    ],
    ids=["garbage", "empty", "html-page", "json"],
)
def test_malformed_feed_fails_never_ok_with_zero_items(
    httpserver: HTTPServer, db_path: Path, body: bytes, content_type: str
) -> None:
    httpserver.expect_request("/feed/").respond_with_data(body, content_type=content_type)
    config = make_config(db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}})

    (stats,) = run(config, "feed")

    assert stats.status == "failed"
    assert stats.error is not None and "feed" in stats.error
    assert last_run(db_path, "feed").status == "failed"
    assert state(db_path, "feed").last_success is None
    assert state(db_path, "feed").consecutive_failures == 1
    assert documents(db_path) == []


# --- 8. entity expansion -----------------------------------------------------------------------

_LOL_DTD = '<!ENTITY lol "lol">\n' + "".join(
    f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'
    for i in range(1, 10)
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + _LOL_DTD + "]>\n"
    '<rss version="2.0"><channel><title>&lol9;</title>'
    "<item><title>&lol9;</title><link>http://127.0.0.1/lol</link><guid>lol</guid>"
    "<description>&lol9;</description></item></channel></rss>\n"
).encode()


def _expat_version() -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", pyexpat.EXPAT_VERSION)
    assert m, pyexpat.EXPAT_VERSION
    return tuple(int(x) for x in m.groups())


def test_billion_laughs_feed_expands_nothing_and_finishes_quickly(
    httpserver: HTTPServer, db_path: Path
) -> None:
    # what protects us: expat >= 2.4 refuses entity amplification (and feedparser drops the DTD)
    assert _expat_version() >= (2, 4, 0), pyexpat.EXPAT_VERSION
    parser = xml.parsers.expat.ParserCreate()
    with pytest.raises(xml.parsers.expat.ExpatError, match="amplification"):
        parser.Parse(BILLION_LAUGHS, True)

    httpserver.expect_request("/feed/").respond_with_data(BILLION_LAUGHS, content_type=FEED_TYPE)
    config = make_config(db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}})

    t0 = time.monotonic()
    (stats,) = run(config, "feed")
    elapsed = time.monotonic() - t0

    assert elapsed < 10, f"took {elapsed:.1f} s"  # generous: an expansion would take far longer
    assert stats.status in ("ok", "failed")
    for doc in documents(db_path):
        assert "lollol" not in doc["title"] + doc["text"]
        assert len(doc["title"]) + len(doc["text"]) < 1000
    with Store(db_path) as store:
        (size,) = store.db.execute(
            "SELECT COALESCE(SUM(LENGTH(text) + LENGTH(title)), 0) FROM document_versions"
        ).fetchone()
    assert size < 1000


# --- 9. layout changes -------------------------------------------------------------------------


def test_mofcom_list_whose_layout_changed_after_a_good_run_fails_with_layout_message(
    httpserver: HTTPServer, db_path: Path
) -> None:
    httpserver.expect_request("/list.html").respond_with_response(
        html_response(mofcom_list([("/art/1.html", "公告一", "2025-10-09")]))
    )
    httpserver.expect_request("/art/1.html").respond_with_response(html_response(simple_article(1)))
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})
    (first,) = run(config, "mof")
    assert first.status == "ok" and first.new_documents == 1, first.error

    httpserver.clear()  # the site is redesigned: no <li> with a link and a date any more
    httpserver.expect_request("/list.html").respond_with_response(
        html_response(
            '<html><head><meta charset="utf-8"></head><body><div class="news-grid">'
            '<div class="card"><a href="/art/1.html">公告一</a><em>2025-10-09</em></div>'
            '<div class="card"><a href="/art/2.html">公告二</a><em>2025-10-10</em></div>'
            "</div></body></html>"
        )
    )

    (second,) = run(config, "mof")

    assert second.status == "failed"
    assert second.error is not None and "layout" in second.error
    assert "it had items before" in second.error
    assert "layout" in state(db_path, "mof").last_error
    assert state(db_path, "mof").consecutive_failures == 1
    assert len(documents(db_path)) == 1


def test_html_list_item_selector_matching_nothing_on_first_run_fails(
    httpserver: HTTPServer, db_path: Path
) -> None:
    httpserver.expect_request("/news.html").respond_with_response(
        html_response(
            '<html><body><ul class="list">'
            '<li><a href="/n/1.html">Notice 1</a> 2025-10-09</li>'
            "</ul></body></html>"
        )
    )
    config = make_config(
        db_path,
        {
            "notices": {
                "kind": "html-list",
                "url": url(httpserver, "/news.html"),
                "item": "div.news-item",
                "date": "span",
            }
        },
    )

    (stats,) = run(config, "notices")

    assert stats.status == "failed"
    assert stats.error is not None and "layout" in stats.error
    assert "selector matched nothing" in stats.error
    assert state(db_path, "notices").consecutive_failures == 1
    assert documents(db_path) == []


# --- 10. other hosts ---------------------------------------------------------------------------


def test_offhost_list_link_is_not_followed_and_the_rest_is_stored(
    httpserver: HTTPServer, db_path: Path
) -> None:
    httpserver.expect_request("/list.html").respond_with_response(
        html_response(
            mofcom_list(
                [
                    ("/art/1.html", "公告一", "2025-10-09"),
                    ("http://example.invalid/art/evil.html", "外站链接", "2025-10-09"),
                    ("/art/2.html", "公告二", "2025-10-08"),
                ]
            )
        )
    )
    httpserver.expect_request("/art/1.html").respond_with_response(html_response(simple_article(1)))
    httpserver.expect_request("/art/2.html").respond_with_response(html_response(simple_article(2)))
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})

    (stats,) = run(config, "mof")

    assert stats.status == "ok", stats.error
    assert stats.skipped_offhost == 1
    assert stats.items_seen == 3
    assert stats.new_documents == 2
    assert stats.requests == 3  # the list and two articles, nothing else
    urls = sorted(u for d in documents(db_path) for u in d["urls"])
    assert urls == [url(httpserver, "/art/1.html"), url(httpserver, "/art/2.html")]
    assert last_run(db_path, "mof").status == "ok"


def test_article_redirect_to_another_host_is_refused_and_recorded(
    httpserver: HTTPServer, db_path: Path
) -> None:
    other = f"http://localhost:{httpserver.port}/stolen.html"  # reachable, but another host name
    httpserver.expect_request("/list.html").respond_with_response(
        html_response(
            mofcom_list(
                [
                    ("/art/1.html", "公告一", "2025-10-09"),
                    ("/art/moved.html", "公告二", "2025-10-08"),
                    ("/art/local.html", "公告三", "2025-10-07"),
                ]
            )
        )
    )
    httpserver.expect_request("/art/1.html").respond_with_response(html_response(simple_article(1)))
    httpserver.expect_request("/art/moved.html").respond_with_data(
        "", status=302, headers={"Location": other}
    )
    httpserver.expect_request("/art/local.html").respond_with_data(
        "", status=302, headers={"Location": "/art/3.html"}
    )  # same host: followed
    httpserver.expect_request("/art/3.html").respond_with_response(html_response(simple_article(3)))
    httpserver.expect_request("/stolen.html").respond_with_response(html_response(simple_article(99)))
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})

    (stats,) = run(config, "mof")

    assert hits(httpserver, "/stolen.html") == 0
    assert stats.status == "failed"
    moved = url(httpserver, "/art/moved.html")
    assert len(stats.item_errors) == 1
    assert moved in stats.item_errors[0] and "redirect to another host refused" in stats.item_errors[0]
    error = last_run(db_path, "mof").error
    assert moved in error and "redirect to another host refused" in error
    assert state(db_path, "mof").consecutive_failures == 1
    docs = documents(db_path)
    assert sorted(d["doc_number"] for d in docs) == ["MOFCOM 2025-1", "MOFCOM 2025-3"]


def test_list_redirect_to_another_host_fails_the_source(httpserver: HTTPServer, db_path: Path) -> None:
    other = f"http://localhost:{httpserver.port}/elsewhere/list.html"
    httpserver.expect_request("/list.html").respond_with_data("", status=302, headers={"Location": other})
    httpserver.expect_request("/elsewhere/list.html").respond_with_response(
        html_response(mofcom_list([("/art/1.html", "公告一", "2025-10-09")]))
    )
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": url(httpserver, "/list.html")}})

    (stats,) = run(config, "mof")

    assert stats.status == "failed"
    assert stats.error is not None and "redirect to another host refused" in stats.error
    assert other in stats.error
    assert hits(httpserver, "/elsewhere/list.html") == 0
    assert hits(httpserver, "/list.html") == 1  # a refused redirect is not retried
    assert documents(db_path) == []


# --- 11. Federal Register JSON -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"count": 2, "results": [{"document_number": "2025-1"',  # cut short
        b"<html><body>Rate limited</body></html>",
        b"[]",
        b'{"count": 1, "results": "none"}',
        b'{"count": 1, "results": [{"title": "no document number"}]}',
        b"\xff\xfe\x00{",
    ],
    ids=["truncated", "html", "list", "results-not-list", "no-document-number", "not-utf8"],
)
def test_invalid_federalregister_json_fails(httpserver: HTTPServer, db_path: Path, body: bytes) -> None:
    httpserver.expect_request("/api/v1/documents.json").respond_with_data(
        body, content_type="application/json"
    )
    config = make_config(
        db_path,
        {
            "fr": {
                "kind": "federalregister",
                "url": url(httpserver, "/api/v1/documents.json") + "?per_page=20",
            }
        },
    )

    (stats,) = run(config, "fr")

    assert stats.status == "failed"
    assert stats.error is not None
    assert state(db_path, "fr").consecutive_failures == 1
    assert documents(db_path) == []


def test_valid_federalregister_json_is_stored(httpserver: HTTPServer, db_path: Path) -> None:
    """The control for the invalid-JSON cases."""
    body = {
        "count": 1,
        "results": [
            {
                "document_number": "2025-19813",
                "title": "Gallium notice",
                "publication_date": "2025-10-10",
                "type": "Rule",
            }
        ],
    }
    httpserver.expect_request("/api/v1/documents.json").respond_with_json(body)
    config = make_config(
        db_path,
        {"fr": {"kind": "federalregister", "url": url(httpserver, "/api/v1/documents.json")}},
    )

    (stats,) = run(config, "fr")

    assert stats.status == "ok", stats.error
    assert [d["doc_number"] for d in documents(db_path)] == ["FR 2025-19813"]


# --- 12. one broken article --------------------------------------------------------------------


def test_broken_article_fails_run_keeps_others_and_is_fetched_next_run_without_duplicates(
    httpserver: HTTPServer, db_path: Path
) -> None:
    list_etag = '"list-v1"'
    listing = mofcom_list(
        [
            ("/art/1.html", "公告一", "2025-10-09"),
            ("/art/2.html", "公告二", "2025-10-08"),
            ("/art/3.html", "公告三", "2025-10-07"),
        ]
    )

    def list_page(request: Request) -> Response:
        if request.headers.get("If-None-Match") == list_etag:
            return Response(status=304, headers={"ETag": list_etag})
        return html_response(listing, headers={"ETag": list_etag})

    article_2_fixed = threading.Event()

    def article_2(request: Request) -> Response:
        if not article_2_fixed.is_set():
            return Response("internal error", status=500)
        return html_response(simple_article(2))

    httpserver.expect_request("/list.html").respond_with_handler(list_page)
    httpserver.expect_request("/art/1.html").respond_with_response(html_response(simple_article(1)))
    httpserver.expect_request("/art/2.html").respond_with_handler(article_2)
    httpserver.expect_request("/art/3.html").respond_with_response(html_response(simple_article(3)))
    list_url = url(httpserver, "/list.html")
    broken_url = url(httpserver, "/art/2.html")
    config = make_config(db_path, {"mof": {"kind": "mofcom", "url": list_url}})

    (first,) = run(config, "mof")

    assert first.status == "failed"
    assert first.new_documents == 2
    assert len(first.item_errors) == 1 and broken_url in first.item_errors[0]
    assert "HTTP 500" in first.item_errors[0]
    assert hits(httpserver, "/art/2.html") == 2  # retried once
    error = last_run(db_path, "mof").error
    assert broken_url in error and "HTTP 500" in error
    assert state(db_path, "mof").consecutive_failures == 1
    assert sorted(d["doc_number"] for d in documents(db_path)) == ["MOFCOM 2025-1", "MOFCOM 2025-3"]
    with Store(db_path) as store:
        assert store.cache_entry(list_url) is None  # the list must be read again next time

    article_2_fixed.set()
    (second,) = run(config, "mof")

    assert second.status == "ok", second.error
    assert second.new_documents == 1
    assert second.updated_documents == 0
    list_requests = [req for req, _ in httpserver.log if req.path == "/list.html"]
    assert len(list_requests) == 2
    assert list_requests[1].headers.get("If-None-Match") is None
    docs = documents(db_path)
    assert sorted(d["doc_number"] for d in docs) == [
        "MOFCOM 2025-1",
        "MOFCOM 2025-2",
        "MOFCOM 2025-3",
    ]
    assert sorted(u for d in docs for u in d["urls"]) == [
        url(httpserver, "/art/1.html"),
        broken_url,
        url(httpserver, "/art/3.html"),
    ]
    assert all(d["version"] == 1 for d in docs)
    with Store(db_path) as store:
        (versions,) = store.db.execute("SELECT COUNT(*) FROM document_versions").fetchone()
        assert versions == 3
        assert store.cache_entry(list_url) is not None  # now complete: validators kept
    assert state(db_path, "mof").consecutive_failures == 0

    (third,) = run(config, "mof")  # and now the list answers 304
    assert third.status == "ok" and third.not_modified == 1 and third.new_documents == 0
    assert hits(httpserver, "/list.html") == 3
    assert len(documents(db_path)) == 3
