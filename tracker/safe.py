"""Stored text made safe for the place it is written: a terminal, CSV, Markdown, iCalendar, XML or
JSON, and links only to http(s) URLs.

Ingest cleans what it stores, but a database written by an older version (or by hand) may still
hold control characters, markup or `javascript:` URLs: every output escapes for its own syntax at
render time, whatever the database holds."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

REPLACEMENT = "\ufffd"

# C0 controls, DEL and C1 controls: what a terminal acts on (ESC starts CSI and OSC sequences,
# \x9b is a one-byte CSI in 8-bit mode) and what no text value of ours legitimately holds
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LAYOUT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile("\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")
# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]; what a
# Python string may hold outside it, as a class of its own (the negated class took 3 ms to compile,
# on every command)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# characters JSON may leave raw (ensure_ascii=False) that a terminal or a JavaScript parser acts on
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")
# OWASP CSV injection: a cell starting with one of these is a formula to a spreadsheet
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# characters outside RFC 3986 that may still sit in a stored URL, percent-encoded before linking;
# Markdown also needs the parentheses that would end the link
_URL_UNSAFE = {ord(c): f"%{ord(c):02X}" for c in ' "<>\\^`{|}'}
_MD_URL_UNSAFE = {**_URL_UNSAFE, ord("("): "%28", ord(")"): "%29"}
_MD_ESCAPES = {
    **{ord(c): "\\" + c for c in "\\`*_[]|~"},
    **{ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"},
}


_LINK_SCHEMES = ("http", "https")
_BAD_IN_LINK = re.compile(r"[\x00-\x20\x7f-\x9f\s]")


def web_url(href: str, base: str | None = None) -> str | None:
    """`href` (resolved against `base`) as an absolute http(s) URL with a host, or None when it is
    not one a document may carry: another scheme (javascript:, data:, mailto:), or a control
    character or white space inside it. White space around it is dropped, as browsers do."""
    href = href.strip(" \t\n\r\f\v")
    url = urljoin(base, href) if base else href
    if not url or _BAD_IN_LINK.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # an invalid IPv6 host
        return None
    if parts.scheme.lower() not in _LINK_SCHEMES or not parts.hostname:
        return None
    return url


def terminal(text: str, *, lines: bool = False) -> str:
    """`text` with no control character a terminal would act on (ESC, OSC, BEL, NUL, C1, ...):
    each becomes U+FFFD; tabs and line breaks become spaces, or with `lines` are kept as tabs
    and '\\n' (a lone carriage return, which would let text overwrite its own line, too)."""
    if lines:
        text = _LINE_BREAK.sub("\n", text)
        return _CONTROL_BUT_LAYOUT.sub(REPLACEMENT, text)
    text = _LINE_BREAK.sub(" ", text).replace("\t", " ")
    return _CONTROL.sub(REPLACEMENT, text)


def http_url(url: str | None) -> bool:
    """True for an absolute http(s) URL without control characters: the only URLs made links."""
    return url is not None and web_url(url) == url  # the rule a stored URL passed at ingest


def link_url(url: str | None) -> str | None:
    """`url` ready to link to (characters RFC 3986 never allows percent-encoded), or None when it
    is not an http(s) URL."""
    return url.translate(_URL_UNSAFE) if url and http_url(url) else None


def csv_cell(value: str) -> str:
    """A CSV cell no spreadsheet runs as a formula: one starting with = + - @ tab or CR gets a
    leading single quote (OWASP). Line breaks become '\n' (the csv module leaves a lone CR
    unquoted, which would end the row) and other control characters U+FFFD."""
    quote = "'" if value.startswith(CSV_FORMULA_START) else ""
    return quote + _CONTROL_BUT_LAYOUT.sub(REPLACEMENT, _LINE_BREAK.sub("\n", value))


def md_text(text: str) -> str:
    """Text for a Markdown table cell in which nothing is markup: HTML special characters as
    entities, link, code, emphasis and cell-break characters backslash-escaped, on one line."""
    return terminal(text).translate(_MD_ESCAPES)


def md_link(text: str, url: str | None) -> str:
    """`[text](url)` when `url` is an http(s) URL, else the text alone (never a javascript: link)."""
    target = link_url(url)
    if target is None:
        return md_text(text)
    return f"[{md_text(text)}]({target.translate(_MD_URL_UNSAFE)})"


def ics_text(text: str) -> str:
    """An iCalendar TEXT value (RFC 5545 3.3.11): backslash, ';' and ',' escaped, every line break
    as '\\n', other control characters dropped: a value can never end its line."""
    text = _LINE_BREAK.sub("\n", text)
    text = _CONTROL_BUT_LAYOUT.sub("", text)
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def xml_chars(text: str) -> str:
    """`text` without the characters XML 1.0 does not allow (NUL, most C0 controls, surrogates,
    U+FFFE, U+FFFF), so a document built from it stays well-formed."""
    return _NOT_XML.sub("", text)


def json_text(dumped: str) -> str:
    """A JSON text (`json.dumps(..., ensure_ascii=False)`) with DEL, C1 controls and U+2028/9
    escaped as \\uXXXX: the same value, nothing raw for a terminal to act on."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
