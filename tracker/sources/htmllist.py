"""A generic HTML list page read with CSS selectors from config: a source without Python."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from bs4 import Tag
from soupsieve import SelectorSyntaxError

from tracker.errors import ConfigError, ParseError
from tracker.http import Response
from tracker.models import Document, sha256
from tracker.sources.base import Item, ListSource, Page
from tracker.textutil import collapse, decode_bytes, element_text, find_date, soup

if TYPE_CHECKING:
    from tracker.config import SourceConfig


@dataclass(frozen=True)
class HtmlListSettings:
    """CSS selectors: `item` (required) for each entry, `title`, `link` and `date` within it,
    `next` for the older-page link, `body` for the text of the linked page (empty: title only),
    `number` a regular expression whose first group is the document number, `authority` the body
    that issues the numbers (default: the source's name).

    A number identifies a notice only within its authority and year: two sources' "No. 9" are two
    documents unless both name the same `authority`; a number without a 4-digit year is taken with
    the year of the date of issue, and when that is unknown too the URL alone identifies it."""

    item: str = ""
    title: str = "a"
    link: str = "a"
    date: str = ""
    next: str = ""
    body: str = ""
    number: str = ""
    authority: str = ""


class HtmlListSource(ListSource):
    """Any HTML list of announcements, described by CSS selectors in config (`item`, `title`,
    `link`, `date`, optional `next` and `body`); each item's link is followed (same host only)
    when `body` is set. A page where `item` matches nothing is a failure (layout changed). A
    `number` identifies a notice within the source's `authority` (default: its name) and year of
    issue only; without a year in the number or a date of issue, the URL identifies it."""

    kind = "html-list"
    Settings = HtmlListSettings
    language = ""
    empty_list_is_failure = True

    @classmethod
    def validate(cls, config: SourceConfig, file: str) -> None:
        s: HtmlListSettings = config.settings
        prefix = f"sources.{config.name}"
        if not s.item:
            raise ConfigError(
                "kind 'html-list' needs an 'item' CSS selector", file=file, key=f"{prefix}.item"
            )
        import soupsieve

        for key in ("item", "title", "link", "date", "next", "body"):
            value = getattr(s, key)
            if value:
                try:
                    soupsieve.compile(value)
                except SelectorSyntaxError as exc:
                    raise ConfigError(
                        f"invalid CSS selector {value!r}: {str(exc).splitlines()[0]}",
                        file=file,
                        key=f"{prefix}.{key}",
                    ) from None
        if s.number:
            try:
                if re.compile(s.number).groups < 1:
                    raise ConfigError(
                        "the regular expression needs a (group) for the number",
                        file=file,
                        key=f"{prefix}.number",
                    )
            except re.error as exc:
                raise ConfigError(
                    f"invalid regular expression: {exc}", file=file, key=f"{prefix}.number"
                ) from None

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        s: HtmlListSettings = self.settings
        page = soup(decode_bytes(resp.content, resp.content_type))
        items = []
        for node in page.select(s.item):
            link_node = node.select_one(s.link) if s.link else node
            href = link_node.get("href") if isinstance(link_node, Tag) else None
            if not href:
                continue
            title_node = node.select_one(s.title) if s.title else node
            title = (
                collapse(str(title_node.get("title") or "") or title_node.get_text(" "))
                if isinstance(title_node, Tag)
                else ""
            )
            date_node = node.select_one(s.date) if s.date else node
            published = find_date(date_node.get_text(" ")) if isinstance(date_node, Tag) else None
            link = urljoin(url, str(href).strip())
            item = Item(url=link, title=title, published=published)
            if not s.body:
                item.document = self._document(link, title, "", published, repr((title, published)).encode())
                item.keys = item.document.all_keys  # known by its scoped number, not a bare one
            items.append(item)
        nxt = None
        if s.next:
            a = page.select_one(s.next)
            if isinstance(a, Tag) and a.get("href"):
                nxt = urljoin(url, str(a["href"]))
        return Page(items=items, next_url=nxt)

    def fetch_document(self, item: Item) -> Document | None:
        if item.document is not None:
            return item.document
        return self.fetch_detail(item, lambda r: self._detail(r, item))

    def _detail(self, resp: Response, item: Item) -> Document:
        page = soup(decode_bytes(resp.content, resp.content_type))
        node = page.select_one(self.settings.body)
        if node is None:
            raise ParseError(f"body selector {self.settings.body!r} matched nothing", url=item.url)
        text = element_text(node)
        title = item.title or (collapse(page.title.string) if page.title and page.title.string else item.url)
        return self._document(item.url, title, text, item.published or find_date(text), resp.content)

    def _document(self, url: str, title: str, text: str, published: date | None, raw: bytes) -> Document:
        number = None
        if self.settings.number:
            m = re.search(self.settings.number, title + "\n" + text)
            number = collapse(m.group(1)) if m else None
        scope = self.settings.authority.strip() or self.name
        return Document(
            source=self.name,
            url=url,
            title=title,
            text=text,
            raw_hash=sha256(raw),
            published=published,
            language=self.lang(title + "\n" + text),
            doc_number=number,
            meta={"number_scope": scope},  # events tell apart two scopes' notices of one number
            number_scope=scope,
        )

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        if not self.settings.body:
            raise ParseError("ingesting pages of an html-list source needs its 'body' selector", url=url)
        return [self._detail(Response(url, 200, content, content_type), Item(url=url))]
