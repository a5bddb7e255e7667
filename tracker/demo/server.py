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
        self.httpd = _Quiet(("127.0.0.1", port), _Handler)
        self.httpd.site = self
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

    site: SiteServer  # what the handler serves

    def handle_error(self, request: Any, client_address: Any) -> None:

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers a GET from the site's dynamic endpoints, else from its files (with validators)."""

    server: _Quiet
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes on a keep-alive socket: with Nagle's algorithm on, the
    # body would wait ~40 ms for the client's delayed ACK
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        site = self.server.site
        site.requests.append(self.path)
        site.headers_seen.append(dict(self.headers.items()))
        for prefix, seconds in site.delays.items():
            if self.path.startswith(prefix):
                time.sleep(seconds)
        route = site.route_for(self.path)
        if route is not None:
            parts = urlsplit(self.path)
            reply = route(Request(parts.path, parse_qs(parts.query), dict(self.headers.items())))
            if reply is not None:
                self._send(reply.status, reply.body, reply.content_type, reply.headers)
                return
        path = site.resolve(self.path)
        if path is None:
            self._send(404, b"not found", "text/plain")
            return
        self._send_file(path, site.validators)

    def _send_file(self, path: Path, validators: bool) -> None:
        data = path.read_bytes()
        etag = '"' + hashlib.sha1(data).hexdigest()[:20] + '"'
        mtime = email.utils.formatdate(int(path.stat().st_mtime), usegmt=True)
        if validators and (
            self.headers.get("If-None-Match") == etag
            or (not self.headers.get("If-None-Match") and self.headers.get("If-Modified-Since") == mtime)
        ):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self._send(
            200, data, content_type(path), {"ETag": etag, "Last-Modified": mtime} if validators else None
        )

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


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
