"""A generic HTML list page read with CSS selectors from config: a source without Python."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from urllib.parse import urldefrag

from tracker import patterns
from tracker.errors import ConfigError, LayoutChangedError, ParseError, PatternTimeout
from tracker.http import Response
from tracker.models import Document, sha256
from tracker.patterns import Pattern
from tracker.settings import KindSettings, SourceConfig
from tracker.sources.base import Item, ListSource, Page
from tracker.textutil import collapse, decode_bytes, element_text, find_date, is_tag, soup, web_url

NOT_A_NOTICE = "html-list item(s) rejected: no link to this site's pages (navigation, a cookie banner?)"
UNDATED = "html-list item(s) rejected: no element where the `date` selector points"


@dataclass(frozen=True)
class HtmlListSettings(KindSettings):
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


class HtmlListSource(ListSource[HtmlListSettings]):
    """Any HTML list of announcements, described by CSS selectors in config (`item`, `title`,
    `link`, `date`, optional `next` and `body`); each item's link is followed (same host only)
    when `body` is set. A page where `item` matches nothing is a failure (layout changed). An
    element without a link to another page of the source's own hosts, or without the element `date`
    points to (when set), is no notice (navigation, a cookie banner): it is passed over with a note,
    and a page where every element is passed over is a failure too; an empty or unreadable date
    leaves a notice undated. A `number` identifies a notice within the source's `authority`
    (default: its name) and year of issue only; without a year in the number or a date of issue,
    the URL identifies it."""

    kind = "html-list"
    Settings = HtmlListSettings
    language = ""
    empty_list_is_failure = True

    @classmethod
    def validate(cls, config: SourceConfig, file: str) -> None:
        s = cls.settings_of(config)
        prefix = f"sources.{config.name}"
        if not s.item:
            raise ConfigError(
                "kind 'html-list' needs an 'item' CSS selector", file=file, key=f"{prefix}.item"
            )
        import soupsieve  # deferred: only a configured html-list source needs it

        for key in ("item", "title", "link", "date", "next", "body"):
            value = getattr(s, key)
            if value:
                try:
                    soupsieve.compile(value)
                except soupsieve.SelectorSyntaxError as exc:
                    raise ConfigError(
                        f"invalid CSS selector {value!r}: {str(exc).splitlines()[0]}",
                        file=file,
                        key=f"{prefix}.{key}",
                    ) from None
        if s.number:
            try:
                groups = Pattern(s.number).groups
            except patterns.error as exc:
                raise ConfigError(
                    f"invalid regular expression: {exc}", file=file, key=f"{prefix}.number"
                ) from None
            if groups < 1:
                raise ConfigError(
                    "the regular expression needs a (group) for the number", file=file, key=f"{prefix}.number"
                )
            if not patterns.probe(s.number):
                raise ConfigError(
                    "the regular expression backtracks catastrophically on short probes: avoid nested "
                    "repetition such as (a+)+ or (a|aa)+",
                    file=file,
                    key=f"{prefix}.number",
                )

    @functools.cached_property
    def number_pattern(self) -> Pattern:
        """The `number` setting, run with a time limit."""
        return Pattern(self.settings.number, where=f"sources.{self.name}.number")

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        s = self.settings
        page = soup(decode_bytes(resp.content, resp.content_type))
        items = []
        nodes = page.select(s.item)
        undated = 0
        for node in nodes:
            link_node = node.select_one(s.link) if s.link else node
            href = link_node.get("href") if is_tag(link_node) else None
            if s.title == s.link:  # both "a" by default: one search, not two
                title_node = link_node
            else:
                title_node = node.select_one(s.title) if s.title else node
            title = (
                collapse(str(title_node.get("title") or "") or title_node.get_text(" "))
                if is_tag(title_node)
                else ""
            )
            link = self._notice_link(str(href or ""), url)
            if link is None:
                self.warn(NOT_A_NOTICE, repr(title[:60] or str(href or "")[:60]))
                continue
            date_node = node.select_one(s.date) if s.date else node
            # no date element: not shaped like a notice (a menu entry). An empty or unreadable date
            # is a notice without one (its number then goes by the URL). `tracker check` keeps
            # both, to report "no dates" in words.
            if date_node is None and self.mode != "check":
                self.warn(UNDATED, repr(title[:60]))
                undated += 1
                continue
            published = find_date(date_node.get_text(" "), issue=True) if is_tag(date_node) else None
            item = Item(url=link, title=title, published=published)
            if not s.body:
                item.document = self._document(link, title, "", published, repr((title, published)).encode())
                item.keys = item.document.all_keys  # known by its scoped number, not a bare one
            items.append(item)
        if nodes and not items and page_no == 1:  # like an empty list (a later page may be past the end)
            reasons = [
                f"{len(nodes) - undated} without a link to another page of this site",
                f"{undated} without a date element ({s.date!r})",
            ]
            why = ", ".join(r for r in reasons if not r.startswith("0 "))
            raise LayoutChangedError(
                f"none of the {len(nodes)} elements the item selector matches is a notice ({why}): "
                "its layout may have changed",
                url=url,
            )
        nxt = None
        if s.next:
            a = page.select_one(s.next)
            if is_tag(a) and a.get("href"):
                nxt = web_url(str(a["href"]), url)
        return Page(items=items, next_url=nxt)

    def _notice_link(self, href: str, list_url: str) -> str | None:
        """The URL an item's link leads to, when it is a page of this source's own hosts other than
        the list page (not '#', not javascript:, not a page elsewhere)."""
        if not href.strip() or href.strip().startswith("#"):
            return None
        link = web_url(href, list_url)
        if link is None or not self.on_host(link) or urldefrag(link)[0] == urldefrag(list_url)[0]:
            return None
        return link

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
        return self._document(
            item.url, title, text, item.published or find_date(text, issue=True), resp.content
        )

    def _document(self, url: str, title: str, text: str, published: date | None, raw: bytes) -> Document:
        number = None
        if self.settings.number:
            try:
                m = self.number_pattern.search(title + "\n" + text)
            except PatternTimeout as exc:  # the notice is kept, without its number
                self.notes.append(f"no number read from {url}: {exc}")
                m = None
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
