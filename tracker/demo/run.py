"""The demo: serve stand-ins of the official sites as they are today on loopback, point the built-in
sources at them (same paths and queries as the real sites), and run it all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tracker.app import Tracker
from tracker.config import load_config
from tracker.demo.standins import LiveSites
from tracker.digest import prepare
from tracker.models import RunStats
from tracker.pipeline import fetch
from tracker.settings import Config, Recipient
from tracker.state import Status, status
from tracker.store import Store
from tracker.timeline import TimelineEvent, query

# the first round answers the USGS search as the Federal Register did in 2022 (its final list only)
USGS_SEARCH_2022 = "api/v1/documents.geological-survey.2022.json"
# a full text the first round refuses with the 'Request Access' page (a notice of continuation), read on the second
REFUSED_TEXT = "/documents/full_text/text/2026/09/16/2026-19053.txt"


def live_config(sites: LiveSites, db_path: Path) -> Config:
    """The built-in sources with their URLs moved onto the stand-ins, and no politeness delays."""
    defaults = load_config(None, use_user_config=False)
    return load_config(
        None,
        use_user_config=False,
        db_path=db_path,
        overrides={
            # one source after the other, so that the output is the same on every run (which of two
            # sources carrying one order stores it first decides what counts as new)
            "fetch": {"host_delay": 0.0, "retries": 1, "backoff": 0.1, "timeout": 10.0, "workers": 1},
            "alerts": {"max_age_days": 0},  # the sample announcements are history: alert on them all
            "sources": {
                name: {"urls": [sites.local_url(u) for u in s.urls]} for name, s in defaults.sources.items()
            },
        },
    )


@dataclass
class DemoResult:
    """What the demo did, for the CLI to print."""

    db_path: Path
    rounds: list[tuple[str, list[RunStats]]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)
    status: list[Status] = field(default_factory=list)
    digest_subject: str = ""
    digest_files: list[Path] = field(default_factory=list)
    as_of: date = field(default_factory=date.today)


def run_demo(
    db_path: Path, on_round: Callable[[str, list[RunStats]], None] | None = None, as_of: date | None = None
) -> DemoResult:
    """Fetch the stand-ins into a fresh database at `db_path` (replaced if it exists): a first fetch
    in which the USGS search holds only the 2022 final list and one full text is refused, then a
    second one in which it holds the 2025 draft and final lists too (the refused text is read).
    The stored links are then moved to the official sites the stand-ins imitate."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    result = DemoResult(db_path=db_path, as_of=as_of or date.today())
    with LiveSites() as sites:
        config = live_config(sites, db_path)
        app = Tracker(config)
        sites.fr.searches["geological-survey"] = USGS_SEARCH_2022
        sites.fr.refuse[REFUSED_TEXT] = 1
        rounds = (
            "first fetch (the USGS notices as of 2022; one full text refused)",
            "second fetch (the 2025 draft and final USGS lists are out)",
        )
        for n, label in enumerate(rounds):
            if n == 1:
                del sites.fr.searches["geological-survey"]
            stats = fetch(app)
            result.rounds.append((label, stats))
            if on_round:
                on_round(label, stats)
        official = sites.official_origins()
    with Store(db_path) as store:
        # the stand-ins are gone once the demo ends: its links lead to the pages they imitate
        for local, real in official.items():
            store.move_origin(local, real)
        result.documents = list(store.documents())
        result.lists = store.list_versions()
        result.events = list(query(store, oldest_first=True))
        result.status = status(store, as_of=result.as_of)
        rendered, _ = prepare(
            store, app, Recipient(email="preview@localhost", name="demo"), datetime.now(UTC)
        )
    result.digest_subject = rendered.subject
    for suffix, body in ((".digest.txt", rendered.text), (".digest.html", rendered.html)):
        path = db_path.with_name(db_path.stem + suffix)
        path.write_text(body, "utf-8")
        result.digest_files.append(path)
    return result
