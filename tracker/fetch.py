"""Running sources: fetch, backfill and ingest into the store, one recorded run per source."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from tracker.errors import InputError, Interrupted, MissingDatabaseError, SourceError, StoreError
from tracker.http import HttpClient
from tracker.models import Document, RunStats
from tracker.settings import Config, KindSettings, SourceConfig
from tracker.sources import get_kind
from tracker.sources.base import Classifies, Progress, SourceKind
from tracker.store import SourceState, Store

log = logging.getLogger(__name__)


def select_sources(config: Config, names: Sequence[str] | None) -> list[SourceConfig]:
    """The sources named (any state), or every enabled one."""
    if names:
        return [config.source(n) for n in dict.fromkeys(names)]
    return [s for s in config.sources.values() if s.enabled]


def fetch(
    config: Config,
    names: Sequence[str] | None = None,
    *,
    mode: str = "fetch",
    until: date | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    classifier: Classifies | None = None,
) -> list[RunStats]:
    """The fetch stage: run each selected source once (side by side) and return what each did;
    the documents stored are handed to `classifier` once stored, a page's together (without one
    they stay unclassified). A failing source is recorded as failed and never stops the others. Alerts are
    the pipeline's next stage (tracker.pipeline.fetch runs both)."""
    sources = select_sources(config, names)
    stop = stop or threading.Event()
    results: list[RunStats] = []
    with StorePool(config.db_path) as stores, HttpClient(config.fetch, stop=stop) as http:
        with stores.take() as store:
            store.close_interrupted_runs([s.name for s in sources])
            if classifier is not None:
                catch_up(store, classifier)
        workers = max(1, min(config.fetch.workers, len(sources)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            futures = [
                pool.submit(run_source, config, s, http, mode, until, progress, stop, classifier, stores)
                for s in sources
            ]
            try:
                for f in futures:
                    results.append(f.result())
            except KeyboardInterrupt:
                stop.set()
                for f in futures:
                    f.cancel()
                raise
    return results


def run_source(
    config: Config,
    source: SourceConfig,
    http: HttpClient,
    mode: str = "fetch",
    until: date | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    classifier: Classifies | None = None,
    stores: StorePool | None = None,
) -> RunStats:
    """One recorded run of one source, on a connection of `stores` (else one of its own); safe in
    any thread."""
    stats = RunStats(source=source.name, mode=mode)
    with (stores or StorePool(config.db_path, keep=0)).take() as store:
        run_id = store.start_run(source.name, mode)
        kind = get_kind(source.kind)(source, http, store)
        kind.stop = stop
        kind.on_saved = classifier
        before = http.thread_requests
        try:
            kind.run(stats, mode=mode, until=until, progress=progress)
        except SourceError as exc:
            stats.status = "failed"
            stats.error = exc.message if not exc.url else f"{exc.url}: {exc.message}"
            stats.http_status = exc.status or stats.http_status
        except Interrupted:
            stats.status = "interrupted"
            stats.error = "stopped before the end"
        except StoreError:
            raise  # the database, not the source: every source would fail the same way
        except Exception as exc:  # a bug in one source kind must not stop the others
            log.exception("%s: unexpected error", source.name)
            stats.status = "failed"
            stats.error = f"internal error: {type(exc).__name__}: {exc}"
        if stats.item_errors and stats.status == "ok":
            stats.status = "failed"
        stats.notes += kind.notes
        stats.requests = http.thread_requests - before
        store.finish_run(run_id, stats)
    return stats


class StorePool:
    """Connections to one database for the threads of a fetch: `take` lends one that no other
    thread is using, opened on first need, and takes it back afterwards; `close` (or the end of a
    `with` block) closes those kept. Four workers thus open four connections, not one per source
    (each open checks the migrations, each close checkpoints the log)."""

    def __init__(self, db_path: str | Path, *, keep: int = 64):
        self.db_path = db_path
        self.keep = keep  # connections kept for reuse; a connection given back beyond it is closed
        self._idle: list[Store] = []
        self._lock = threading.Lock()

    @contextmanager
    def take(self) -> Iterator[Store]:
        """A connection for the calling thread alone, until the block ends."""
        with self._lock:
            store = self._idle.pop() if self._idle else None
        if store is None:
            store = Store(self.db_path, any_thread=True)
        try:
            yield store
        finally:
            with self._lock:
                kept = len(self._idle) < self.keep
                if kept:
                    self._idle.append(store)
            if not kept:
                store.close()

    def close(self) -> None:
        """Close the connections kept."""
        with self._lock:
            idle, self._idle = self._idle, []
        for store in idle:
            store.close()

    def __enter__(self) -> StorePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def catch_up(store: Store, classifier: Classifies) -> None:
    """Classify the documents a crash left stored but unclassified (between the two transactions
    of SourceKind.save); a rule that runs out of time is logged and leaves its document so."""
    pending = [doc_id for doc_id, _ in store.unclassified("pending")]
    for exc in classifier.classify_many(store, pending) if pending else []:
        log.warning("%s", exc)


def ingest(
    config: Config,
    source_name: str,
    files: Sequence[str | Path],
    url: str | None = None,
    classifier: Classifies | None = None,
) -> list[dict[str, Any]]:
    """Store local files through a source's parser, each document handed to `classifier` (without
    one it stays unclassified); one row per document stored, with the URL it is stored under
    (`url`, else the file's own file: URL)."""
    source = config.source(source_name)
    if url and len(files) > 1:
        raise InputError("--url names one document: give a single file with it")
    rows: list[dict[str, Any]] = []
    with Store(config.db_path) as store:
        kind = get_kind(source.kind)(source, None, store)
        kind.on_saved = classifier
        for f in files:
            path = Path(f)
            docs = _parse_file(kind, path, url)
            for doc in docs:
                outcome, doc_id = kind.save(doc)
                rows.append(
                    {
                        "file": str(path),
                        "url": doc.url,
                        "id": doc_id,
                        "outcome": outcome,
                        "title": doc.title,
                        "doc_number": doc.doc_number,
                        "published": doc.published,
                    }
                )
    return rows


def parse_file(config: Config, source_name: str, file: str | Path) -> list[Document]:
    """The documents a local file holds, read through a source's parser as `ingest` reads them,
    storing nothing (`tracker rules explain --text`)."""
    source = config.source(source_name)
    with Store(":memory:") as scratch:  # a kind wants a store; this one is thrown away
        kind = get_kind(source.kind)(source, None, scratch)
        docs = _parse_file(kind, Path(file), None)
    for doc in docs:
        doc.source_kind = kind.kind  # as `save` sets it
        doc.sanitise()
    return docs


def _parse_file(kind: SourceKind[KindSettings], path: Path, url: str | None) -> list[Document]:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        docs = kind.parse_file(content, url or path.resolve().as_uri(), _content_type(path))
    except SourceError as exc:
        raise InputError(f"{path}: {exc.message}") from None
    if not docs:
        raise InputError(f"{path}: no document found in this file for a {kind.kind!r} source")
    return docs


def _content_type(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in (".json",):
        return "application/json"
    if suffix in (".xml", ".rss", ".atom"):
        return "application/xml"
    return None


def source_report(config: Config) -> list[dict[str, Any]]:
    """Per configured source: its settings and health (last success, last error, failures in a
    row, items seen on the last run, documents stored, full texts still to read). With no
    database yet, every source as never run; none is created."""
    try:
        store = Store(config.db_path, create=False)
    except MissingDatabaseError:
        return [_source_row(s, SourceState(s.name), 0, 0) for s in config.sources.values()]
    with store:
        counts = store.document_counts()
        return [
            _source_row(
                s,
                store.source_state(s.name) or SourceState(s.name),
                counts.get(s.name, 0),
                store.pending_text_count(s.name),
            )
            for s in config.sources.values()
        ]


def _source_row(s: SourceConfig, state: SourceState, documents: int, texts_pending: int) -> dict[str, Any]:
    return {
        "name": s.name,
        "kind": s.kind,
        "enabled": s.enabled,
        "urls": list(s.urls),
        "interval": s.interval,
        "last_run_at": state.last_run_at,
        "last_success": state.last_success,
        "last_error": state.last_error,
        "last_error_at": state.last_error_at,
        "consecutive_failures": state.consecutive_failures,
        "items_seen": state.last_items_seen,
        "documents": documents,
        "texts_pending": texts_pending,
    }
