"""RSS/Atom feeds (feedparser over bytes we fetched ourselves, plain RSS 2.0 read as feedparser
reads it without it), generic and WordPress."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from tracker.errors import ConfigError, ParseError
from tracker.http import Response
from tracker.models import Document, guid_key, sha256
from tracker.settings import KindSettings, SourceConfig, known_timezone
from tracker.sources.base import UNSAFE_LINK, Item, ListSource, Page
from tracker.sources.rss_plain import plain_rss_entries
from tracker.textutil import (
    collapse,
    decode_bytes,
    element_text,
    html_fragment_text,
    is_tag,
    issue_date,
    parse_feed_date,
    presidential_key,
    signing_date,
    soup,
    web_url,
)

if TYPE_CHECKING:
    pass

_FR_LINK = re.compile(r"federalregister\.gov/(?:documents|d)/(?:\d{4}/\d{2}/\d{2}/)?(\d{4}-\d{4,6})\b")
_WP_FOOTER = re.compile(r"\n?The post .{1,400}? appeared first on .{1,200}?\.?\s*$", re.S)


@dataclass(frozen=True)
class FeedSettings(KindSettings):
    """What to do with items whose feed entry carries no body."""

    fetch_articles: bool = True  # follow an item's link (same host only) when the feed has no body
    body_selector: str = "article, main, body"
    page_param: str = ""  # query parameter for older pages in `backfill` (e.g. 'paged'); empty: none
    drop_selector: str = ""  # elements of a body that are not its text (navigation, menus)


@dataclass(frozen=True)
class RssSettings(FeedSettings):
    """A feed's settings, and `authority`: whose items they are (default: the source's name). A
    guid that is not an absolute URL ('123') identifies an item only within its authority: two
    feeds' item '123' are two documents unless both sources name the same `authority`. With
    `timezone`, an item's timestamp is read as a day in that zone (a feed that writes UTC dates a
    Tokyo release of 08:00 on the day before); without it, the day as the feed writes it."""

    authority: str = ""
    timezone: str = ""  # the publisher's zone, e.g. "Asia/Tokyo": items are dated by their day there


FeedSettingsT = TypeVar("FeedSettingsT", bound=FeedSettings, covariant=True)


class FeedSource(ListSource[FeedSettingsT]):
    """What the feed kinds share: entries read as feedparser reads them, each a document keyed by its
    guid/id, its body from content:encoded, else the description, else (optionally) the linked
    page. No kind of its own: `rss` and `wordpress-rss` are built on it."""

    language = ""
    entries_hold_documents = True  # an entry is fetched only when it must be followed

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        entries = plain_rss_entries(resp.content, resp.content_type)
        if entries is None:
            entries = _feedparser_entries(resp, url)
        items = [self._item(e, url, resp.content) for e in entries]
        return Page(items=[i for i in items if i is not None])

    def _item(self, entry: Any, feed_url: str, raw: bytes) -> Item | None:
        raw_link = entry.get("link") or ""
        guid = entry.get("id") or raw_link
        if entry.get("guidislink") and web_url(raw_link) is None:
            raw_link = ""  # a bare guid feedparser took for a link (RSS's isPermaLink default)
        if not raw_link and not guid:
            return None
        link = web_url(raw_link) if raw_link else None
        if raw_link and link is None:
            self.warn(UNSAFE_LINK, repr(raw_link[:200]))
            return None
        # an entry without a link is at its guid when that is a web address, else in the feed
        url = link or web_url(guid) or f"{feed_url.split('#')[0]}#{quote(guid, safe='')}"
        link = link or ""
        title = entry.get("title", "")
        if (entry.get("title_detail") or {}).get("type") in _HTML_TYPES:  # Atom type="html"/"xhtml"
            title = html_fragment_text(title)  # its text: feedparser leaves the markup (no sanitising)
        title = collapse(title)
        body_html = ""
        if entry.get("content"):
            body_html = entry["content"][0].get("value", "")
        elif entry.get("summary"):
            body_html = entry["summary"]
        text = self.body_text(body_html, title)
        published = parse_feed_date(entry.get("published") or entry.get("updated"))
        # WordPress double-escapes categories: <![CDATA[Briefings &amp; Statements]]>
        tags = [html.unescape(t.get("term")) for t in entry.get("tags", []) if t.get("term")]
        meta: dict[str, Any] = {"guid": guid, "categories": tags}
        if entry.get("published"):
            meta["pub_date"] = entry["published"]
        scope = self.number_scope()
        if scope is not None:
            meta["number_scope"] = scope
        keys = [guid_key(guid, scope)]
        if fr := _FR_LINK.search(link):  # a Federal Register feed: same key as the API's document
            keys.insert(0, f"FR {fr.group(1)}")
        doc = Document(
            source=self.name,
            url=url,
            title=title,
            text=text,
            raw_hash=sha256(repr((title, body_html, published))),
            published=published,
            language=self.lang(title + "\n" + text),
            keys=keys,
            kind="feed-item",
            meta=meta,
            number_scope=scope,
        )
        self.finish_item(doc, entry)
        follow = not text and self.settings.fetch_articles and bool(link)
        return Item(url=url, title=title, published=published, keys=keys, document=doc, follow=follow)

    def number_scope(self) -> str | None:
        """Whose items a guid that is not a URL ('123') identifies; None for a kind whose guids are
        URLs, and so global."""
        return None

    def body_text(self, body_html: str, title: str) -> str:
        """The text of an entry's body HTML, without `drop_selector` elements and boilerplate."""
        if not body_html:
            return ""
        if not self.settings.drop_selector:
            return self.clean_body(html_fragment_text(body_html), title)
        node = soup(f"<div>{body_html}</div>").find("div")
        if not is_tag(node):
            return ""
        for junk in node.select(self.settings.drop_selector):
            junk.decompose()
        return self.clean_body(element_text(node), title)

    def clean_body(self, text: str, title: str) -> str:
        """Feed body text with publisher boilerplate removed."""
        return text

    def finish_item(self, doc: Document, entry: Any) -> None:
        """Last touches to an entry's document (a kind's own keys and dates)."""

    def fetch_document(self, item: Item) -> Document | None:
        shell = item.document
        assert shell is not None
        if not item.follow or not self.on_host(item.url):
            return shell  # the entry alone (a page on another host is never followed)

        def parse(resp: Response) -> Document:
            page = soup(decode_bytes(resp.content, resp.content_type))
            node = page.select_one(self.settings.body_selector)
            text = self.clean_body(element_text(node), shell.title)
            shell.text = text
            shell.raw_hash = sha256(resp.content)
            shell.language = self.lang(shell.title + "\n" + text)
            return shell

        return self.fetch_detail(item, parse)

    def next_page_url(self, page: Page, url: str, page_no: int, mode: str) -> str | None:
        param = self.settings.page_param
        if not param or mode != "backfill":
            return None
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
        query.append((param, str(page_no + 1)))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        page = self.parse_page(Response(url, 200, content, content_type), url, 1)
        return [i.document for i in page.items if i.document is not None]


class RssSource(FeedSource[RssSettings]):
    """Any RSS 2.0 or Atom feed. Each entry is a document keyed by its guid/id (a guid that is not
    a URL only within the source's `authority`, default: its name); the body comes from
    content:encoded, else the description, else (optionally) the linked page."""

    kind = "rss"
    Settings = RssSettings
    language = ""

    @classmethod
    def validate(cls, config: SourceConfig, file: str) -> None:
        _check_timezone(cls.settings_of(config).timezone, config, file)

    def number_scope(self) -> str | None:
        """A generic feed's '123' is only its own, or its `authority`'s."""
        return self.settings.authority.strip() or self.name

    def finish_item(self, doc: Document, entry: Any) -> None:
        local = _local_date(entry.get("published") or entry.get("updated"), self.settings.timezone)
        doc.published = local or doc.published


@dataclass(frozen=True)
class WordPressSettings(FeedSettings):
    """WordPress defaults: article body in .entry-content, older pages at ?paged=N, the site's
    topper and navigation blocks dropped from the text; `timezone` is the site's own zone, in
    which an item's date is read (pubDate is in UTC: an order posted late in the evening in
    Washington carries the next day's date)."""

    body_selector: str = ".entry-content, .wp-block-post-content, article, main"
    page_param: str = "paged"
    drop_selector: str = '[class*="-topper"], nav, form, select, .screen-reader-text'
    timezone: str = ""  # e.g. "America/New_York"; empty: the offset the feed gives
    presidential_category: str = "Presidential Actions"  # items keyed by title and signing date


class WordPressRssSource(FeedSource[WordPressSettings]):
    """A WordPress RSS 2.0 feed such as the White House's (presidential actions, fact sheets,
    briefings and statements): guid is the stable key, the body is content:encoded without the
    topper and navigation blocks and the 'The post … appeared first on …' footer; a presidential
    action is dated by the signing date under its text and matches its Federal Register document
    by title and that date; `backfill` walks ?paged=N until 404."""

    kind = "wordpress-rss"
    Settings = WordPressSettings
    language = "en"

    @classmethod
    def validate(cls, config: SourceConfig, file: str) -> None:
        _check_timezone(cls.settings_of(config).timezone, config, file)

    def clean_body(self, text: str, title: str) -> str:
        text = _WP_FOOTER.sub("", text).strip()
        lines = text.split("\n")
        if lines and collapse(lines[0]).lower() == collapse(title).lower():
            lines = lines[1:]
        return "\n".join(lines).strip()

    def finish_item(self, doc: Document, entry: Any) -> None:
        local = _local_date(entry.get("published") or entry.get("updated"), self.settings.timezone)
        doc.published = local or doc.published
        category = self.settings.presidential_category
        if not category or category not in doc.meta.get("categories", []):
            return
        signed = signing_date(doc.text)
        if signed is not None:
            doc.meta["signing_date"] = signed.isoformat()
            doc.published = signed
        if doc.published is not None:
            doc.keys.append(presidential_key(doc.title, doc.published))


_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _feedparser_entries(resp: Response, url: str) -> list[Any]:
    """The entries of a feed in any format feedparser reads; ParseError for none in what is no feed."""
    import feedparser  # deferred: a re-poll answered 304 parses nothing, and most feeds are plain

    # no sanitising and no link rewriting by feedparser: bodies become plain text here
    # (html_fragment_text drops scripts, styles and markup) and are always escaped on output,
    # so both were work thrown away (a third of the parse)
    parsed = feedparser.parse(
        resp.content,
        response_headers={"content-type": resp.content_type or ""},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    if not parsed.entries:
        if parsed.bozo:
            reason = getattr(parsed, "bozo_exception", None) or "not a feed"
            raise ParseError(f"not a readable feed: {reason}", url=url)
        if not parsed.get("version"):
            raise ParseError("not an RSS or Atom feed", url=url)
    entries: list[Any] = parsed.entries
    return entries


def _check_timezone(tz: str, config: SourceConfig, file: str) -> None:
    if tz and not known_timezone(tz):
        raise ConfigError(f"unknown time zone {tz!r}", file=file, key=f"sources.{config.name}.timezone")


def _local_date(raw: str | None, tz: str) -> date | None:
    """The date of a feed timestamp (RFC 822, or ISO 8601 as Atom writes it) in the zone `tz`; None
    when either is missing or unreadable, or the timestamp gives no offset to convert from."""
    if not raw or not tz:
        return None
    try:
        from email.utils import parsedate_to_datetime  # deferred: a re-poll reads no dates

        stamp = parsedate_to_datetime(raw)
        if stamp.tzinfo is None:  # RFC 822 "-0000": UTC, the sender's zone unknown
            stamp = stamp.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            stamp = datetime.fromisoformat(raw.strip())
        except ValueError:
            return None
        if stamp.tzinfo is None:
            return None
    try:
        return issue_date(stamp.astimezone(ZoneInfo(tz)).date(), raw)
    except (ValueError, OverflowError):
        return None
