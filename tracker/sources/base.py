"""What every source kind shares: the registry, the typed settings, and the paged-list run loop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast
from urllib.parse import urldefrag

from tracker import __version__
from tracker.errors import (
    FetchError,
    InputError,
    Interrupted,
    LayoutChangedError,
    PatternTimeout,
    SourceError,
)
from tracker.http import HttpClient, Response, host_of
from tracker.models import Document, RunStats, sha256
from tracker.settings import KindSettings, SourceConfig
from tracker.textutil import detect_language, refused_dates, web_url

if TYPE_CHECKING:
    from tracker.store import Store

log = logging.getLogger(__name__)

KINDS: dict[str, type[SourceKind[KindSettings]]] = {}
# Taken around the work of a page that needs no network (parsing it; storing and classifying a
# page whose items carry their documents): the threads of a fetch overlap their requests, and take
# turns at the CPU work that the GIL would serialise anyway. Without it, threads that each release
# the GIL around every SQL statement handed it back and forth some 20,000 times on a cold fetch of
# 200 feeds (0.2 s of 1.5 s). Never held across a request.
CPU_TURN = threading.Lock()

# a kind's own settings class; covariant, so that every kind is a SourceKind[KindSettings] in KINDS
SettingsT = TypeVar("SettingsT", bound=KindSettings, covariant=True)

Progress = Callable[[str, int, RunStats], None]  # (source name, page number, stats so far)


class Classifies(Protocol):
    """What classifies stored documents (tracker.events.Classifier)."""

    def classify_many(self, store: Store, doc_ids: Iterable[int]) -> list[PatternTimeout]:
        """Classify these documents; the timeouts of those left unclassified."""
        ...


@dataclass
class Item:
    """One entry of a list page or feed: where it leads and, for feeds and APIs, the document itself."""

    url: str
    title: str = ""
    published: date | None = None
    document: Document | None = None
    keys: list[str] = field(default_factory=list)
    follow: bool = False  # the document needs its detail page (feeds without a body)
    response: Response | None = None  # the detail page, once fetched
    error: str = ""  # why this entry cannot be read (an API result of the wrong shape): an item error


@dataclass
class Page:
    """One parsed list page: its items and the URL of the next (older) page, if any."""

    items: list[Item]
    next_url: str | None = None


class SourceKind(Generic[SettingsT]):
    """A kind of source. Subclasses set `kind` and register themselves; their docstring is the
    help text `tracker sources --kinds` prints. A kind with settings of its own names their frozen
    dataclass twice: as `Settings` (what config parsing builds from the source's table) and as the
    type argument (what `self.settings` is to the type checker), e.g.
    `class HtmlListSource(ListSource[HtmlListSettings])` with `Settings = HtmlListSettings`."""

    kind: ClassVar[str] = ""
    Settings: ClassVar[type[KindSettings]] = KindSettings
    language: ClassVar[str] = "en"
    # a list page that yields no items is a broken layout even on the first run
    empty_list_is_failure: ClassVar[bool] = False

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            KINDS[cls.kind] = cls

    def __init__(self, config: SourceConfig, http: HttpClient | None, store: Store):
        self.config = config
        self.settings: SettingsT = self.settings_of(config)
        self.http = http
        self.store = store
        self.name = config.name
        self.stop: threading.Event | None = None  # set by the runner to stop between documents
        self.to_classify: list[int] = []  # documents to classify once the storing transaction ends
        self.marked = 0  # how many of them are marked unclassified in the database
        self.notes: list[str] = []  # for the run's notes: worth knowing, not a failure
        self.listed = 0  # items found on the first list page (mode "check")
        self.check_items = 3  # how many of them mode "check" follows
        # called with (store, document id) inside the saving transaction: the classifier
        self.on_saved: Classifies | None = None
        self.deferring = False  # while True, `save` leaves classification to the end of the page

    def check_stop(self) -> None:
        """Raise Interrupted when the run was asked to stop."""
        if self.stop is not None and self.stop.is_set():
            raise Interrupted(f"{self.name}: stopped")

    @classmethod
    def settings_of(cls, config: SourceConfig) -> SettingsT:
        """A source's settings as this kind's own; TypeError when they were built for another kind."""
        if not isinstance(config.settings, cls.Settings):
            raise TypeError(
                f"source {config.name!r}: settings of kind {cls.kind!r} ({cls.Settings.__name__}) expected,"
                f" got {type(config.settings).__name__}"
            )
        # the isinstance check above is what the type checker cannot see: Settings is SettingsT
        return cast(SettingsT, config.settings)

    @classmethod
    def validate(cls, config: SourceConfig, file: str) -> None:
        """Check settings that depend on each other; raise ConfigError naming the key."""

    @classmethod
    def help(cls) -> str:
        """First paragraph of the docstring."""
        return (cls.__doc__ or "").strip().split("\n\n")[0]

    # --- helpers for subclasses ----------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        conditional: bool = False,
        ok_statuses: tuple[int, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> Response:
        """GET within this source's hosts, with its timeout and User-Agent; conditional on stored
        validators."""
        assert self.http is not None, "this source was opened for parsing files only"
        entry = self.store.cache_entry(url) if conditional else None
        sent = {**self.request_headers(url), **(headers or {})}
        if self.config.user_agent:
            sent["User-Agent"] = self.config.user_agent.replace("{version}", __version__)
        return self.http.get(
            url,
            allowed_origins=self.config.origins,
            etag=entry.etag if entry else None,
            last_modified=entry.last_modified if entry else None,
            timeout=self.config.timeout,
            ok_statuses=ok_statuses,
            headers=sent,
        )

    def request_headers(self, url: str) -> dict[str, str]:
        """Headers this kind sends with a request for `url` (none by default)."""
        return {}

    def unchanged_body(self, url: str, resp: Response) -> bool:
        """True when a server without validators sent exactly the body we processed last time."""
        entry = self.store.cache_entry(url)
        return entry is not None and entry.content_hash == sha256(resp.content)

    def on_host(self, url: str) -> bool:
        """Links are followed only on the source's own hosts."""
        return host_of(url) in self.config.hosts

    def lang(self, text: str) -> str:
        """The configured language, else the kind's, else a guess from the text."""
        return self.config.language or self.language or detect_language(text)

    # --- what subclasses provide ---------------------------------------------------------------

    def run(self, stats: RunStats, *, mode: str, until: date | None, progress: Progress | None) -> None:
        """Fetch everything new into the store, counting into `stats`; raise SourceError to fail."""
        raise NotImplementedError

    def check_notes(self, documents: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """After a run in mode "check": ('error' | 'warning', message) about what this kind found
        (the stored rows of the documents read)."""
        return []

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        """Documents held in a local file (an archived page, a saved feed), for `tracker ingest`."""
        raise InputError(f"sources of kind {self.kind!r} cannot ingest files")

    def after_store(self, doc: Document, doc_id: int, outcome: str) -> None:
        """Hook run after each document was stored, in the same transaction (the list kind keeps
        its list version here)."""

    def save(self, doc: Document) -> tuple[str, int]:
        """Store a document and its kind's extras in one transaction, then classify it in another
        (a slow rule holds no lock; the document is marked unclassified until its events are
        stored, so a crash in between is caught up by the next fetch)."""
        doc.source_kind = self.kind
        with self.store.write():
            outcome, doc_id = self.store.save_document(doc)
            # an unchanged page may still bring the date of issue its document lacks
            dated = outcome == "unchanged" and self.store.fill_published(doc_id, doc.published)
            self.after_store(doc, doc_id, outcome)
            if self.on_saved is not None and (outcome != "unchanged" or dated):
                self.to_classify.append(doc_id)
            for pending in self.to_classify[self.marked :]:  # after_store may have added some
                self.store.mark_unclassified(pending)
        self.marked = len(self.to_classify)  # marked, and committed (or in the page's transaction)
        if not self.deferring:
            self.classify_pending()
        return outcome, doc_id

    def classify_pending(self) -> None:
        """Classify the documents this kind stored (or asked for again); a rule that runs out of
        time leaves its document unclassified, with a note naming the rule."""
        todo, self.to_classify, self.marked = self.to_classify, [], 0
        if self.on_saved is None or not todo:
            return
        for exc in self.on_saved.classify_many(self.store, todo):
            log.warning("%s: %s", self.name, exc)
            self.notes.append(f"stored unclassified: {exc}")


class ListSource(SourceKind[SettingsT]):
    """A source read as pages of items (a list page, a feed, an API), newest first.

    `fetch` reads the first page with a conditional GET and goes on to older pages only while every
    item on a page was new (up to `max_pages`); `backfill` walks on to the end, or to `until`. A walk
    ends at a next-page link to a page already read in the run (or to a copy of one)."""

    # True for kinds whose `fetch_document` makes no request for an item that carries its
    # document and need not be followed (a feed entry): such a page is stored in one transaction
    entries_hold_documents: ClassVar[bool] = False

    def __init__(self, config: SourceConfig, http: HttpClient | None, store: Store):
        super().__init__(config, http, store)
        self.warnings: dict[str, list[str]] = {}  # what was passed over in this run -> examples
        self.pages_read: set[str] = set()  # list pages read in this run, without fragment
        self.mode = "fetch"  # of the run under way: "fetch", "backfill" or "check"

    def warn(self, what: str, example: str) -> None:
        """Note something passed over that is no failure (an item rejected, a date refused); the
        run's notes count each `what` with a few examples."""
        log.info("%s: %s: %s", self.name, what, example)
        examples = self.warnings.setdefault(what, [])
        if example not in examples:
            examples.append(example)

    def warning_notes(self) -> list[str]:
        """The warnings of this run as run notes, one per kind of problem, and forget them."""
        notes = []
        for what, examples in self.warnings.items():
            shown = ", ".join(examples[:3]) + (", …" if len(examples) > 3 else "")
            notes.append(f"{what} ({len(examples)}): {shown}")
        self.warnings = {}
        return notes

    def item_url_ok(self, url: str) -> bool:
        """True when an item's URL may be stored and followed: an http(s) address (this kind's
        pseudo-URLs too, in kinds that have them)."""
        return web_url(url) == url

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        """Items of one page."""
        raise NotImplementedError

    def fetch_document(self, item: Item) -> Document | None:
        """The document an item leads to; None when the item cannot be followed (off-host)."""
        return item.document

    def next_page_url(self, page: Page, url: str, page_no: int, mode: str) -> str | None:
        """The URL of the page after `url` (default: what the page itself links to)."""
        return page.next_url

    def run(self, stats: RunStats, *, mode: str, until: date | None, progress: Progress | None) -> None:
        state = self.store.source_state(self.name)
        # after a first run, a crash or a failure, known items on page 1 do not mean "caught up"
        self.catching_up = not state or not state.last_success or state.incomplete
        self.pages_read = set()
        self.mode = mode
        try:
            with refused_dates() as refused:
                for start in self.config.urls:
                    self._run_from(start, stats, mode=mode, until=until, progress=progress)
        finally:
            for raw in refused:
                self.warn(REFUSED_DATE, repr(raw[:80]))
            stats.notes += self.warning_notes()
        if stats.item_errors:
            stats.status = "failed"

    def _run_from(
        self,
        start: str,
        stats: RunStats,
        *,
        mode: str,
        until: date | None,
        progress: Progress | None,
        first: Response | None = None,
    ) -> None:
        """Walk the pages from `start` (whose response is `first` when the caller already has it)."""
        url: str | None = start
        page_no = 0
        bodies: set[str] = set()  # of the pages of this walk: a site that ignores ?page=N repeats one
        while url:
            page_no += 1
            # an unchanged first page means "nothing new", unless an earlier run stopped on a later page
            conditional = page_no == 1 and mode == "fetch" and not self.catching_up
            if page_no == 1 and first is not None:
                resp = first
            else:
                resp = self.get(url, conditional=conditional, ok_statuses=(404,) if page_no > 1 else ())
            stats.http_status = stats.http_status or resp.status
            if resp.not_modified or (conditional and self.unchanged_body(url, resp)):
                stats.not_modified += 1
                return
            if resp.status == 404:  # a page past the end (WordPress ?paged=N)
                return
            self.pages_read.add(_page_key(url))
            body = sha256(resp.content)
            if body in bodies:
                self.warn(PAGE_REPEATED, repr(url))
                return
            bodies.add(body)
            with CPU_TURN, refused_dates() as refused:
                page = self.parse_page(resp, url, page_no)
            for raw in refused:
                self.warn(REFUSED_DATE, f"{raw[:80]!r} on {url}")
            stats.pages += 1
            if mode == "check":  # `tracker check`: the first page, and only a few of its items
                self.listed += len(page.items)
                page.items = page.items[: max(0, self.check_items - stats.items_seen)]
            elif not page.items and page_no == 1:
                self._check_empty(url)
            all_new, reached_until = self._store_items(page, stats, mode=mode, until=until)
            if progress:
                progress(self.name, page_no, stats)
            if page_no == 1 and not stats.item_errors:
                self.store.save_cache_entry(url, resp.etag, resp.last_modified, resp.content)
            nxt = self._next_url(page, url, page_no, mode)
            if reached_until or mode == "check":
                return
            if mode == "fetch" and (
                (not all_new and not self.catching_up) or page_no >= self.config.max_pages
            ):
                return
            url = nxt

    def _next_url(self, page: Page, url: str, page_no: int, mode: str) -> str | None:
        """The page after `url`, unless it is off the source's hosts, not an http(s) address or a
        page read before in this run (each noted)."""
        nxt = self.next_page_url(page, url, page_no, mode) if page.items else None
        if nxt and (web_url(nxt) != nxt or not self.on_host(nxt)):
            self.warn(NEXT_REFUSED, repr(nxt))
            return None
        if nxt and _page_key(nxt) in self.pages_read:
            self.warn(NEXT_READ_BEFORE, repr(nxt))
            return None
        return nxt

    def _check_empty(self, url: str) -> None:
        state = self.store.source_state(self.name)
        had_items = bool(state and state.max_items_seen)
        if had_items or self.empty_list_is_failure:
            why = "it had items before" if had_items else "its item selector matched nothing"
            raise LayoutChangedError(
                f"the list yields no items ({why}): its layout may have changed", url=url
            )

    def _store_items(
        self, page: Page, stats: RunStats, *, mode: str, until: date | None
    ) -> tuple[bool, bool]:
        """Store a page's items; their classification follows in one transaction for the page
        (the documents are marked unclassified until then, so a crash loses no classification)."""
        self.deferring = True
        # a page whose items all carry their documents is stored in one transaction (each item
        # in a savepoint of it, so one refused item loses only itself): one commit, not one per
        # item, and it is the thread's CPU_TURN until classified; a page that needs requests
        # commits item by item, holding no lock over the network
        whole = self._whole(page)
        with CPU_TURN if whole else nullcontext():
            try:
                with self.store.write() if whole else nullcontext():
                    return self._store_page(page, stats, mode=mode, until=until)
            finally:
                self.deferring = False
                if not (self.stop is not None and self.stop.is_set()):
                    self.classify_pending()

    def _whole(self, page: Page) -> bool:
        """True when storing `page` needs no request: every item carries its document."""
        return self.entries_hold_documents and all(
            i.document is not None and not i.follow for i in page.items
        )

    def _store_page(self, page: Page, stats: RunStats, *, mode: str, until: date | None) -> tuple[bool, bool]:
        all_new = True
        for item in page.items:
            self.check_stop()
            if until and item.published and item.published < until:
                return all_new, True
            stats.items_seen += 1
            if item.error:
                stats.item_errors.append(f"{item.url}: {item.error}")
                log.warning("%s: %s: %s", self.name, item.url, item.error)
                continue
            if not self.item_url_ok(item.url):
                self.warn(UNSAFE_LINK, repr(item.url[:200]))
                continue
            if not self.on_host(item.url) and item.document is None:
                stats.skipped_offhost += 1
                log.info("%s: link to another host not followed: %s", self.name, item.url)
                continue
            known = self.store.known(item.url, item.keys)
            if known:
                all_new = False
                # a backfill looks for what is missing; a fetch re-checks known pages (cheap 304s)
                if (item.document is None or item.follow) and (mode == "backfill" or not self.config.recheck):
                    continue
            try:
                with refused_dates() as refused:
                    doc = self.fetch_document(item)
            except SourceError as exc:
                stats.item_errors.append(f"{item.url}: {exc.message}")
                log.warning("%s: %s", self.name, exc)
                continue
            for raw in refused:
                self.warn(REFUSED_DATE, f"{raw[:80]!r} on {item.url}")
            if doc is None:
                stats.not_modified += 1
                continue
            try:
                outcome, doc_id = self.save(doc)
            except SourceError as exc:  # refused at storage (Document.sanitise): this item only
                stats.item_errors.append(f"{item.url}: {exc.message}")
                log.warning("%s: %s", self.name, exc)
                continue
            if item.response is not None:
                r = item.response
                self.store.save_cache_entry(item.url, r.etag, r.last_modified, r.content)
            if outcome == "new":
                stats.new_documents += 1
            elif outcome == "updated":
                stats.updated_documents += 1
        return all_new, False

    def fetch_detail(self, item: Item, parse: Callable[[Response], Document]) -> Document | None:
        """GET an item's page (conditionally when it is known) and parse it; None when unchanged."""
        if not self.on_host(item.url):
            raise FetchError("link to another host not followed", url=item.url)
        known = self.store.url_known(item.url)
        resp = self.get(item.url, conditional=known)
        if resp.not_modified or (known and self.unchanged_body(item.url, resp)):
            return None
        item.response = resp  # its validators are saved once the document is stored
        return parse(resp)


# the run notes of what a list walk passes over (see ListSource.warn)
REFUSED_DATE = (
    "implausible date(s) of issue ignored (before 1900 or more than a year ahead; the next date "
    "found was used)"
)
UNSAFE_LINK = (
    "item(s) skipped: the link is not an http(s) address (javascript:, data:, or a control "
    "character or white space in it)"
)
NEXT_REFUSED = "next-page link not followed (another host, or not an http(s) address)"
NEXT_READ_BEFORE = "next-page link to a page already read in this run: the walk ended there"
PAGE_REPEATED = "a later page repeats one read before (the site ignores the page asked for): the walk ended"


def _page_key(url: str) -> str:
    """A page's URL without its fragment: '#top' is the same page."""
    return urldefrag(url)[0]
