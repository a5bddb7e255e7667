"""The text of HTML: of an element parsed by BeautifulSoup over lxml, and of a fragment (a feed
item's body), read without any parser when its markup is plain enough."""

from __future__ import annotations

import re
from html.entities import name2codepoint
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

PARSER = "lxml"  # pinned so fixtures give the same tree everywhere


def is_tag(node: object) -> TypeGuard[Tag]:
    """True when `node` is an element (bs4's Tag), not text, a comment or None."""
    from bs4 import Tag

    return isinstance(node, Tag)


def soup(html: str) -> BeautifulSoup:
    """Parse already-decoded HTML (never bytes: lxml drops GBK pages it cannot decode)."""
    from bs4 import BeautifulSoup  # deferred, like every bs4 import: a re-poll parses nothing

    return BeautifulSoup(html, PARSER)


_BLOCK = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "br",
    "tr",
    "table",
    "section",
    "article",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "dd",
    "dt",
    "dl",
    "header",
    "footer",
    "figure",
    "figcaption",
    "hr",
    "main",
    "aside",
    "nav",
    "td",
    "th",
}
_SKIP = {"script", "style", "noscript", "template", "iframe", "svg", "button", "form"}
_SPACES = re.compile(r"[ \t\u00a0\u3000\r\f\v]+")


def element_text(node: Tag | None) -> str:
    """Readable text of an element: one line per block element, spaces collapsed, blank lines dropped."""
    if node is None:
        return ""
    from bs4 import Tag
    from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

    parts: list[str] = []
    # an explicit stack, not recursion: a page nested 100,000 elements deep is still only a page
    stack: list[object] = list(reversed(list(node.children)))
    while stack:
        child = stack.pop()
        if isinstance(child, str) and not isinstance(child, NavigableString):
            parts.append(child)  # the line break closing a block element
        elif isinstance(child, (Comment, Declaration, Doctype, ProcessingInstruction)):
            continue
        elif isinstance(child, NavigableString):
            # a line break in the source is only white space; blocks and <br> break lines
            parts.append(str(child).replace("\r", " ").replace("\n", " "))
        elif isinstance(child, Tag) and child.name not in _SKIP:
            block = child.name in _BLOCK
            if block:
                parts.append("\n")
                stack.append("\n")
            stack.extend(reversed(list(child.children)))
    return _lines(parts)


def _lines(parts: list[str]) -> str:
    """The text of `parts` (strings, and "\n" where a block element opens or closes): spaces
    collapsed in each line, blank lines dropped."""
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def html_fragment_text(html: str) -> str:
    """Text of an HTML fragment (a feed item's body)."""
    text = _plain_fragment_text(html)
    return text if text is not None else _parsed_fragment_text(html)


def _parsed_fragment_text(html: str) -> str:
    """html_fragment_text's answer from the parser (bs4 with lxml), for any fragment."""
    node = soup(f"<div>{html}</div>").find("div")
    return element_text(node if is_tag(node) else None)


# --- HTML fragments read without a parser --------------------------------------------------------
# Most feed bodies are a few paragraphs of plain markup. Their text is read here from the tags
# themselves, exactly as html_fragment_text's parser reads it, in an eighth of the time and without
# importing bs4 and lxml (some 60 ms and 8 MB a cold fetch of feeds does without). Whatever a parser
# might read otherwise is left to the parser: a tag not in the short lists below, a misnested or
# stray end tag, an element where HTML does not allow it (a block inside a paragraph, text in a
# list), a script, a comment of unusual form, an entity not written out in full, a control
# character. tests/test_feed_speed.py compares both readings over every HTML body in the fixtures.

_INLINE = {
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "del", "dfn", "em", "font", "i", "img",
    "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
    "sup", "time", "tt", "u", "var",
}  # fmt: skip
_VOID = {"br", "hr", "img"}
# elements that may hold blocks; the other blocks hold text and inline elements only
_FLOW = {
    "div", "li", "dd", "blockquote", "section", "article", "header", "footer", "figure", "main",
    "aside", "nav", "td", "th",
}  # fmt: skip
# elements that stand only in these parents, and the parents that hold nothing else (but spaces)
_PARENTS = {
    "li": {"ul", "ol"},
    "dt": {"dl"},
    "dd": {"dl"},
    "tbody": {"table"},
    "thead": {"table"},
    "tfoot": {"table"},
    "tr": {"table", "tbody", "thead", "tfoot"},
    "td": {"tr"},
    "th": {"tr"},
}
_CONTAINERS = {"ul", "ol", "dl", "table", "tbody", "thead", "tfoot", "tr"}
_PLAIN_TAGS = (_BLOCK | _INLINE | set(_PARENTS)) - _SKIP
# (patterns as strings, compiled by the re module on first use and cached there: a re-poll, which
# reads no body, does without compiling them, a millisecond)
_TAG = (
    r"<(?P<end>/?)(?P<name>[A-Za-z][A-Za-z0-9]*)"
    r"(?P<attrs>(?:[ \t\n\r]+[A-Za-z_:][-A-Za-z0-9_:.]*"
    r"(?:[ \t\n\r]*=[ \t\n\r]*(?:\"[^\"<>]*\"|'[^'<>]*'|[^ \t\n\r\"'=<>`]+))?)*)"
    r"[ \t\n\r]*(?P<slash>/?)>"
)
# C0 and C1 controls (but tab, LF, CR), surrogates and non-characters: parsers differ on them
_UNSURE_CHARS = (
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane | 0xFFFE)}{chr(plane | 0xFFFF)}" for plane in range(0, 0x110000, 0x10000))
    + "]"
)
# a character reference written out in full (name or number, and ';'), or an '&' before a space
_REF = r"&(?:#([0-9]{1,7});|#[xX]([0-9a-fA-F]{1,6});|([A-Za-z][A-Za-z0-9]{0,31});|(?=[ \t\n\r]))"
_HTML4_ENTITIES = name2codepoint.keys() | {"apos"}


class _Unsure(Exception):
    """The fragment is one the parser may read otherwise: leave it to the parser."""


def _plain_fragment_text(html: str) -> str | None:
    """html_fragment_text's answer read without a parser, or None where only a parser can tell."""
    if re.search(_UNSURE_CHARS, html):
        return None
    parts: list[str] = []
    stack: list[str] = []  # the open elements, innermost last
    pos = 0
    try:
        # each '<' read once, from the left: one that opens no tag or comment ends the attempt
        while (start := html.find("<", pos)) >= 0:
            if start > pos:
                _plain_text(html[pos:start], stack, parts)
            if html.startswith("<!--", start):
                end = html.find("-->", start + 4)
                comment = html[start + 4 : end]
                if end < 0 or comment.startswith((">", "->")) or "--" in comment or comment.endswith("-"):
                    raise _Unsure  # unclosed, or of a form parsers end or read differently
                pos = end + 3
                continue
            m = re.compile(_TAG).match(html, start)
            if m is None:
                raise _Unsure  # a '<' that opens no tag, a CDATA section, a processing instruction
            pos = m.end()
            name = m.group("name").lower()
            if m.group("end"):
                if m.group("attrs") or m.group("slash") or not stack or stack[-1] != name:
                    raise _Unsure  # a stray or misnested end tag: the parser moves things
                stack.pop()
            else:
                _plain_open(name, bool(m.group("slash")), stack)
            if name in _BLOCK:
                parts.append("\n")
                if name in _VOID:
                    parts.append("\n")  # the line break closing it
        if pos < len(html):
            _plain_text(html[pos:], stack, parts)
    except _Unsure:
        return None
    return _lines(parts)


def _plain_open(name: str, self_closing: bool, stack: list[str]) -> None:
    """Open element `name` inside the innermost of `stack`; _Unsure where HTML does not allow it."""
    parent = stack[-1] if stack else "div"
    if name not in _PLAIN_TAGS or (self_closing and name not in _VOID):
        raise _Unsure  # '<p/>' opens a paragraph in HTML
    if name in _PARENTS:
        if parent not in _PARENTS[name]:
            raise _Unsure  # an item out of its list or table: the parser closes or moves things
    elif parent in _CONTAINERS:
        raise _Unsure
    elif name in _BLOCK and name != "br" and parent not in _FLOW:
        raise _Unsure  # a block in a paragraph, a heading or an inline element: the parser closes it
    elif name == "a" and "a" in stack:
        raise _Unsure  # a link in a link
    if name not in _VOID:
        stack.append(name)


def _plain_text(text: str, stack: list[str], parts: list[str]) -> None:
    """Append the text between two tags, its character references read."""
    if stack and stack[-1] in _CONTAINERS and text.strip(" \t\n\r"):
        raise _Unsure  # text in a list or table, outside its items
    if "&" in text:
        text = _unescape(text)
    parts.append(text.replace("\r", " ").replace("\n", " "))


def _unescape(text: str) -> str:
    """`text` with its character references read; _Unsure for one not written out in full, or
    naming a character parsers read differently."""
    count = 0

    def one(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        number, hexa, name = m.groups()
        if name is not None:
            if name not in _HTML4_ENTITIES:
                raise _Unsure
            return "'" if name == "apos" else chr(name2codepoint[name])
        if number is None and hexa is None:
            return "&"  # an ampersand before a space is only that
        code = int(number) if number is not None else int(hexa, 16)
        if code in (9, 10) or 0x20 <= code < 0x7F or 0xA0 <= code < 0x110000:
            char = chr(code)
            if not re.match(_UNSURE_CHARS, char):
                return char
        raise _Unsure

    ampersands = text.count("&")
    text = re.sub(_REF, one, text)
    if count != ampersands:
        raise _Unsure  # an '&' before a letter that names no character, or before anything else
    return text
