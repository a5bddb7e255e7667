"""Benchmark: fetch 200 sources served on loopback, then re-fetch them unchanged.

Generates a site of 200 distinct sources into a temporary folder (100 MOFCOM-style list pages
with 5 article pages each, 30 RSS and 30 WordPress RSS feeds with 10 items each, 30 Federal
Register JSON searches with 10 results each, 10 USGS-style list pages), serves it with the
demo's SiteServer on 127.0.0.1, and runs the pipeline (`tracker.pipeline.fetch`) twice into a fresh SQLite database:

  pass 1  first fetch: every list, feed and article is downloaded and stored
  pass 2  the same fetch again, nothing changed: one conditional GET per source, all 304

Prints wall time, requests (as the server logged them and as RunStats counted them), requests/s,
documents stored and sources failed for each pass; exits 1 with a FAIL line when a sanity check
does not hold. Run from the repository root:

    python benchmarks/fetch.py [--workers N] [--no-serial] [--host-delay S] [--server-in-process]
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from pathlib import Path

try:
    import tracker  # noqa: F401
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.config import load_config
from tracker.demo.server import SiteServer, site_root
from tracker.models import RunStats
from tracker.pipeline import fetch
from tracker.settings import Config

N_MOFCOM, MOFCOM_ITEMS = 100, 5
N_RSS, N_WPRSS, FEED_ITEMS = 30, 30, 10
N_FEDREG, FEDREG_ITEMS = 30, 10
N_USGS = 10
N_SOURCES = N_MOFCOM + N_RSS + N_WPRSS + N_FEDREG + N_USGS
BUILTIN_SOURCES = ("mofcom", "whitehouse", "federalregister", "usgs")

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


def build_site(root: Path, base: str) -> list[SourceSpec]:
    """Write 200 distinct sources under `root` (served at `base`); return their specs."""
    demo = site_root()
    article_tpl = (demo / SAMPLE_ARTICLE).read_text("utf-8")
    usgs_tpl = (demo / SAMPLE_USGS).read_text("utf-8")
    assert SAMPLE_NUMBER in article_tpl and MINERALS_2022_SENTENCE in usgs_tpl, "sample site changed"
    specs: list[SourceSpec] = []
    day0 = date(2025, 11, 20)

    # MOFCOM-style list pages, each with its own article pages (announcement numbers 1..500)
    for s in range(N_MOFCOM):
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
    for f in range(N_RSS + N_WPRSS):
        wp = f >= N_RSS
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
    for s in range(N_FEDREG):
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
    for s in range(N_USGS):
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

    assert len(specs) == N_SOURCES
    return specs


# --- serving ------------------------------------------------------------------------------------


def _serve_in_child(root: str, conn: Connection) -> None:
    """Child process: run a SiteServer and answer 'count' / 'stop' over `conn`."""
    server = SiteServer(Path(root)).start()
    conn.send(server.base_url)
    while True:
        msg = conn.recv()
        if msg == "count":
            conn.send(len(server.requests))
        elif msg == "stop":
            server.stop()
            conn.send(None)
            return


class Served:
    """SiteServer on 127.0.0.1, in a child process (default: the fetcher then has this process's
    CPU and GIL to itself, as it would against real sites) or in a thread of this process."""

    def __init__(self, root: Path, in_process: bool):
        self.in_process = in_process
        if in_process:
            self.server: SiteServer | None = SiteServer(root).start()
            self.base_url = self.server.base_url
        else:
            self.server = None
            ctx = multiprocessing.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_serve_in_child, args=(str(root), child), daemon=True)
            self.proc.start()
            if not self.conn.poll(30):
                raise RuntimeError("the server process did not start")
            self.base_url = self.conn.recv()

    def request_count(self) -> int:
        """Requests the server received so far."""
        if self.server is not None:
            return len(self.server.requests)
        self.conn.send("count")
        return int(self.conn.recv())

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            return
        self.conn.send("stop")
        self.conn.recv()
        self.proc.join(10)


# --- running ------------------------------------------------------------------------------------


def bench_config(specs: list[SourceSpec], db_path: Path, workers: int, host_delay: float) -> Config:
    sources: dict[str, dict[str, object]] = {name: {"enabled": False} for name in BUILTIN_SOURCES}
    for sp in specs:
        sources[sp.name] = {"kind": sp.kind, "url": sp.url}
    return load_config(
        None,
        use_user_config=False,
        db_path=db_path,
        overrides={"fetch": {"host_delay": host_delay, "workers": workers}, "sources": sources},
    )


@dataclass
class PassResult:
    workers: int
    label: str
    wall: float
    server_requests: int
    stats_requests: int
    new: int
    updated: int
    not_modified: int
    failed: list[RunStats]
    db_documents: int

    @property
    def rps(self) -> float:
        return self.server_requests / self.wall if self.wall else 0.0


def run_pass(label: str, config: Config, server: Served) -> PassResult:
    before = server.request_count()
    t0 = time.perf_counter()
    stats = fetch(config)
    wall = time.perf_counter() - t0
    with sqlite3.connect(config.db_path) as conn:
        n_docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    conn.close()
    return PassResult(
        workers=config.fetch.workers,
        label=label,
        wall=wall,
        server_requests=server.request_count() - before,
        stats_requests=sum(s.requests for s in stats),
        new=sum(s.new_documents for s in stats),
        updated=sum(s.updated_documents for s in stats),
        not_modified=sum(s.not_modified for s in stats),
        failed=[s for s in stats if s.status != "ok"],
        db_documents=n_docs,
    )


def run_both(
    specs: list[SourceSpec], server: Served, tmp: Path, workers: int, host_delay: float
) -> list[PassResult]:
    db = tmp / f"bench-w{workers}.db"
    config = bench_config(specs, db, workers, host_delay)
    enabled = [s.name for s in config.sources.values() if s.enabled]
    assert len(enabled) == N_SOURCES, f"{len(enabled)} sources enabled, expected {N_SOURCES}"
    return [
        run_pass("1 first fetch", config, server),
        run_pass("2 unchanged re-fetch", config, server),
    ]


def check(results: list[PassResult], specs: list[SourceSpec]) -> list[str]:
    """Sanity checks; one message per failure."""
    problems = []
    want_docs = sum(s.documents for s in specs)
    want_requests = sum(s.requests for s in specs)
    for i in range(0, len(results), 2):
        first, second = results[i], results[i + 1]
        tag = f"workers={first.workers}"
        for r in (first, second):
            if r.failed:
                shown = "; ".join(f"{s.source}: {s.error}" for s in r.failed[:3])
                problems.append(f"{tag} pass {r.label}: {len(r.failed)} source(s) failed ({shown})")
            if r.server_requests != r.stats_requests:
                problems.append(
                    f"{tag} pass {r.label}: server logged {r.server_requests} requests, "
                    f"RunStats counted {r.stats_requests}"
                )
        if first.new != want_docs or first.db_documents != want_docs:
            problems.append(
                f"{tag} pass 1 stored {first.new} new documents ({first.db_documents} in the "
                f"database), expected {want_docs}"
            )
        if first.server_requests != want_requests:
            problems.append(f"{tag} pass 1 made {first.server_requests} requests, expected {want_requests}")
        if second.new or second.updated or second.db_documents != first.db_documents:
            problems.append(
                f"{tag} pass 2 stored something: {second.new} new, {second.updated} updated, "
                f"{second.db_documents - first.db_documents} more rows in the database"
            )
        if second.server_requests > N_SOURCES:
            problems.append(
                f"{tag} pass 2 made {second.server_requests} requests, more than one per source ({N_SOURCES})"
            )
        if second.not_modified != N_SOURCES:
            problems.append(
                f"{tag} pass 2: {second.not_modified} sources answered 'not modified', expected {N_SOURCES}"
            )
    return problems


def print_table(results: list[PassResult]) -> None:
    head = (
        "workers",
        "pass",
        "wall s",
        "req (server)",
        "req (RunStats)",
        "req/s",
        "docs new",
        "docs in db",
        "304/unchanged",
        "sources failed",
    )
    rows = [
        (
            str(r.workers),
            r.label,
            f"{r.wall:.2f}",
            str(r.server_requests),
            str(r.stats_requests),
            f"{r.rps:.0f}",
            str(r.new),
            str(r.db_documents),
            str(r.not_modified),
            str(len(r.failed)),
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'<' if i == 1 else '>'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt.format(*row))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=4, help="sources fetched side by side (default 4)")
    ap.add_argument("--no-serial", action="store_true", help="skip the comparison run with workers=1")
    ap.add_argument(
        "--server-in-process",
        action="store_true",
        help="run SiteServer in a thread of this process (as `tracker demo` does) instead "
        "of a child process; it then competes with the fetcher for the GIL",
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
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    worker_counts = [args.workers] + ([1] if args.workers != 1 and not args.no_serial else [])
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmpname:
        tmp = Path(tmpname)
        (tmp / "site").mkdir()
        server = Served(tmp / "site", in_process=args.server_in_process)
        try:
            t0 = time.perf_counter()
            specs = build_site(tmp / "site", server.base_url)
            n_files = sum(1 for _ in (tmp / "site").rglob("*") if _.is_file())
            build_s = time.perf_counter() - t0
            kinds: dict[str, int] = {}
            for sp in specs:
                kinds[sp.kind] = kinds.get(sp.kind, 0) + 1
            print(
                f"python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs; "
                f"site of {n_files} files built in {build_s:.2f} s, served at {server.base_url}"
            )
            print(
                f"{len(specs)} sources: "
                + ", ".join(f"{n} {k}" for k, n in kinds.items())
                + f"; host_delay={args.host_delay:g}; server "
                + ("in this process" if args.server_in_process else "in a child process")
            )
            print(
                f"expected: pass 1 stores {sum(s.documents for s in specs)} documents with "
                f"{sum(s.requests for s in specs)} requests; pass 2 makes {N_SOURCES} conditional "
                "GETs (all 304) and stores nothing\n"
            )
            results: list[PassResult] = []
            for w in worker_counts:
                results += run_both(specs, server, tmp, w, args.host_delay)
        finally:
            server.stop()
    print_table(results)
    if args.host_delay == 0:
        reqs = results[0].server_requests, results[1].server_requests
        print(
            f"\nwith the default host_delay=1.0 s, all of these requests would queue for the one "
            f"host 127.0.0.1: at least {reqs[0] - 1} s for pass 1 and {reqs[1] - 1} s for pass 2, "
            "whatever the workers"
        )
    problems = check(results, specs)
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        return 1
    print(
        "\nOK: pass 1 stored every document; pass 2 made one conditional GET per source, all 304, "
        "and stored nothing"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
