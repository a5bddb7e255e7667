"""`tracker check`: read each source's first list page and a few of its items exactly as a fetch
would, store nothing, and say in words what was found and what is wrong — the first thing to run
after installing, and what to run when a site changes."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracker.errors import InputError, Interrupted, SourceError
from tracker.http import REFUSALS, HttpClient, Response
from tracker.models import RunStats
from tracker.settings import Config, SourceConfig
from tracker.sources import get_kind
from tracker.store import Store
from tracker.wording import plural

ITEMS = 3  # items of the first page read, per source


@dataclass
class Problem:
    """Something wrong or worth knowing: an 'error' fails the check, a 'warning' does not."""

    level: str
    message: str


@dataclass
class Sample:
    """One item read: what a fetch would store of it."""

    title: str
    issued: str | None
    number: str | None
    text_chars: int
    url: str


@dataclass
class SourceCheck:
    """What checking one source found."""

    source: str
    kind: str
    urls: list[str]
    http_status: int | None = None
    items: int = 0  # items on the first list page
    read: int = 0  # items followed and parsed
    dated: int = 0
    numbered: int = 0
    with_text: int = 0
    requests: int = 0
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is an error."""
        return not any(p.level == "error" for p in self.problems)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with `ok`."""
        return {**asdict(self), "ok": self.ok}


class _Recorder:
    """Writes every response a source's thread receives into DIR/<source>/ (body and headers)."""

    def __init__(self, root: Path):
        self.root = root
        self.local = threading.local()
        self.counts: dict[str, int] = {}
        self.files: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def __call__(self, resp: Response) -> None:
        source = getattr(self.local, "source", None)
        if source is None:
            return
        with self.lock:
            n = self.counts[source] = self.counts.get(source, 0) + 1
        folder = self.root / source
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{n:02d}-{_slug(resp.url)}"
        body = folder / f"{stem}.{_extension(resp)}"
        body.write_bytes(resp.content)
        head = folder / f"{stem}.http.json"
        head.write_text(
            json.dumps(
                {"url": resp.url, "status": resp.status, "headers": resp.headers, "body": body.name},
                ensure_ascii=False,
                indent=2,
            ),
            "utf-8",
        )
        self.files.setdefault(source, []).extend([str(body), str(head)])


def check(
    config: Config, names: Sequence[str] | None = None, *, save: Path | None = None, items: int = ITEMS
) -> list[SourceCheck]:
    """Check each source named (or every enabled one) side by side; nothing is stored. With `save`,
    every raw response is written under save/<source>/ for a fixture or `tracker ingest`."""
    if names:
        sources = [config.source(n) for n in dict.fromkeys(names)]
    else:
        sources = [s for s in config.sources.values() if s.enabled]
    if not sources:
        raise InputError("no source to check: every source is disabled (name one with --source)")
    recorder = None
    if save is not None:
        try:
            save.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{save}: cannot create the folder: {exc.strerror or exc}") from None
        recorder = _Recorder(save)
    stop = threading.Event()  # Ctrl-C or SIGTERM: the other threads' requests and waits end too
    with HttpClient(config.fetch, stop=stop) as http:
        http.recorder = recorder
        workers = max(1, min(config.fetch.workers, len(sources)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
            try:
                results = list(pool.map(lambda s: _check_one(s, http, recorder, items), sources))
            except KeyboardInterrupt:
                stop.set()
                raise
    return results


def _check_one(source: SourceConfig, http: HttpClient, recorder: _Recorder | None, items: int) -> SourceCheck:
    report = SourceCheck(source=source.name, kind=source.kind, urls=list(source.urls))
    if recorder is not None:
        recorder.local.source = source.name
    stats = RunStats(source=source.name, mode="check")
    before = http.thread_requests
    with Store(":memory:") as scratch:  # a fetch's own code path, into a database thrown away
        kind = get_kind(source.kind)(source, http, scratch)
        kind.check_items = items
        try:
            kind.run(stats, mode="check", until=None, progress=None)
        except SourceError as exc:
            report.http_status = exc.status
            where = f" ({exc.url})" if exc.url else ""
            refused = exc.status in REFUSALS
            report.problems.append(Problem("error", ("refused: " if refused else "") + exc.message + where))
        except Interrupted:
            report.problems.append(Problem("error", "stopped before the end (Ctrl-C or SIGTERM)"))
        except Exception as exc:  # a bug in one kind must not hide the other sources' reports
            report.problems.append(Problem("error", f"internal error: {type(exc).__name__}: {exc}"))
        docs = sorted(scratch.documents(), key=lambda d: d["id"])  # in the order of the list
        report.http_status = report.http_status or stats.http_status
        report.items = kind.listed
        report.problems += [Problem("error", f"an item could not be read: {e}") for e in stats.item_errors]
        report.problems += [Problem(level, message) for level, message in kind.check_notes(docs)]
    report.requests = http.thread_requests - before
    _judge(report, docs)
    if recorder is not None:
        report.saved = recorder.files.get(source.name, [])
        recorder.local.source = None
    return report


def _judge(report: SourceCheck, docs: list[dict[str, Any]]) -> None:
    """Counts, samples and the problems every kind can have."""
    report.read = len(docs)
    report.dated = sum(1 for d in docs if d["published"])
    report.numbered = sum(1 for d in docs if d["doc_number"])
    report.with_text = sum(1 for d in docs if (d["text"] or "").strip())
    report.samples = [
        Sample(d["title"], d["published"], d["doc_number"], len(d["text"] or ""), d["url"])
        for d in docs[:ITEMS]
    ]
    if not report.ok:
        return  # the run itself failed: the counts below would only repeat it
    if report.items == 0:
        report.problems.append(
            Problem(
                "error",
                "empty list: the first page yields no items (its layout may have changed, or the list "
                "is built by the site's scripts from an endpoint the source does not know)",
            )
        )
        return
    n = report.read
    if n == 0:
        return
    items = plural(n, "item")
    if report.dated == 0:
        report.problems.append(Problem("error", f"no dates: none of the {items} read has a date of issue"))
    elif report.dated < n:
        undated = n - report.dated
        report.problems.append(
            Problem("warning", f"{undated} of {items} read {'has' if undated == 1 else 'have'} no date")
        )
    if report.with_text == 0 and not any("refused" in p.message for p in report.problems):
        report.problems.append(Problem("error", f"text empty: none of the {items} read has any text"))
    elif report.with_text < n:
        report.problems.append(Problem("warning", f"text empty on {n - report.with_text} of {items} read"))
    if report.numbered == 0 and report.kind in ("mofcom", "federalregister"):
        report.problems.append(Problem("warning", f"none of the {items} read has a document number"))


def _slug(url: str) -> str:
    parts = urlsplit(url)
    tail = (parts.path.rstrip("/").rsplit("/", 1)[-1] or "index").rsplit(".", 1)[0]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"{parts.hostname or 'host'}-{tail}")[:80].strip("-")


def _extension(resp: Response) -> str:
    ctype = (resp.content_type or "").split(";")[0].strip().lower()
    if "json" in ctype:
        return "json"
    if "xml" in ctype or "rss" in ctype or "atom" in ctype:
        return "xml"
    if ctype == "text/plain":
        return "txt"
    if "html" in ctype:
        return "shtml" if resp.url.endswith(".shtml") else "html"
    return "bin"
