"""The demo: serve the bundled sample sites on loopback, point the sources at them, run it all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tracker.config import Config, Recipient, load_config
from tracker.demo.server import SiteServer, site_root
from tracker.digest import prepare
from tracker.events import event_rows
from tracker.fetch import fetch
from tracker.models import RunStats
from tracker.state import Status, status
from tracker.store import Store

USGS_PATH = "/usgs/critical-minerals-list.html"


def demo_config(base_url: str, db_path: Path) -> Config:
    """The built-in sources pointed at a local copy of the sites, with no politeness delays."""
    return load_config(
        None,
        use_user_config=False,
        db_path=db_path,
        overrides={
            "fetch": {"host_delay": 0.0, "retries": 1, "backoff": 0.1, "timeout": 10.0},
            "alerts": {"max_age_days": 0},  # the sample announcements are history: alert on them all
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


@dataclass
class DemoResult:
    """What the demo did, for the CLI to print."""

    db_path: Path
    rounds: list[tuple[str, list[RunStats]]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    status: list[Status] = field(default_factory=list)
    digest_subject: str = ""
    digest_files: list[Path] = field(default_factory=list)
    as_of: date = field(default_factory=date.today)


def run_demo(
    db_path: Path, on_round: Callable[[str, list[RunStats]], None] | None = None, as_of: date | None = None
) -> DemoResult:
    """Fetch the sample sites into a fresh database at `db_path` (replaced if it exists): a first
    fetch with the 2018 USGS list, then a second one after the list page changed to its 2022
    version (everything else answers 304)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    root = site_root()
    result = DemoResult(db_path=db_path, as_of=as_of or date.today())
    with SiteServer(root) as server:
        server.aliases[USGS_PATH] = root / "usgs/2018/critical-minerals-list.html"
        config = demo_config(server.base_url, db_path)
        rounds = [
            ("first fetch (USGS serves its 2018 list)", None),
            (
                "second fetch (the USGS page now shows the 2022 list)",
                root / "usgs/2022/critical-minerals-list.html",
            ),
        ]
        for label, usgs_file in rounds:
            if usgs_file is not None:
                server.aliases[USGS_PATH] = usgs_file
            stats = fetch(config)
            result.rounds.append((label, stats))
            if on_round:
                on_round(label, stats)
    with Store(db_path) as store:
        result.documents = list(store.documents())
        result.lists = store.list_versions()
        result.events = event_rows(store)
        result.status = status(store, as_of=result.as_of)
        rendered, _ = prepare(
            store, config, Recipient(email="preview@localhost", name="demo"), datetime.now(UTC)
        )
    result.digest_subject = rendered.subject
    for suffix, body in ((".digest.txt", rendered.text), (".digest.html", rendered.html)):
        path = db_path.with_name(db_path.stem + suffix)
        path.write_text(body, "utf-8")
        result.digest_files.append(path)
    return result
