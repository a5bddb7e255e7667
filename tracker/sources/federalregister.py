"""The Federal Register documents API (JSON), with each document's full text from its raw_text_url."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tracker.errors import ConfigError, FetchError, ParseError
from tracker.http import Response
from tracker.models import Document, RunStats, sha256
from tracker.settings import KindSettings, SourceConfig
from tracker.sources.base import Item, ListSource, Page, Progress
from tracker.textutil import collapse, decode_bytes, issue_date, load_json, presidential_key, web_url
from tracker.wording import plural

if TYPE_CHECKING:
    from tracker.http import HttpClient
    from tracker.store import Store

log = logging.getLogger(__name__)

# What the tracker reads of a document. Without fields[] the API leaves out signing_date, the EO
# and proclamation numbers, subtype and raw_text_url. (presidential_document_type is a condition
# only: asked for as a field, the API answers 400.)
FIELDS = (
    "abstract",
    "action",
    "agencies",
    "citation",
    "dates",
    "document_number",
    "effective_on",
    "excerpts",
    "executive_order_number",
    "html_url",
    "pdf_url",
    "proclamation_number",
    "publication_date",
    "raw_text_url",
    "signing_date",
    "subtype",
    "title",
    "type",
)
META_FIELDS = (
    "type",
    "subtype",
    "signing_date",
    "publication_date",
    "citation",
    "document_number",
    "executive_order_number",
    "proclamation_number",
    "effective_on",
    "action",
    "dates",
    "pdf_url",
    "raw_text_url",
)
_PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S | re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)
_CF_LINK = re.compile(
    r"<a[^>]*/cdn-cgi/l/email-protection[^>]*>\s*<span[^>]*data-cfemail=\"([0-9a-fA-F]+)\"[^>]*>.*?</span>\s*</a>",
    re.S,
)
_CF_SPAN = re.compile(r"<span[^>]*data-cfemail=\"([0-9a-fA-F]+)\"[^>]*>.*?</span>", re.S)
_TAG = re.compile(r"<[^>]{0,2000}>")
_RULE_LINE = re.compile(r"^[-=_\s]{10,}$")
# the shape of a search result: fields read as text, numbers (a JSON number or a string of one)
_TEXT_FIELDS = (
    "abstract",
    "action",
    "citation",
    "dates",
    "effective_on",
    "html_url",
    "pdf_url",
    "publication_date",
    "raw_text_url",
    "signing_date",
    "subtype",
    "title",
    "type",
)
_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")  # 2025-19813, E5-12345, C1-2025-01234, 14241
_URL_FIELDS = ("html_url", "pdf_url", "raw_text_url")
PSEUDO_URL = "federalregister:"
BAD_LINK = (
    "Federal Register result(s) with a link that is not an http(s) address (html_url: the document "
    "is kept as federalregister:NUMBER; raw_text_url, pdf_url: dropped)"
)


@dataclass(frozen=True)
class FederalRegisterSettings(KindSettings):
    """The search lives in the URL (conditions[...], per_page, order); the fields the tracker reads
    are added to it. With `full_text`, each new document's text is read from its raw_text_url, at
    most `max_texts` a run: the rest, and every text the server refused (a 'Request Access' page
    under HTTP 200), are kept as pending and read on later runs, oldest attempt first."""

    full_text: bool = True
    max_texts: int = 40


GONE = (404, 410)  # a raw_text_url with nothing behind it


class TextRefused(FetchError):
    """The server answered a full-text URL with something that is not the text."""


# the settings of the kind, or of a kind built on it (the USGS list's)
FederalRegisterSettingsT = TypeVar("FederalRegisterSettingsT", bound=FederalRegisterSettings, covariant=True)


class FederalRegisterSource(ListSource[FederalRegisterSettingsT]):
    """Federal Register API v1 `documents.json` searches: one document per result, numbered
    `EO 14241` / `Proclamation 10949` for presidential documents and `FR 2025-19813` otherwise
    (all kept as keys), dated by `signing_date` for presidential documents, else by
    `publication_date`, with the full text of its raw_text_url; a presidential document and the
    White House item of the same order are one document (title and signing date). Pages are
    followed through `next_page_url`."""

    kind = "federalregister"
    Settings = FederalRegisterSettings
    language = "en"

    @classmethod
    def validate(cls, config: SourceConfig, file: str) -> None:
        max_texts = cls.settings_of(config).max_texts
        if not 0 <= max_texts <= 1000:
            raise ConfigError(
                f"must be a whole number from 0 to 1,000, got {max_texts}",
                file=file,
                key=f"sources.{config.name}.max_texts",
            )

    def __init__(self, config: SourceConfig, http: HttpClient | None, store: Store):
        super().__init__(config, http, store)
        self._new_run()

    def _new_run(self) -> None:
        self.texts_read = 0
        self.texts_refused = 0
        self.texts_missing = 0
        self._pending: dict[str, str] = {}  # document URL -> raw_text_url still to read
        self._tried: set[str] = set()  # raw_text_urls asked for in this run (not again until the next)

    def run(self, stats: RunStats, *, mode: str, until: date | None, progress: Progress | None) -> None:
        self._new_run()
        super().run(stats, mode=mode, until=until, progress=progress)
        if mode != "check" and self.settings.full_text:
            self.retry_texts(stats)
        if self.texts_missing:
            stats.notes.append(
                f"{plural(self.texts_missing, 'document')} without a full text (HTTP 404 at raw_text_url)"
            )
        if self.texts_refused:
            stats.notes.append(
                f"{plural(self.texts_refused, 'full text')} refused by the server; the documents are kept and "
                "their texts are asked for again on the next runs"
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
        super()._run_from(with_fields(start), stats, mode=mode, until=until, progress=progress, first=first)

    def item_url_ok(self, url: str) -> bool:
        return url.startswith(PSEUDO_URL) or super().item_url_ok(url)

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        data = load_json(resp.content, url)
        if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
            raise ParseError("not a Federal Register search response (no 'results' list)", url=url)
        if "results" not in data and "count" not in data:
            raise ParseError("not a Federal Register search response", url=url)
        items = []
        for i, result in enumerate(data.get("results", []), start=1):
            try:
                doc = self.document(result)
            except ParseError as exc:  # this result only: the others are stored
                items.append(Item(url=url, error=f"result {i}: {exc.message}"))
                continue
            items.append(
                Item(url=doc.url, title=doc.title, published=doc.published, document=doc, keys=doc.keys)
            )
        if items and all(i.error for i in items):  # not one readable result: the answer is broken
            raise ParseError(
                f"none of the {plural(len(items), 'result')} is readable: {items[0].error}", url=url
            )
        nxt = data.get("next_page_url")
        return Page(items=items, next_url=nxt if isinstance(nxt, str) and nxt else None)

    def document(self, result: object) -> Document:
        """One API result as a Document (its text: the abstract, action and dates until the full
        text is read); ParseError when the result is not of the shape the API gives."""
        r = _checked(result)
        try:
            raw_hash = sha256(json.dumps(r.raw, sort_keys=True))
        except (RecursionError, ValueError) as exc:  # a field nested too deep to write back
            raise ParseError(f"FR {r.document_number}: unreadable result ({type(exc).__name__})") from None
        fr_number = f"FR {r.document_number}"
        keys = [fr_number]
        number = fr_number
        if r.executive_order_number:
            number = f"EO {r.executive_order_number}"
        elif r.proclamation_number:
            number = f"Proclamation {r.proclamation_number}"
        if number != fr_number:
            keys.insert(0, number)
        signed = _date(r.text.get("signing_date"))
        published = signed or _date(r.text.get("publication_date"))
        title = collapse(r.text.get("title") or "")
        presidential = bool(signed) or number != fr_number or r.text.get("type") == "Presidential Document"
        if presidential and published and title:
            keys.append(presidential_key(title, published))
        # the stored meta keeps the API's own values (a number stays a JSON number)
        meta = {k: r.raw.get(k) for k in META_FIELDS if r.raw.get(k)}
        if r.agencies:
            meta["agencies"] = list(r.agencies)
        doc_url = f"{PSEUDO_URL}{r.document_number}"
        for key in _URL_FIELDS:
            link = r.text.get(key)
            if link and web_url(link) != link:
                self.warn(BAD_LINK, f"{fr_number} {key} {link[:200]!r}")
                meta.pop(key, None)
            elif link and key == "html_url":
                doc_url = link
        return Document(
            source=self.name,
            url=doc_url,
            title=title,
            text=summary_text(r),
            raw_hash=raw_hash,
            published=published,
            language="en",
            doc_number=number,
            keys=keys,
            kind="presidential-document" if presidential else "notice",
            meta=meta,
        )

    # --- full texts ------------------------------------------------------------------------------

    def fetch_document(self, item: Item) -> Document | None:
        doc = item.document
        assert doc is not None
        if self.store.url_known_by(doc.url, self.name):
            return None  # a search result seen before: its stored text (the full one) stays
        raw_url = str(doc.meta.get("raw_text_url") or "")
        if self.settings.full_text and raw_url and not self._has_text(doc):
            if self.texts_read >= self.settings.max_texts:
                self._pending[doc.url] = raw_url
            else:
                try:
                    doc.text = self.read_text(raw_url)
                    doc.meta["full_text"] = True
                except FetchError as exc:
                    if exc.status not in GONE:
                        self._pending[doc.url] = raw_url
                    log.info("%s: full text not read: %s", self.name, exc)
        return self.finish(doc)

    def finish(self, doc: Document) -> Document:
        """A document about to be stored, its text final (the list kind reads its list here)."""
        return doc

    def _has_text(self, doc: Document) -> bool:
        """True when the stored document this result belongs to has its full text already."""
        return self.store.has_full_text(doc.all_keys)

    def read_text(self, url: str) -> str:
        """The full text at a raw_text_url; TextRefused when the server sent something else."""
        self.texts_read += 1
        self._tried.add(url)
        self.check_stop()
        try:
            resp = self.get(url)
            text = raw_text(resp)
        except TextRefused:
            self.texts_refused += 1
            raise
        except FetchError as exc:
            if exc.status in GONE:
                self.texts_missing += 1
            raise
        return text

    def after_store(self, doc: Document, doc_id: int, outcome: str) -> None:
        raw_url = self._pending.pop(doc.url, None)
        if raw_url:
            self.store.add_pending_text(self.name, raw_url, doc_id)
        elif doc.meta.get("full_text"):
            self.store.drop_pending_text(self.name, doc_id)

    def retry_texts(self, stats: RunStats) -> None:
        """Read the texts still pending (refused or over the limit before), up to the run's limit;
        three failures in a row end the attempt until the next run."""
        failures = 0
        room = self.settings.max_texts - self.texts_read
        for p in self.store.pending_texts(self.name, room + len(self._tried)):
            self.check_stop()
            if failures >= 3 or self.texts_read >= self.settings.max_texts:
                break
            if p.url in self._tried:
                continue
            try:
                text = self.read_text(p.url)
            except FetchError as exc:
                if exc.status in GONE:  # no text there: asking again will not make one
                    self.store.drop_pending_text(self.name, p.document_id)
                    continue
                failures += 1
                self.store.pending_text_failed(self.name, p.url, exc.message)
                continue
            failures = 0
            doc = self.store.document_delivery(p.document_id, self.name)
            if doc is None:  # the document is gone: nothing to attach the text to
                self.store.drop_pending_text(self.name, p.document_id)
                continue
            doc.text, doc.raw_hash = text, sha256(text)
            doc.meta["full_text"] = True
            doc.source_kind = self.kind
            outcome, _ = self.save(self.finish(doc))
            stats.updated_documents += outcome == "updated"

    def check_notes(self, documents: list[dict[str, Any]]) -> list[tuple[str, str]]:
        if not self.texts_refused:
            return []
        return [
            (
                "warning",
                f"refused: the server answered {self.texts_refused} of {self.texts_read} full-text "
                "requests with something else than the text (a 'Request Access' page); a fetch keeps "
                "those documents and asks for their texts again on later runs",
            )
        ]

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        data = load_json(content, url)
        if isinstance(data, dict) and "document_number" in data:  # a single documents/{n}.json
            return [self.finish(self.document(data))]
        page = self.parse_page(Response(url, 200, content, content_type), url, 1)
        broken = [i.error for i in page.items if i.error]
        if broken:  # a file is fixed and ingested again, not stored in part
            raise ParseError(
                f"{plural(len(broken), 'result')} of the wrong shape, the first: {broken[0]}", url=url
            )
        return [self.finish(i.document) for i in page.items if i.document is not None]


def with_fields(url: str, fields: tuple[str, ...] = FIELDS) -> str:
    """A documents API URL that asks for every field in `fields` (those it names already stay)."""
    parts = urlsplit(url)
    if not parts.path.rstrip("/").endswith(("documents.json", "documents")):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    have = {v for k, v in query if k in ("fields[]", "fields")}
    query += [("fields[]", f) for f in fields if f not in have]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]")))


def summary_text(r: SearchResult) -> str:
    """What a search result says of a document before its full text is read."""
    parts = [r.text[k] for k in ("abstract", "action", "dates") if r.text.get(k)]
    if r.excerpts:
        parts.append(_TAG.sub("", r.excerpts))
    return "\n".join(collapse(p) for p in parts)


def raw_text(resp: Response) -> str:
    """The text of a raw_text_url answer: the <pre> envelope removed, lines unwrapped into
    paragraphs, Cloudflare-hidden e-mail addresses restored. TextRefused for anything else (an
    HTML 'Request Access' page answered with HTTP 200, another content type, an empty body)."""
    ctype = (resp.content_type or "").split(";")[0].strip().lower()
    body = decode_bytes(resp.content, resp.content_type)
    title = _TITLE.search(body[:5000])
    label = collapse(html.unescape(title.group(1)))[:120] if title else ""
    if ctype and ctype != "text/plain":
        raise TextRefused(f"answered {ctype} ({label or 'no title'}), not the text", url=resp.url)
    if "request access" in label.lower():
        raise TextRefused(f"answered a page titled {label!r} instead of the text", url=resp.url)
    pre = _PRE.search(body)
    if pre:
        inner = pre.group(1)
    elif re.search(r"<(html|!doctype|body)\b", body[:2000], re.I):
        raise TextRefused(f"answered an HTML page ({label or 'no title'}) instead of the text", url=resp.url)
    else:
        inner = body
    inner = _CF_LINK.sub(lambda m: _cf_decode(m.group(1)), inner)
    inner = _CF_SPAN.sub(lambda m: _cf_decode(m.group(1)), inner)
    text = unwrap(html.unescape(_TAG.sub("", inner)))
    if not text:
        raise TextRefused("answered an empty text", url=resp.url)
    return text


def unwrap(text: str) -> str:
    """GPO wraps lines at about 70 characters; paragraphs are separated by blank lines. One line per
    paragraph, rule lines dropped, so that phrases and lists read whole."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip() and not _RULE_LINE.match(ln)]
        if lines:
            paragraphs.append(collapse(" ".join(lines)))
    return "\n".join(paragraphs)


def _cf_decode(hexed: str) -> str:
    """Cloudflare's e-mail obfuscation: the first byte is the key every other byte is XORed with."""
    try:
        data = bytes.fromhex(hexed)
    except ValueError:
        return ""
    if len(data) < 2:
        return ""
    return "".join(chr(b ^ data[0]) for b in data[1:])


def _date(value: str | None) -> date | None:
    """An ISO date of the API, when it is a plausible date of issue."""
    try:
        return issue_date(date.fromisoformat(value), value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class SearchResult:
    """One result of a documents search, its fields of the types the kind reads."""

    document_number: str  # as text, also when the API gave a JSON number
    text: Mapping[str, str]  # the fields read as text (_TEXT_FIELDS) that are not null
    executive_order_number: int | str | None  # as the API gave it ('' or null: none)
    proclamation_number: int | str | None
    agencies: tuple[str, ...]  # their names (or raw names), in the API's order
    excerpts: str  # the search's excerpts ('' when none, or not text)
    raw: Mapping[str, object]  # the result as sent, document_number as text: hashed, and meta's source


def _checked(r: object) -> SearchResult:
    """A search result whose fields have the types the kind reads; ParseError naming the first
    field that has not."""
    if not isinstance(r, dict):
        raise ParseError(f"a result that is not an object ({type(r).__name__})")
    number = r.get("document_number")
    if isinstance(number, int) and not isinstance(number, bool):
        number = str(number)
    if not isinstance(number, str) or not _NUMBER.match(number):
        shown = _kind(number) if number is not None else "none"
        raise ParseError(f"a result without a readable 'document_number' ({shown})")
    where = f"FR {number}"
    for key in _TEXT_FIELDS:
        if r.get(key) is not None and not isinstance(r[key], str):
            raise ParseError(f"{where}: {key!r} is {_kind(r[key])}, expected text")
    for key in ("executive_order_number", "proclamation_number"):
        value = r.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not _NUMBER.match(str(value)):
            raise ParseError(f"{where}: {key!r} is {_kind(value)}, expected a number")
    agencies = r.get("agencies")
    if agencies is not None and not isinstance(agencies, list):
        raise ParseError(f"{where}: 'agencies' is {_kind(agencies)}, expected a list")
    excerpts = r.get("excerpts")
    return SearchResult(
        document_number=number,
        text={key: r[key] for key in _TEXT_FIELDS if r.get(key) is not None},
        executive_order_number=r.get("executive_order_number"),
        proclamation_number=r.get("proclamation_number"),
        agencies=tuple(
            name
            for a in agencies or []
            if isinstance(a, dict) and isinstance(name := a.get("name") or a.get("raw_name"), str)
        ),
        excerpts=excerpts if isinstance(excerpts, str) else "",
        raw={**r, "document_number": number},
    )


def _kind(value: object) -> str:
    """The JSON type of a value, in words ('a number', 'an object'), with a short sample."""
    if isinstance(value, (dict, list)):  # never repr'd: it may nest 900 deep
        return f"{'an object' if isinstance(value, dict) else 'a list'} of {len(value)}"
    names = {str: "text", bool: "true/false", int: "a number", float: "a number"}
    sample = repr(value)
    return f"{names.get(type(value), type(value).__name__)} ({sample[:40]}{'…' if len(sample) > 40 else ''})"
