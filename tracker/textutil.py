"""Turning fetched bytes into clean text, and finding dates and document numbers in it."""

from __future__ import annotations

import codecs
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from tracker.errors import ParseError

# where the sources have always found them
from tracker.htmltext import PARSER as PARSER
from tracker.htmltext import element_text as element_text
from tracker.htmltext import html_fragment_text as html_fragment_text
from tracker.htmltext import is_tag as is_tag
from tracker.htmltext import soup as soup
from tracker.safe import web_url as web_url

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

# gb2312/gbk labels are routinely applied to pages holding GBK-only or GB18030 characters
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030"}
_SINGLE_BYTE_WESTERN = {"iso8859-1", "latin-1", "cp1252", "ascii"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.I)


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, if any."""
    if not content_type:
        return None
    m = re.search(r"charset\s*=\s*([^;\s]+)", content_type, re.I)
    return m.group(1) if m else None


def decode_bytes(content: bytes, content_type: str | None = None) -> str:
    """Decode a page: BOM, then the header's charset, then `<meta>`, then UTF-8, then detection.

    Each candidate is tried strictly, so a wrong label falls through to the next. A gb2312/gbk
    label is read as gb18030, the superset. A single-byte Western header label loses to a
    `<meta>` that says otherwise (servers mislabel; latin-1 would 'succeed' on anything).
    """
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if content.startswith(bom):
            return content.decode(enc, errors="replace").lstrip("\ufeff")
    header = _codec(charset_from_content_type(content_type))
    m = _META_CHARSET.search(content[:4096])
    meta = _codec(m.group(1).decode("ascii", "ignore")) if m else None
    candidates: list[str] = []
    if header in _SINGLE_BYTE_WESTERN and meta and meta not in _SINGLE_BYTE_WESTERN:
        candidates += [meta, header]
    else:
        candidates += [c for c in (header, meta) if c]
    candidates.append("utf-8")
    for enc in candidates:
        try:
            return content.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    from charset_normalizer import from_bytes  # deferred: the fallback of a fallback

    best = from_bytes(content).best()
    if best is not None and best.encoding:
        return content.decode(_codec(best.encoding) or best.encoding, errors="replace")
    return content.decode("utf-8", errors="replace")


def collapse(text: str) -> str:
    """All whitespace runs to one space."""
    return re.sub(r"\s+", " ", text).strip()


# --- control characters and links ----------------------------------------------------------------

# a terminal escape sequence whole (so that no 'http://evil' or '[2J' is left behind): CSI (colours,
# clearing the screen), OSC ended by BEL or ST (window titles, hyperlinks), other ESC pairs
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)|\x1b[ -/]*[0-~]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
_TITLE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """Text without terminal escape sequences or control characters (C0, DEL, C1), newlines and
    tabs kept (CR LF and CR become newlines)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


def clean_title(title: str) -> str:
    """A title on one line, without escape sequences or any control character."""
    title = _ESCAPE_SEQUENCE.sub("", title)
    return collapse(_TITLE_CONTROL.sub("", title.replace("\t", " ").replace("\n", " ").replace("\r", " ")))


# --- JSON --------------------------------------------------------------------------------------

_MAX_INT_DIGITS = 18


def _bounded_int(digits: str) -> int | str:
    # a 5,000-digit number stays a string: int() refuses over 4,300 digits, and failing the whole
    # response for one field would lose every other result in it
    return int(digits) if len(digits.lstrip("-")) <= _MAX_INT_DIGITS else digits


def load_json(content: bytes | str, url: str, what: str = "JSON") -> Any:
    """Parse a JSON response; ParseError (naming `url`) when it is not UTF-8 JSON or nests too
    deep to read. Integers too long to be numbers are kept as strings."""
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        return json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise ParseError(f"{what} nested too deeply to read (refused)", url=url) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"not {what}: {exc}", url=url) from None


_HAN = r"[\u3400-\u9fff]"  # compiled (1.4 ms) by re's cache on first use, not on every import
_KANA = re.compile(r"[\u3040-\u30ff]")


def detect_language(text: str) -> str:
    """'ja' when kana appear, 'zh' when Han characters are frequent, else 'en'."""
    sample = text[:4000]
    if not sample:
        return "en"
    if len(_KANA.findall(sample)) > 5:
        return "ja"
    if len(re.findall(_HAN, sample)) > len(sample) * 0.1:
        return "zh"
    return "en"


# --- dates -------------------------------------------------------------------------------------

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日"),
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)"),
    re.compile(rf"\b(?P<mn>{_MONTH_RE})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b", re.I),
    re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mn>{_MONTH_RE})\.?,?\s+(?P<y>\d{{4}})\b", re.I),
]


def find_date(text: str | None, *, issue: bool = False) -> date | None:
    """The first date written in `text` (Chinese, ISO or English forms), or None. With `issue`,
    the first plausible date of issue (see `issue_date`): a year 9999 is passed over, and noted."""
    if not text:
        return None
    best: tuple[int, date] | None = None
    for pat in _DATE_PATTERNS:
        for m in pat.finditer(text):
            month = (
                int(m.group("m")) if "m" in m.groupdict() and m.group("m") else _MONTHS[m.group("mn").lower()]
            )
            try:
                d = date(int(m.group("y")), month, int(m.group("d")))
            except ValueError:
                continue
            if issue and issue_date(d, m.group(0)) is None:
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), d)
            break
    return best[1] if best else None


def parse_feed_date(raw: str | None) -> date | None:
    """The date of an RFC 822 or ISO timestamp in its own offset (not shifted to UTC), when it
    is a plausible date of issue."""
    if not raw:
        return None
    try:
        from email.utils import parsedate_to_datetime  # deferred: only a feed's dates need it

        return issue_date(parsedate_to_datetime(raw).date(), raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return find_date(raw, issue=True)


# --- plausible dates of issue ------------------------------------------------------------------

EARLIEST_ISSUE = date(1900, 1, 1)
# the dates a date of issue may not hold, as written, noted while a source runs (`refused_dates`)
_REFUSED: ContextVar[list[str] | None] = ContextVar("refused_dates", default=None)


def latest_issue(today: date | None = None) -> date:
    """The latest plausible date of issue: a year from today."""
    today = today or date.today()
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today + timedelta(days=365)


def issue_date(d: date | None, raw: str | None = None) -> date | None:
    """`d` when it can be a date of issue (1900 to a year from today), else None, so that the
    caller goes on to its next source of a date; a refused date (`raw`, as written) is noted in
    the innermost `refused_dates()` block, or logged outside one. Every source kind's date of
    issue passes through here, and `Document.sanitise` checks again at storage."""
    if d is None or EARLIEST_ISSUE <= d <= latest_issue():
        return d
    written = raw if raw is not None else d.isoformat()
    sink = _REFUSED.get()
    if sink is None:
        log.warning("implausible date of issue %r ignored", written)
    else:
        sink.append(written)
    return None


@contextmanager
def refused_dates() -> Iterator[list[str]]:
    """Within the block, the implausible dates of issue refused by `issue_date` (as written) are
    collected into the list yielded (in this thread or task only)."""
    sink: list[str] = []
    token = _REFUSED.set(sink)
    try:
        yield sink
    finally:
        _REFUSED.reset(token)


# --- document numbers --------------------------------------------------------------------------

_MOFCOM_NUMBER = re.compile(
    r"(?P<issuer>商务部[\u4e00-\u9fff、\s]{0,20}?)(?P<type>公告|令)\s*[〔\[(（]?\s*(?P<y>\d{4})\s*[〕\])）]?\s*年?\s*第\s*(?P<n>\d{1,6})\s*号"
)  # the number bounded: a 5,000-digit '第…号' is no number (int() refuses over 4,300 digits)
_EO = re.compile(r"\bExecutive\s+Order\s+(?:No\.?\s*)?(\d{5})\b", re.I)


def mofcom_number(text: str | None) -> str | None:
    """'商务部 海关总署公告2025年第70号' -> 'MOFCOM 2025-70'; '商务部令2025年第1号' -> 'MOFCOM Order 2025-1'."""
    if not text:
        return None
    m = _MOFCOM_NUMBER.search(text)
    if not m:
        return None
    prefix = "MOFCOM Order" if m.group("type") == "令" else "MOFCOM"
    return f"{prefix} {m.group('y')}-{int(m.group('n'))}"


def eo_number(text: str | None) -> str | None:
    """'Executive Order 14241' -> 'EO 14241'."""
    m = _EO.search(text or "")
    return f"EO {m.group(1)}" if m else None


# --- presidential documents ----------------------------------------------------------------------

_SIGNED = re.compile(rf"THE WHITE HOUSE,?\s*\n?\s*((?:{_MONTH_RE})\.?\s+\d{{1,2}},\s+\d{{4}})\.?", re.I)


def norm_title(title: str) -> str:
    """Lowercase words only, for matching one action's titles across sources."""
    return " ".join(re.findall(r"[a-z0-9]+", title.lower().replace("\u2019", "'").replace("'", "")))


def presidential_key(title: str, signed: date) -> str:
    """The key one presidential document has in every source: its title and its signing date (the
    White House feed and the Federal Register spell and capitalise titles differently)."""
    return f"pres:{norm_title(title)}:{signed.isoformat()}"


def signing_date(text: str) -> date | None:
    """The date under an order's signature ('THE WHITE HOUSE,\n March 20, 2025.'), the last one
    in the text."""
    found = list(_SIGNED.finditer(text))
    return find_date(found[-1].group(1), issue=True) if found else None
