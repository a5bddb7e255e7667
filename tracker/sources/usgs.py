"""A page that states a list of critical minerals (the USGS list notice); each version is kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bs4 import BeautifulSoup

from tracker.errors import ParseError
from tracker.models import Document, ListVersion, RunStats, sha256
from tracker.sources.base import Progress, SourceKind
from tracker.textutil import collapse, decode_bytes, element_text, find_date, soup

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
    r"(?:includes?|comprises?|consists? of|are)\s+the\s+following\s+(?P<count>\d+|[a-z]+(?:[- ][a-z]+)?)\s+"
    r"(?P<noun>[^:]{0,80}?)\s*:\s*(?P<items>.+?)(?:\.\s|\.$)",
    re.I | re.S,
)
_CITATION = re.compile(r"\b(\d{2,3})\s+FR\s+(\d{1,6})\b")
_FR_DOC = re.compile(r"\bFR\s+Doc\.?\s+(\d{4}-\d{4,6})\b")
_PUBLISHED = re.compile(r"published\s+(?:on\s+)?([A-Z][a-z]+\.?\s+\d{1,2},\s+\d{4}|\d{4}-\d{2}-\d{2})", re.I)


@dataclass(frozen=True)
class ListSettings:
    """Where the list sits on the page."""

    body_selector: str = "main, article, body"
    title_selector: str = "h1"


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


class UsgsListSource(SourceKind):
    """A page that states a list of critical minerals, e.g. the USGS list notice. Each version of
    the list is stored (`list_versions`) so that additions and removals can be diffed; a list whose
    stated count ('the following 50 minerals') differs from what was extracted is a failure."""

    kind = "usgs-list"
    Settings = ListSettings
    language = "en"

    def run(self, stats: RunStats, *, mode: str, until: date | None, progress: Progress | None) -> None:
        for url in self.config.urls:
            resp = self.get(url, conditional=True)
            stats.http_status = stats.http_status or resp.status
            stats.pages += 1
            if resp.not_modified or self.unchanged_body(url, resp):
                stats.not_modified += 1
                continue
            doc = self.parse(resp.content, url, resp.content_type)
            stats.items_seen += 1
            outcome, doc_id = self.save(doc)
            stats.new_documents += outcome == "new"
            stats.updated_documents += outcome == "updated"
            self.store.save_cache_entry(url, resp.etag, resp.last_modified, resp.content)
            if progress:
                progress(self.name, stats.pages, stats)

    def after_store(self, doc: Document, doc_id: int, outcome: str) -> None:
        lv = ListVersion(
            items=list(doc.meta["list"]), stated_count=doc.meta.get("stated_count"), published=doc.published
        )
        self.store.save_list_version(self.name, doc.url, doc_id, lv)

    def parse(self, content: bytes, url: str, content_type: str | None = None) -> Document:
        """The page as a Document; the list it states is in `meta['list']`."""
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
        lv = extract_list(text, url)
        pm = _PUBLISHED.search(text)
        lv.published = find_date(pm.group(1)) if pm else find_date(text)
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
            published=lv.published,
            language=self.lang(text),
            doc_number=number,
            keys=keys,
            kind="list",
            meta={"list": lv.items, "stated_count": lv.stated_count},
        )

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        return [self.parse(content, url, content_type)]
