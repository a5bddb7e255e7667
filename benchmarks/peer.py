"""Benchmark: the tracker beside urlwatch 2.29, the same sources on the same loopback server.

Starts an HTTP/1.1 server on 127.0.0.1 (a ThreadingHTTPServer in this process, keep-alive,
Content-Length on every response) serving 200 RSS feeds of 5 items each (English titles and
bodies about critical minerals; the first item of each feed is one the shipped rules classify)
and 200 html-list pages of 5 MOFCOM-style items. Every response carries an ETag and a
Last-Modified; a conditional GET gets 304 when If-None-Match matches, or, without
If-None-Match, when If-Modified-Since is at or after Last-Modified (RFC 9110 §13.2.2; urlwatch
sends its last-check time there). The server counts requests, 200s, 304s and new connections
per client, told apart by User-Agent ("minerals-tracker/..." and "urlwatch/..."). It sends with
TCP_NODELAY, as nginx does on keep-alive connections (without it, a body written after its head
waited for the client's delayed ACK).

Both tools run as command-line subprocesses of this Python, start-up included:

    tracker   tracker --config DIR/tracker.toml --db DIR/tracker.db fetch
              (the four built-in sources off, [fetch] host_delay = 0, its other defaults)
    urlwatch  urlwatch --urls DIR/urls.yaml --config DIR/urlwatch.yaml --hooks DIR/hooks.py
              --cache DIR/cache.db  (no reporter: stdout off)

with one bytecode cache for both (an installed tool has its bytecode compiled; the warm-up runs
fill the cache), and each figure alternates the tools run by run (the first tool of a run changes
every run):

  re-poll   the sources again, unchanged: one conditional GET each, all 304 (state kept from a
            first fetch and one re-poll made before the timed runs, as a cron job finds it)
  cold      a first fetch into a fresh folder (database, cache, config) per run; the tracker
            also stores and classifies the 1,000 items
  --help    start-up alone
  memory    peak RSS of the cold RSS fetch (os.wait4's ru_maxrss of the child)

Before reporting, it checks from the server's counters that each tool made exactly the expected
requests in every run (cold: one 200 per source; re-poll: one conditional GET per source, all
304; --help: none); otherwise it prints the counts and exits 1. It prints min/median/max per
tool, the ratio of the medians (tracker/urlwatch) and PASS/FAIL against the goals of issue 13.
The exit status is 0 whether the goals are met or not; 1 when a check fails, 2 when a tool is
missing. Run from the repository root, with the `bench` extra installed (it installs nothing):

    pip install -e '.[bench]'
    python benchmarks/peer.py [--runs N] [--sources N] [--quick] [--tracker-only]
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import html
import importlib.util
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

ITEMS = 5  # items per feed and per list page
SEED = 20261124
TOOL_TIMEOUT = 300.0  # seconds: a run that takes longer is killed and the benchmark refuses
INSTALL_HINT = "pip install -e '.[bench]'"
EXIT_REFUSED, EXIT_MISSING = 1, 2

# --- the documents served ------------------------------------------------------------------------

# (English name, Chinese name) of minerals the shipped vocabulary knows
MINERALS = (
    ("gallium", "镓"),
    ("germanium", "锗"),
    ("antimony", "锑"),
    ("graphite", "石墨"),
    ("tungsten", "钨"),
    ("rare earths", "稀土"),
    ("cobalt", "钴"),
    ("lithium", "锂"),
    ("indium", "铟"),
    ("bismuth", "铋"),
    ("tellurium", "碲"),
    ("molybdenum", "钼"),
)
PARTNERS = ("Japan", "Australia", "Canada", "India", "Brazil", "Saudi Arabia", "Korea", "Chile")
MONTHS = "January February March April May June July August September October November December".split()

# one per feed, its first item: each is matched by a rule of rules/us.yaml for `kind = "rss"`
CLASSIFIED = (
    (
        "MOFCOM announcement No. {n} of {y} on export control of {m1} and {m2} related items",
        "The Ministry of Commerce announced export controls on {m1} and {m2} related items, "
        "effective {day}. Exporters shall apply to the competent department.",
    ),
    (
        "Suspension of Export Restrictions on {M1} and {M2}",
        "The restrictions are suspended effective {day} until {day2}.",
    ),
    (
        "United States-{c} Framework for Securing the Supply of Critical Minerals and Rare Earths",
        "The Participants intend to support the supply of critical minerals and rare earths, "
        "including {m1}, and to coordinate their stockpiles.",
    ),
    (
        "Department of Energy Awards Funding to Expand Domestic {M1} Production",
        "The award under the Defense Production Act will expand {m1} mining and processing.",
    ),
)
# the other four items of a feed: about minerals, no rule's keywords
PLAIN = (
    (
        "Mineral Commodity Summary: {M1} production and reserves in {y}",
        "World mine production of {m1} rose in {y}; {c} and China remained the leading producers. "
        "Quotations were steady through the fourth quarter.",
    ),
    (
        "{M1} and {M2} quotations in Rotterdam and Shanghai, week {w}",
        "Spot quotations for {m1} closed the week higher, while {m2} was unchanged. Volumes were "
        "thin ahead of the holiday.",
    ),
    (
        "Geological survey publishes {m1} resource assessment for {c}",
        "The assessment estimates identified resources of {m1} in {c} and describes the main "
        "deposits and their geology.",
    ),
    (
        "Customs statistics: {m1} shipments in {month} {y}",
        "Shipments of {m1} products totalled {t} tonnes in {month}, according to the customs "
        "statistics released today.",
    ),
    (
        "Hearing on the {m1} supply chain review scheduled for {day}",
        "The committee will hear testimony on the supply chain for {m1} and {m2}. Written comments "
        "are due before the hearing.",
    ),
)
ZH_TITLES = (
    "商务部 海关总署公告{y}年第{n}号 关于对{z}相关物项实施出口管制的公告",
    "商务部公告{y}年第{n}号 关于优化调整{z}物项出口管制措施的公告",
    "商务部新闻发言人就{z}相关物项出口管制措施答记者问",
    "{y}年{m}月{z}产品进出口数据",
    "关于举办{z}产业链供应链研讨会的通知",
)


@dataclass(frozen=True)
class Resource:
    """One URL's response: its body and the validators a conditional GET is checked against."""

    body: bytes
    content_type: str
    etag: str
    modified: int  # Last-Modified, seconds since the epoch

    @property
    def last_modified(self) -> str:
        return email.utils.formatdate(self.modified, usegmt=True)


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "rss" | "html-list"
    url: str


def _words(rng: random.Random, k: int, i: int) -> dict[str, str]:
    """Values for one item's templates."""
    (m1, z1), (m2, _) = rng.sample(MINERALS, 2)
    day = date(2025, 1, 1) + timedelta(days=(k * ITEMS + i) % 360)
    later = day + timedelta(days=365)
    return {
        "m1": m1,
        "m2": m2,
        "M1": m1.title(),
        "M2": m2.title(),
        "z": z1,
        "c": rng.choice(PARTNERS),
        "n": str(k * ITEMS + i + 1),
        "y": str(day.year),
        "m": str(day.month),
        "w": str(1 + (k + i) % 52),
        "t": f"{rng.randint(40, 9000):,}",
        "month": MONTHS[day.month - 1],
        "day": f"{MONTHS[day.month - 1]} {day.day}, {day.year}",
        "day2": f"{MONTHS[later.month - 1]} {later.day}, {later.year}",
    }


def rss_feed(k: int, base: str, rng: random.Random) -> bytes:
    """Feed number `k`: its first item classifiable, the other four not."""
    items = []
    for i in range(ITEMS):
        title, body = CLASSIFIED[k % len(CLASSIFIED)] if i == 0 else PLAIN[(k + i) % len(PLAIN)]
        w = _words(rng, k, i)
        when = datetime(2025, 1, 1, 8, 30, tzinfo=UTC) + timedelta(days=(k * ITEMS + i) % 360)
        link = f"{base}/notices/s{k}/{i}.html"
        items.append(
            f"<item><title>{html.escape(title.format(**w))}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid>'
            f"<pubDate>{email.utils.format_datetime(when)}</pubDate>"
            f"<description>{html.escape('<p>' + body.format(**w) + '</p>')}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>Critical minerals notices {k}</title><link>{base}/feeds/{k}.xml</link>"
        f"<description>Announcements, feed {k}</description>{''.join(items)}</channel></rss>\n"
    ).encode()


def list_page(k: int, base: str, rng: random.Random) -> bytes:
    """List page number `k`: five MOFCOM-style notices, each a link and a date."""
    rows = []
    for i in range(ITEMS):
        w = _words(rng, k, i)
        title = ZH_TITLES[(k + i) % len(ZH_TITLES)].format(**w)
        day = date(2025, 1, 1) + timedelta(days=(k * ITEMS + i) % 360)
        rows.append(
            f'<li><a href="{base}/notices/h{k}/{i}.html">{html.escape(title)}</a> '
            f'<span class="date">{day.isoformat()}</span></li>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>政策发布 {k}</title></head><body><h1>政策发布</h1>"
        f'<ul class="notices">{"".join(rows)}</ul></body></html>\n'
    ).encode()


def build_site(n: int, base: str) -> tuple[dict[str, Resource], dict[str, list[Source]]]:
    """`n` feeds and `n` list pages served at `base`: the responses by path, the sources by kind."""
    rng = random.Random(SEED)
    modified = int(time.time()) - 86_400
    site: dict[str, Resource] = {}
    sources: dict[str, list[Source]] = {"rss": [], "html-list": []}
    for k in range(n):
        for kind, path, body, ctype in (
            ("rss", f"/feeds/{k}.xml", rss_feed(k, base, rng), "application/rss+xml; charset=utf-8"),
            ("html-list", f"/lists/{k}.html", list_page(k, base, rng), "text/html; charset=utf-8"),
        ):
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            site[path] = Resource(body, ctype, etag, modified)
            sources[kind].append(Source(f"{'s' if kind == 'rss' else 'h'}{k}", kind, base + path))
    return site, sources


# --- the server ----------------------------------------------------------------------------------


@dataclass
class Counts:
    """What one client asked and got."""

    requests: int = 0
    ok: int = 0  # 200
    not_modified: int = 0  # 304
    other: int = 0  # any other status
    conditional: int = 0  # requests with If-None-Match or If-Modified-Since
    by_etag: int = 0  # 304s given because If-None-Match matched
    connections: int = 0  # TCP connections opened

    def minus(self, before: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) - getattr(before, f.name) for f in fields(self)))


def client_of(user_agent: str) -> str:
    if user_agent.startswith("minerals-tracker/"):
        return "tracker"
    if user_agent.startswith("urlwatch/"):
        return "urlwatch"
    return "other"


class PeerServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.site: dict[str, Resource] = {}
        self.counts: dict[str, Counts] = {}
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, client: str, **incr: int) -> None:
        with self.lock:
            c = self.counts.setdefault(client, Counts())
            for name, n in incr.items():
                setattr(c, name, getattr(c, name) + n)

    def snapshot(self, client: str) -> Counts:
        with self.lock:
            return Counts(**vars(self.counts.get(client, Counts())))


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match against our (strong) ETag, compared weakly as RFC 9110 says for GET."""
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def modified_since(header: str, modified: int) -> bool:
    """False when If-Modified-Since is at or after Last-Modified (then: 304); True otherwise."""
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return True  # an unreadable date is ignored
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() < modified


class Handler(BaseHTTPRequestHandler):
    """GET and HEAD of the site's paths, with conditional requests; counts everything."""

    protocol_version = "HTTP/1.1"  # keep-alive: every response has a Content-Length
    # TCP_NODELAY, as nginx sets on keep-alive connections: the head and the body go out in two
    # writes, and with Nagle's algorithm the body waited for the client's delayed ACK of the head
    # (40 ms a response on Linux), which timed the two tools' ACK habits rather than their work
    disable_nagle_algorithm = True
    server: PeerServer
    timeout = 30  # an idle keep-alive connection is dropped after this

    def setup(self) -> None:
        super().setup()
        self.first_request = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: the counters say what happened

    def do_GET(self) -> None:  # noqa: N802
        self.answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self.answer(with_body=False)

    def do_POST(self) -> None:  # noqa: N802
        self.read_request_body()
        self.count(405)
        self.send_bare(405, {"Allow": "GET, HEAD"})

    def read_request_body(self) -> None:
        """Read a request's body so the next request on the connection starts where it should."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # not needed by either tool: refuse rather than misread
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def count(self, status: int, conditional: bool = False, by_etag: bool = False) -> None:
        client = client_of(self.headers.get("User-Agent", ""))
        field = {200: "ok", 304: "not_modified"}.get(status, "other")
        incr = {"requests": 1, field: 1, "conditional": int(conditional), "by_etag": int(by_etag)}
        incr["connections"] = int(self.first_request)
        self.first_request = False
        self.server.count(client, **incr)

    def answer(self, with_body: bool) -> None:
        self.read_request_body()
        res = self.server.site.get(self.path.split("?", 1)[0])
        if res is None:
            self.count(404)
            self.send_bare(404, {})
            return
        inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        if inm is not None:  # If-None-Match decides alone when present (RFC 9110 §13.2.2)
            fresh = not etag_matches(inm, res.etag)
        else:
            fresh = ims is None or modified_since(ims, res.modified)
        validators = {"ETag": res.etag, "Last-Modified": res.last_modified, "Cache-Control": "no-cache"}
        if not fresh:
            self.count(304, conditional=True, by_etag=inm is not None)
            # RFC 9110 §8.6: a 304 may carry the Content-Length a 200 would have; it has no body
            self.send_bare(304, validators | {"Content-Length": str(len(res.body))})
            return
        self.count(200, conditional=inm is not None or ims is not None)
        headers = validators | {"Content-Type": res.content_type, "Content-Length": str(len(res.body))}
        self.send_bare(200, headers, res.body if with_body else b"")

    def send_bare(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        """The status line and headers (a Content-Length of the body unless given), then the body."""
        self.send_response(status)
        headers = {"Content-Length": str(len(body))} | headers
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)


# --- the two tools -------------------------------------------------------------------------------


def scripts_dir() -> Path:
    """Where this Python's console scripts are (the venv's bin/)."""
    return Path(sysconfig.get_path("scripts"))


@dataclass(frozen=True)
class Tool:
    """A command-line tool, how to configure it for some sources and how to run it."""

    name: str  # also the server's name for its requests: client_of(its User-Agent)
    exe: Path
    version: str

    def help_argv(self) -> list[str]:
        return [str(self.exe), "--help"]

    def prepare(self, folder: Path, sources: list[Source]) -> None:
        raise NotImplementedError

    def fetch_argv(self, folder: Path) -> list[str]:
        raise NotImplementedError


def builtin_sources() -> list[str]:
    """The sources of the tracker's defaults.toml (switched off here), read without importing it."""
    spec = importlib.util.find_spec("tracker")
    if spec is None or spec.origin is None:
        return []
    defaults = tomllib.loads((Path(spec.origin).parent / "defaults.toml").read_text("utf-8"))
    return list(defaults.get("sources", {}))


class Tracker(Tool):
    def prepare(self, folder: Path, sources: list[Source]) -> None:
        lines = ["[fetch]", "host_delay = 0  # urlwatch has no per-host delay", ""]
        for name in builtin_sources():
            lines += [f"[sources.{name}]", "enabled = false", ""]
        for s in sources:
            lines += [f"[sources.{s.name}]", f'kind = "{s.kind}"', f'url = "{s.url}"']
            if s.kind == "html-list":
                lines += ['item = "ul.notices li"', 'title = "a"', 'link = "a"', 'date = "span.date"']
            lines.append("")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tracker.toml").write_text("\n".join(lines), "utf-8")

    def fetch_argv(self, folder: Path) -> list[str]:
        config, db = folder / "tracker.toml", folder / "tracker.db"
        return [str(self.exe), "--config", str(config), "--db", str(db), "fetch"]


class Urlwatch(Tool):
    def prepare(self, folder: Path, sources: list[Source]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        jobs = [f"name: {s.name}\nurl: {s.url}\n" for s in sources]
        (folder / "urls.yaml").write_text("---\n".join(jobs), "utf-8")
        (folder / "urlwatch.yaml").write_text("report:\n  stdout:\n    enabled: false\n    color: false\n")

    def fetch_argv(self, folder: Path) -> list[str]:
        files = {
            "--urls": "urls.yaml",
            "--config": "urlwatch.yaml",
            "--hooks": "hooks.py",
            "--cache": "cache.db",
        }
        return [str(self.exe)] + [a for opt, name in files.items() for a in (opt, str(folder / name))]


def find_tools(tracker_only: bool) -> list[Tool] | str:
    """The tools in this Python's scripts folder, or why they cannot be run."""
    tools: list[Tool] = []
    for cls, name, dist, hint in (
        (Tracker, "tracker", "minerals-tracker", "pip install -e ."),
        (Urlwatch, "urlwatch", "urlwatch", INSTALL_HINT),
    ):
        if tracker_only and name == "urlwatch":
            break
        exe = scripts_dir() / name
        if not exe.exists() or importlib.util.find_spec(name) is None:
            return f"{name} is not installed in {sys.prefix}: run `{hint}` (or use --tracker-only)"
        tools.append(cls(name, exe, metadata.version(dist)))
    return tools


# --- running and checking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    seconds: float
    max_rss_mb: float
    counts: Counts


Results = dict[str, dict[str, list[Measured]]]  # figure -> tool -> its runs


class Refused(Exception):
    """A run did not do what the comparison needs; the message says what the server saw."""


def child_env(home: Path) -> dict[str, str]:
    """This environment without the tracker's settings and proxies; HOME in the temporary folder."""
    drop = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_") and k.lower() not in drop}
    home.mkdir(parents=True, exist_ok=True)
    for var, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache")):
        env[var] = str(home / sub)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # compiled bytecode for both tools, as an installed tool has it (pip compiles what it installs;
    # an editable checkout or PYTHONDONTWRITEBYTECODE would otherwise recompile the tracker's source
    # on every run): one cache folder, filled by the warm-up runs
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home.parent / "pycache")
    return env


def execute(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run `argv` with output to `log`: wall seconds, peak RSS in MB and the exit status."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        killer = threading.Timer(TOOL_TIMEOUT, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
        seconds = time.perf_counter() - t0
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss: KiB on Linux


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str  # "s" or "MB"
    goal: float | None  # the largest tracker/urlwatch ratio that passes; None: no goal


def figures(n: int) -> list[Figure]:
    return [
        Figure("repoll-rss", f"re-poll, {n} unchanged RSS feeds", "s", 0.5),
        Figure("cold-rss", f"cold fetch, {n} RSS feeds ({n * ITEMS:,} items)", "s", 1.5),
        Figure("help", "--help (start-up)", "s", 0.6),
        Figure("memory", f"peak memory, cold fetch of {n} RSS feeds", "MB", 1.0),
        Figure("repoll-html", f"re-poll, {n} unchanged html-list pages", "s", None),
        Figure("cold-html", f"cold fetch, {n} html-list pages", "s", None),
    ]


def expected(figure: str, n: int) -> tuple[int, int, int, int]:
    """(requests, 200s, 304s, conditional requests) a run of `figure` must make."""
    if figure == "help":
        return (0, 0, 0, 0)
    if figure.startswith("cold"):
        return (n, n, 0, 0)
    return (n, 0, n, n)


def check(tool: str, figure: str, n: int, m: Measured, status: int, log: Path) -> None:
    c = m.counts
    got = (c.requests, c.ok, c.not_modified, c.conditional)
    if status != 0:
        tail = log.read_text("utf-8", "replace").strip().splitlines()[-5:]
        raise Refused(f"{tool} {figure}: exit status {status}; its output ends:\n  " + "\n  ".join(tail))
    if got != expected(figure, n) or c.other:
        raise Refused(
            f"{tool} {figure}: the server saw {c.requests} requests, {c.ok} × 200, {c.not_modified} × 304, "
            f"{c.other} other, {c.conditional} conditional; expected (requests, 200, 304, conditional) = "
            f"{expected(figure, n)}"
        )


def tracker_db_counts(db: Path) -> tuple[int, int] | None:
    """(documents, events) in a tracker database, or None if it has no such tables."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            docs = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
            events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.Error:
        return None
    return int(docs), int(events)


KIND = {"repoll-rss": "rss", "cold-rss": "rss", "repoll-html": "html-list", "cold-html": "html-list"}
RUN_ORDER = ("repoll-rss", "cold-rss", "help", "repoll-html", "cold-html")


@dataclass
class Bench:
    """The server, the tools and their folders; runs one tool for one figure and checks the run."""

    server: PeerServer
    tools: list[Tool]
    sources: dict[str, list[Source]]
    tmp: Path
    n: int
    stored: tuple[int, int] | None = None  # the tracker's (documents, events) after a cold RSS fetch

    def warm(self, tool: Tool, figure: str) -> Path:
        return self.tmp / tool.name / f"warm-{KIND[figure]}"

    def warm_up(self) -> None:
        """For the re-polls, a first fetch of each kind by each tool and one untimed re-poll (a cron
        job's steady state); both checked like timed runs. Also warms the page cache for --help."""
        for tool in self.tools:
            for figure in ("repoll-rss", "repoll-html"):
                tool.prepare(self.warm(tool, figure), self.sources[KIND[figure]])
                self.run(tool, figure.replace("repoll", "cold"), -1, folder=self.warm(tool, figure))
                self.run(tool, figure, -1)

    def run(self, tool: Tool, figure: str, run: int, folder: Path | None = None) -> Measured:
        if figure == "help":
            argv = tool.help_argv()
        elif figure.startswith("cold"):
            if folder is None:
                folder = self.tmp / tool.name / f"{figure}-{run}"
                tool.prepare(folder, self.sources[KIND[figure]])
            argv = tool.fetch_argv(folder)
        else:
            argv = tool.fetch_argv(self.warm(tool, figure))
        log = self.tmp / "logs" / f"{tool.name}-{figure}-{run}.log"
        before = self.server.snapshot(tool.name)
        seconds, rss_mb, status = execute(argv, child_env(self.tmp / "home" / tool.name), log)
        m = Measured(seconds, rss_mb, self.server.snapshot(tool.name).minus(before))
        check(tool.name, figure, self.n, m, status, log)
        if figure.startswith("cold") and isinstance(tool, Tracker) and folder is not None:
            self.check_stored(figure, folder)
            if run >= 0:
                shutil.rmtree(folder)
        return m

    def check_stored(self, figure: str, folder: Path) -> None:
        """The tracker stored every item of a cold fetch (so it did the work it is timed for)."""
        counts = tracker_db_counts(folder / "tracker.db")
        if counts is None:
            return  # a schema without these tables: nothing to check against
        if counts[0] != self.n * ITEMS:
            raise Refused(f"tracker {figure}: stored {counts[0]} documents, expected {self.n * ITEMS}")
        if figure == "cold-rss":
            self.stored = counts

    def measure(self, runs: int) -> Results:
        """`runs` rounds of every figure, the tools' order swapped from one round to the next."""
        results: Results = {f: {t.name: [] for t in self.tools} for f in RUN_ORDER}
        for run in range(runs):
            order = self.tools if run % 2 == 0 else self.tools[::-1]
            for figure in RUN_ORDER:
                for tool in order:
                    results[figure][tool.name].append(self.run(tool, figure, run))
            print(f"  run {run + 1}/{runs} done", file=sys.stderr, flush=True)
        others = self.server.snapshot("other").requests
        if others:
            raise Refused(f"{others} requests came with a User-Agent of neither tool")
        return results


# --- the report ----------------------------------------------------------------------------------


def values(results: Results, figure: str, tool: str) -> list[float]:
    if figure == "memory":
        return [m.max_rss_mb for m in results["cold-rss"][tool]]
    return [m.seconds for m in results[figure][tool]]


def spread(xs: list[float], unit: str) -> str:
    fmt = "{:.1f}" if unit == "MB" else "{:.3f}"
    return " / ".join(fmt.format(x) for x in (min(xs), statistics.median(xs), max(xs)))


def print_rows(head: list[str], rows: list[list[str]], right: int = 1) -> None:
    """A plain table; the columns from `right` on are right-aligned."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, ["-" * w for w in widths], *rows]:
        cells = [
            c.ljust(w) if i < right else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def print_figures(figs: list[Figure], results: Results, tools: list[Tool]) -> list[str]:
    """The table of figures; returns the labels of the goals missed."""
    head = ["figure", "unit"] + [f"{t.name} min / median / max" for t in tools] + ["ratio", "goal", "verdict"]
    rows, missed = [], []
    for f in figs:
        row = [f.label, f.unit] + [spread(values(results, f.key, t.name), f.unit) for t in tools]
        ratio_s, verdict = "-", "-"
        if len(tools) == 2:
            a, b = (statistics.median(values(results, f.key, t.name)) for t in tools)
            ratio = a / b
            ratio_s = f"{ratio:.2f}x"
            if f.goal is not None:
                verdict = "PASS" if ratio <= f.goal else "FAIL"
                if verdict == "FAIL":
                    missed.append(f.label)
        rows.append(row + [ratio_s, f"<= {f.goal}x" if f.goal is not None else "-", verdict])
    print_rows(head, rows, right=2)
    return missed


def print_counts(figs: list[Figure], results: Results, tools: list[Tool]) -> None:
    print("\nwhat the server saw, per run (every run checked; these are the last run's counts):")
    head = ["figure", "tool", "requests", "200", "304", "conditional", "304 by ETag", "connections"]
    rows = []
    for f in figs:
        if f.key == "memory":
            continue
        for t in tools:
            c = results[f.key][t.name][-1].counts
            nums = (c.requests, c.ok, c.not_modified, c.conditional, c.by_etag, c.connections)
            rows.append([f.label, t.name, *map(str, nums)])
    print_rows(head, rows, right=2)


def machine_line() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; {os.cpu_count()} CPUs ({usable} usable); Python {platform.python_version()} "
        f"({platform.python_implementation()}, {sys.executable}); {platform.platform()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def print_notes(results: Results, tools: list[Tool], bench: Bench) -> None:
    print()
    if bench.stored:
        docs, events = bench.stored
        print(f"tracker, each cold RSS fetch: {docs:,} documents stored and classified, {events:,} events")
    for t in tools:
        start = statistics.median(values(results, "help", t.name))
        repoll = statistics.median(values(results, "repoll-rss", t.name))
        share = f"{start / repoll:.0%} of its re-poll ({start:.3f} of {repoll:.3f} s)"
        print(f"{t.name}: start-up (--help) is {share}")


@contextmanager
def serving() -> Iterator[PeerServer]:
    server = PeerServer()
    thread = threading.Thread(target=server.serve_forever, name="peer-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def print_header(tools: list[Tool], n: int, runs: int, base: str) -> None:
    names = " beside ".join(f"{t.name} {t.version}" for t in tools)
    print(f"peer.py: {names}; {n} RSS feeds and {n} html-list pages of {ITEMS} items; {runs} runs each")
    print(f"machine: {machine_line()}")
    print(
        f"server: {base} (ThreadingHTTPServer in this process, HTTP/1.1 keep-alive, ETag and Last-Modified); "
        "tracker: host_delay 0, its default 4 workers; urlwatch: its fixed 10 threads"
    )
    print("each run is a subprocess, start-up included; the tools alternate which goes first\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, help="timed runs of each figure per tool (default 7; 2 with --quick)")
    ap.add_argument("--sources", type=int, help="sources of each kind (default 200; 20 with --quick)")
    ap.add_argument("--quick", action="store_true", help="2 runs of 20 sources: checks that it works")
    ap.add_argument("--tracker-only", action="store_true", help="measure the tracker alone (no urlwatch)")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # in order with stderr's progress
    runs = args.runs or (2 if args.quick else 7)
    n = args.sources or (20 if args.quick else 200)
    if runs < 1 or n < 1:
        ap.error("--runs and --sources must be at least 1")
    tools = find_tools(args.tracker_only)
    if isinstance(tools, str):
        print(f"cannot measure: {tools}", file=sys.stderr)
        return EXIT_MISSING
    with tempfile.TemporaryDirectory(prefix="tracker-peer-") as tmp, serving() as server:
        server.site, sources = build_site(n, server.base_url)
        print_header(tools, n, runs, server.base_url)
        bench = Bench(server, tools, sources, Path(tmp), n)
        try:
            bench.warm_up()
            results = bench.measure(runs)
        except Refused as e:
            print(f"REFUSED: {e}\nno figures reported: a run did not make the requests the comparison needs")
            return EXIT_REFUSED
    figs = figures(n)
    missed = print_figures(figs, results, tools)
    print_counts(figs, results, tools)
    print_notes(results, tools, bench)
    print(
        f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine disturbs the figures)"
    )
    goals = [f for f in figs if f.goal is not None]
    if len(tools) < 2:
        print("\ntracker only: no ratios, no verdicts (urlwatch not run)")
    elif missed:
        print(f"\nFAIL: {len(missed)} of {len(goals)} goals missed: {'; '.join(missed)}")
    else:
        print(f"\nPASS: all {len(goals)} goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
