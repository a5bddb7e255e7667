"""Hostile and broken HTTP answers, each from a real server on 127.0.0.1: a request that never ends,
a body that expands to gigabytes, waits that would hold a run for hours, redirects to another
port or scheme, and numbers in the config that would hang or crash a run.

`RawServer` (from test_faults) gives the answers a WSGI server cannot; pytest-httpserver the rest.
Nothing of ours is mocked: fetches go through `tracker.fetch.fetch` or the `tracker` command.
"""

from __future__ import annotations

import gzip
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import make_config
from pytest_httpserver import HTTPServer
from test_faults import FEED_TYPE, RawServer, documents, hits, last_run, rss, url
from werkzeug import Response

from tracker.cli import cli
from tracker.errors import FetchError
from tracker.http import HttpClient
from tracker.pipeline import fetch
from tracker.settings import SourceConfig, url_origin
from tracker.store import Run, Store

Handler = Callable[[socket.socket, threading.Event], None]
BUILT_INS = "".join(
    f"[sources.{n}]\nenabled = false\n" for n in ("mofcom", "whitehouse", "federalregister", "usgs")
)


@pytest.fixture
def raw_servers() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def healthy_feed(httpserver: HTTPServer) -> str:
    """A feed that answers at once: the source beside a broken one that must still be stored."""
    httpserver.expect_request("/healthy/feed/").respond_with_data(
        rss([("h-1", "Healthy one"), ("h-2", "Healthy two")]), content_type=FEED_TYPE
    )
    return url(httpserver, "/healthy/feed/")


def write_config(tmp_path: Path, db_path: Path, sources: str, fetch: str = "") -> Path:
    """A tracker.toml for the `tracker` command in a subprocess, the built-in sources off."""
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(
        f'[database]\npath = "{db_path}"\n[fetch]\nhost_delay = 0.0\n{fetch}\n{BUILT_INS}{sources}', "utf-8"
    )
    return cfg


def tracker_process(cfg: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tracker", "--config", str(cfg), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(check: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"the request never arrived: {err.decode()}")
        time.sleep(0.02)


def terminate(proc: subprocess.Popen[bytes]) -> tuple[float, str]:
    """SIGTERM, then how long the process took to exit and what it wrote to stderr."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return time.monotonic() - sent, err.decode()


# --- 1. the deadline holds from connect to the last byte ---------------------------------------


def trickle(head: bytes, every: float = 0.05) -> Handler:
    """Sends `head` at once, then one more byte every `every` seconds for ever: each read of the
    client gets a byte long before any per-read timeout, so only a whole-request deadline ends it."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        while not stop.wait(every):
            conn.sendall(b"a")

    return handler


TRICKLES = {
    "status-line": trickle(b"HTTP/1.1 200 "),  # the reason phrase never ends
    "headers": trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Slow: "),
    "body": trickle(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 9999999\r\n\r\n<?xml"
    ),
}


@pytest.mark.parametrize("phase", list(TRICKLES))
@pytest.mark.parametrize("where", ["fetch", "source"], ids=["fetch-timeout", "source-timeout"])
def test_a_trickled_answer_fails_as_timed_out_at_its_deadline_and_the_other_source_is_stored(
    raw_servers: Callable[[Handler], RawServer], httpserver: HTTPServer, db_path: Path, phase: str, where: str
) -> None:
    server = raw_servers(TRICKLES[phase])
    slow: dict[str, Any] = {"kind": "rss", "url": server.url("/feed/")}
    if where == "source":
        slow["timeout"] = 1.0  # the source's own timeout bounds the request, not [fetch]'s 60 s
    config = make_config(
        db_path,
        {"slow": slow, "healthy": {"kind": "rss", "url": healthy_feed(httpserver)}},
        fetch={"timeout": 1.0 if where == "fetch" else 60.0, "retries": 0, "workers": 2},
    )

    t0 = time.monotonic()
    slow_stats, healthy_stats = fetch(config, ["slow", "healthy"])
    elapsed = time.monotonic() - t0

    assert slow_stats.status == "failed"
    assert slow_stats.error is not None and "timed out (no complete response within 1 s)" in slow_stats.error
    assert elapsed < 10, f"a 1 s deadline took {elapsed:.1f} s"  # generous: without it, for ever
    assert server.connections == 1
    assert "timed out" in last_run(db_path, "slow").error
    assert healthy_stats.status == "ok" and healthy_stats.new_documents == 2
    assert sorted(d["title"] for d in documents(db_path)) == ["Healthy one", "Healthy two"]


def test_sigterm_stops_tracker_fetch_in_the_middle_of_a_trickled_answer(
    raw_servers: Callable[[Handler], RawServer], tmp_path: Path, db_path: Path
) -> None:
    server = raw_servers(TRICKLES["headers"])
    cfg = write_config(
        tmp_path,
        db_path,
        f'[sources.slow]\nkind = "rss"\nurl = "{server.url("/feed/")}"\n',
        "timeout = 600.0\nretries = 0\n",
    )
    proc = tracker_process(cfg, "fetch")
    wait_for(lambda: server.connections > 0, proc)
    time.sleep(0.3)  # well into the headers

    took, err = terminate(proc)

    assert proc.returncode == 130, err
    assert took < 10, f"exited {took:.1f} s after SIGTERM"  # generous: the wait was minutes
    assert "interrupted" in err and "Traceback" not in err
    assert last_run(db_path, "slow").status == "interrupted"


def runs(db_path: Path, source: str) -> list[Run]:
    with Store(db_path) as store:
        return store.runs(source)


def test_sigkill_mid_fetch_loses_no_committed_document_and_the_next_fetch_resumes(
    raw_servers: Callable[[Handler], RawServer], httpserver: HTTPServer, tmp_path: Path, db_path: Path
) -> None:
    """WAL with synchronous NORMAL: a commit is not flushed by itself, yet a killed process loses
    nothing committed (only a power cut could), and the file stays whole."""
    slow = raw_servers(TRICKLES["headers"])
    cfg = write_config(
        tmp_path,
        db_path,
        f'[sources.slow]\nkind = "rss"\nurl = "{slow.url("/feed/")}"\n'
        f'[sources.healthy]\nkind = "rss"\nurl = "{healthy_feed(httpserver)}"\n',
        "timeout = 600.0\nretries = 0\n",
    )
    proc = tracker_process(cfg, "fetch")
    wait_for(lambda: slow.connections > 0 and db_path.exists() and len(documents(db_path)) == 2, proc)
    proc.kill()  # SIGKILL: no handler runs, nothing is flushed on the way out
    proc.communicate()

    with Store(db_path) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sorted(d["title"] for d in documents(db_path)) == ["Healthy one", "Healthy two"]
    assert last_run(db_path, "slow").status == "running"  # as the crash left it

    httpserver.expect_request("/slow/feed/").respond_with_data(
        rss([("s-1", "Slow one")]), content_type=FEED_TYPE
    )
    sources = {"healthy": healthy_feed(httpserver), "slow": url(httpserver, "/slow/feed/")}
    fetch(make_config(db_path, sources={n: {"kind": "rss", "url": u} for n, u in sources.items()}))
    assert [r.status for r in runs(db_path, "slow")] == ["ok", "interrupted"]  # the crash's run closed
    assert sorted(d["title"] for d in documents(db_path)) == ["Healthy one", "Healthy two", "Slow one"]


# --- 2. the size bound holds while decoding, for any stack of encodings --------------------------

BLOCK = 1 << 24


@cache
def zeros(size: int, wbits: int) -> bytes:
    """`size` zero bytes deflated (wbits 31: gzip, 15: zlib, -15: raw), built in a blink: after a
    full flush each 16 MiB block compresses to the same bytes, so one block is repeated. Its
    trailer (CRC, length) describes two blocks only: a client bounded by max_bytes never reads it."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits, 9, zlib.Z_RLE)
    first = c.compress(bytes(BLOCK)) + c.flush(zlib.Z_FULL_FLUSH)
    rest = c.compress(bytes(BLOCK)) + c.flush(zlib.Z_FULL_FLUSH)
    return first + rest * (size // BLOCK - 1) + c.flush()


def encode(data: bytes, encoding: str) -> bytes:
    return gzip.compress(data) if encoding == "gzip" else zlib.compress(data)


# Content-Encoding -> the body sent; each expands to 256 MiB or more, from 256 KB at most
BOMBS: dict[str, Callable[[], bytes]] = {
    "gzip": lambda: zeros(256 << 20, 31),
    "x-gzip": lambda: zeros(256 << 20, 31),
    "deflate": lambda: zeros(256 << 20, 15),
    "deflate (raw)": lambda: zeros(256 << 20, -15),
    "gzip, gzip": lambda: encode(zeros(4 << 30, 31), "gzip"),  # 5.4 KB -> 4 GiB
    "deflate, gzip": lambda: encode(zeros(1 << 30, 15), "gzip"),
    "gzip, deflate, gzip": lambda: encode(encode(zeros(1 << 30, 31), "deflate"), "gzip"),
}
CAP = 1_000_000


@pytest.mark.parametrize("encoding", list(BOMBS))
def test_a_compression_bomb_stops_at_max_bytes_while_decoding(
    httpserver: HTTPServer, raw_servers: Callable[[Handler], RawServer], db_path: Path, encoding: str
) -> None:
    body = BOMBS[encoding]()
    header = encoding.replace(" (raw)", "")
    assert len(body) < CAP / 2, "the raw body alone must stay well under the cap"
    httpserver.expect_request("/feed/").respond_with_response(
        Response(body, headers={"Content-Type": FEED_TYPE, "Content-Encoding": header})
    )
    config = make_config(
        db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}}, fetch={"max_bytes": CAP}
    )

    t0 = time.monotonic()
    (stats,) = fetch(config, ["feed"])
    elapsed = time.monotonic() - t0

    assert stats.status == "failed"
    assert stats.error is not None
    assert (
        f"exceeds the {CAP:,}-byte limit (max_bytes) once decoded (Content-Encoding: {header})" in stats.error
    )
    assert "timed out" not in stats.error
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert hits(httpserver, "/feed/") == 1  # a size failure is not retried
    assert documents(db_path) == []

    # the same answer from a bare socket server, the client's memory measured (no WSGI server or
    # database allocating beside it in this process)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (
        header.encode(),
        len(body),
    )
    server = raw_servers(lambda conn, stop: conn.sendall(head + body))
    with HttpClient(config.fetch) as client:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError, match="once decoded"):
                client.get(server.url("/feed/"), allowed_origins=[f"http://127.0.0.1:{server.port}"])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < CAP + (1 << 20), f"decoding held {peak / 2**20:.0f} MiB at once (max_bytes is 1 MB)"


@pytest.mark.parametrize(
    "encoding", ["gzip", "deflate", "deflate (raw)", "gzip, gzip", "deflate, gzip", "identity, gzip"]
)
def test_a_feed_under_a_stack_of_encodings_is_decoded_and_stored(
    httpserver: HTTPServer, db_path: Path, encoding: str
) -> None:
    """The control for the bombs: well-formed compressed bodies, stacked or not, are read whole."""
    body = rss([("z-1", "Zipped")])
    for name in [e.strip() for e in encoding.split(",")]:
        if name == "deflate (raw)":
            c = zlib.compressobj(wbits=-15)
            body = c.compress(body) + c.flush()
        elif name != "identity":
            body = encode(body, name)
    httpserver.expect_request("/feed/").respond_with_response(
        Response(
            body, headers={"Content-Type": FEED_TYPE, "Content-Encoding": encoding.replace(" (raw)", "")}
        )
    )
    config = make_config(db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}})

    (stats,) = fetch(config, ["feed"])

    assert stats.status == "ok", stats.error
    assert [d["title"] for d in documents(db_path)] == ["Zipped"]


@pytest.mark.parametrize("encoding", ["br", "zstd"])
def test_a_compression_the_tracker_does_not_decode_fails_instead_of_storing_garbage(
    httpserver: HTTPServer, db_path: Path, encoding: str
) -> None:
    httpserver.expect_request("/feed/").respond_with_response(
        Response(b"\x1b\x00\xf8\xa5\x05", headers={"Content-Type": FEED_TYPE, "Content-Encoding": encoding})
    )
    config = make_config(db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}})

    (stats,) = fetch(config, ["feed"])

    assert stats.status == "failed"
    assert (
        stats.error is not None and f"cannot decode a body with Content-Encoding {encoding!r}" in stats.error
    )
    assert documents(db_path) == []


CHILD = """
import atexit, resource, sys
limit = 2 << 30  # address space: a 4 GiB body decoded whole cannot fit
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
atexit.register(lambda: print("maxrss-kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
from tracker.cli import main
sys.argv = ["tracker", "--config", sys.argv[1], "fetch"]
main()
"""


def test_a_4_gib_double_gzip_bomb_fails_on_size_in_a_small_memory_limit(
    httpserver: HTTPServer, tmp_path: Path, db_path: Path
) -> None:
    """The issue's case, through the `tracker` command under a 2 GiB address-space limit, with
    the process's peak memory measured by the kernel."""
    bomb = BOMBS["gzip, gzip"]()
    httpserver.expect_request("/feed/").respond_with_response(
        Response(bomb, headers={"Content-Type": FEED_TYPE, "Content-Encoding": "gzip, gzip"})
    )
    healthy = healthy_feed(httpserver)
    cfg = write_config(
        tmp_path,
        db_path,
        f'[sources.bomb]\nkind = "rss"\nurl = "{url(httpserver, "/feed/")}"\n'
        f'[sources.healthy]\nkind = "rss"\nurl = "{healthy}"\n',
        f"max_bytes = {CAP}\nretries = 0\n",
    )

    done = subprocess.run([sys.executable, "-c", CHILD, str(cfg)], capture_output=True, timeout=60)

    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 1, err  # a source failed; not MemoryError, not an internal error
    assert f"exceeds the {CAP:,}-byte limit (max_bytes) once decoded (Content-Encoding: gzip, gzip)" in out
    assert "MemoryError" not in out + err and "timed out" not in out
    maxrss_mb = int(err.split("maxrss-kb")[-1].split()[0]) / 1024
    assert maxrss_mb < 250, f"peak memory {maxrss_mb:.0f} MB"
    assert len(documents(db_path, "healthy")) == 2


# --- 3. every wait is capped and ends at once on stop or SIGTERM ---------------------------------


def failing_then_waiting(httpserver: HTTPServer, wait: str) -> tuple[dict[str, Any], list[str]]:
    """Serves a source whose next request would wait 250-300 s (`wait` says why); its [fetch]
    settings and URLs."""
    feed = url(httpserver, "/feed/")
    if wait == "backoff":
        httpserver.expect_request("/feed/").respond_with_data("oops", status=500)
        return {"backoff": 300.0, "retries": 10}, [feed]
    if wait == "retry-after":
        httpserver.expect_request("/feed/").respond_with_data(
            "busy", status=503, headers={"Retry-After": "250"}
        )
        return {"retries": 10}, [feed]
    assert wait == "host-delay"  # two feeds on one host: the second waits for the first
    for path, guid in (("/feed/", "a-1"), ("/other/feed/", "b-1")):
        httpserver.expect_request(path).respond_with_data(
            rss([(guid, f"Item {guid}")]), content_type=FEED_TYPE
        )
    return {"host_delay": 300.0}, [feed, url(httpserver, "/other/feed/")]


@pytest.mark.parametrize("wait", ["backoff", "retry-after", "host-delay"])
def test_a_long_wait_ends_at_once_when_the_run_is_stopped(
    httpserver: HTTPServer, db_path: Path, wait: str
) -> None:
    settings, urls = failing_then_waiting(httpserver, wait)
    config = make_config(db_path, {"feed": {"kind": "rss", "urls": urls}}, fetch=settings)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()

    t0 = time.monotonic()
    (stats,) = fetch(config, ["feed"], stop=stop)
    elapsed = time.monotonic() - t0

    assert stats.status == "interrupted", stats.error
    assert elapsed < 10, f"stopping a {wait} wait took {elapsed:.1f} s"  # generous: the wait is 300 s
    assert last_run(db_path, "feed").status == "interrupted"
    if wait == "host-delay":  # what was read before the wait is kept
        assert [d["title"] for d in documents(db_path)] == ["Item a-1"]


@pytest.mark.parametrize(
    "retry_after", ["999999999", "Fri, 01 Jan 2100 00:00:00 GMT"], ids=["seconds", "date"]
)
def test_a_retry_after_beyond_the_cap_fails_at_once_instead_of_waiting(
    httpserver: HTTPServer, db_path: Path, retry_after: str
) -> None:
    httpserver.expect_request("/feed/").respond_with_data(
        "later", status=429, headers={"Retry-After": retry_after}
    )
    config = make_config(
        db_path, {"feed": {"kind": "rss", "url": url(httpserver, "/feed/")}}, fetch={"retries": 10}
    )

    t0 = time.monotonic()
    (stats,) = fetch(config, ["feed"])

    assert time.monotonic() - t0 < 10  # generous: waiting would take years
    assert stats.status == "failed"
    assert stats.error is not None and "HTTP 429" in stats.error
    assert "more than the 300 s a fetch waits: not retried" in stats.error
    assert hits(httpserver, "/feed/") == 1


def test_sigterm_during_a_retry_wait_stops_tracker_fetch_with_130(
    httpserver: HTTPServer, tmp_path: Path, db_path: Path
) -> None:
    httpserver.expect_request("/feed/").respond_with_data("busy", status=503, headers={"Retry-After": "250"})
    cfg = write_config(
        tmp_path,
        db_path,
        f'[sources.busy]\nkind = "rss"\nurl = "{url(httpserver, "/feed/")}"\n',
        "retries = 10\n",
    )
    proc = tracker_process(cfg, "fetch")
    wait_for(lambda: hits(httpserver, "/feed/") > 0, proc)
    time.sleep(0.3)  # into the 250 s wait

    took, err = terminate(proc)

    assert proc.returncode == 130, err
    assert took < 10, f"exited {took:.1f} s after SIGTERM"  # generous: the wait was minutes
    assert "interrupted" in err and "Traceback" not in err
    assert hits(httpserver, "/feed/") == 1
    assert last_run(db_path, "busy").status == "interrupted"


def test_sigterm_during_a_retry_wait_stops_tracker_run_at_once(
    httpserver: HTTPServer, tmp_path: Path, db_path: Path
) -> None:
    httpserver.expect_request("/feed/").respond_with_data("busy", status=503, headers={"Retry-After": "250"})
    cfg = write_config(
        tmp_path,
        db_path,
        f'[sources.busy]\nkind = "rss"\nurl = "{url(httpserver, "/feed/")}"\n',
        "retries = 10\n",
    )
    proc = tracker_process(cfg, "run")
    wait_for(lambda: hits(httpserver, "/feed/") > 0, proc)
    time.sleep(0.3)

    took, err = terminate(proc)

    assert proc.returncode == 0, err
    assert took < 10, f"exited {took:.1f} s after SIGTERM"  # generous: the wait was minutes
    assert err.splitlines()[-1] == "stopped", err
    assert last_run(db_path, "busy").status == "interrupted"


# --- 4. requests and redirects stay on the source's own origins ----------------------------------

ORIGIN_CASES = [
    # (source URL, allowed_hosts, URL requested, allowed)
    ("https://site.example/list", [], "https://site.example:443/a", True),
    ("https://SITE.example/list", [], "https://site.example/a", True),
    ("http://site.example/list", [], "https://site.example/a", True),  # the upgrade sites make
    ("http://site.example/list", [], "http://site.example:80/a", True),
    ("https://site.example/list", [], "http://site.example/a", False),  # no downgrade to plain text
    ("https://site.example/list", [], "https://site.example:8443/a", False),
    ("http://site.example:8080/list", [], "https://site.example:8080/a", False),
    ("http://site.example:8080/list", [], "https://site.example/a", False),
    ("http://site.example/list", [], "https://site.example:8443/a", False),
    ("https://site.example/list", [], "https://other.example/a", False),
    ("https://site.example/list", [], "ftp://site.example/a", False),
    ("https://site.example/list", ["cdn.example"], "https://cdn.example/a", True),
    ("https://site.example/list", ["cdn.example"], "http://cdn.example/a", True),
    ("https://site.example/list", ["cdn.example"], "https://cdn.example:8443/a", False),
    ("https://site.example/list", ["https://cdn.example:8443"], "https://cdn.example:8443/a", True),
    ("https://site.example/list", ["https://cdn.example:8443"], "https://cdn.example/a", False),
    ("https://site.example/list", ["http://site.example"], "http://site.example/a", True),  # opted in
]


@pytest.mark.parametrize(
    "source_url, allowed_hosts, target, allowed",
    ORIGIN_CASES,
    ids=[f"{s}{' +' + ','.join(a) if a else ''} -> {t}" for s, a, t, _ in ORIGIN_CASES],
)
def test_the_origin_rule(source_url: str, allowed_hosts: list[str], target: str, allowed: bool) -> None:
    source = SourceConfig("s", "rss", (source_url,), allowed_hosts=tuple(allowed_hosts))
    assert (url_origin(target) in source.origins) is allowed


@pytest.fixture
def other_port() -> Iterator[HTTPServer]:
    """A second server on 127.0.0.1: the same host, another port."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def redirecting_list(httpserver: HTTPServer, target: str) -> None:
    """An html-list whose first item redirects to `target`; its second item is fine."""
    httpserver.expect_request("/list.html").respond_with_data(
        '<ul><li><a href="/moved.html">Moved</a></li><li><a href="/fine.html">Fine</a></li></ul>',
        content_type="text/html; charset=utf-8",
    )
    httpserver.expect_request("/moved.html").respond_with_data("", status=302, headers={"Location": target})
    httpserver.expect_request("/fine.html").respond_with_data(
        "<html><body><div class='a'>Fine notice on gallium.</div></body></html>", content_type="text/html"
    )


def html_list(httpserver: HTTPServer, **extra: object) -> dict[str, object]:
    return {"kind": "html-list", "url": url(httpserver, "/list.html"), "item": "li", "body": "div.a", **extra}


@pytest.mark.parametrize("scheme", ["http", "https"], ids=["other-port", "other-scheme-and-port"])
def test_a_redirect_to_another_port_on_the_same_host_is_refused_and_the_rest_stored(
    httpserver: HTTPServer, other_port: HTTPServer, db_path: Path, scheme: str
) -> None:
    other_port.expect_request("/stolen.html").respond_with_data(
        "<div class='a'>Stolen</div>", content_type="text/html"
    )
    target = f"{scheme}://127.0.0.1:{other_port.port}/stolen.html"
    redirecting_list(httpserver, target)
    config = make_config(db_path, {"notices": html_list(httpserver)})

    (stats,) = fetch(config, ["notices"])

    assert len(other_port.log) == 0
    assert stats.status == "failed"
    (error,) = stats.item_errors
    assert f"redirect to another origin refused: {target}" in error
    assert "add it to allowed_hosts" in error
    assert [d["title"] for d in documents(db_path)] == ["Fine"]


def test_a_redirect_to_a_port_named_in_allowed_hosts_is_followed_and_stored(
    httpserver: HTTPServer, other_port: HTTPServer, db_path: Path
) -> None:
    other_port.expect_request("/moved.html").respond_with_data(
        "<html><body><div class='a'>Moved notice.</div></body></html>", content_type="text/html"
    )
    origin = f"http://127.0.0.1:{other_port.port}"
    redirecting_list(httpserver, f"{origin}/moved.html")
    config = make_config(db_path, {"notices": html_list(httpserver, allowed_hosts=[origin])})

    (stats,) = fetch(config, ["notices"])

    assert stats.status == "ok", stats.error
    assert len(other_port.log) == 1
    assert sorted(d["title"] for d in documents(db_path)) == ["Fine", "Moved"]


def test_a_link_to_another_port_fails_that_item_naming_the_fix(
    httpserver: HTTPServer, other_port: HTTPServer, db_path: Path
) -> None:
    link = f"http://127.0.0.1:{other_port.port}/elsewhere.html"
    httpserver.expect_request("/list.html").respond_with_data(
        f'<ul><li><a href="{link}">Elsewhere</a></li></ul>', content_type="text/html; charset=utf-8"
    )
    config = make_config(db_path, {"notices": html_list(httpserver)})

    (stats,) = fetch(config, ["notices"])

    assert len(other_port.log) == 0
    assert stats.status == "failed"
    (error,) = stats.item_errors
    assert f"http://127.0.0.1:{other_port.port} is not this source's origin" in error
    assert "add it to allowed_hosts" in error


# --- 5. numbers that would hang or crash a run are config errors -------------------------------

BAD_NUMBERS = [
    # (TOML, key, message)
    *[
        (
            f"[fetch]\ntimeout = {v}\n",
            "fetch.timeout",
            f"must be a finite number above 0 and at most 3,600, got {r}",
        )
        for v, r in (
            ("nan", "nan"),
            ("inf", "inf"),
            ("-inf", "-inf"),
            ("-1", "-1.0"),
            ("0", "0.0"),
            ("3601", "3601.0"),
        )
    ],
    *[
        (f"[fetch]\n{k} = {v}\n", f"fetch.{k}", f"must be a finite number from 0 to 300, got {r}")
        for k in ("backoff", "host_delay")
        for v, r in (("nan", "nan"), ("inf", "inf"), ("-1", "-1.0"), ("301", "301.0"))
    ],
    *[
        (f"[fetch]\n{k} = {v}\n", f"fetch.{k}", f"must be a whole number from {lo} to {hi}, got {v}")
        for k, lo, hi, bad in (
            ("retries", "0", "10", ("-1", "11", "40")),
            ("max_redirects", "0", "20", ("-1", "21")),
            ("workers", "1", "64", ("-1", "0", "65")),
            ("max_bytes", "1", "1,000,000,000", ("-1", "0", "1000000001")),
        )
        for v in bad
    ],
    *[
        (f"[fetch]\n{k} = {v}\n", f"fetch.{k}", f"expected a whole number, got {v}")
        for k in ("retries", "max_redirects", "workers", "max_bytes")
        for v in ("nan", "inf")
    ],
    *[
        (
            f"[sources.mofcom]\ntimeout = {v}\n",
            "sources.mofcom.timeout",
            f"above 0 and at most 3,600, got {r}",
        )
        for v, r in (("nan", "nan"), ("inf", "inf"), ("-1", "-1.0"), ("0", "0.0"))
    ],
    *[
        (f"[sources.mofcom]\nmax_pages = {v}\n", "sources.mofcom.max_pages", f"from 1 to 1,000, got {v}")
        for v in ("-1", "0", "1001")
    ],
    *[
        (
            f"[sources.mofcom]\ninterval = {v}\n",
            "sources.mofcom.interval",
            f"from one minute to 366 days, got {r}",
        )
        for v, r in (("nan", "nan"), ("inf", "inf"), ("-1", "-1"), ("0", "0"), ('"367d"', "'367d'"))
    ],
    ('[fetch]\nuser_agent = "x\\r\\nX-Evil: 1"\n', "fetch.user_agent", "must be one line of printable ASCII"),
    (
        '[sources.mofcom]\nuser_agent = "x\\ny"\n',
        "sources.mofcom.user_agent",
        "must be one line of printable ASCII",
    ),
    (
        '[sources.mofcom]\nallowed_hosts = ["cdn.example:8443"]\n',
        "sources.mofcom.allowed_hosts",
        "expected a host name like 'www.example.gov' or an origin like 'https://www.example.gov:8443'",
    ),
    (
        '[sources.mofcom]\nallowed_hosts = ["https://cdn.example/path"]\n',
        "sources.mofcom.allowed_hosts",
        "got 'https://cdn.example/path'",
    ),
]


@pytest.mark.parametrize(
    "toml, key, message", BAD_NUMBERS, ids=[f"{k}={t.split('= ')[-1].strip()}" for t, k, _ in BAD_NUMBERS]
)
def test_a_number_that_would_hang_or_crash_a_run_is_a_one_line_config_error(
    tmp_path: Path, toml: str, key: str, message: str
) -> None:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(toml, "utf-8")

    result = CliRunner().invoke(cli, ["--config", str(cfg), "sources"])

    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error: {cfg}:{key}: "), result.output
    assert message in result.output, result.output
    assert "internal error" not in result.output


def test_the_limits_themselves_are_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(
        "[fetch]\ntimeout = 3600\nretries = 10\nbackoff = 0\nhost_delay = 300\nmax_bytes = 1\n"
        "max_redirects = 0\nworkers = 64\n"
        '[sources.mofcom]\ntimeout = 0.1\nmax_pages = 1000\ninterval = "366d"\n'
        'allowed_hosts = ["cdn.example", "https://cdn.example:8443", "http://[::1]:8080"]\n',
        "utf-8",
    )

    result = CliRunner().invoke(cli, ["--config", str(cfg), "sources"])

    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("smtp", "timeout", "nan"),
        ("smtp", "timeout", "0"),
        ("smtp", "port", "70000"),
        ("alerts", "silent_after", "inf"),
        ("sources.federalregister", "max_texts", "-1"),
        ("sources.mofcom", "page_size", "0"),
    ],
)
def test_other_numbers_out_of_bounds_are_one_line_config_errors(
    tmp_path: Path, table: str, key: str, value: str
) -> None:
    from click.testing import CliRunner

    from tracker.cli import cli

    cfg = tmp_path / "tracker.toml"
    cfg.write_text(f"[{table}]\n{key} = {value}\n", "utf-8")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "sources"])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: {cfg}:{table}.{key}: must be ")
