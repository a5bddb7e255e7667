"""The USGS list of critical minerals: its Federal Register notices (or a page that states the
list); each final list is kept as a version, so that additions and removals can be diffed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tracker.errors import ConfigError, LayoutChangedError, ParseError, SourceError
from tracker.http import Response
from tracker.models import Document, ListVersion, RunStats, sha256
from tracker.settings import SourceConfig
from tracker.sources.base import Progress
from tracker.sources.federalregister import FederalRegisterSettings, FederalRegisterSource
from tracker.textutil import collapse, decode_bytes, element_text, find_date, soup

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

    from tracker.http import HttpClient
    from tracker.store import Store

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_LIST_SENTENCE = re.compile(
    r"(?:includes?|comprises?|consists? of|are)\s+the\s+following\s+(?P<count>\d{1,4}|[a-z]+(?:[- ][a-z]+)?)\s+"
    r"(?P<noun>[^:]{0,80}?)\s*:\s*(?P<items>.+?)(?:\.\s|\.$)",
    re.I | re.S,
)
_CITATION = re.compile(r"\b(\d{2,3})\s+FR\s+(\d{1,6})\b")
_FR_DOC = re.compile(r"\bFR\s+Doc\.?\s+(\d{4}-\d{4,6})\b")
_PUBLISHED = re.compile(r"published\s+(?:on\s+)?([A-Z][a-z]+\.?\s+\d{1,2},\s+\d{4}|\d{4}-\d{2}-\d{2})", re.I)


@dataclass(frozen=True)
class ListSettings(FederalRegisterSettings):
    """Where the list is. A Federal Register search URL (…/documents.json?conditions[agencies][]=
    geological-survey…) is read as the federalregister kind reads it, full texts included; each
    final list notice is a list version, a notice whose title matches `draft_pattern` (or that
    states no list) is stored without one. Any other URL is a page that states the list, found in
    `body_selector`."""

    body_selector: str = "main, article, body"
    title_selector: str = "h1"
    draft_pattern: str = r"\bdraft\b|\bproposed\b"


def _number(word: str) -> int | None:
    word = word.lower().strip()
    if word.isdigit():
        return int(word)
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    parts = re.split(r"[- ]", word)
    if parts[0] in _TENS:
        return _TENS[parts[0]] + (_NUMBER_WORDS.get(parts[1], 0) if len(parts) > 1 else 0)
    return None


def extract_list(text: str, url: str) -> ListVersion:
    """The minerals a list sentence names ('includes the following 50 minerals: a, b, … and z.'),
    checked against its stated count; ParseError when they disagree or no list is found."""
    m = _LIST_SENTENCE.search(text)
    if not m:
        raise ParseError("no list sentence ('includes the following N …: …') on the page", url=url)
    stated = _number(m.group("count"))
    raw = m.group("items").replace("\n", " ")
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+|;\s*", raw)
    items = [collapse(p).rstrip(".") for p in parts if collapse(p).rstrip(".")]
    if stated is not None and stated != len(items):
        raise ParseError(
            f"the list says {stated} {collapse(m.group('noun'))} but {len(items)} were extracted; "
            "not storing a partial list",
            url=url,
        )
    return ListVersion(items=items, stated_count=stated, published=None)


def is_api_url(url: str) -> bool:
    """True for a Federal Register documents API search."""
    path = urlsplit(url).path.rstrip("/")
    return path.endswith(("/documents.json", "/documents"))


class UsgsListSource(FederalRegisterSource[ListSettings]):
    """The USGS list of critical minerals, read from its Federal Register notices (a documents API
    search, with full texts) or from a page that states it. Each final list ('includes the
    following 60 minerals: …', the count checked) is kept as a version (`list_versions`) and
    diffed with the previous final list into additions and removals; drafts and notices without
    a list are stored as documents only."""

    kind = "usgs-list"
    Settings = ListSettings
    language = "en"

    @classmethod
    def validate(cls, config: SourceConfig, file: str) -> None:
        super().validate(config, file)
        try:
            re.compile(cls.settings_of(config).draft_pattern)
        except re.error as exc:
            raise ConfigError(
                f"invalid regular expression: {exc}", file=file, key=f"sources.{config.name}.draft_pattern"
            ) from None

    def __init__(self, config: SourceConfig, http: HttpClient | None, store: Store):
        super().__init__(config, http, store)
        self.unlisted: list[str] = []  # titles of list notices that state no list, this run

    def run(self, stats: RunStats, *, mode: str, until: date | None, progress: Progress | None) -> None:
        self.unlisted = []
        super().run(stats, mode=mode, until=until, progress=progress)
        if self.unlisted:
            stats.notes.append(
                "no list sentence ('includes the following N minerals: …') in "
                + "; ".join(repr(t) for t in self.unlisted[:3])
                + ": stored as documents, no list version"
            )

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
        if is_api_url(start):
            super()._run_from(start, stats, mode=mode, until=until, progress=progress, first=first)
        else:
            self._run_page(start, stats, progress=progress, mode=mode)

    def _run_page(self, url: str, stats: RunStats, *, progress: Progress | None, mode: str) -> None:
        resp = self.get(url, conditional=mode == "fetch")
        stats.http_status = stats.http_status or resp.status
        stats.pages += 1
        if mode == "check":
            self.listed += 1
        elif resp.not_modified or self.unchanged_body(url, resp):
            stats.not_modified += 1
            return
        doc = self.parse(resp.content, url, resp.content_type)
        if "list" not in doc.meta:
            if mode != "check" and self.store.list_versions_at(self.name, url):
                raise LayoutChangedError("the page stated a list before and states none now", url=url)
            stats.notes.append(
                f"{url} states no list ('includes the following N …: …'): stored as a document"
            )
        stats.items_seen += 1
        outcome, _ = self.save(doc)
        stats.new_documents += outcome == "new"
        stats.updated_documents += outcome == "updated"
        self.store.save_cache_entry(url, resp.etag, resp.last_modified, resp.content)
        if progress:
            progress(self.name, stats.pages, stats)

    def finish(self, doc: Document) -> Document:
        """A notice with its full text: its list, unless it is a draft or states none."""
        if re.search(self.settings.draft_pattern, doc.title, re.I):
            doc.meta["list_status"] = "draft: no list version"
            return doc
        if not doc.meta.get("full_text"):
            return doc  # the text is still to come
        try:
            lv = extract_list(doc.text, doc.url)
        except ParseError as exc:
            if "no list sentence" not in exc.message:
                raise  # a list that does not add up is never stored in part
            doc.meta["list_status"] = "no list sentence"
            if "list" in doc.title.lower():
                self.unlisted.append(doc.title)
            return doc
        doc.meta["list"] = lv.items
        doc.meta["stated_count"] = lv.stated_count
        doc.kind = "list"
        return doc

    def after_store(self, doc: Document, doc_id: int, outcome: str) -> None:
        super().after_store(doc, doc_id, outcome)
        if "list" not in doc.meta:
            return
        lv = ListVersion(
            items=list(doc.meta["list"]), stated_count=doc.meta.get("stated_count"), published=doc.published
        )
        if self.store.save_list_version(self.name, doc.url, doc_id, lv, kind=self.kind):
            # a list older than one already kept (a backfill, a search answered newest first): the
            # next newer list is now diffed with it instead of standing as the baseline
            later = self.store.next_list_document(self.name, doc_id)
            if later is not None and self.on_saved is not None:
                self.to_classify.append(later)

    def retry_texts(self, stats: RunStats) -> None:
        try:
            super().retry_texts(stats)
        except SourceError as exc:  # a list that does not add up: the run fails, the rest is kept
            stats.item_errors.append(f"{exc.url or self.name}: {exc.message}")

    def check_notes(self, documents: list[dict[str, Any]]) -> list[tuple[str, str]]:
        notes = super().check_notes(documents)
        # a final notice named as a list that states none: the wording changed, the list is lost
        missing = [
            d["title"]
            for d in documents
            if d["meta"].get("list_status") == "no list sentence" and "list" in d["title"].lower()
        ]
        if missing:
            notes.append(
                (
                    "error",
                    "list sentence missing: no list ('includes the following N minerals: …') in "
                    + "; ".join(repr(t) for t in missing[:3]),
                )
            )
        elif documents and not any("list" in d["meta"] for d in documents):
            notes.append(("warning", "none of the notices read states a final list"))
        return notes

    def parse(self, content: bytes, url: str, content_type: str | None = None) -> Document:
        """A page as a Document; the list it states, if any, is in `meta['list']`."""
        page: BeautifulSoup = soup(decode_bytes(content, content_type))
        body = page.select_one(self.settings.body_selector)
        if body is None:
            raise ParseError(f"no {self.settings.body_selector!r} on the page", url=url)
        title_node = page.select_one(self.settings.title_selector)
        title = (
            collapse(title_node.get_text(" "))
            if title_node
            else collapse(page.title.string if page.title and page.title.string else "")
        )
        text = element_text(body)
        meta: dict[str, Any] = {}
        published: date | None = None
        try:
            lv = extract_list(text, url)
            meta = {"list": lv.items, "stated_count": lv.stated_count}
        except ParseError as exc:
            if "no list sentence" not in exc.message:
                raise
            meta = {"list_status": "no list sentence"}
        pm = _PUBLISHED.search(text)
        published = (find_date(pm.group(1), issue=True) if pm else None) or find_date(text, issue=True)
        number = None
        keys = []
        if fr := _FR_DOC.search(text):
            number = f"FR {fr.group(1)}"
        if cit := _CITATION.search(text):
            citation = f"{cit.group(1)} FR {cit.group(2)}"
            keys.append(citation)
            number = number or citation
        return Document(
            source=self.name,
            url=url,
            title=title,
            text=text,
            raw_hash=sha256(content),
            published=published,
            language=self.lang(text),
            doc_number=number,
            keys=keys,
            kind="list" if "list" in meta else "notice",
            meta=meta,
        )

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        if content.lstrip()[:1] in (b"{", b"["):
            return super().parse_file(content, url, content_type)
        return [self.parse(content, url, content_type)]
