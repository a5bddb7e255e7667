"""RSS/Atom feeds (feedparser over bytes we fetched ourselves), generic and WordPress."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

from tracker.errors import ParseError
from tracker.http import Response
from tracker.models import Document, sha256
from tracker.sources.base import Item, ListSource, Page
from tracker.textutil import collapse, decode_bytes, element_text, html_fragment_text, parse_feed_date, soup

_FR_LINK = re.compile(r"federalregister\.gov/(?:documents|d)/(?:\d{4}/\d{2}/\d{2}/)?(\d{4}-\d{4,6})\b")
_WP_FOOTER = re.compile(r"\n?The post .{1,400}? appeared first on .{1,200}?\.?\s*$", re.S)


@dataclass(frozen=True)
class FeedSettings:
    """What to do with items whose feed entry carries no body."""

    fetch_articles: bool = True  # follow an item's link (same host only) when the feed has no body
    body_selector: str = "article, main, body"
    page_param: str = ""  # query parameter for older pages in `backfill` (e.g. 'paged'); empty: none


class RssSource(ListSource):
    """Any RSS 2.0 or Atom feed. Each entry is a document keyed by its guid/id; the body comes
    from content:encoded, else the description, else (optionally) the linked page."""

    kind = "rss"
    Settings = FeedSettings
    language = ""

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        parsed = feedparser.parse(resp.content, response_headers={"content-type": resp.content_type or ""})
        if not parsed.entries:
            if parsed.bozo:
                reason = getattr(parsed, "bozo_exception", None) or "not a feed"
                raise ParseError(f"not a readable feed: {reason}", url=url)
            if not parsed.get("version"):
                raise ParseError("not an RSS or Atom feed", url=url)
        items = [self._item(e, url, resp.content) for e in parsed.entries]
        return Page(items=[i for i in items if i is not None])

    def _item(self, entry: Any, feed_url: str, raw: bytes) -> Item | None:
        link = entry.get("link") or ""
        guid = entry.get("id") or link
        if not link and not guid:
            return None
        title = collapse(entry.get("title", ""))
        body_html = ""
        if entry.get("content"):
            body_html = entry["content"][0].get("value", "")
        elif entry.get("summary"):
            body_html = entry["summary"]
        text = self.clean_body(html_fragment_text(body_html) if body_html else "", title)
        published = parse_feed_date(entry.get("published") or entry.get("updated"))
        # WordPress double-escapes categories: <![CDATA[Briefings &amp; Statements]]>
        tags = [html.unescape(t.get("term")) for t in entry.get("tags", []) if t.get("term")]
        meta: dict[str, Any] = {"guid": guid, "categories": tags}
        if entry.get("published"):
            meta["pub_date"] = entry["published"]
        keys = [f"guid:{guid}"]
        if fr := _FR_LINK.search(link):  # a Federal Register feed: same key as the API's document
            keys.insert(0, f"FR {fr.group(1)}")
        doc = Document(
            source=self.name,
            url=link or guid,
            title=title,
            text=text,
            raw_hash=sha256(repr((title, body_html, published))),
            published=published,
            language=self.lang(title + "\n" + text),
            keys=keys,
            kind="feed-item",
            meta=meta,
        )
        follow = not text and self.settings.fetch_articles and bool(link)
        return Item(
            url=link or guid, title=title, published=published, keys=keys, document=doc, follow=follow
        )

    def clean_body(self, text: str, title: str) -> str:
        """Feed body text with publisher boilerplate removed."""
        return text

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


@dataclass(frozen=True)
class WordPressSettings(FeedSettings):
    """WordPress defaults: article body in .entry-content, older pages at ?paged=N."""

    body_selector: str = ".entry-content, .wp-block-post-content, article, main"
    page_param: str = "paged"


class WordPressRssSource(RssSource):
    """A WordPress RSS 2.0 feed such as the White House's (presidential actions, fact sheets,
    briefings and statements): guid is the stable key, the body is content:encoded without the
    topper and the 'The post … appeared first on …' footer; `backfill` walks ?paged=N until 404."""

    kind = "wordpress-rss"
    Settings = WordPressSettings
    language = "en"

    def clean_body(self, text: str, title: str) -> str:
        text = _WP_FOOTER.sub("", text).strip()
        lines = text.split("\n")
        if lines and collapse(lines[0]).lower() == collapse(title).lower():
            lines = lines[1:]
        return "\n".join(lines).strip()
