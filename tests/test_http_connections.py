"""Kept connections: a re-poll that the server answers 304 (or a redirect) reuses one connection,
as a re-poll that reads a body does. A real HTTP/1.1 server on 127.0.0.1 counts the connections."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from tracker.http import HttpClient
from tracker.settings import FetchSettings

ETAG = '"v1"'
BODY = b"<rss><channel><title>t</title></channel></rss>"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/moved":
            body = b"<p>moved to /feed</p>"
            self.send_response(301)
            self.send_header("Location", "/feed")
        elif self.headers.get("If-None-Match") == ETAG:
            body = b""
            self.send_response(304)
            self.send_header("ETag", ETAG)
        else:
            body = BODY
            self.send_response(200)
            self.send_header("ETag", ETAG)
            self.send_header("Content-Type", "application/rss+xml")
        if body:  # a 304 has no body, and says nothing of one
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_a_repoll_answered_304_keeps_one_connection(server: _Server) -> None:
    with HttpClient(FetchSettings(host_delay=0)) as client:
        for _ in range(10):
            r = client.get(server.origin + "/feed", allowed_origins=[server.origin], etag=ETAG)
            assert r.not_modified
    assert server.connections == 1


def test_bodies_read_and_redirects_followed_keep_one_connection(server: _Server) -> None:
    with HttpClient(FetchSettings(host_delay=0)) as client:
        for _ in range(5):
            r = client.get(server.origin + "/moved", allowed_origins=[server.origin])
            assert r.status == 200 and r.content == BODY
    assert server.connections == 1
