"""A loopback HTTP server for a folder of recorded pages, answering the way the real sites do.

`.shtml` pages go out labelled GB2312 (the legacy MOFCOM CMS), `.html` as UTF-8, feeds as RSS,
`.json` as JSON, `.txt` as plain text; a query string is ignored when choosing the file; a folder
holding `index.xml` (a WordPress feed URL such as /presidential-actions/feed/) serves it. ETag and Last-Modified are
sent and a matching conditional GET gets 304. `aliases` maps a URL path to a file and can be
changed while serving (`tracker rules eval` swaps the USGS list from its 2018 to its 2022 version). `routes`
answer dynamic endpoints (see `tracker.demo.standins`).
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """What a dynamic endpoint sees of a GET."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        """A request header, whatever its case."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Reply:
    """A dynamic endpoint's answer."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class SiteServer:
    """Serve `root` on 127.0.0.1 (an ephemeral port by default) in a background thread."""

    def __init__(self, root: str | Path, port: int = 0, *, validators: bool = True):
        self.root = Path(root)
        self.aliases: dict[str, Path] = {}
        self.requests: list[str] = []
        self.validators = validators  # send ETag/Last-Modified and answer conditional GETs
        self.delays: dict[str, float] = {}  # URL path prefix -> seconds to wait before answering
        # URL path (or prefix ending in '/') -> a function answering like a dynamic endpoint, or
        # None to fall through to the files
        self.routes: dict[str, Callable[[Request], Reply | None]] = {}
        self.headers_seen: list[dict[str, str]] = []  # request headers, in the order of `requests`
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes on a keep-alive socket: with Nagle's algorithm
            # on, the body would wait ~40 ms for the client's delayed ACK
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(self.path)
                server.headers_seen.append(dict(self.headers.items()))
                for prefix, seconds in server.delays.items():
                    if self.path.startswith(prefix):
                        time.sleep(seconds)
                route = server.route_for(self.path)
                if route is not None:
                    parts = urlsplit(self.path)
                    reply = route(Request(parts.path, parse_qs(parts.query), dict(self.headers.items())))
                    if reply is not None:
                        self.send_response(reply.status)
                        self.send_header("Content-Type", reply.content_type)
                        self.send_header("Content-Length", str(len(reply.body)))
                        for name, value in reply.headers.items():
                            self.send_header(name, value)
                        self.end_headers()
                        self.wfile.write(reply.body)
                        return
                path = server.resolve(self.path)
                if path is None:
                    body = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                data = path.read_bytes()
                etag = '"' + hashlib.sha1(data).hexdigest()[:20] + '"'
                mtime = email.utils.formatdate(int(path.stat().st_mtime), usegmt=True)
                if server.validators and (
                    self.headers.get("If-None-Match") == etag
                    or (
                        not self.headers.get("If-None-Match")
                        and self.headers.get("If-Modified-Since") == mtime
                    )
                ):
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type(path))
                self.send_header("Content-Length", str(len(data)))
                if server.validators:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", mtime)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = _Quiet(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    def route_for(self, url_path: str) -> Callable[[Request], Reply | None] | None:
        """The dynamic endpoint serving a request path, if any (exact path, else longest prefix)."""
        path = urlsplit(url_path).path
        if path in self.routes:
            return self.routes[path]
        prefixes = [p for p in self.routes if p.endswith("/") and path.startswith(p)]
        return self.routes[max(prefixes, key=len)] if prefixes else None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    def resolve(self, url_path: str) -> Path | None:
        """The file a request path maps to, or None (never outside `root`)."""
        path = url_path.split("?", 1)[0].split("#", 1)[0]
        if path in self.aliases:
            return self.aliases[path]
        candidate = (self.root / path.lstrip("/")).resolve()
        root = self.root.resolve()
        if root != candidate and root not in candidate.parents:
            return None
        if candidate.is_dir():
            for index in ("index.xml", "index.html"):
                if (candidate / index).is_file():
                    return candidate / index
            return None
        return candidate if candidate.is_file() else None

    def start(self) -> SiteServer:
        """Begin serving in a daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Quiet(http.server.ThreadingHTTPServer):
    """A client that closes a kept-alive connection is no error worth a traceback on stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def content_type(path: Path) -> str:
    """The Content-Type the real site sends for a file like `path`."""
    name = path.name
    if name.endswith(".shtml"):
        return "text/html; charset=GB2312"
    if name.endswith(".html"):
        return "text/html; charset=utf-8"
    if name.endswith((".xml", ".rss")):
        return "application/rss+xml; charset=utf-8"
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".txt"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def site_root() -> Path:
    """The bundled sample site."""
    return Path(os.path.dirname(__file__)) / "site"
