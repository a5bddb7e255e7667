"""Benchmark: `tracker fetch` of 200 sources served on loopback, then the same fetch unchanged.

Generates a site of 200 distinct sources into a temporary folder (100 MOFCOM-style list pages
with 5 article pages each, 30 RSS and 30 WordPress RSS feeds with 10 items each, 30 Federal
Register JSON searches with 10 results each, 10 USGS-style list pages: 700 files) and serves it
with the demo's SiteServer on 127.0.0.1 (ETag and Last-Modified; 304 on a matching conditional
GET) in a thread of this process. Every timed run is the tracker's command line in a subprocess,
start-up included, with a tracker.toml that names the 200 sources (the built-in sources off,
`[fetch] host_delay` 0 unless --host-delay, `workers` as the variant says), in a fresh folder:

  pass 1  `tracker --config DIR/tracker.toml --db DIR/tracker.db fetch`: every list, feed, API
          response and article is downloaded, stored and classified
  pass 2  the same command again, nothing changed on the site: one conditional GET per
          source, all 304, nothing stored

The variants are `workers` = --workers (default 4) and, unless --no-serial, workers = 1; each of
the --runs runs (default 5) does both passes for each variant, the variants' order swapped from
one run to the next. Each run also times `tracker --help` (start-up alone). An untimed warm-up
fetch of one source of each kind comes first: the subprocesses share one bytecode cache folder,
so every timed run starts with compiled bytecode, as an installed tool does.

Prints, per variant and pass, min / median / max wall seconds and the median peak RSS; and the
last run's requests (as the server logged them and as the `fetch_runs` rows count them),
requests/s at the median, documents stored, sources that answered 304 and sources failed.
Every run is checked: the script exits 1 with a FAIL line for each check that does not hold (a
run exited non-zero or a source failed; the server's and fetch_runs' request counts differ;
pass 1 did not store every document with the expected requests; pass 2 stored something, or did
not make exactly one conditional GET per source, all answered 304). Run from the repository root:

    python benchmarks/fetch.py [--runs N] [--workers N] [--no-serial] [--host-delay S] [--quick]

--quick builds 11 sources (4 MOFCOM list pages, 2 RSS and 2 WordPress feeds, 2 Federal Register
searches, 1 USGS list page) and makes 2 runs: it checks that the script works, in seconds.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

try:
    import tracker  # noqa: F401
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.config import load_config
from tracker.demo.server import SiteServer, site_root

MOFCOM_ITEMS, FEED_ITEMS, FEDREG_ITEMS = 5, 10, 10
DEFAULT_RUNS, QUICK_RUNS = 5, 2
RUN_TIMEOUT = 600.0  # seconds: a run that takes longer is killed (and fails its checks)
PASSES = ("1 first fetch", "2 unchanged re-fetch")
HELP = "start-up (tracker --help)"


@dataclass(frozen=True)
class Sizes:
    """How many sources of each kind the generated site holds."""

    mofcom: int = 100
    rss: int = 30
    wprss: int = 30
    fedreg: int = 30
    usgs: int = 10

    @property
    def sources(self) -> int:
        return self.mofcom + self.rss + self.wprss + self.fedreg + self.usgs


FULL = Sizes()
QUICK = Sizes(mofcom=4, rss=2, wprss=2, fedreg=2, usgs=1)

SAMPLE_ARTICLE = "mofcom/zwgk/zcfb/art/2025/art_64f9e0038defc1e5034f6a1b71e136b3.html"
SAMPLE_NUMBER = "商务部 海关总署公告2025年第57号"
SAMPLE_TITLE_TAIL = "公布对钬、铒、铥、铕、镱等中重稀土相关物项实施出口管制的决定"
SAMPLE_USGS = "usgs/2022/critical-minerals-list.html"
MINERALS = (
    "Aluminum, antimony, arsenic, barite, beryllium, bismuth, cerium, cesium, chromium, cobalt, "
    "dysprosium, erbium, europium, fluorspar, gadolinium, gallium, germanium, graphite, hafnium, "
    "holmium, indium, iridium, lanthanum, lithium, lutetium, magnesium, manganese, neodymium, "
    "nickel, niobium, palladium, platinum, praseodymium, rhodium, rubidium, ruthenium, samarium, "
    "scandium, tantalum, tellurium, terbium, thulium, tin, titanium, tungsten, vanadium, "
    "ytterbium, yttrium, zinc, zirconium"
).split(", ")
MINERALS_2022_SENTENCE = (
    "includes the following 50 minerals: " + ", ".join(MINERALS[:-1]) + ", and zirconium."
)
GOODS = (
    "稀土永磁材料",
    "锂电池正极材料",
    "镓相关物项",
    "锗相关物项",
    "石墨负极材料",
    "钨相关物项",
    "锑相关物项",
    "超硬材料",
    "铟相关物项",
    "钼相关物项",
)


@dataclass
class SourceSpec:
    name: str
    kind: str
    url: str
    documents: int  # distinct documents a first fetch should store
    requests: int  # requests a first fetch should make


# --- the generated site --------------------------------------------------------------------------


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def build_site(root: Path, base: str, sizes: Sizes = FULL) -> list[SourceSpec]:
    """Write `sizes.sources` distinct sources under `root` (served at `base`); return their specs."""
    demo = site_root()
    article_tpl = (demo / SAMPLE_ARTICLE).read_text("utf-8")
    usgs_tpl = (demo / SAMPLE_USGS).read_text("utf-8")
    assert SAMPLE_NUMBER in article_tpl and MINERALS_2022_SENTENCE in usgs_tpl, "sample site changed"
    specs: list[SourceSpec] = []
    day0 = date(2025, 11, 20)

    # MOFCOM-style list pages, each with its own article pages (announcement numbers 1..500)
    for s in range(sizes.mofcom):
        lis = []
        for j in range(MOFCOM_ITEMS):
            n = s * MOFCOM_ITEMS + j + 1
            number = f"商务部 海关总署公告2025年第{n}号"
            title = f"{number} 公布对{GOODS[n % len(GOODS)]}实施出口管制的决定（第{n}批）"
            day = day0 - timedelta(days=n % 300)
            rel = f"mofcom/s{s:03d}/art/art_{n:04d}.html"
            page = (
                article_tpl.replace(SAMPLE_NUMBER + " " + SAMPLE_TITLE_TAIL, title)
                .replace(SAMPLE_NUMBER, number)
                .replace("2025-10-09", day.isoformat())
                .replace("2025年10月09日", f"{day.year}年{day.month:02d}月{day.day:02d}日")
            )
            write(root, rel, page)
            short = html.escape(title[:24]) + "…"
            lis.append(
                f'<li><a href="/{rel}" title="{html.escape(title)}" target="_blank">{short}</a>'
                f"<span>[{day.isoformat()}]</span></li>"
            )
        write(
            root,
            f"mofcom/s{s:03d}/index.html",
            (
                '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
                "<title>政策发布_商务部</title>"
                '</head><body>\n<div class="location">首页 &gt; 政务公开 &gt; 政策发布</div>\n'
                '<div class="listCon">\n<ul class="txtList_01">\n' + "\n".join(lis) + "\n</ul>\n</div>\n"
                "</body></html>\n"
            ),
        )
        specs.append(
            SourceSpec(
                f"mofcom-{s:03d}",
                "mofcom",
                f"{base}/mofcom/s{s:03d}/index.html",
                MOFCOM_ITEMS,
                1 + MOFCOM_ITEMS,
            )
        )

    # RSS feeds (plain RSS 2.0, body in <description>) and WordPress feeds (body in content:encoded)
    t0 = datetime(2025, 11, 20, 16, 30, tzinfo=UTC)
    for f in range(sizes.rss + sizes.wprss):
        wp = f >= sizes.rss
        kind = "wordpress-rss" if wp else "rss"
        slug = f"feed{f:03d}"
        items = []
        for j in range(FEED_ITEMS):
            p = 100_000 + f * 100 + j
            title = f"Statement {p} on Securing Critical Minerals Supply Chains ({MINERALS[p % 50]})"
            link = f"{base}/{slug}/{2025}/11/statement-{p}/"
            when = format_datetime(t0 - timedelta(hours=7 * (f * FEED_ITEMS + j)))
            paras = "".join(
                f"<p>Paragraph {k} of statement {p}: the United States and its partners intend "
                f"to diversify supply of {MINERALS[(p + k) % 50].lower()} and processed rare "
                "earths.</p>"
                for k in range(4)
            )
            if wp:
                body = (
                    '<div class="wp-block-whitehouse-topper">'
                    f"<h1>{html.escape(title)}</h1></div>{paras}"
                    f'<p>The post <a href="{link}">{html.escape(title)}</a> appeared first on '
                    f'<a href="{base}">The White House</a>.</p>'
                )
                items.append(
                    f"\t<item>\n\t\t<title>{html.escape(title)}</title>\n\t\t<link>{link}</link>\n"
                    "\t\t<dc:creator><![CDATA[The White House]]></dc:creator>\n"
                    f"\t\t<pubDate>{when}</pubDate>\n"
                    f"\t\t<category><![CDATA[Briefings &amp; Statements]]></category>\n"
                    f'\t\t<guid isPermaLink="false">https://www.whitehouse.gov/?p={p}</guid>\n'
                    f"\t\t<description><![CDATA[Paragraph 0 of statement {p}]]></description>\n"
                    f"\t\t<content:encoded><![CDATA[{body}]]></content:encoded>\n\t</item>"
                )
            else:
                items.append(
                    f"\t<item>\n\t\t<title>{html.escape(title)}</title>\n\t\t<link>{link}</link>\n"
                    f"\t\t<pubDate>{when}</pubDate>\n\t\t<guid>urn:bench:{slug}:{p}</guid>\n"
                    f"\t\t<description>{html.escape(paras)}</description>\n\t</item>"
                )
        feed = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"\n'
            '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
            '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n'
            '\txmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
            f"\t<title>Feed {f} &#8211; Benchmark</title>\n\t<link>{base}/{slug}/</link>\n"
            "\t<description></description>\n\t<language>en-US</language>\n"
            + "\n".join(items)
            + "\n</channel>\n</rss>\n"
        )
        write(root, f"{slug}/feed/index.xml", feed)
        specs.append(
            SourceSpec(f"{'wprss' if wp else 'rss'}-{f:03d}", kind, f"{base}/{slug}/feed/", FEED_ITEMS, 1)
        )

    # Federal Register documents.json searches: executive orders, proclamations and rules
    for s in range(sizes.fedreg):
        results = []
        for j in range(FEDREG_ITEMS):
            k = s * FEDREG_ITEMS + j
            docno = f"2026-{20000 + k}"
            pub = date(2026, 9, 23) - timedelta(days=k)
            r: dict[str, object] = {
                "document_number": docno,
                "publication_date": pub.isoformat(),
                "citation": f"91 FR {61000 + 7 * k}",
                "html_url": f"https://www.federalregister.gov/documents/{pub:%Y/%m/%d}/{docno}/doc-{k}",
                "agencies": [{"name": "Commerce Department", "raw_name": "DEPARTMENT OF COMMERCE"}],
                "executive_order_number": None,
                "proclamation_number": None,
            }
            if j % 3 == 0:
                r.update(
                    type="Presidential Document",
                    subtype="Executive Order",
                    executive_order_number=str(20000 + k),
                    signing_date=(pub - timedelta(days=5)).isoformat(),
                    title=f"Ensuring Secure Supply of {MINERALS[k % 50]} (Order {k})",
                )
            elif j % 3 == 1:
                r.update(
                    type="Presidential Document",
                    subtype="Proclamation",
                    proclamation_number=str(20000 + k),
                    signing_date=(pub - timedelta(days=5)).isoformat(),
                    title=f"Adjusting Imports of Processed {MINERALS[k % 50]} (Proclamation {k})",
                )
            else:
                r.update(
                    type="Rule",
                    title=f"Export Administration Regulations: {MINERALS[k % 50]} Controls ({k})",
                    abstract=f"This rule revises controls on {MINERALS[k % 50].lower()} items ({k}).",
                    action="Interim final rule.",
                )
            results.append(r)
        data = {
            "description": f"Benchmark search {s}",
            "count": FEDREG_ITEMS,
            "total_pages": 1,
            "results": results,
        }
        write(root, f"federalregister/q{s:03d}/documents.json", json.dumps(data, indent=1))
        specs.append(
            SourceSpec(
                f"fr-{s:03d}",
                "federalregister",
                f"{base}/federalregister/q{s:03d}/documents.json?conditions[term]=minerals&per_page=100",
                FEDREG_ITEMS,
                1,
            )
        )

    # USGS-style list pages: each states its own count and carries its own citation
    for s in range(sizes.usgs):
        count = 41 + s
        names = MINERALS[:count]
        sentence = (
            f"includes the following {count} minerals: "
            + ", ".join(names[:-1])
            + f", and {names[-1].lower()}."
        )
        page = (
            usgs_tpl.replace(MINERALS_2022_SENTENCE, sentence)
            .replace("87 FR 10381", f"87 FR {20000 + s}")
            .replace("2022 Final List of Critical Minerals", f"List {s} of Critical Minerals")
        )
        write(root, f"usgs/list-{s:03d}.html", page)
        specs.append(SourceSpec(f"usgs-{s:03d}", "usgs-list", f"{base}/usgs/list-{s:03d}.html", 1, 1))

    assert len(specs) == sizes.sources
    return specs


# --- the tracker's command line ------------------------------------------------------------------


def tracker_command() -> list[str]:
    """The tracker's command line: the console script beside this Python when the project is
    installed (as a user runs it), else `python -m tracker` (the checkout on PYTHONPATH)."""
    exe = Path(sysconfig.get_path("scripts")) / "tracker"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tracker"]


def builtin_sources(tmp: Path) -> list[str]:
    """The sources of the tracker's defaults (switched off in the benchmark's config)."""
    return list(load_config(None, use_user_config=False, db_path=tmp / "unused.db").sources)


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a TOML basic string here


def write_config(
    folder: Path, specs: list[SourceSpec], builtins: list[str], workers: int, host_delay: float
) -> Path:
    """A tracker.toml in `folder` for these sources alone; checked by loading it."""
    lines = ["[fetch]", f"host_delay = {host_delay!r}", f"workers = {workers}", ""]
    for name in builtins:
        lines += [f"[sources.{toml_str(name)}]", "enabled = false", ""]
    for sp in specs:
        lines += [
            f"[sources.{toml_str(sp.name)}]",
            f"kind = {toml_str(sp.kind)}",
            f"url = {toml_str(sp.url)}",
            "",
        ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tracker.toml"
    path.write_text("\n".join(lines), "utf-8")
    config = load_config(path, db_path=folder / "tracker.db")
    enabled = [s.name for s in config.sources.values() if s.enabled]
    assert sorted(enabled) == sorted(sp.name for sp in specs), f"{len(enabled)} sources enabled"
    assert config.fetch.workers == workers and config.fetch.host_delay == host_delay
    return path


def child_env(home: Path, command: list[str]) -> dict[str, str]:
    """This environment without the tracker's settings and proxies, HOME in the temporary
    folder, and one bytecode cache for every run (filled by the warm-up)."""
    drop = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_") and k.lower() not in drop}
    home.mkdir(parents=True, exist_ok=True)
    for var, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache")):
        env[var] = str(home / sub)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # an installed tool has its bytecode compiled; an editable checkout (or PYTHONDONTWRITEBYTECODE)
    # would otherwise compile the tracker's source again on every run
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home.parent / "pycache")
    if command[1:2] == ["-m"]:  # not installed: the checkout this script imported
        checkout = str(Path(str(sys.modules["tracker"].__file__)).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, env.get("PYTHONPATH")) if p)
    return env


def execute(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run `argv`, its output to `log`: wall seconds, peak RSS in MB and the exit status."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        killer = threading.Timer(RUN_TIMEOUT, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        seconds = time.perf_counter() - t0
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss: KiB on Linux


# --- running ------------------------------------------------------------------------------------


@dataclass
class PassResult:
    workers: int
    label: str
    wall: float
    rss_mb: float
    exit_status: int
    log: Path
    server_requests: int = 0
    run_requests: int = 0  # the sum of the pass's fetch_runs.requests
    new: int = 0
    updated: int = 0
    not_modified: int = 0
    failed: tuple[str, ...] = ()  # "source: status error" of the runs that did not succeed
    db_documents: int = 0


def read_runs(db: Path, after_id: int) -> tuple[int, int, int, int, tuple[str, ...], int, int]:
    """From the database a pass wrote: its runs' requests, new and updated documents, 304s, the
    failed runs, the documents in the database and the last run id."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        requests, new, updated, not_modified, last = conn.execute(
            """SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(new_documents), 0),
                      COALESCE(SUM(updated_documents), 0), COALESCE(SUM(not_modified), 0),
                      COALESCE(MAX(id), ?)
               FROM fetch_runs WHERE id > ?""",
            [after_id, after_id],
        ).fetchone()
        failed = tuple(
            f"{source}: {status} {error or ''}".strip()
            for source, status, error in conn.execute(
                "SELECT source, status, error FROM fetch_runs WHERE id > ? AND status != 'ok'", [after_id]
            )
        )
        docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    return int(requests), int(new), int(updated), int(not_modified), failed, int(docs), int(last)


@dataclass
class Bench:
    """The server, the command line and the folders; runs and checks one variant's two passes."""

    server: SiteServer
    specs: list[SourceSpec]
    builtins: list[str]
    command: list[str]
    tmp: Path
    host_delay: float

    def env(self) -> dict[str, str]:
        return child_env(self.tmp / "home", self.command)

    def run_pair(self, folder: Path, workers: int, specs: list[SourceSpec] | None = None) -> list[PassResult]:
        """Both passes of one variant into a fresh `folder` (deleted afterwards)."""
        config = write_config(folder, specs or self.specs, self.builtins, workers, self.host_delay)
        db = folder / "tracker.db"
        argv = [*self.command, "--config", str(config), "--db", str(db), "fetch"]
        out, last_id = [], 0
        for label in PASSES:
            before = len(self.server.requests)
            log = self.tmp / "logs" / f"{folder.name}-pass{label[0]}.log"
            wall, rss, status = execute(argv, self.env(), log)
            r = PassResult(workers, label, wall, rss, status, log)
            r.server_requests = len(self.server.requests) - before
            if db.exists():
                (r.run_requests, r.new, r.updated, r.not_modified, r.failed, r.db_documents, last_id) = (
                    read_runs(db, last_id)
                )
            out.append(r)
        shutil.rmtree(folder)
        return out

    def start_up(self) -> PassResult:
        log = self.tmp / "logs" / "help.log"
        wall, rss, status = execute([*self.command, "--help"], self.env(), log)
        return PassResult(0, HELP, wall, rss, status, log, server_requests=0)


Results = dict[tuple[int, str], list[PassResult]]  # (workers, pass) -> its runs


def measure(bench: Bench, variants: list[int], runs: int) -> Results:
    """`runs` rounds: each variant's two passes, the variants' order swapped every round, and
    start-up alone."""
    results: Results = {(w, p): [] for w in variants for p in PASSES}
    results[(0, HELP)] = []
    for run in range(runs):
        order = variants if run % 2 == 0 else variants[::-1]
        for w in order:
            for r in bench.run_pair(bench.tmp / f"run{run}-w{w}", w):
                results[(w, r.label)].append(r)
        results[(0, HELP)].append(bench.start_up())
        print(f"  run {run + 1}/{runs} done", file=sys.stderr, flush=True)
    return results


def check_pair(first: PassResult, second: PassResult, specs: list[SourceSpec], tag: str) -> list[str]:
    """What must hold for one variant's two passes; one message per failure."""
    problems = []
    n_sources = len(specs)
    want_docs = sum(s.documents for s in specs)
    want_requests = sum(s.requests for s in specs)
    for r in (first, second):
        where = f"{tag} pass {r.label}"
        if r.exit_status != 0:
            tail = r.log.read_text("utf-8", "replace").strip().splitlines()[-3:]
            problems.append(f"{where}: exit status {r.exit_status}; its output ends: " + " | ".join(tail))
        if r.failed:
            problems.append(f"{where}: {len(r.failed)} source(s) failed ({'; '.join(r.failed[:3])})")
        if r.server_requests != r.run_requests:
            problems.append(
                f"{where}: the server logged {r.server_requests} requests, fetch_runs counted {r.run_requests}"
            )
    if first.new != want_docs or first.db_documents != want_docs:
        problems.append(
            f"{tag} pass 1 stored {first.new} new documents ({first.db_documents} in the database), "
            f"expected {want_docs}"
        )
    if first.server_requests != want_requests:
        problems.append(f"{tag} pass 1 made {first.server_requests} requests, expected {want_requests}")
    if second.new or second.updated or second.db_documents != first.db_documents:
        problems.append(
            f"{tag} pass 2 stored something: {second.new} new, {second.updated} updated, "
            f"{second.db_documents - first.db_documents} more rows in the database"
        )
    if second.server_requests != n_sources or second.not_modified != n_sources:
        problems.append(
            f"{tag} pass 2 made {second.server_requests} requests and got {second.not_modified} "
            f"'not modified', expected one conditional GET per source ({n_sources}), all 304"
        )
    return problems


def check(results: Results, variants: list[int], specs: list[SourceSpec]) -> list[str]:
    """Every run of every variant checked; one message per failure."""
    problems = []
    for w in variants:
        pairs = zip(results[(w, PASSES[0])], results[(w, PASSES[1])], strict=True)
        for i, (first, second) in enumerate(pairs, 1):
            problems += check_pair(first, second, specs, f"run {i} workers={w}")
    for i, r in enumerate(results[(0, HELP)], 1):
        if r.exit_status != 0:
            problems.append(f"run {i} `tracker --help`: exit status {r.exit_status}")
    return problems


def print_table(results: Results) -> None:
    head = (
        "workers",
        "pass",
        "runs",
        "wall s min / median / max",
        "peak MB",
        "req (server)",
        "req (fetch_runs)",
        "req/s",
        "docs new",
        "docs in db",
        "304",
        "sources failed",
    )
    rows = []
    for (w, label), runs in results.items():
        walls = [r.wall for r in runs]
        med = statistics.median(walls)
        last = runs[-1]
        counts: tuple[str, ...] = ("-",) * 7
        if label != HELP:
            counts = (
                str(last.server_requests),
                str(last.run_requests),
                f"{last.server_requests / med:.0f}",
                str(last.new),
                str(last.db_documents),
                str(last.not_modified),
                str(len(last.failed)),
            )
        rows.append(
            (
                str(w) if w else "-",
                label,
                str(len(runs)),
                " / ".join(f"{x:.2f}" for x in (min(walls), med, max(walls))),
                f"{statistics.median(r.rss_mb for r in runs):.0f}",
                *counts,
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'<' if i == 1 else '>'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt.format(*row))
    print("peak MB: median peak RSS of the process; the request and document counts are the last run's")


def machine_line() -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; {os.cpu_count()} CPUs; Python {platform.python_version()} on {platform.platform()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=4, help="sources fetched side by side (default 4)")
    ap.add_argument("--no-serial", action="store_true", help="skip the comparison variant with workers=1")
    ap.add_argument(
        "--runs",
        type=int,
        help=f"timed runs of each variant (default {DEFAULT_RUNS}; {QUICK_RUNS} with --quick)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK.sources} sources and {QUICK_RUNS} runs: checks that the script works",
    )
    ap.add_argument(
        "--host-delay",
        type=float,
        default=0.0,
        help="seconds between two requests to one host (default 0; every source here "
        "is on 127.0.0.1, so any delay serializes the whole run)",
    )
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    runs = args.runs or (QUICK_RUNS if args.quick else DEFAULT_RUNS)
    if runs < 1:
        ap.error("--runs must be at least 1")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # in order with the progress
    sizes = QUICK if args.quick else FULL
    variants = [args.workers] + ([1] if args.workers != 1 and not args.no_serial else [])
    command = tracker_command()
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmpname:
        tmp = Path(tmpname)
        (tmp / "site").mkdir()
        with SiteServer(tmp / "site") as server:
            t0 = time.perf_counter()
            specs = build_site(tmp / "site", server.base_url, sizes)
            n_files = sum(1 for _ in (tmp / "site").rglob("*") if _.is_file())
            build_s = time.perf_counter() - t0
            kinds: dict[str, int] = {}
            for sp in specs:
                kinds[sp.kind] = kinds.get(sp.kind, 0) + 1
            print(f"machine: {machine_line()}")
            print(
                f"site of {n_files} files built in {build_s:.2f} s, served at {server.base_url} (a thread here)"
            )
            print(
                f"{len(specs)} sources: "
                + ", ".join(f"{n} {k}" for k, n in kinds.items())
                + f"; host_delay={args.host_delay:g}; workers {' and '.join(map(str, variants))}, "
                f"alternated; {runs} runs"
            )
            shown = "tracker" if len(command) == 1 else "python -m tracker"
            print(
                f"each timed run: `{shown} --config DIR/tracker.toml --db DIR/tracker.db fetch` in a "
                "subprocess, start-up included"
            )
            print(
                f"expected: pass 1 stores {sum(s.documents for s in specs)} documents with "
                f"{sum(s.requests for s in specs)} requests; pass 2 makes {len(specs)} conditional "
                "GETs (all 304) and stores nothing\n"
            )
            bench = Bench(server, specs, builtin_sources(tmp), command, tmp, args.host_delay)
            # untimed: compiles the bytecode into the shared cache and checks the set-up
            warm_specs = list({sp.kind: sp for sp in specs}.values())
            warm = bench.run_pair(tmp / "warm-up", variants[0], warm_specs)
            problems = check_pair(warm[0], warm[1], warm_specs, "warm-up")
            results: Results | None = None
            if not problems:
                results = measure(bench, variants, runs)
                problems = check(results, variants, specs)
    if results is not None:
        print_table(results)
    if problems:
        for p in problems:
            print(f"FAIL: {p}")
        return 1
    assert results is not None
    if args.host_delay == 0:
        reqs = [results[(variants[0], p)][-1].server_requests for p in PASSES]
        print(
            f"\nwith the default host_delay=1.0 s, all of these requests would queue for the one "
            f"host 127.0.0.1: at least {reqs[0] - 1} s for pass 1 and {reqs[1] - 1} s for pass 2, "
            "whatever the workers"
        )
    print(
        f"\nOK: in every run, pass 1 stored every document; pass 2 made one conditional GET per source, "
        f"all 304, and stored nothing ({runs} runs of each variant checked)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
