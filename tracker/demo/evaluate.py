"""Scoring the tracker against a development set (`tracker rules eval`): fetch the sample sites
(tracker/demo/site) on loopback through the pipeline, and compare the events and states with an
`expected.json` (see shared/samples/expected.json).

An `expected.json` with `sources` (name -> URL path) is a set of its own, such as
tracker/demo/site/coverage/expected.json for the built-in sources bis, dow, meti and australia: its
folder is the site, those sources are on and pointed at it, and every other source is off."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from tracker.app import Tracker
from tracker.config import load_config
from tracker.demo.server import SiteServer, site_root
from tracker.events import event_rows
from tracker.pipeline import fetch
from tracker.settings import Config
from tracker.state import status
from tracker.store import Store

USGS_PATH = "/usgs/critical-minerals-list.html"
# a loopback site answers at once: no politeness delay, one quick retry, and alerts of any age
NO_DELAYS: dict[str, dict[str, object]] = {
    "fetch": {"host_delay": 0.0, "retries": 1, "backoff": 0.1, "timeout": 10.0},
    "alerts": {"max_age_days": 0},
}


def sample_config(base_url: str, db_path: Path) -> Config:
    """The built-in sources pointed at the sample site (the older shapes of the official sites: a
    MOFCOM list page with its items, the USGS list on one page), with no politeness delays."""
    return load_config(
        None,
        use_user_config=False,
        db_path=db_path,
        overrides={
            **NO_DELAYS,
            "sources": {
                "mofcom": {"url": f"{base_url}/mofcom/zwgk/zcfb/index.html"},
                "whitehouse": {
                    "urls": [
                        f"{base_url}/whitehouse/presidential-actions/feed/",
                        f"{base_url}/whitehouse/briefings-statements/feed/",
                    ]
                },
                "federalregister": {
                    "url": f"{base_url}/federalregister/api/v1/documents.json?conditions[type][]=PRESDOCU"
                },
                "usgs": {"url": f"{base_url}{USGS_PATH}"},
            },
        },
    )


def set_config(base_url: str, db_path: Path, sources: dict[str, str]) -> Config:
    """The built-in sources named in `sources` (name -> URL path on the site) on and pointed at the
    site, every other source off, with no politeness delays."""
    builtin = load_config(None, use_user_config=False, db_path=db_path)
    overrides: dict[str, dict[str, object]] = {name: {"enabled": False} for name in builtin.sources}
    for name, path in sources.items():
        overrides[name] = {"enabled": True, "url": f"{base_url}{path}"}
    return load_config(
        None,
        use_user_config=False,
        db_path=db_path,
        overrides={**NO_DELAYS, "sources": overrides},
    )


@dataclass
class Line:
    """One checked expectation."""

    ok: bool
    what: str
    detail: str = ""


@dataclass
class Report:
    """Everything the evaluation found."""

    expected: list[Line] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    absent: list[Line] = field(default_factory=list)
    status: list[Line] = field(default_factory=list)
    produced: int = 0
    matched_produced: int = 0

    @property
    def recall(self) -> float:
        return sum(x.ok for x in self.expected) / len(self.expected) if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.matched_produced / self.produced if self.produced else 1.0

    @property
    def ok(self) -> bool:
        return all(x.ok for x in [*self.expected, *self.absent, *self.status])


def _ref_key(ref: str) -> str:
    """'MOFCOM 2025-55' and '2025-55' compare equal."""
    return ref.split()[-1]


def _matches(exp: dict[str, Any], ev: dict[str, Any]) -> bool:
    if ev["action"] != exp["action"] or ev["jurisdiction"] != exp["jurisdiction"]:
        return False
    for key in ("announced", "effective", "expires"):
        if key in exp and ev[key] != exp[key]:
            return False
    if not set(exp.get("minerals", [])) <= set(ev["minerals"]):
        return False
    if not set(exp.get("targets", [])) <= set(ev["targets"]):
        return False
    for key in ("amount", "recipient"):
        if key in exp and ev.get(key) != exp[key]:
            return False
    if "refers_to" in exp and not {_ref_key(r) for r in exp["refers_to"]} <= {
        _ref_key(r) for r in ev["refers_to"]
    }:
        return False
    return True


def evaluate(
    expected_path: str | Path, rules_dir: str | Path | None = None, site: str | Path | None = None
) -> Report:
    """Fetch the sample site (2018 USGS list first, then 2022) into a temporary database with the
    rules of `rules_dir`, and score it against `expected_path`; for a set with `sources`, fetch
    those sources from the set's own folder (or `site`) once."""
    expected = json.loads(Path(expected_path).read_text("utf-8"))
    own = expected.get("sources")
    root = Path(site) if site else (Path(expected_path).parent if own else site_root())
    with tempfile.TemporaryDirectory(prefix="tracker-eval-") as tmp, SiteServer(root) as server:
        db = Path(tmp) / "eval.db"
        if own:
            config = set_config(server.base_url, db, own)
        else:
            server.aliases[USGS_PATH] = root / "usgs/2018/critical-minerals-list.html"
            config = sample_config(server.base_url, db)
        if rules_dir is not None:
            config = replace(config, rules_dir=Path(rules_dir))
        app = Tracker(config)
        fetch(app)
        if not own:
            server.aliases[USGS_PATH] = root / "usgs/2022/critical-minerals-list.html"
            fetch(app)
        with Store(db) as store:
            events = event_rows(store)
            docs = list(store.documents())
            report = _score(expected, events, docs)
            report.status = [_status_line(store, s) for s in expected.get("status", [])]
    return report


def _status_line(store: Store, s: dict[str, Any]) -> Line:
    """One expected state: of a mineral in a jurisdiction, or of one measure (`measure`) there."""
    rows = status(
        store,
        as_of=date.fromisoformat(s["as_of"]),
        minerals=[s["mineral"]] if "mineral" in s else [],
        jurisdictions=[s["jurisdiction"]],
        measures=[s["measure"]] if "measure" in s else [],
    )
    ok = any(r.state == s["state"] and ("until" not in s or r.until == s["until"]) for r in rows)
    got = (
        ", ".join(f"{r.measure}: {r.state}" + (f" until {r.until}" if r.until else "") for r in rows)
        or "nothing"
    )
    want = s["state"] + (f" until {s['until']}" if s.get("until") else "")
    what = s.get("mineral") or s.get("measure") or "?"
    return Line(ok, f"{what} in {s['jurisdiction']} on {s['as_of']}: {want}", f"got {got}")


def _score(expected: dict[str, Any], events: list[dict[str, Any]], docs: list[dict[str, Any]]) -> Report:
    report = Report()
    used: set[str] = set()
    exps = expected.get("events", [])
    candidates = {i: [e for e in events if _matches(exp, e)] for i, exp in enumerate(exps)}
    lines: dict[int, Line] = {}
    # the most constrained expectation first; among candidates, the one whose title names the doc
    for i in sorted(candidates, key=lambda i: len(candidates[i])):
        exp = exps[i]
        label = f"{exp['doc']}: {exp['action']} {exp['jurisdiction']} {exp.get('announced')}"
        cands = sorted(candidates[i], key=lambda e: (e["id"] in used, exp["doc"] not in (e["title"] or "")))
        if cands and cands[0]["id"] not in used:
            hit = cands[0]
            used.add(hit["id"])
            lines[i] = Line(True, label, f"event {hit['id']} minerals {', '.join(hit['minerals'])}")
        else:
            near = [
                e
                for e in events
                if e["announced"] == exp.get("announced") and e["jurisdiction"] == exp["jurisdiction"]
            ]
            detail = (
                "; ".join(
                    f"{e['action']} eff {e['effective']} exp {e['expires']} minerals {e['minerals']} refs {e['refers_to']}"
                    for e in near
                )
                or "no event that day"
            )
            lines[i] = Line(False, label, f"closest: {detail}")
    report.expected = [lines[i] for i in range(len(exps))]
    scored = [e for e in events if e["action"] != "other"]
    report.produced = len(scored)
    report.matched_produced = sum(1 for e in scored if e["id"] in used)
    report.unexpected = [e for e in scored if e["id"] not in used]
    by_url = {u: d for d in docs for u in d["urls"]}
    for absent in expected.get("absent", []):
        desc = absent["doc"]
        actions = set(absent["actions"])
        offending = []
        for e in events:
            if e["action"] not in actions:
                continue
            edocs = [by_url[u] for u in e["urls"] if u in by_url]
            if _absent_applies(desc, e, edocs, docs, absent.get("title")):
                offending.append(e)
        report.absent.append(
            Line(
                not offending,
                f"no {'/'.join(sorted(actions))} from: {desc[:90]}",
                "; ".join(f"{e['action']} {e['title'][:60]}" for e in offending),
            )
        )
    return report


def _absent_applies(
    desc: str,
    event: dict[str, Any],
    edocs: list[dict[str, Any]],
    docs: list[dict[str, Any]],
    title: str | None = None,
) -> bool:
    """Whether an 'absent' description of expected.json covers this event's documents."""
    if title is not None:  # named by a part of the documents' titles
        return any(title in d["title"] for d in edocs)
    low = desc.lower()
    if "q&a" in low or "答记者问" in desc:
        return any("记者问" in d["title"] for d in edocs)
    if "presidential-actions" in low or "federal register" in low:
        return any(
            "/presidential-actions/" in u or "federalregister" in d["sources"]
            for d in edocs
            for u in d["urls"]
        )
    if "usgs" in low and "first" in low:
        lists = sorted((d for d in docs if d["kind"] == "list"), key=lambda d: d["id"])
        return bool(lists) and any(d["id"] == lists[0]["id"] for d in edocs)
    return False
