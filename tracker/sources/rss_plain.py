"""Plain RSS 2.0 read without feedparser.

feedparser takes about a millisecond a feed. Most feeds are plain RSS 2.0 in UTF-8, which
xml.etree reads (with expat, as feedparser's strict parser does) in a twentieth of that; for
those, each entry is built here as feedparser builds it, for the fields FeedSource._item reads.
Any feed feedparser might read otherwise goes to feedparser: another format or encoding, a
DOCTYPE, xml:base, an element or attribute outside the lists below, a field given twice, a title
feedparser could take for HTML, a feed that is not well-formed. tests/test_feed_speed.py compares
both over every feed in the fixtures, field by field."""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

_CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC = "{http://purl.org/dc/elements/1.1/}"
_SY = "{http://purl.org/rss/1.0/modules/syndication/}"
# a channel's own elements (tags lowercased, as feedparser matches them), and the children each
# may have; feedparser keeps none of them in an entry
_CHANNEL_LEAVES = (
    "title", "link", "description", "language", "copyright", "managingeditor", "webmaster",
    "pubdate", "lastbuilddate", "category", "generator", "docs", "ttl", "rating", "cloud",
    "{http://www.w3.org/2005/atom}link", _SY + "updateperiod", _SY + "updatefrequency",
    _SY + "updatebase",
)  # fmt: skip
_CHANNEL_TAGS: dict[str, frozenset[str]] = {tag: frozenset() for tag in _CHANNEL_LEAVES} | {
    "image": frozenset({"url", "title", "link", "width", "height", "description"}),
    "textinput": frozenset({"title", "description", "name", "link"}),
    "skiphours": frozenset({"hour"}),
    "skipdays": frozenset({"day"}),
}
# an item's elements and the attributes each may carry (dc:creator, author, comments and
# enclosure are read for nothing _item uses)
_ITEM_TAGS: dict[str, frozenset[str]] = {
    "title": frozenset(),
    "link": frozenset(),
    "guid": frozenset({"ispermalink"}),
    "pubdate": frozenset(),
    "description": frozenset(),
    _CONTENT_ENCODED: frozenset(),
    "category": frozenset({"domain"}),
    _DC + "creator": frozenset(),
    "author": frozenset(),
    "comments": frozenset(),
    "enclosure": frozenset({"url", "length", "type"}),
}
_ONCE = frozenset({"title", "link", "guid", "pubdate", "description", _CONTENT_ENCODED})
# (patterns as strings, compiled by the re module on first use and cached there: a re-poll, which
# parses no feed, does without compiling them)
_XML_ENCODING = rb"""^<\?.*encoding=['"](.*?)['"].*\?>"""  # feedparser's, to agree with it
_FIRST_ELEMENT = rb"<\w"
_STARTS_WITH_MARKUP = rb"[ \t\r\n]*<"
_HTMLISH = r"</\w+>|&#?\w+;"  # what makes feedparser look closer at a title: HTML?
_URI_SLASHES = "^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)"  # feedparser's, as it joins URIs
_LINK_REF = "&([A-Za-z0-9_]+);"
# the C1 controls as feedparser reads them: cp1252's characters
_CP1252 = {
    code: bytes([code]).decode("cp1252")
    for code in range(0x80, 0xA0)
    if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}


def plain_rss_entries(content: bytes, content_type: str | None) -> list[dict[str, Any]] | None:
    """The entries of a plain RSS 2.0 feed in UTF-8, as feedparser reads them (the fields
    FeedSource._item reads); None for any other feed, and for one without entries."""
    if not _feedparser_reads_utf8(content, content_type):
        return None
    first = re.search(_FIRST_ELEMENT, content)
    if first is None or b"<!" in content[: first.start()]:
        return None  # a DOCTYPE, whose entities feedparser drops (or a comment: rare, not worth it)
    import xml.etree.ElementTree as ET  # deferred: a re-poll answered 304 parses nothing

    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        return None
    if root.tag.lower() != "rss" or set(root.attrib) - {"version"} or len(root) != 1:
        return None
    channel = root[0]
    if channel.tag.lower() != "channel" or channel.attrib:
        return None
    entries = []
    for child in channel:
        tag = child.tag.lower()
        if tag == "item":
            entry = _plain_entry(child)
            if entry is None:
                return None
            entries.append(entry)
        elif tag not in _CHANNEL_TAGS or _sets_base(child):
            return None
        elif any(len(c) or c.tag.lower() not in _CHANNEL_TAGS[tag] or _sets_base(c) for c in child):
            return None
    return entries or None


def _feedparser_reads_utf8(content: bytes, content_type: str | None) -> bool:
    """True when feedparser decodes `content` as UTF-8 (by its rules for the Content-Type header and
    the XML declaration), the declaration, if any, says UTF-8 too, and it is valid UTF-8."""
    if not re.match(_STARTS_WITH_MARKUP, content) or b"\x00" in content:
        return False  # a byte order mark, UTF-16 or -32: feedparser sniffs those
    m = re.match(_XML_ENCODING, content)
    declared = m.group(1).lower() if m else b""
    if declared not in (b"", b"utf-8"):
        return False
    mime, _, params = (content_type or "").partition(";")
    mime = mime.strip()
    charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    if mime in ("application/xml", "application/xml-dtd", "application/xml-external-parsed-entity") or (
        mime.startswith("application/") and mime.endswith("+xml")
    ):
        encoding = charset or declared.decode() or "utf-8"
    elif mime.startswith("text/"):
        encoding = charset or "us-ascii"
    else:
        encoding = declared.decode() or "utf-8"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    if name == "ascii" and not content.isascii():
        # feedparser's next guess: the declared encoding, else a detector's
        name = "utf-8" if declared else ""
    if name not in ("utf-8", "ascii"):
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _sets_base(element: Element) -> bool:
    """True when the element has an xml:base (or base) attribute, against which feedparser resolves links."""
    return any(key.lower() == "base" or key.lower().endswith("}base") for key in element.attrib)


def _plain_entry(item: Element) -> dict[str, Any] | None:
    """An item as feedparser reads it (what _item reads of it), or None where feedparser might read
    it otherwise."""
    if item.attrib:
        return None
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    for element in item:
        tag = element.tag.lower()
        allowed = _ITEM_TAGS.get(tag)
        if allowed is None or len(element):
            return None
        attrs = {key.lower(): value for key, value in element.attrib.items()} if element.attrib else {}
        if len(attrs) != len(element.attrib) or not allowed.issuperset(attrs):
            return None
        if tag in _ONCE:
            if tag in seen:
                return None
            seen.add(tag)
        text = (element.text or "").strip()
        if tag == "title":
            if re.search(_HTMLISH, text):
                return None
            entry["title"] = _as_kept(text)
            entry["title_detail"] = {"type": "text/plain"}
        elif tag == "link":
            link = _as_kept(_without_extra_slashes(text))
            entry["link"] = re.sub(_LINK_REF, r"&\g<1>", link.replace("&amp;", "&")) if "&" in link else link
        elif tag == "guid":
            is_link = attrs.get("ispermalink", "true") == "true"  # RSS's default
            guid = _as_kept(_without_extra_slashes(text) if is_link else text)
            entry["id"] = guid
            entry.setdefault("guidislink", is_link and "link" not in entry)
            if is_link:
                entry.setdefault("link", guid)
        elif tag == "pubdate":
            entry["published"] = _as_kept(text)
        elif tag == "description":
            entry["summary"] = _as_kept(text)
        elif tag == _CONTENT_ENCODED:
            body = _as_kept(text)
            entry["content"] = [{"type": "text/html", "value": body}]
            entry.setdefault("summary", body)
        elif tag == "category":
            _add_category(entry, attrs.get("domain"), _as_kept(text))
    return entry


def _without_extra_slashes(uri: str) -> str:
    """'http:///x' as feedparser joins it to its (empty) base URI: 'http://x'."""
    return re.sub(_URI_SLASHES, r"\1\3", uri) if ":///" in uri else uri


def _as_kept(text: str) -> str:
    """A value as feedparser keeps it: UTF-8 that was read as Latin-1 repaired, C1 controls read as
    cp1252's characters."""
    if text.isascii():
        return text
    try:
        text = text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return text.translate(_CP1252)


def _add_category(entry: dict[str, Any], domain: str | None, term: str) -> None:
    """An item's <category>, added to its tags as feedparser adds it (a domain first, as its scheme)."""
    tags: list[dict[str, str | None]] = entry.setdefault("tags", [])
    if domain:
        tag = {"term": None, "scheme": domain, "label": None}
        if tag not in tags:
            tags.append(tag)
    if not term:
        return
    if tags and not tags[-1]["term"]:
        tags[-1]["term"] = term
    else:
        tag = {"term": term, "scheme": None, "label": None}
        if tag not in tags:
            tags.append(tag)
