"""The wire under the HTTP client (tracker.transport), against real servers on 127.0.0.1: kept
connections and one the server dropped, answers a WSGI server cannot give (chunked, read to the
end of the connection, 100 Continue first, oversized headers), request targets that must be
percent-encoded, and proxies from the environment (a forwarding proxy for http, a CONNECT
tunnel to a TLS server for https, and no_proxy)."""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from test_faults import RawServer

from tracker.errors import FetchError
from tracker.http import HttpClient
from tracker.settings import FetchSettings
from tracker.transport import MAX_HEAD, Target

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the proxy variables it means; none come from the machine."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def client() -> HttpClient:
    return HttpClient(FetchSettings(host_delay=0, retries=0, timeout=5))


def read_head(conn: socket.socket) -> bytes:
    """One request head from `conn` (b"" when the client closed first)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


def answer(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", "Content-Type: text/plain", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# --- kept connections ----------------------------------------------------------------------------


def test_a_kept_connection_the_server_drops_on_the_next_request_is_replaced_once() -> None:
    # each connection answers one request, then reads the next and hangs up without an answer:
    # what a server does whose keep-alive ran out as the request arrived
    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(answer(b"one"))
        read_head(conn)

    server = RawServer(handler)
    try:
        with client() as http:
            first = http.get(server.url("/a"), allowed_origins=[server.url("").rstrip("/")])
            second = http.get(server.url("/b"), allowed_origins=[server.url("").rstrip("/")])
            assert (first.content, second.content) == (b"one", b"one")
            assert http.requests == 2  # the replacement is not a retry of the request
        assert server.connections == 2
    finally:
        server.close()


def test_a_kept_connection_the_server_closed_while_idle_is_not_used() -> None:
    closed = threading.Event()

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(answer(b"fresh"))
        conn.shutdown(socket.SHUT_RDWR)  # keep-alive over at once
        closed.set()

    server = RawServer(handler)
    origin = server.url("").rstrip("/")
    try:
        with client() as http:
            assert http.get(server.url("/a"), allowed_origins=[origin]).content == b"fresh"
            assert closed.wait(5)
            assert http.get(server.url("/b"), allowed_origins=[origin]).content == b"fresh"
            assert http.transport.connections == 2
    finally:
        server.close()


def test_a_server_that_closes_a_new_connection_without_answering_fails_the_request() -> None:
    server = RawServer(lambda conn, stop: None)  # reads the request, closes
    origin = server.url("").rstrip("/")
    try:
        with client() as http, pytest.raises(FetchError) as caught:
            http.get(server.url("/a"), allowed_origins=[origin])
        assert caught.value.message.startswith("RemoteProtocolError"), caught.value.message
        assert server.connections == 1  # a new connection that fails is not tried again here
    finally:
        server.close()


# --- answers of every shape ----------------------------------------------------------------------


def chunked(*pieces: bytes) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body


SHAPES: dict[str, tuple[bytes, bytes]] = {
    "chunked": (chunked(b"<rss>", b"</rss>"), b"<rss></rss>"),
    "to the end of the connection": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<rss/>", b"<rss/>"),
    "100 Continue first": (b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"<rss/>"), b"<rss/>"),
    "HTTP/1.0": (b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\n<rss/>", b"<rss/>"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_answers_of_every_shape_are_read_whole(shape: str) -> None:
    raw, body = SHAPES[shape]

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(raw)

    server = RawServer(handler)
    try:
        with client() as http:
            resp = http.get(server.url("/feed"), allowed_origins=[server.url("").rstrip("/")])
        assert (resp.status, resp.content) == (200, body)
    finally:
        server.close()


def test_headers_larger_than_the_limit_fail_the_request() -> None:
    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (2 * MAX_HEAD) + b"\r\n\r\n")

    server = RawServer(handler)
    try:
        with client() as http, pytest.raises(FetchError, match="RemoteProtocolError"):
            http.get(server.url("/feed"), allowed_origins=[server.url("").rstrip("/")])
    finally:
        server.close()


def test_a_header_sent_twice_is_kept_joined() -> None:
    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(answer(b"x", "Link: <a>", "Link: <b>"))

    server = RawServer(handler)
    try:
        with client() as http:
            resp = http.get(server.url("/"), allowed_origins=[server.url("").rstrip("/")])
        assert resp.headers["link"] == "<a>, <b>"
    finally:
        server.close()


@pytest.mark.parametrize(
    ("url", "host", "target"),
    [
        ("http://example.org", "example.org", "/"),
        (
            "http://example.org/a b/文件.html?q=镓 x&y=%20",
            "example.org",
            "/a%20b/%E6%96%87%E4%BB%B6.html?q=%E9%95%93%20x&y=%20",
        ),
        ("https://bücher.example:8443/x", "xn--bcher-kva.example", "/x"),
        ("http://[::1]:8080/p", "::1", "/p"),
    ],
)
def test_request_targets_and_hosts_are_sent_in_ascii(url: str, host: str, target: str) -> None:
    t = Target.of(url)
    assert (t.host, t.path) == (host, target)


def test_the_request_line_carries_the_encoded_target(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/文件 1.html").respond_with_data(b"ok")
    origin = httpserver.url_for("").rstrip("/")
    with client() as http:
        resp = http.get(origin + "/文件 1.html", allowed_origins=[origin])
    assert resp.content == b"ok"


# --- proxies from the environment ----------------------------------------------------------------


class Proxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 that records each request head; it answers a plain request
    itself ("via proxy") and opens a CONNECT tunnel to the address asked for."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.heads: list[tuple[str, dict[str, str]]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: Proxy

    def handle(self) -> None:
        conn: socket.socket = self.request
        head = read_head(conn).decode("latin-1")
        line, *rest = head.split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in rest if h)}
        self.server.heads.append((line, headers))
        method, target, _ = line.split(" ")
        if method != "CONNECT":
            conn.sendall(answer(b"via proxy"))
            return
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pipe(conn, upstream)


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    while True:
        ready, _, _ = select.select([a, b], [], [], 5)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    server = Proxy()
    yield server
    server.shutdown()
    server.server_close()


def test_http_goes_through_the_proxy_of_http_proxy_with_its_credentials(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://ana:s%40cret@127.0.0.1:{proxy.port}")
    origin = "http://feeds.example.org:80"
    with client() as http:
        resp = http.get(origin + "/rss?x=1", allowed_origins=[origin])
    assert resp.content == b"via proxy"
    ((line, headers),) = proxy.heads
    assert line == "GET http://feeds.example.org/rss?x=1 HTTP/1.1"
    assert headers["host"] == "feeds.example.org"
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"ana:s@cret").decode()


def test_no_proxy_sends_a_host_direct(
    proxy: Proxy, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/feed").respond_with_data(b"direct")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("no_proxy", "example.org, 127.0.0.1")
    origin = httpserver.url_for("").rstrip("/")
    with client() as http:
        assert http.get(origin + "/feed", allowed_origins=[origin]).content == b"direct"
    assert proxy.heads == []


def test_https_goes_through_a_connect_tunnel_and_verifies_the_site_certificate(
    proxy: Proxy, tls_server: HTTPServer, tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tls_server.expect_request("/feed.xml").respond_with_data(b"<rss/>")
    origin = f"https://127.0.0.1:{tls_server.port}"
    monkeypatch.setenv("https_proxy", f"127.0.0.1:{proxy.port}")  # a proxy without a scheme is http://
    with client() as http, pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
        http.get(origin + "/feed.xml", allowed_origins=[origin])
    assert proxy.heads[0][0] == f"CONNECT 127.0.0.1:{tls_server.port} HTTP/1.1"
    assert len(tls_server.log) == 0  # the tunnel held; nothing was sent unverified

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))  # now the site's certificate is trusted
    with client() as http:
        resp = http.get(origin + "/feed.xml", allowed_origins=[origin])
    assert (resp.status, resp.content) == (200, b"<rss/>")
    assert len(proxy.heads) == 2 and len(tls_server.log) == 1


def test_a_proxy_that_refuses_the_tunnel_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")

    server = RawServer(handler)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.port}")
    try:
        with client() as http, pytest.raises(FetchError) as caught:
            http.get("https://example.org/feed", allowed_origins=["https://example.org:443"])
        assert (
            f"ProxyError: the proxy 127.0.0.1:{server.port} refused a tunnel to example.org:443: HTTP 407"
            in str(caught.value)
        )
    finally:
        server.close()


@pytest.mark.parametrize("value", ["socks5://127.0.0.1:1080", "https://proxy.example:8443"])
def test_a_proxy_of_another_scheme_fails_each_request_with_a_clear_message(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("all_proxy", value)
    with client() as http, pytest.raises(FetchError, match="only http:// proxies are supported"):
        http.get("http://example.org/feed", allowed_origins=["http://example.org:80"])
