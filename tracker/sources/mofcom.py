"""MOFCOM (商务部) announcement lists and article pages."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from tracker.errors import InputError, ParseError
from tracker.http import Response
from tracker.models import Document, sha256
from tracker.sources.base import Item, ListSource, Page
from tracker.textutil import collapse, decode_bytes, element_text, find_date, mofcom_number, soup

_LIST_DATE = re.compile(r"(?:19|20)\d{2}[-/.年]\s*\d{1,2}[-/.月]\s*\d{1,2}")
_BOILERPLATE = ("本站转载、编译或摘编", "分享到", "【打印本页】", "【关闭窗口】", "扫一扫在手机打开当前页")
_HEADER_FIELD = re.compile(r"【(发布文号|发文日期|发布单位|成文日期|发布日期)】\s*(.+)")


@dataclass(frozen=True)
class MofcomSettings:
    """Selectors; the defaults fit both the Hanweb CMS and the legacy CMS pages."""

    item_selector: str = ""  # empty: every <li> that holds a link and a date
    next_selector: str = ""  # empty: the link whose text is 下一页
    title_selector: str = "h1.art-title, #artitle, h1"
    body_selector: str = "div.art-con, #zoom, div.artCon, div.article-content, div.TRS_Editor"


class MofcomSource(ListSource):
    """MOFCOM announcement list pages (UTF-8 or GB2312/GBK) with `下一页` pagination; each new
    announcement is followed to its article page for its 【发布文号】 number and 【发文日期】 date.
    Also reads the CMS's JSON list endpoint ({"data": {"html": ...}})."""

    kind = "mofcom"
    Settings = MofcomSettings
    language = "zh"
    empty_list_is_failure = True

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        html = decode_bytes(resp.content, resp.content_type)
        if html.lstrip().startswith("{"):
            html = _html_from_api(html, url)
        doc = soup(html)
        items: list[Item] = []
        seen: set[str] = set()
        for li in self._item_nodes(doc):
            a = li.find("a", href=True)
            if not isinstance(a, Tag):
                continue
            link = urljoin(url, str(a["href"]).strip())
            if link in seen:
                continue
            seen.add(link)
            title = collapse(str(a.get("title") or "") or a.get_text(" "))
            items.append(Item(url=link, title=title, published=find_date(li.get_text(" "))))
        return Page(items=items, next_url=self._next(doc, url))

    def _item_nodes(self, doc: BeautifulSoup) -> list[Tag]:
        if self.settings.item_selector:
            return list(doc.select(self.settings.item_selector))
        return [
            li for li in doc.find_all("li") if li.find("a", href=True) and _LIST_DATE.search(li.get_text(" "))
        ]

    def _next(self, doc: BeautifulSoup, url: str) -> str | None:
        if self.settings.next_selector:
            a = doc.select_one(self.settings.next_selector)
        else:
            a = next((x for x in doc.find_all("a", href=True) if "下一页" in x.get_text()), None)
        if isinstance(a, Tag) and a.get("href") and not str(a["href"]).startswith("javascript"):
            return urljoin(url, str(a["href"]))
        return None

    def fetch_document(self, item: Item) -> Document | None:
        return self.fetch_detail(
            item, lambda r: self.parse_article(r.content, item.url, r.content_type, item)
        )

    def parse_article(
        self, content: bytes, url: str, content_type: str | None = None, item: Item | None = None
    ) -> Document:
        """An article page as a Document; ParseError when it holds no article."""
        html = decode_bytes(content, content_type)
        page = soup(html)
        body = page.select_one(self.settings.body_selector)
        if body is None:
            raise ParseError(
                f"no article body (selector {self.settings.body_selector!r} matched nothing)", url=url
            )
        title = _title(page, self.settings.title_selector) or (item.title if item else "")
        if not title:
            raise ParseError("article has no title", url=url)
        fields: dict[str, str] = {}
        lines = []
        for line in element_text(body).split("\n"):
            if any(b in line for b in _BOILERPLATE):
                continue
            m = _HEADER_FIELD.match(line)
            if m and m.group(1) not in fields:
                fields[m.group(1)] = m.group(2).strip()
            lines.append(line)
        text = "\n".join(lines)
        number = mofcom_number(fields.get("发布文号")) or mofcom_number(title)
        published = (
            find_date(fields.get("发文日期"))
            or find_date(fields.get("成文日期"))
            or _meta_date(page)
            or (item.published if item else None)
            or find_date(_top_line(page))
        )
        meta = {k: v for k, v in fields.items()}
        if item and item.published and item.published != published:
            meta["list_date"] = item.published.isoformat()
        return Document(
            source=self.name,
            url=url,
            title=title,
            text=text,
            raw_hash=sha256(content),
            published=published,
            language=self.lang(text),
            doc_number=number,
            kind="announcement" if number else "article",
            meta=meta,
        )

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        page = soup(decode_bytes(content, content_type))
        if page.select_one(self.settings.body_selector) is None:
            raise InputError(
                f"{url}: not a MOFCOM article page (no {self.settings.body_selector!r}); "
                "list pages cannot be ingested, their links need fetching"
            )
        return [self.parse_article(content, url, content_type)]


def _title(page: BeautifulSoup, selector: str) -> str:
    node = page.select_one(selector)
    if node is not None and collapse(node.get_text(" ")):
        return collapse(node.get_text(" "))
    meta = page.find("meta", attrs={"name": "ArticleTitle"})
    if isinstance(meta, Tag) and meta.get("content"):
        return collapse(str(meta["content"]))
    if page.title and page.title.string:
        return re.sub(r"_(商务部|中华人民共和国商务部).*$", "", collapse(page.title.string))
    return ""


def _meta_date(page: BeautifulSoup) -> date | None:
    meta = page.find("meta", attrs={"name": "PubDate"})
    return find_date(str(meta.get("content"))) if isinstance(meta, Tag) else None


def _top_line(page: BeautifulSoup) -> str:
    node = page.select_one(".art-top, .art-info, .artInfo")
    return node.get_text(" ") if node is not None else ""


def _html_from_api(text: str, url: str) -> str:
    try:
        data = json.loads(text)
        html = data["data"]["html"]
    except (ValueError, KeyError, TypeError):
        raise ParseError("JSON list response without data.html", url=url) from None
    if not isinstance(html, str):
        raise ParseError("JSON list response: data.html is not a string", url=url)
    return html
