"""Benchmark: bringing alerts up to date after a fetch that found nothing new, over 10,000,
100,000 and 1,000,000 events.

For each size, builds a tracker database (the real schema, through `Store`) of that many events
spread over 20 years, 40 jurisdictions, the vocabulary's minerals and every action, a quarter of
them with a date of effect and a sixth with an expiry, some of those in the weeks after the
measured day (so that deadline warnings are due), written with `executemany` in batches. Each of
the four built-in sources has a healthy `source_state` row. It then runs one full sync (every
event gets its 'event' alert, the deadlines ahead their warnings), and times, alternating, at
least five runs each of:

  incremental  `tracker.alerts.sync_alerts`: the events written since the last sync (none here),
               the deadlines ahead by their date indexes, the sources' health
  full scan    the algorithm before it (copied below): every event read and compared with its
               last alert at each sync; its deadline query and the health checks cost the same
               as the incremental sync's (on this schema SQLite answers its OR of two date ranges
               from the same two indexes)

The incremental sync still warns of each date ahead within the largest warning threshold (30 days:
the `due 30 d` column), so what remains of its cost follows how many measures start or end in
the coming weeks, not how many events are kept; here, with dates spread evenly over 20 years,
that number grows with the events too.

A database is built once and kept (`--dir`, default a folder under the system's temp folder) and
reused by later runs; `--rebuild` makes it again. Prints a table of the medians; exits 1 with a
FAIL line when either algorithm created an alert (nothing was new) or the incremental sync at
the largest size is not faster than `--max-ms`. Run from the repository root:

    python benchmarks/sync_alerts.py [--sizes 10000,100000,1000000] [--runs 5] [--dir DIR] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    import tracker  # noqa: F401
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker import alerts
from tracker.codes import ACTIONS
from tracker.config import load_config
from tracker.rules import default_rules_dir
from tracker.settings import Config
from tracker.store import Store
from tracker.vocab import load_vocabulary

SEED = 20261126
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # the day measured
FIRST_DAY = date(2006, 11, 26)
DAYS = (NOW.date() - FIRST_DAY).days
BATCH = 20_000
SEVERITY = {"new_control": "high", "expanded_control": "high", "suspension": "high", "lift": "high"}
ISSUERS = ("MOFCOM", "EO", "FR", "METI", "MOTIE", "DGFT", "BIS")
TITLES = (
    "商务部 海关总署公告{y}年第{n}号 关于对{m}相关物项实施出口管制的公告",
    "Executive Order {n}: Addressing Risks to the Supply of {m}",
    "Notice {y}-{n} on export licensing of {m} and related items",
    "{m}: framework agreement on critical minerals supply, {y}",
)
TRIGGER = "自{d}起正式实施。Exports of {m} require a licence from {d}."
COLUMNS = (
    "id", "identity", "action", "jurisdiction", "announced", "effective", "expires", "doc_number", "title",
    "targets", "minerals", "items", "refers_to", "rule", "severity", "trigger", "minerals_from_refs",
    "first_seen", "updated_at",
)  # fmt: skip


def _rows(n: int, minerals: list[str], names: dict[str, str]) -> Iterator[tuple[Any, ...]]:
    """`n` realistic rows of `events`, in the table's column order."""
    rnd = random.Random(SEED)
    jurisdictions = [f"J{i:02d}" for i in range(38)] + ["CN", "US"]
    stamp = (NOW - timedelta(days=1)).replace(microsecond=0).isoformat()
    for i in range(n):
        announced = FIRST_DAY + timedelta(days=rnd.randrange(DAYS))
        action = rnd.choice(ACTIONS)
        chosen = rnd.sample(minerals, rnd.choice((1, 1, 2, 3, 5)))
        effective = expires = None
        if rnd.random() < 0.25:
            effective = (announced + timedelta(days=rnd.choice((0, 30, 60, 90, 365)))).isoformat()
        if rnd.random() < 1 / 6:
            expires = (announced + timedelta(days=rnd.choice((180, 365, 730)))).isoformat()
        number = f"{rnd.choice(ISSUERS)} {announced.year}-{i}"
        name = names.get(chosen[0], chosen[0])
        title = rnd.choice(TITLES).format(y=announced.year, n=i, m=name)
        ident = hashlib.sha1(f"{number}|{action}".encode()).hexdigest()[:16]
        yield (
            ident,
            number,
            action,
            rnd.choice(jurisdictions),
            announced.isoformat(),
            effective,
            expires,
            number,
            title,
            "[]",
            json.dumps(chosen),
            "[]",
            "[]",
            f"rule-{action}",
            SEVERITY.get(action, rnd.choice(("medium", "low", "info"))),
            TRIGGER.format(d=effective or announced.isoformat(), m=name),
            0,
            stamp,
            stamp,
        )


def build(path: Path, n: int) -> None:
    """A database of `n` events and healthy sources at `path` (made under a temporary name)."""
    vocab = load_vocabulary(default_rules_dir())
    minerals = sorted(t.id for t in vocab.of_type("mineral"))
    names = {t.id: t.name for t in vocab.terms.values()}
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    with Store(tmp) as store:
        rows = _rows(n, minerals, names)
        insert = (
            f"INSERT OR IGNORE INTO events({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        )
        while batch := [r for _, r in zip(range(BATCH), rows, strict=False)]:
            with store.write():
                store.db.conn.executemany(insert, batch)
                store.db.conn.executemany(
                    "INSERT OR IGNORE INTO event_minerals(event_id, mineral, announced) VALUES (?, ?, ?)",
                    [(r[0], m, r[4]) for r in batch for m in json.loads(r[10])],
                )
        healthy = (NOW - timedelta(hours=1)).isoformat()
        with store.write():
            for source in ("mofcom", "whitehouse", "federalregister", "usgs"):
                store.db.execute(
                    "INSERT OR REPLACE INTO source_state(source, last_run_at, last_success) VALUES (?, ?, ?)",
                    [source, healthy, healthy],
                )
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tmp.rename(path)


# --- the algorithm before: every event, each sync --------------------------------------------------


def old_sync(store: Store, config: Config, now: datetime) -> int:
    """Alerts as `sync_alerts` made them before it was incremental; returns how many it created."""
    with store.write():
        created = _old_event_alerts(store, config, now) + _old_deadline_alerts(store, config, now)
        created += len(alerts._health_alerts(store, config, now))  # unchanged: the same code
    return created


def _old_insert(
    store: Store, key: str, kind: str, e: dict[str, Any], detail: Any, now: datetime, **kw: Any
) -> int:
    cur = store.db.execute(
        """INSERT OR IGNORE INTO alerts(key, kind, event_id, source, severity, title, detail, created_at, suppressed)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [key, kind, e["id"], None, e["severity"], e["title"], json.dumps(detail, ensure_ascii=False),
         alerts._iso(now), int(kw.get("suppressed", False))],
    )  # fmt: skip
    return cur.rowcount


def _old_event_alerts(store: Store, config: Config, now: datetime) -> int:
    created = 0
    cutoff = None
    if config.alerts.max_age_days > 0:
        cutoff = (alerts.local_today(config, now) - timedelta(days=config.alerts.max_age_days)).isoformat()
    for e in store.db.query("SELECT * FROM events ORDER BY announced, id"):
        sub = {k: (json.loads(e[k]) if k == "minerals" else e[k]) for k in alerts.SUBSTANCE}
        digest = alerts._hash(sub)
        last = store.db.execute(
            "SELECT detail FROM alerts WHERE event_id = ? AND kind IN ('event', 'event_updated') ORDER BY id DESC LIMIT 1",
            [e["id"]],
        ).fetchone()
        if last is None:
            old_news = cutoff is not None and (e["announced"] or "") < cutoff
            detail = {"substance": sub, "hash": digest}
            created += _old_insert(store, f"event:{e['id']}", "event", e, detail, now, suppressed=old_news)
            continue
        before = json.loads(last[0])
        if before.get("hash") == digest:
            continue
        changes = {
            k: [before["substance"].get(k), sub[k]]
            for k in alerts.SUBSTANCE
            if before["substance"].get(k) != sub[k]
        }
        detail = {"substance": sub, "hash": digest, "changes": changes}
        created += _old_insert(store, f"event:{e['id']}:{digest}", "event_updated", e, detail, now)
    return created


def _old_deadline_alerts(store: Store, config: Config, now: datetime) -> int:
    created = 0
    today = alerts.local_today(config, now)
    thresholds = sorted(set(config.alerts.warn_days))
    if not thresholds:
        return 0
    horizon = (today + timedelta(days=max(thresholds))).isoformat()
    rows = store.db.query(
        "SELECT * FROM events WHERE (expires >= :t AND expires <= :h) OR (effective > :t AND effective <= :h)",
        {"t": today.isoformat(), "h": horizon},
    )
    for e in rows:
        for field in ("effective", "expires"):
            when = e[field]
            if not when or (field == "effective" and when <= today.isoformat()) or when < today.isoformat():
                continue
            days = (date.fromisoformat(when) - today).days
            applicable = [x for x in thresholds if days <= x]
            if not applicable:
                continue
            t = min(applicable)
            detail = {"field": field, "date": when, "days": days, "threshold": t, "action": e["action"],
                      "doc_number": e["doc_number"]}  # fmt: skip
            created += _old_insert(store, f"deadline:{e['id']}:{field}:{t}", "deadline", e, detail, now)
    return created


# --- measuring -------------------------------------------------------------------------------------


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    created = fn()
    return time.perf_counter() - start, created


def measure(path: Path, config: Config, runs: int) -> dict[str, Any]:
    """One full sync (if the database has not had it), then `runs` alternating runs of each."""
    with Store(path) as store:
        first, made = timed(lambda: len(alerts.sync_alerts(store, config, NOW)))
        events = store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        total = store.db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        warn = max(config.alerts.warn_days)
        ahead = len(alerts.deadlines_ahead(store, alerts.local_today(config, NOW), warn))
        times: dict[str, list[float]] = {"incremental": [], "full scan": []}
        created = {"incremental": 0, "full scan": 0}
        for _ in range(runs):
            for name, fn in (
                ("incremental", lambda: len(alerts.sync_alerts(store, config, NOW))),
                ("full scan", lambda: old_sync(store, config, NOW)),
            ):
                seconds, n = timed(fn)
                times[name].append(seconds)
                created[name] += n
    return {
        "events": events,
        "alerts": total,
        "ahead": ahead,
        "first": first,
        "first_made": made,
        "times": times,
        "created": created,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="event counts, comma-separated")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each algorithm (at least 5)")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "tracker-bench-sync-alerts")
    ap.add_argument("--rebuild", action="store_true", help="build the databases again")
    ap.add_argument("--max-ms", type=float, default=50.0, help="FAIL when the incremental median passes this")
    args = ap.parse_args(argv)
    runs = max(args.runs, 5)
    args.dir.mkdir(parents=True, exist_ok=True)
    failures = []
    print(
        f"{'events':>10} {'alerts':>10} {'due 30 d':>8} {'first sync':>11} {'incremental':>12}"
        f" {'full scan':>10} {'ratio':>7}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        path = args.dir / f"events-{n}.db"
        if args.rebuild or not path.exists():
            start = time.perf_counter()
            build(path, n)
            print(f"  (built {path} in {time.perf_counter() - start:.1f} s)", flush=True)
        config = load_config(
            None, use_user_config=False, db_path=path, overrides={"alerts": {"max_age_days": 0}}
        )
        r = measure(path, config, runs)
        inc, full = (statistics.median(r["times"][k]) for k in ("incremental", "full scan"))
        first = f"{r['first']:.1f} s" if r["first_made"] else "(done)"
        print(
            f"{r['events']:>10,} {r['alerts']:>10,} {r['ahead']:>8,} {first:>11} {inc * 1000:>9.2f} ms"
            f" {full:>8.3f} s {full / inc:>6.0f}x",
            flush=True,
        )
        for name, count in r["created"].items():
            if count:
                failures.append(f"{name} created {count} alerts at {n:,} events: nothing was new")
        if n == max(int(s) for s in args.sizes.split(",")) and inc * 1000 > args.max_ms:
            failures.append(
                f"incremental sync took {inc * 1000:.1f} ms at {n:,} events (limit {args.max_ms} ms)"
            )
    for f in failures:
        print(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
