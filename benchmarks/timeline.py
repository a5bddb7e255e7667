"""Benchmark: timeline queries, status and full-text search over 1,000,000 events.

Builds a tracker database (the real schema, through `Store`) of 1,000,000 events spread over 20
years, 80 mineral ids and 40 jurisdictions, each event with its document, document URL, event
draft and mineral rows, and the documents in the full-text index. Document texts are made from
the sentences and titles of the bundled sample site (`tracker/demo/site/`) with the event's
minerals filled in: long Chinese MOFCOM-style announcements (~2,400 bytes), English framework
texts (~800 bytes) and titles without a body (~90 bytes), in the mix of benchmarks/classify.py.
The rows are written with `executemany` straight into the tables, in one transaction per batch.

It then times, each over 40 varied parameter sets after one warm-up call:

  mineral + range  `timeline.query(minerals=[m], since, until)`, a 2-year range, limit 50 (a
                   page, as the CLI shows), and the same without a limit, streamed to the end
  jurisdiction     `timeline.query(jurisdictions=[j], actions=[a])`, limit 50
  + action
  search           `timeline.query(search=word)`, limit 50: an English mineral name, a one- or
                   two-character Chinese name (镓, 稀土), and words or phrases found in a large
                   share of the documents (出口管制, 商务部, export)
  status           `state.status(as_of=day, minerals=[m])`, read from the stored intervals
                   (`measure_states`, computed once after the build as the tracker keeps them)

beside the baseline: the same question as the plain SQL a developer would write against this
schema, with the indexes it has and nothing forced (no `NOT INDEXED`, no `INDEXED BY`, no
`CROSS JOIN`); SQLite's planner chooses, and its plans are printed:

  mineral          SELECT e.id FROM events e JOIN event_minerals m ON m.event_id = e.id
                   WHERE m.mineral = ? [AND e.announced BETWEEN ? AND ?]
                   ORDER BY e.announced DESC, e.id DESC [LIMIT 50]
  jurisdiction     SELECT e.id FROM events e WHERE e.jurisdiction = ? AND e.action = ?
  + action         ORDER BY e.announced DESC, e.id DESC LIMIT 50
  search           SELECT DISTINCT e.id, e.announced FROM documents_fts JOIN event_drafts x
                   ON x.document_id = documents_fts.rowid JOIN events e ON e.id = x.event_id
                   WHERE documents_fts MATCH ? ORDER BY e.announced DESC, e.id DESC LIMIT 50
                   (the words written as the index holds them, by `timeline.fts_query`)
  status           derived from the events: the controls naming the mineral (through
                   event_minerals) announced by the day, their suspensions, lifts and
                   reinstatements (through event_refs), each control's state on the day computed
                   by `state.state_on`, as the tracker did before it stored the intervals

The events the plain SQL picks are then read as the tracker returns them (`timeline.by_ids`: the
event, its documents and URLs; for a search, the passage of its first matching document), so the
two differ only in how they find the events. Both answer each parameter set in turn, which goes
first alternating, so neither has the page cache to itself; both get the same parameter sets
(--plain-reps fewer for the baseline), one warm-up call each, and the same time budget. It
prints p50 and p95 latency, rows returned, whether both give the same answer, the query plans,
the database size and the peak RSS. Memory is measured in fresh processes that stream every
event as JSON (`render.json_lines`) into /dev/null, run the broadest search to the end and call
`status`, on this database and on one of a tenth of its events: the peak RSS must not grow with
the number of events.

Exits 1 with a FAIL line when a p95 misses its target (20 ms for the indexed filters, 100 ms for
search) or memory grows with the events. Run from the repository root:

    python benchmarks/timeline.py [--events N] [--db PATH] [--reps N] [--plain-reps N] [--budget S]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import queue
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

try:
    import tracker  # noqa: F401
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker import render
from tracker.codes import ACTIONS, CONTROL_ACTIONS, MODIFIER_ACTIONS
from tracker.config import load_config
from tracker.demo.server import site_root
from tracker.rules import default_rules_dir
from tracker.sources import get_kind
from tracker.state import rebuild_all_states, state_on, status
from tracker.store import Store
from tracker.store.events import Control, Modifier
from tracker.store.migrations import fts_text
from tracker.timeline import TimelineEvent, by_ids, fts_query, query, tidy_snippet
from tracker.vocab import Vocabulary, load_vocabulary

SEED = 20261123
FIRST_DAY = date(2006, 1, 1)
DAYS = (date(2025, 12, 31) - FIRST_DAY).days + 1  # 20 years
BATCH = 10_000
N_MINERALS = 80
N_JURISDICTIONS = 40
# ids beyond the vocabulary's 74 minerals, groups and items, to reach 80: (id, name, Chinese name)
EXTRA_MINERALS = (
    ("iron-ore", "Iron ore", "铁矿石"),
    ("gold", "Gold", "黄金"),
    ("diamond", "Diamond", "金刚石"),
    ("quartz", "High-purity quartz", "石英"),
    ("sulfur", "Sulfur", "硫磺"),
    ("bromine", "Bromine", "溴"),
)
# share of events per jurisdiction: CN announcements are MOFCOM pages, US ones presidential
# documents and Federal Register entries, the other 38 jurisdictions share the rest
SHARE_CN, SHARE_US = 0.40, 0.30
TARGET_FILTER_MS = 20.0
TARGET_SEARCH_MS = 100.0
MEMORY_TIMEOUT_S = 900.0
SEVERITY = {
    "new_control": "high",
    "expanded_control": "high",
    "suspension": "medium",
    "lift": "medium",
    "reinstatement": "high",
    "list_addition": "medium",
    "list_removal": "low",
    "executive_action": "medium",
    "agreement": "low",
    "funding": "low",
    "other": "info",
}
ZH_TITLES = {
    "new_control": "商务部 海关总署公告{Y}年第{N}号 关于对{M}相关物项实施出口管制的公告",
    "expanded_control": "商务部公告{Y}年第{N}号 关于优化调整{M}物项出口管制措施的公告",
    "suspension": "商务部 海关总署公告{Y}年第{N}号 关于暂停实施对{M}相关物项出口管制措施的公告",
    "lift": "商务部公告{Y}年第{N}号 关于取消对{M}相关物项出口管制的公告",
    "reinstatement": "商务部公告{Y}年第{N}号 关于恢复实施对{M}相关物项出口管制的公告",
    "": "商务部新闻发言人就{M}相关物项出口管制措施答记者问（{Y}年第{N}号）",
}
EN_MINERAL_TITLES = (
    "Adjusting Imports of Processed {M} and Their Derivative Products into the United States",
    "Temporary Suspension of Additional Duties on Imports of {M}",
    "Ensuring a Reliable Supply of {M} for the National Defense",
    "Addressing Risks From {M} Supply Chain Dependence on Foreign Adversaries",
    "Export Controls on {M} Items",
)
MINERAL_MARK = "\x00"
PARTNER_MARK = "\x01"


# --- the sample text ---------------------------------------------------------------------------


@dataclass
class Piece:
    """A line of sample text split at its mineral (and partner) slots, with the same parts as the
    full-text index holds them: `fts_text` works character by character, so the index text of a
    document is the concatenation of its parts' index texts."""

    parts: list[str]
    fts: list[str]
    slots: str  # the mark of each slot, in order

    @classmethod
    def of(cls, text: str) -> Piece:
        parts = re.split(f"[{MINERAL_MARK}{PARTNER_MARK}]", text)
        slots = "".join(c for c in text if c in (MINERAL_MARK, PARTNER_MARK))
        return cls(parts, [fts_text(p) for p in parts], slots)


@dataclass
class Samples:
    """Sentence pools taken from the sample site, each line a `Piece`."""

    zh_lines: list[Piece]
    en_lines: list[Piece]
    en_titles: list[Piece]  # titles as they are (no slot) and titles naming a mineral


def load_samples(vocab: Vocabulary) -> Samples:
    """The sample site's documents through the real source parsers, cut into lines."""
    root = site_root()
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        config = load_config(None, use_user_config=False, db_path=Path(tmp) / "unused.db")

    def parse(source: str, path: str) -> list[tuple[str, str]]:
        src = config.source(source)
        kind = get_kind(src.kind)(src, None, None)  # type: ignore[arg-type]  # parsing only
        return [
            (d.title, d.text)
            for d in kind.parse_file((root / path).read_bytes(), f"https://x.invalid/{path}")
        ]

    mofcom = []
    for p in sorted((root / "mofcom").rglob("*")):
        if p.suffix in (".html", ".shtml") and ("/art/" in str(p) or p.suffix == ".shtml"):
            mofcom += parse("mofcom", str(p.relative_to(root)))
    # every Chinese mineral, group or item name in the sample pages becomes a slot for the event's own
    names = {
        a
        for t in vocab.of_type("mineral", "group", "item")
        for a in t.aliases
        if all("\u4e00" <= c <= "\u9fff" for c in a) and a != "银"  # 银行 (bank)
    }
    slot = re.compile("|".join(sorted(names, key=len, reverse=True)))
    zh_lines = []
    for _title, text in mofcom:
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith(("【发布文号】", "【发文日期】")):
                zh_lines.append(Piece.of(slot.sub(MINERAL_MARK, line)))
    frames = [t for t in parse("whitehouse", "whitehouse/briefings-statements/feed/index.xml") if t[1]]
    en_lines = []
    for _title, text in frames:
        for line in text.splitlines():
            line = line.strip().replace("critical minerals and rare earths", MINERAL_MARK)
            line = re.sub(r"\b(?:Japan|Australia)\b", PARTNER_MARK, line)
            if line:
                en_lines.append(Piece.of(line))
    titles = [t for t, _ in parse("whitehouse", "whitehouse/presidential-actions/feed/index.xml")]
    titles += [t for t, _ in parse("federalregister", "federalregister/api/v1/documents.json")]
    en_titles = [Piece.of(t) for t in titles]
    en_titles += [Piece.of(t.replace("{M}", MINERAL_MARK)) for t in EN_MINERAL_TITLES] * (len(titles) // 10)
    return Samples(zh_lines, en_lines, en_titles)


@dataclass(frozen=True)
class Mineral:
    id: str
    en: str
    zh: str
    zh_fts: str


def mineral_pool(vocab: Vocabulary) -> list[Mineral]:
    """The 80 mineral ids: the vocabulary's minerals, groups and items, and a few more."""
    out = []
    for t in vocab.of_type("mineral", "group", "item"):
        zh = next(a for a in t.aliases if any("\u4e00" <= c <= "\u9fff" for c in a))
        out.append(Mineral(t.id, t.name, zh, fts_text(zh)))
    for mid, name, zh in EXTRA_MINERALS:
        out.append(Mineral(mid, name, zh, fts_text(zh)))
    return out[:N_MINERALS]


def jurisdictions(vocab: Vocabulary) -> list[tuple[str, str]]:
    """40 jurisdiction codes and names (the first of rules/countries.yaml: CN, US, EU, JP ...)."""
    return [(t.id, t.name) for t in vocab.of_type("country")][:N_JURISDICTIONS]


# --- building the database ---------------------------------------------------------------------


@dataclass
class Generator:
    """Makes events with their document rows, in date order."""

    rng: random.Random
    samples: Samples
    minerals: list[Mineral]
    jurs: list[tuple[str, str]]
    numbers: dict[tuple[str, int], int] = field(default_factory=dict)
    controls: dict[str, deque[tuple[str, list[str]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {m.id: m for m in self.minerals}

    def fill(
        self, pieces: Iterable[Piece], names: list[str], fts_names: list[str], partner: str
    ) -> tuple[str, str]:
        text: list[str] = []
        fts: list[str] = []
        k = 0
        for p in pieces:
            for i, part in enumerate(p.parts):
                if i:
                    if p.slots[i - 1] == MINERAL_MARK:
                        text.append(names[k % len(names)])
                        fts.append(fts_names[k % len(names)])
                        k += 1
                    else:
                        text.append(partner)
                        fts.append(partner)
                text.append(part)
                fts.append(p.fts[i])
            text.append("\n")
            fts.append("\n")
        return "".join(text).rstrip("\n"), "".join(fts).rstrip("\n")

    def number(self, prefix: str, year: int) -> int:
        n = self.numbers.get((prefix, year), 0) + 1
        self.numbers[(prefix, year)] = n
        return n

    def event(self, doc_id: int, day: date) -> dict[str, Any]:
        rng = self.rng
        r = rng.random()
        if r < SHARE_CN:
            jur, jname = self.jurs[0]
        elif r < SHARE_CN + SHARE_US:
            jur, jname = self.jurs[1]
        else:
            jur, jname = self.jurs[rng.randrange(2, len(self.jurs))]
        action = rng.choice(ACTIONS)
        minerals = rng.sample(self.minerals, rng.randint(1, 3))
        refers_to: list[str] = []
        from_refs = False
        recent = self.controls.setdefault(jur, deque(maxlen=200))
        if action in MODIFIER_ACTIONS and recent:
            ref, ref_minerals = recent[rng.randrange(len(recent))]
            refers_to = [ref]
            minerals = [self.by_id[m] for m in ref_minerals]
            from_refs = True
        y = day.year
        if jur == "CN":
            n = self.number("MOFCOM", y)
            doc_number = f"MOFCOM {y}-{n}"
            title_tpl = ZH_TITLES.get(action, ZH_TITLES[""])
            names = [m.zh for m in minerals]
            title = title_tpl.format(Y=y, N=n, M="、".join(names))
            lines = []
            size, want = 0, rng.randint(1200, 3600)
            while size < want:
                p = rng.choice(self.samples.zh_lines)
                lines.append(p)
                size += 3 * sum(len(x) for x in p.parts) + 3 * len(p.slots)
            body, body_fts = self.fill(lines, names, [m.zh_fts for m in minerals], jname)
            head = f"【发布文号】商务部公告{y}年第{n}号\n【发文日期】{y}年{day.month:02d}月{day.day:02d}日\n"
            text, text_fts = head + body, fts_text(head) + body_fts
            source, kind, lang, doc_kind = "mofcom", "mofcom", "zh", "announcement"
            url = f"https://www.mofcom.gov.cn/zwgk/zcfb/art/{y}/art_{rng.getrandbits(128):032x}.html"
            title_fts = fts_text(title)
        else:
            names = [m.en for m in minerals]
            partner = self.jurs[rng.randrange(1, len(self.jurs))][1]
            if jur != "US" and rng.random() < 1 / 3:  # a framework text with a body
                title = f"{jname}-{partner} Framework for Securing the Supply of {' and '.join(names)}"
                lines = []
                size, want = 0, rng.randint(500, 1100)
                while size < want:
                    p = rng.choice(self.samples.en_lines)
                    lines.append(p)
                    size += sum(len(x) for x in p.parts) + 20 * len(p.slots)
                text, text_fts = self.fill(lines, names, names, partner)
                source, kind, doc_kind = f"gov-{jur.lower()}", "rss", "announcement"
            else:
                text = text_fts = ""
                pick = rng.choice(self.samples.en_titles)
                title = self.fill([pick], names, names, partner)[0]
                if rng.random() < 0.5:
                    source, kind, doc_kind = "whitehouse", "wordpress-rss", "presidential-document"
                else:
                    source, kind, doc_kind = "federalregister", "federalregister", "presidential-document"
                if jur != "US":
                    source, kind, doc_kind = f"gov-{jur.lower()}", "rss", "announcement"
            if source == "whitehouse":
                doc_number = f"EO {13000 + self.number('EO', 0)}"
            elif source == "federalregister":
                doc_number = f"FR {y}-{self.number('FR', y):05d}"
            else:
                doc_number = f"{jur} {y}-{self.number(jur, y)}"
            lang = "en"
            url = f"https://{source}.example.gov/{y}/{day.month:02d}/{doc_number.replace(' ', '-').lower()}"
            title_fts = title
        effective = expires = None
        if action in CONTROL_ACTIONS:
            effective = (day + timedelta(days=rng.randint(0, 60))).isoformat()
            recent.append((doc_number, [m.id for m in minerals]))
        elif action == "suspension":
            eff = day + timedelta(days=rng.randint(0, 30))
            effective = eff.isoformat()
            expires = (eff + timedelta(days=rng.randint(180, 730))).isoformat()
        elif action in ("lift", "reinstatement"):
            effective = day.isoformat()
        announced = day.isoformat()
        eid = hashlib.sha1(f"{doc_number}|{action}".encode()).hexdigest()[:16]
        chash = hashlib.sha256((title + "\n" + text).encode()).hexdigest()
        stamp = f"{announced}T08:00:00+00:00"
        rule = f"{jur.lower()}-{action.replace('_', '-')}"
        trigger = (text.split("\n", 3)[-1] if text else title)[:200]
        mids = [m.id for m in minerals]
        draft = {
            "rule": rule,
            "severity": SEVERITY[action],
            "action": action,
            "jurisdiction": jur,
            "announced": announced,
            "effective": effective,
            "expires": expires,
            "minerals": mids,
            "items": [],
            "targets": [],
            "refers_to": refers_to,
            "trigger": trigger,
            "minerals_from_refs": from_refs,
            "identity": doc_number,
        }
        return {
            "document": (
                doc_id,
                source,
                url,
                title,
                announced,
                lang,
                doc_number,
                doc_kind,
                text,
                chash,
                chash,
                1,
                "{}",
                stamp,
                stamp,
                stamp,
                kind,
            ),
            "fts": (doc_id, title_fts, text_fts),
            "url": (url, doc_id, source, chash, chash, stamp, stamp),
            "draft": (doc_id, eid, rule, json.dumps(draft, ensure_ascii=False)),
            "event": (
                eid,
                doc_number,
                action,
                jur,
                announced,
                effective,
                expires,
                doc_number,
                title,
                "[]",
                json.dumps(mids),
                "[]",
                json.dumps(refers_to, ensure_ascii=False),
                rule,
                SEVERITY[action],
                trigger,
                int(from_refs),
                stamp,
                stamp,
            ),
            "minerals": [(eid, m, announced) for m in mids],
            "refs": [(eid, r) for r in refers_to],
        }


INSERTS = {
    "document": """INSERT INTO documents(id, source, url, title, published, language, doc_number, kind, text,
        content_hash, raw_hash, version, meta, first_seen, fetched_at, updated_at, source_kind)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
    "fts": "INSERT INTO documents_fts(rowid, title, body) VALUES (?, ?, ?)",
    "url": """INSERT INTO document_urls(url, document_id, source, content_hash, raw_hash, first_seen, last_seen)
        VALUES (?, ?, ?, ?, ?, ?, ?)""",
    "draft": "INSERT INTO event_drafts(document_id, event_id, rule, draft) VALUES (?, ?, ?, ?)",
    "event": """INSERT INTO events(id, identity, action, jurisdiction, announced, effective, expires, doc_number,
        title, targets, minerals, items, refers_to, rule, severity, trigger, minerals_from_refs, first_seen,
        updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
    "minerals": "INSERT INTO event_minerals(event_id, mineral, announced) VALUES (?, ?, ?)",
    "refs": "INSERT INTO event_refs(event_id, ref) VALUES (?, ?)",
}


def build(path: Path, n_events: int, seed: int) -> dict[str, Any]:
    """Write a database of `n_events` events at `path`; returns timings and row counts. A thread
    makes the rows of the next batch while this one inserts the current batch (sqlite3 lets go of
    the GIL while SQLite works), so the build uses two cores."""
    t0 = time.perf_counter()
    vocab = load_vocabulary(default_rules_dir())
    rng = random.Random(seed)
    gen = Generator(rng, load_samples(vocab), mineral_pool(vocab), jurisdictions(vocab))
    days = sorted(rng.randrange(DAYS) for _ in range(n_events))
    batches: queue.Queue[dict[str, list[tuple[Any, ...]]] | None] = queue.Queue(maxsize=2)
    made = {"seconds": 0.0, "text_bytes": 0}

    def produce() -> None:
        for start in range(0, n_events, BATCH):
            t1 = time.perf_counter()
            rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in INSERTS}
            for i in range(start, min(n_events, start + BATCH)):
                ev = gen.event(i + 1, FIRST_DAY + timedelta(days=days[i]))
                for k in ("document", "fts", "url", "draft", "event"):
                    rows[k].append(ev[k])
                rows["minerals"] += ev["minerals"]
                rows["refs"] += ev["refs"]
                made["text_bytes"] += len(ev["document"][3].encode()) + len(ev["document"][8].encode())
            made["seconds"] += time.perf_counter() - t1
            batches.put(rows)
        batches.put(None)

    store = Store(path)
    conn = store.db.conn
    conn.execute(
        "PRAGMA journal_mode = OFF"
    )  # the build is all or nothing: no journal (WAL again at the end)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB: keeps the random-key indexes in memory
    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    sql_s = 0.0
    counts = dict.fromkeys(INSERTS, 0)
    done = 0
    while (rows := batches.get()) is not None:
        t2 = time.perf_counter()
        with store.write():
            for k, sql in INSERTS.items():
                conn.executemany(sql, rows[k])
                counts[k] += len(rows[k])
        t3 = time.perf_counter()
        sql_s += t3 - t2
        done += len(rows["event"])
        if done % (n_events // 10 or 1) < BATCH or done == n_events:
            print(f"  {path.name}: {done:,} events, {t3 - t0:.0f} s", file=sys.stderr, flush=True)
    producer.join()
    gen_s, text_bytes = made["seconds"], made["text_bytes"]
    t5 = time.perf_counter()
    with store.write():  # the controls' states, as the tracker keeps them beside the events
        counts["states"] = rebuild_all_states(store)
    states_s = time.perf_counter() - t5
    t4 = time.perf_counter()
    conn.execute("PRAGMA journal_mode = wal")
    # a check that the index text assembled piece by piece is what the tracker would index
    for doc_id, title, text in conn.execute(
        "SELECT id, title, text FROM documents ORDER BY random() LIMIT 200"
    ):
        got = conn.execute("SELECT title, body FROM documents_fts WHERE rowid = ?", [doc_id]).fetchone()
        if got != (fts_text(title), fts_text(text)):
            raise SystemExit(
                f"internal error: the index text of document {doc_id} is not fts_text of its text"
            )
    store.close()
    return {
        "events": n_events,
        "seconds": time.perf_counter() - t0,
        "generate_s": gen_s,
        "insert_s": sql_s,
        "states_s": states_s,
        "checkpoint_s": time.perf_counter() - t4,
        "text_mb": text_bytes / 1e6,
        "rows": counts,
        "rss_mb": peak_rss_mb(),
    }


def open_or_build(path: Path, n_events: int, seed: int) -> dict[str, Any] | None:
    """Reuse the database at `path` when it holds `n_events` events, else build it in a child
    process (so the build's memory does not count in this process's peak)."""
    if path.exists():
        with sqlite3.connect(path) as conn:
            have = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        if have != n_events:
            raise SystemExit(
                f"{path} holds {have:,} events, not {n_events:,}: delete it or pass --events {have}"
            )
        return None
    return child({"do": "build", "db": str(path), "events": n_events, "seed": seed})


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB. On Linux, the high-water mark of the process
    image (VmHWM): ru_maxrss would also count what the parent held when it started this child."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def db_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def table_sizes(path: Path) -> list[tuple[str, float]]:
    """MB per table with its indexes (the full-text index's shadow tables together)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            """SELECT COALESCE(m.tbl_name, s.name), SUM(s.pgsize) FROM dbstat s
               LEFT JOIN sqlite_master m ON m.name = s.name GROUP BY 1 ORDER BY 2 DESC"""
        ).fetchall()
    out: dict[str, float] = {}
    for name, size in rows:
        key = "documents_fts" if name.startswith("documents_fts") else name
        out[key] = out.get(key, 0) + size / 1e6
    return sorted(out.items(), key=lambda kv: -kv[1])


# --- child processes ---------------------------------------------------------------------------


def child(spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run `spec` in a fresh Python process (this script with --child) and return its JSON answer."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["do"] == "build":
        return build(Path(spec["db"]), spec["events"], spec["seed"])
    store = Store(spec["db"])
    store.db.execute("SELECT COUNT(*) FROM events WHERE announced > '9'").fetchone()
    base = peak_rss_mb()
    t0 = time.perf_counter()
    rows = 0
    if spec["do"] == "stream":
        events = query(store, search=spec.get("search"))
        with open(os.devnull, "w", encoding="utf-8") as sink:
            for chunk in render.json_lines(events):
                sink.write(chunk)
                rows += 1
        rows -= 2  # the opening and closing brackets
    elif spec["do"] == "status":
        rows = len(status(store, as_of=date.fromisoformat(spec["as_of"]), minerals=[spec["mineral"]]))
    store.close()
    return {"rows": rows, "seconds": time.perf_counter() - t0, "rss_mb": peak_rss_mb(), "open_rss_mb": base}


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Timing:
    ms: list[float]
    rows: list[int]
    answers: list[Any]

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)

    @property
    def p95(self) -> float:
        if len(self.ms) < 2:
            return self.ms[0]
        return statistics.quantiles(self.ms, n=20, method="inclusive")[18]


def timed_pair(
    tracker_fn: Callable[..., Any],
    plain_fn: Callable[..., Any] | None,
    params: Sequence[tuple[Any, ...]],
    plain_n: int,
    budget_s: float,
) -> tuple[Timing, Timing | None]:
    """One warm-up call of each, then each parameter set in turn by the tracker's call and by the
    plain query (on the first `plain_n` sets), which goes first alternating from one set to the
    next; each returns (rows, answer). A side whose calls have taken more than the budget runs on
    no more parameter sets (it has at least 3), so a bad plan cannot stall the run."""
    sides: list[tuple[Callable[..., Any], Timing, int]] = [(tracker_fn, Timing([], [], []), len(params))]
    if plain_fn is not None and plain_n > 0:
        sides.append((plain_fn, Timing([], [], []), plain_n))
    for fn, _, _ in sides:
        fn(*params[0])
    spent = [0.0] * len(sides)
    for i, p in enumerate(params):
        order = list(enumerate(sides))
        if i % 2:
            order.reverse()
        for k, (fn, out, limit) in order:
            if i >= limit or (len(out.ms) >= 3 and spent[k] > budget_s):
                continue
            t0 = time.perf_counter()
            rows, answer = fn(*p)
            ms = (time.perf_counter() - t0) * 1000
            spent[k] += ms / 1000
            out.ms.append(ms)
            out.rows.append(rows)
            out.answers.append(answer)
    return sides[0][1], (sides[1][1] if len(sides) > 1 else None)


ORDER = "ORDER BY e.announced DESC, e.id DESC"


def plain_status(conn: sqlite3.Connection, day: str, mineral: str) -> list[Any]:
    """`status` for one mineral as a developer would derive it from the events, with the indexes
    there are: the controls naming the mineral announced by the day (through event_minerals),
    their suspensions, lifts and reinstatements (through event_refs), and each control's state on
    the day from `state_on`."""

    def rows(cur: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
        cols = [d[0] for d in cur.description]
        return (dict(zip(cols, r, strict=True)) for r in cur)

    controls = list(
        rows(
            conn.execute(
                f"""SELECT e.* FROM events e JOIN event_minerals m ON m.event_id = e.id
                    WHERE m.mineral = ? AND e.action IN {CONTROL_ACTIONS} AND e.announced <= ?
                    ORDER BY e.jurisdiction, e.announced, e.id""",
                [mineral, day],
            )
        )
    )
    wanted = sorted({c["doc_number"] or c["id"] for c in controls})
    mods: dict[str, list[dict[str, Any]]] = {}
    for m in rows(
        conn.execute(
            f"""SELECT r.ref, e.* FROM event_refs r JOIN events e ON e.id = r.event_id
                WHERE r.ref IN (SELECT value FROM json_each(?)) AND e.action IN {MODIFIER_ACTIONS}""",
            [json.dumps(wanted, ensure_ascii=False)],
        )
    ):
        mods.setdefault(m["ref"], []).append(m)
    out = []
    for c in controls:
        measure = c["doc_number"] or c["id"]
        st = state_on(
            Control(c["id"], c["jurisdiction"], c["announced"], c["effective"], c["doc_number"], []),
            [
                Modifier(
                    m["action"],
                    m["jurisdiction"],
                    m["announced"],
                    m["effective"],
                    m["expires"],
                    m["doc_number"],
                    measure,
                )
                for m in mods.get(measure, [])
                if m["jurisdiction"] == c["jurisdiction"]
            ],
            date.fromisoformat(day),
        )
        if st is not None:
            out.append((c["jurisdiction"], measure, mineral, st[0]))
    return out


@dataclass
class Query:
    """One kind of question: how the tracker answers it and how the plain SQL does."""

    name: str
    indexed: Callable[..., tuple[int, Any]]  # (rows, answer) for one parameter set
    plain: Callable[..., tuple[int, Any]]
    params: list[tuple[Any, ...]]
    target: float | None
    plan: Callable[..., Any]  # runs the tracker's call once, for its query plans


@dataclass
class Row:
    name: str
    indexed: Timing
    plain: Timing | None
    target: float | None
    same: str = ""
    differ: list[tuple[Any, ...]] = field(default_factory=list)
    rss_mb: float = 0.0
    plans: list[tuple[str, list[str]]] = field(default_factory=list)
    plain_plans: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.target is None or self.indexed.p95 < self.target


def plans_of(conn: sqlite3.Connection, run: Callable[[], Any]) -> list[tuple[str, list[str]]]:
    """EXPLAIN QUERY PLAN of each distinct statement `run` executes (per-event lookups once)."""
    seen: dict[str, str] = {}
    conn.set_trace_callback(lambda sql: seen.setdefault(re.sub(r"'[^']*'", "?", sql)[:70], sql))
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    out = []
    for sql in seen.values():
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        steps = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        short = " ".join(sql.split())
        out.append((short if len(short) < 240 else short[:237] + "...", steps))
    return out


COMMON_WORDS = ["出口管制", "商务部", "海关总署", "公告", "export", "minerals"]


def queries(store: Store, reps: int, seed: int) -> list[Query]:
    """The questions, each with `reps` parameter sets from a fixed seed."""
    conn = store.db.conn
    vocab = load_vocabulary(default_rules_dir())
    rng = random.Random(seed + 1)
    minerals = [m.id for m in mineral_pool(vocab)]
    jurs = [j for j, _ in jurisdictions(vocab)]
    en_words = [t.name.lower() for t in vocab.of_type("mineral") if " " not in t.name and len(t.name) >= 5]
    zh_words = [m.zh for m in mineral_pool(vocab) if len(m.zh) == 1] + ["稀土"]

    def two_years() -> tuple[date, date]:
        lo = FIRST_DAY + timedelta(days=rng.randrange(DAYS - 730))
        return lo, lo + timedelta(days=729)

    p_range = [(rng.choice(minerals), *two_years()) for _ in range(reps)]
    p_all = [(rng.choice(minerals), None, None) for _ in range(reps)]
    # a quarter CN and a quarter US (the busiest), the rest any of the 40
    p_jur = [(([jurs[0], jurs[1]] + [rng.choice(jurs)] * 2)[i % 4], rng.choice(ACTIONS)) for i in range(reps)]
    p_en = [(rng.choice(en_words),) for _ in range(reps)]
    p_zh = [("稀土",) if i % 5 == 0 else (rng.choice(zh_words),) for i in range(reps)]
    # words and phrases found in a large share of the documents (the boilerplate of announcements)
    p_common = [(COMMON_WORDS[i % len(COMMON_WORDS)],) for i in range(reps)]
    p_status = [(rng.choice(minerals), FIRST_DAY + timedelta(days=rng.randrange(DAYS))) for _ in range(reps)]

    def ids(events: Iterable[Any]) -> tuple[int, list[str]]:
        got = [e.id for e in events]
        return len(got), got

    def count(rows: Iterable[Any]) -> tuple[int, int]:
        n = sum(1 for _ in rows)
        return n, n

    def read(cursor: sqlite3.Cursor, search: str | None = None) -> list[TimelineEvent]:
        """The events the plain SQL chose, in its order, read as the tracker returns them (the event,
        its documents and URLs: `timeline.by_ids`); for a search, with the passage of the first
        matching document of each, as the tracker shows it. The two sides then differ only in how
        they find the events."""
        chosen = [str(r[0]) for r in cursor]
        found = by_ids(store, chosen)
        events = [found[i] for i in chosen]
        if search is not None:
            match = fts_query(search)
            for ev in events:
                passage = next((s for d in ev.documents if (s := store.snippet(match, d)) is not None), None)
                ev.snippet = tidy_snippet(passage) if passage is not None else None
        return events

    def q_mineral(m: str, lo: date | None, hi: date | None, limit: int | None = 50) -> Any:
        return query(store, minerals=[m], since=lo, until=hi, limit=limit)

    def s_mineral(m: str, lo: date | None, hi: date | None, limit: str = "LIMIT 50") -> Any:
        dates = "AND e.announced BETWEEN ? AND ?" if lo and hi else ""
        params = [m] + ([lo.isoformat(), hi.isoformat()] if lo and hi else [])
        sql = f"""SELECT e.id FROM events e JOIN event_minerals m ON m.event_id = e.id
            WHERE m.mineral = ? {dates} {ORDER} {limit}"""
        return conn.execute(sql, params)

    def q_jur(j: str, a: str) -> Any:
        return query(store, jurisdictions=[j], actions=[a], limit=50)

    def s_jur(j: str, a: str) -> Any:
        sql = f"SELECT e.id FROM events e WHERE e.jurisdiction = ? AND e.action = ? {ORDER} LIMIT 50"
        return conn.execute(sql, [j, a])

    def q_search(word: str) -> Any:
        return query(store, search=word, limit=50)

    def s_search(word: str) -> Any:
        # the full-text index, the words written as it holds them (Han characters spaced)
        sql = f"""SELECT DISTINCT e.id, e.announced FROM documents_fts
            JOIN event_drafts x ON x.document_id = documents_fts.rowid JOIN events e ON e.id = x.event_id
            WHERE documents_fts MATCH ? {ORDER} LIMIT 50"""
        return conn.execute(sql, [fts_query(word)])

    def q_status(m: str, day: date) -> Any:
        return status(store, as_of=day, minerals=[m])

    def status_answer(rows: list[Any]) -> tuple[int, list[tuple[str, str, str, str]]]:
        return len(rows), [(r.jurisdiction, r.measure, r.mineral, r.state) for r in rows]

    return [
        Query(
            "mineral + 2 years, limit 50",
            lambda *p: ids(q_mineral(*p)),
            lambda *p: ids(read(s_mineral(*p))),
            p_range,
            TARGET_FILTER_MS,
            q_mineral,
        ),
        Query(
            "mineral + 2 years, all streamed",
            lambda m, lo, hi: count(q_mineral(m, lo, hi, limit=None)),
            lambda m, lo, hi: count(read(s_mineral(m, lo, hi, limit=""))),
            p_range,
            None,
            lambda m, lo, hi: q_mineral(m, lo, hi, limit=None),
        ),
        Query(
            "mineral, all 20 years, limit 50",
            lambda *p: ids(q_mineral(*p)),
            lambda *p: ids(read(s_mineral(*p))),
            p_all,
            TARGET_FILTER_MS,
            q_mineral,
        ),
        Query(
            "jurisdiction + action, limit 50",
            lambda *p: ids(q_jur(*p)),
            lambda *p: ids(read(s_jur(*p))),
            p_jur,
            TARGET_FILTER_MS,
            q_jur,
        ),
        Query(
            "search English word, limit 50",
            lambda w: ids(q_search(w)),
            lambda w: ids(read(s_search(w), w)),
            p_en,
            TARGET_SEARCH_MS,
            q_search,
        ),
        Query(
            "search Chinese word, limit 50",
            lambda w: ids(q_search(w)),
            lambda w: ids(read(s_search(w), w)),
            p_zh,
            TARGET_SEARCH_MS,
            q_search,
        ),
        Query(
            "search common word/phrase, limit 50",
            lambda w: ids(q_search(w)),
            lambda w: ids(read(s_search(w), w)),
            p_common,
            TARGET_SEARCH_MS,
            q_search,
        ),
        Query(
            "status on a day, one mineral",
            lambda m, d: status_answer(q_status(m, d)),
            lambda m, d: (lambda r: (len(r), r))(plain_status(conn, d.isoformat(), m)),
            p_status,
            TARGET_FILTER_MS,
            lambda m, d: [q_status(m, d)],
        ),
    ]


def measure(store: Store, qs: list[Query], plain_reps: int, budget_s: float) -> list[Row]:
    out = []
    for q in qs:
        print(f"  {q.name} ...", file=sys.stderr, flush=True)
        indexed, plain = timed_pair(q.indexed, q.plain, q.params, plain_reps, budget_s)
        row = Row(q.name, indexed, plain, q.target, rss_mb=peak_rss_mb())
        if plain is not None:
            pairs = list(zip(q.params, indexed.answers, plain.answers, strict=False))
            row.differ = [p for p, a, b in pairs if a != b]
            row.same = f"{len(pairs) - len(row.differ)}/{len(pairs)}"
        first = q.params[0]
        row.plans = plans_of(store.db.conn, functools.partial(lambda q, p: list(q.plan(*p)), q, first))
        row.plain_plans = plans_of(store.db.conn, functools.partial(q.plain, *first))
        out.append(row)
    return out


def search_hits(store: Store, qs: list[Query]) -> list[str]:
    """How many documents the search words match (the work the search does before its limit)."""
    out = []
    for q in qs:
        if not q.name.startswith("search"):
            continue
        hits = {
            w: store.db.conn.execute(
                "SELECT COUNT(*) FROM documents_fts WHERE documents_fts MATCH ?", [fts_query(w)]
            ).fetchone()[0]
            for (w,) in dict.fromkeys(q.params)
        }
        top = max(hits, key=lambda w: hits[w])
        out.append(
            f"{q.name}: {len(hits)} words, {statistics.median(hits.values()):,.0f} matching documents at the "
            f"median, {hits[top]:,} for {top}"
        )
    return out


# --- output --------------------------------------------------------------------------------------


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    print(
        "  ".join(
            h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))
        ).rstrip()
    )
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events (default 1,000,000)")
    ap.add_argument(
        "--db",
        metavar="PATH",
        help="keep the database at PATH (and the one of a tenth of the events beside it) and reuse it "
        "on the next run; by default both are built in a temporary folder and deleted",
    )
    ap.add_argument("--reps", type=int, default=40, help="parameter sets per query (default 40)")
    ap.add_argument(
        "--plain-reps",
        "--scan-reps",
        dest="plain_reps",
        type=int,
        help="parameter sets per query for the plain SQL baseline (default: as --reps)",
    )
    ap.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds per query, for each of the tracker and the baseline, after which no more "
        "parameter sets are run (default 60)",
    )
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the data and the query parameters")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0
    if args.events < 10_000:
        ap.error("--events must be at least 10,000")
    tmp = None
    if args.db:
        path = Path(args.db).resolve()
    else:
        tmp = tempfile.TemporaryDirectory(prefix="tracker-bench-")
        path = Path(tmp.name) / "timeline.db"
    small_n = args.events // 10
    small = path.with_name(f"{path.stem}-{small_n}{path.suffix}")
    try:
        return run(args, path, small, small_n)
    finally:
        if tmp is not None:
            tmp.cleanup()


def run(args: argparse.Namespace, path: Path, small: Path, small_n: int) -> int:
    t0 = time.perf_counter()
    print(
        f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs; database {path}"
    )
    built = open_or_build(path, args.events, args.seed)
    built_small = open_or_build(small, small_n, args.seed)
    for b, p in ((built, path), (built_small, small)):
        if b is None:
            print(f"reused {p} ({db_size_mb(p):,.0f} MB)")
            continue
        r = b["rows"]
        print(
            f"built {b['events']:,} events in {b['seconds']:.0f} s (generating rows {b['generate_s']:.0f} s, "
            f"inserting {b['insert_s']:.0f} s, states {b['states_s']:.0f} s, checkpoint {b['checkpoint_s']:.0f} s), peak RSS "
            f"{b['rss_mb']:.0f} MB: {r['document']:,} documents ({b['text_mb']:,.0f} MB of title + text), "
            f"{r['event']:,} events, {r['minerals']:,} event_minerals, {r['refs']:,} event_refs, "
            f"{r['states']:,} measure_states; "
            f"{db_size_mb(p):,.0f} MB on disk"
        )
    sizes = [f"{name} {mb:,.0f}" for name, mb in table_sizes(path) if mb >= 1]
    print("\nMB by table, with its indexes: " + ", ".join(sizes))

    store = Store(path)
    qs = queries(store, args.reps, args.seed)
    plain_reps = args.reps if args.plain_reps is None else args.plain_reps
    rows = measure(store, qs, plain_reps, args.budget)
    hits = search_hits(store, qs)
    store.close()
    query_rss = peak_rss_mb()

    print(
        f"\n{args.events:,} events, {db_size_mb(path):,.0f} MB; up to {args.reps} parameter sets per query and "
        f"{plain_reps} for the plain SQL baseline (fewer past {args.budget:.0f} s each), after one warm-up "
        "call each, the two taking turns to go first; latency in ms:\n"
    )
    print_table(
        (
            "query",
            "runs",
            "rows p50",
            "p50",
            "p95",
            "max",
            "target p95",
            "plain runs",
            "plain p50",
            "plain p95",
            "plain/tracker",
            "same answer",
            "peak RSS MB",
        ),
        [
            (
                r.name,
                len(r.indexed.ms),
                f"{statistics.median(r.indexed.rows):,.0f}",
                f"{r.indexed.p50:,.2f}",
                f"{r.indexed.p95:,.2f}",
                f"{max(r.indexed.ms):,.2f}",
                (f"<{r.target:.0f}" + ("" if r.ok else " MISS")) if r.target else "-",
                len(r.plain.ms) if r.plain else "-",
                f"{r.plain.p50:,.2f}" if r.plain else "-",
                f"{r.plain.p95:,.2f}" if r.plain else "-",
                f"{r.plain.p50 / r.indexed.p50:,.1f}x" if r.plain else "-",
                r.same or "-",
                f"{r.rss_mb:,.0f}",
            )
            for r in rows
        ],
    )
    print("\n'peak RSS MB' is this process's peak after each query's runs (they run in this order).")
    for line in hits:
        print(line)
    for r in rows:
        per_row = [ms * 1000 / n for ms, n in zip(r.indexed.ms, r.indexed.rows, strict=True) if n > 50]
        if per_row:
            print(f"{r.name}: {statistics.median(per_row):,.0f} µs per row returned (median)")
    for r in rows:
        if r.differ:
            shown = ", ".join(" ".join(str(x) for x in p) for p in r.differ[:3])
            print(f"{r.name}: the plain SQL answers differently for {shown}")
    print("\nquery plans (first parameter set; per-event lookups shown once):")
    for r in rows:
        for who, plans in (("tracker", r.plans), ("plain SQL", r.plain_plans)):
            print(f"  {r.name}, {who}:")
            for sql, steps in plans:
                print(f"    {sql}")
                for step in steps:
                    print(f"      {step}")

    print("\nmemory: fresh processes, peak RSS (VmHWM) after opening the store and after the work:")
    broad = "稀土"
    last_day = (FIRST_DAY + timedelta(days=DAYS - 1)).isoformat()
    mem_specs = [
        ("every event as JSON to /dev/null", {"do": "stream"}),
        (f"search {broad} to the end, as JSON", {"do": "stream", "search": broad}),
        (f"status as of {last_day}, gallium", {"do": "status", "as_of": last_day, "mineral": "gallium"}),
    ]
    mem_rows = []
    failures = []
    for label, spec in mem_specs:
        got = {}
        for n, p in ((small_n, small), (args.events, path)):
            print(f"  {label} at {n:,} ...", file=sys.stderr, flush=True)
            try:
                got[n] = child({**spec, "db": str(p)}, timeout=MEMORY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                got[n] = {"rows": 0, "seconds": MEMORY_TIMEOUT_S, "rss_mb": float("nan"), "open_rss_mb": 0.0}
                failures.append(f"'{label}' at {n:,} events did not finish in {MEMORY_TIMEOUT_S:.0f} s")
        a, b = got[small_n], got[args.events]
        growth = b["rss_mb"] - a["rss_mb"]
        flat = growth <= max(10.0, 0.1 * a["rss_mb"]) or math.isnan(growth)  # nan: timed out, failed above
        mem_rows.append(
            (
                label,
                f"{a['rows']:,}",
                f"{a['seconds']:.1f}",
                f"{a['open_rss_mb']:.0f}",
                f"{a['rss_mb']:.0f}",
                f"{b['rows']:,}",
                f"{b['seconds']:.1f}",
                f"{b['rss_mb']:.0f}",
                f"{growth:+.0f}",
                "n/a" if math.isnan(growth) else "flat" if flat else "GROWS",
            )
        )
        if not flat:
            failures.append(
                f"memory of '{label}' grows with the events: {a['rss_mb']:.0f} MB at {small_n:,}, {b['rss_mb']:.0f} MB at {args.events:,}"
            )
    print_table(
        (
            "work",
            f"rows @{small_n:,}",
            "s",
            "open MB",
            "peak MB",
            f"rows @{args.events:,}",
            "s",
            "peak MB",
            "growth MB",
            "",
        ),
        mem_rows,
    )
    print(
        f"\npeak RSS of this process (the tracker's queries and the plain SQL; builds and memory runs had their own "
        f"processes): {query_rss:.0f} MB"
    )
    for r in rows:
        if not r.ok:
            failures.append(f"'{r.name}' p95 {r.indexed.p95:.1f} ms, target {r.target:.0f} ms")
    print(f"run took {time.perf_counter() - t0:.0f} s\n")
    for f in failures:
        print(f"FAIL: {f}")
    if not failures:
        print("OK: every p95 meets its target and memory is flat in the number of events")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
