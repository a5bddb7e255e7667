"""MOFCOM (商务部) announcement lists — the current CMS's list endpoint or a static list page — and
article pages."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urljoin

from tracker.errors import ConfigError, FetchError, InputError, LayoutChangedError, ParseError
from tracker.http import Response
from tracker.models import Document, RunStats, sha256
from tracker.settings import KindSettings, SourceConfig
from tracker.sources.base import UNSAFE_LINK, Item, ListSource, Page, Progress
from tracker.textutil import (
    collapse,
    decode_bytes,
    element_text,
    find_date,
    is_tag,
    load_json,
    mofcom_number,
    soup,
    web_url,
)

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

    from tracker.http import HttpClient
    from tracker.store import Store

_LIST_DATE = re.compile(r"(?:19|20)\d{2}[-/.年]\s*\d{1,2}[-/.月]\s*\d{1,2}")
_BOILERPLATE = ("本站转载、编译或摘编", "分享到", "【打印本页】", "【关闭窗口】", "扫一扫在手机打开当前页")
_HEADER_FIELD = re.compile(r"【(发布文号|发文日期|发布单位|成文日期|发布日期)】\s*(.+)")
# the parameters the CMS's loader script sends, in its order
_UNIT_KEYS = ("parseType", "webId", "tplSetId", "pageType", "tagId", "editType", "pageId")


@dataclass(frozen=True)
class MofcomSettings(KindSettings):
    """Column pages of the current CMS (Hanweb JPaaS) hold no items: a loader script names the CMS's
    list endpoint (`url`) and its parameters (`queryData`), read from the page on every run and
    paged with paramJson={"pageNo":N,"pageSize":15}. `unit_url`, `web_id`, `tpl_set_id`, `page_id`,
    `tag_id` and `page_size` stand in when the page names none. A page that lists its items itself
    (the legacy .shtml CMS, archives) is read directly and paged with 下一页. In an article, the
    header block (【发布文号】, 【发文日期】) may be an element of its own; the text is
    `article_selector`, else the `body_selector` matches that hold more than the header, without
    `drop_selector` (share and print tools, related links)."""

    item_selector: str = ""  # empty: every <li> that holds a link and a date
    next_selector: str = ""  # empty: the link whose text is 下一页
    title_selector: str = "h1.art-title, #artitle"  # tried in order, then meta ArticleTitle, then h1
    article_selector: str = '[ergodic="article"]'
    body_selector: str = "div.art-con, #zoom, div.artCon, div.article-content, div.TRS_Editor"
    drop_selector: str = "section, .article-tool, .art-share, script, style"
    unit_url: str = "/api-gateway/jpaas-publish-server/front/page/build/unit"
    web_id: str = ""
    tpl_set_id: str = ""
    page_id: str = ""
    tag_id: str = "分页列表"
    page_size: int = 15


class MofcomSource(ListSource[MofcomSettings]):
    """MOFCOM announcement lists: the current CMS's JSON list endpoint, named by the column page's
    loader script (a Referer of the column page is sent), or a static list page (UTF-8 or
    GB2312/GBK) with `下一页` pagination. Each new announcement is followed to its article page for
    its 【发布文号】 number, 【发文日期】 date of issue and text."""

    kind = "mofcom"
    Settings = MofcomSettings
    language = "zh"
    empty_list_is_failure = True

    def __init__(self, config: SourceConfig, http: HttpClient | None, store: Store):
        super().__init__(config, http, store)
        self.referer: str | None = None
        self.unit: tuple[str, dict[str, str]] | None = None  # endpoint and parameters, once known

    @classmethod
    def validate(cls, config: SourceConfig, file: str) -> None:
        page_size = cls.settings_of(config).page_size
        if not 1 <= page_size <= 1000:
            raise ConfigError(
                f"must be a whole number from 1 to 1,000, got {page_size}",
                file=file,
                key=f"sources.{config.name}.page_size",
            )

    def request_headers(self, url: str) -> dict[str, str]:
        """The column page as Referer (the CMS refuses bare requests)."""
        return {"Referer": self.referer} if self.referer and url != self.referer else {}

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
        self.referer, self.unit = start, None
        entry = self.store.cache_entry(start) if mode == "fetch" and not self.catching_up else None
        column = self.get(start, conditional=entry is not None)
        stats.http_status = stats.http_status or column.status
        if column.not_modified and entry is not None:
            unit = _unit_from_json(entry.derived)
            if unit is None:  # a page that lists its items itself, unchanged
                stats.not_modified += 1
                return
        else:
            unit = self.unit_endpoint(column, start)
            if unit is None:  # a page that lists its items itself
                super()._run_from(start, stats, mode=mode, until=until, progress=progress, first=column)
                return
            if mode != "check":  # the page is read again only when it changes
                derived = json.dumps({"endpoint": unit[0], "params": unit[1]}, ensure_ascii=False)
                self.store.save_cache_entry(start, column.etag, column.last_modified, column.content, derived)
        self.unit = unit
        try:
            super()._run_from(
                _unit_page_url(*unit, 1, None), stats, mode=mode, until=until, progress=progress
            )
        except FetchError as exc:
            if exc.status not in (404, 410) or _loader(soup(decode_bytes(column.content)), "") is not None:
                raise
            raise LayoutChangedError(
                "the column page lists no items and names no list endpoint, and the configured one "
                f"answered HTTP {exc.status}: its layout may have changed",
                url=start,
            ) from None

    def unit_endpoint(self, column: Response, url: str) -> tuple[str, dict[str, str]] | None:
        """The CMS list endpoint and its parameters for a column page, or None when the page lists
        its items itself (or names no endpoint and none is configured)."""
        page = soup(decode_bytes(column.content, column.content_type))
        s = self.settings
        loader = _loader(page, s.tag_id)
        params: dict[str, str] = {}
        endpoint = s.unit_url
        if loader is not None:
            endpoint = str(loader.get("url") or "") or endpoint
            params = _query_data(str(loader.get("querydata") or ""))
        elif self._item_nodes(page):
            return None
        configured = {"webId": s.web_id, "tplSetId": s.tpl_set_id, "pageId": s.page_id, "tagId": s.tag_id}
        for key, value in configured.items():
            if value and not params.get(key):
                params[key] = value
        if not params.get("webId") or not params.get("pageId"):
            return None  # nothing to call: the empty page is reported as an empty list
        params.setdefault("parseType", "bulidstatic")  # sic: the CMS's own spelling
        params.setdefault("pageType", "column")
        params.setdefault("editType", "null")
        ordered = {k: params[k] for k in _UNIT_KEYS if k in params}
        ordered.update({k: v for k, v in params.items() if k not in ordered and k != "paramJson"})
        return urljoin(url, endpoint), ordered

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        html = decode_bytes(resp.content, resp.content_type)
        pages: int | None = None
        size = self.settings.page_size
        if html.lstrip().startswith("{"):
            html, pages, size = _html_from_api(html, url, size)
        doc = soup(html)
        on_unit = self.unit is not None and url.startswith(self.unit[0])
        base = self.referer or url if on_unit else url  # the CMS puts its list into the column page
        items: list[Item] = []
        seen: set[str] = set()
        for li in self._item_nodes(doc):
            a = li.find("a", href=True)
            if not is_tag(a):
                continue
            link = web_url(str(a["href"]), base)
            if link is None:
                self.warn(UNSAFE_LINK, repr(str(a["href"])[:200]))
                continue
            if link in seen:
                continue
            seen.add(link)
            title = collapse(str(a.get("title") or "") or a.get_text(" "))
            items.append(Item(url=link, title=title, published=find_date(li.get_text(" "), issue=True)))
        if on_unit and self.unit is not None:
            more = pages is not None and page_no < pages
            nxt = _unit_page_url(*self.unit, page_no + 1, size) if more and items else None
            return Page(items=items, next_url=nxt)
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
        if is_tag(a) and a.get("href"):
            return web_url(str(a["href"]), url)  # javascript:void(0) on the last page: none
        return None

    def fetch_document(self, item: Item) -> Document | None:
        return self.fetch_detail(
            item, lambda r: self.parse_article(r.content, item.url, r.content_type, item)
        )

    def parse_article(
        self, content: bytes, url: str, content_type: str | None = None, item: Item | None = None
    ) -> Document:
        """An article page as a Document; ParseError when it holds no article text."""
        page = soup(decode_bytes(content, content_type))
        title = _title(page, self.settings.title_selector) or (item.title if item else "")
        fields, header = _header_fields(page)
        for node in page.select(self.settings.drop_selector):
            node.decompose()
        nodes = self._body_nodes(page)
        if not nodes:
            raise ParseError(
                f"no article text (neither {self.settings.article_selector!r} nor "
                f"{self.settings.body_selector!r} holds more than the header)",
                url=url,
            )
        if not title:
            raise ParseError("article has no title", url=url)
        lines = [
            line
            for node in nodes
            for line in element_text(node).split("\n")
            if not any(b in line for b in _BOILERPLATE)
        ]
        # the header block comes first, as on the page, also when it is an element of its own
        text = "\n".join([h for h in header if h not in lines] + lines)
        number = mofcom_number(fields.get("发布文号")) or mofcom_number(title)
        # the first plausible one: 【发文日期】9999年12月31日 gives way to the next source of a date
        published = (
            find_date(fields.get("发文日期"), issue=True)
            or find_date(fields.get("成文日期"), issue=True)
            or _meta_date(page)
            or (item.published if item else None)
            or find_date(_top_line(page), issue=True)
        )
        meta = dict(fields)
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

    def _body_nodes(self, page: BeautifulSoup) -> list[Tag]:
        """The elements holding the article: the article element, else every outermost body match
        that holds more than header lines (the header block may be a `div.art-con` of its own)."""
        for selector in (self.settings.article_selector, self.settings.body_selector):
            if not selector:
                continue
            found = page.select(selector)
            outer = [n for n in found if not any(p in found for p in n.parents)]
            kept = [n for n in outer if _has_text_beyond_header(n)]
            if kept:
                return kept
        return []

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        page = soup(decode_bytes(content, content_type))
        if not self._body_nodes(page):
            raise InputError(
                f"{url}: not a MOFCOM article page (no {self.settings.article_selector!r} or "
                f"{self.settings.body_selector!r} with text); list pages cannot be ingested, their "
                "links need fetching"
            )
        return [self.parse_article(content, url, content_type)]


def _loader(page: BeautifulSoup, tag_id: str) -> Tag | None:
    """The CMS loader script that builds the list (lxml lowercases `queryData`)."""
    scripts = [s for s in page.find_all("script") if is_tag(s) and s.get("querydata")]
    for script in scripts:
        if tag_id and _query_data(str(script.get("querydata"))).get("tagId") == tag_id:
            return script
    listing = [s for s in scripts if "列表" in _query_data(str(s.get("querydata"))).get("tagId", "")]
    candidates = listing or scripts
    return candidates[0] if candidates else None


def _unit_from_json(derived: str | None) -> tuple[str, dict[str, str]] | None:
    """The list endpoint remembered for a column page (None: the page lists its items itself)."""
    if not derived:
        return None
    try:
        data = json.loads(derived)
        return str(data["endpoint"]), {str(k): str(v) for k, v in data["params"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _query_data(raw: str) -> dict[str, str]:
    """The loader's queryData ("{'webId':'…',…}", single quotes as the page has them): the script
    swaps the quotes and parses JSON, and so do we (nothing from a page is ever evaluated)."""
    try:
        data = json.loads(raw.replace("'", '"'))
    except (ValueError, RecursionError):  # RecursionError: an attribute nested 100,000 deep
        data = dict(re.findall(r"""['"](\w+)['"]\s*:\s*['"]([^'"]*)['"]""", raw))
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, (str, int, float))}


def _unit_page_url(endpoint: str, params: dict[str, str], page_no: int, size: int | None) -> str:
    """Page `page_no` of the list endpoint: page 1 as the loader asks for it, later pages with
    paramJson (the CMS's own paging)."""
    query = dict(params)
    if page_no > 1:
        query["paramJson"] = json.dumps({"pageNo": page_no, "pageSize": size or 15}, separators=(",", ":"))
    return f"{endpoint}?{urlencode(query)}"


def _html_from_api(text: str, url: str, size: int) -> tuple[str, int | None, int]:
    """data.html of a list endpoint answer, the number of pages its pagination states, and the page
    size it uses."""
    data = load_json(text, url, "the list endpoint's JSON")
    if not isinstance(data, dict):
        raise ParseError("JSON list response is not an object", url=url)
    if data.get("success") is False or str(data.get("code", "200")) != "200":
        why = collapse(str(data.get("message") or "no message"))[:200]
        raise ParseError(f"the list endpoint answered code {data.get('code')!r}: {why}", url=url)
    html = data.get("data", {}).get("html") if isinstance(data.get("data"), dict) else None
    if not isinstance(html, str):
        raise ParseError("JSON list response without data.html", url=url)
    pages = None
    pager = soup(html).select_one("[count]")
    if is_tag(pager):
        count = _int(pager.get("count"))
        rows = _int(pager.get("rows")) or size
        if count is not None:
            pages = math.ceil(count / rows) if rows else None
            size = rows
    return html, pages, size


def _int(value: object) -> int | None:
    text = str(value).strip()
    if not text.isdigit() or len(text) > 9:  # a count of pages or items, not a 5,000-digit number
        return None
    return int(text)


def _header_fields(page: BeautifulSoup) -> tuple[dict[str, str], list[str]]:
    """【发布文号】, 【发文日期】… wherever the page has them (their own block, or the body's top)."""
    fields: dict[str, str] = {}
    lines: list[str] = []
    root = page.body or page
    for line in element_text(root).split("\n"):
        m = _HEADER_FIELD.match(line)
        if m and m.group(1) not in fields:
            fields[m.group(1)] = m.group(2).strip()
            lines.append(line)
    return fields, lines


def _has_text_beyond_header(node: Tag) -> bool:
    return any(
        line and not _HEADER_FIELD.match(line) and not any(b in line for b in _BOILERPLATE)
        for line in element_text(node).split("\n")
    )


def _title(page: BeautifulSoup, selectors: str) -> str:
    for selector in [s.strip() for s in selectors.split(",") if s.strip()]:
        node = page.select_one(selector)
        if node is not None and collapse(node.get_text(" ")):
            return collapse(node.get_text(" "))
    meta = page.find("meta", attrs={"name": "ArticleTitle"})
    if is_tag(meta) and meta.get("content"):
        return collapse(str(meta["content"]))
    node = page.find("h1")
    if is_tag(node) and collapse(node.get_text(" ")):
        return collapse(node.get_text(" "))
    if page.title and page.title.string:
        return re.sub(r"_(商务部|中华人民共和国商务部).*$", "", collapse(page.title.string))
    return ""


def _meta_date(page: BeautifulSoup) -> date | None:
    # PubDate is when the page went up; MakeTime (when it was generated) is never a date of issue
    meta = page.find("meta", attrs={"name": "PubDate"})
    return find_date(str(meta.get("content")), issue=True) if is_tag(meta) else None


def _top_line(page: BeautifulSoup) -> str:
    node = page.select_one(".art-top, .art-info, .artInfo")
    return node.get_text(" ") if node is not None else ""
