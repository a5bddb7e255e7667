"""The cold fetch's shortcuts read exactly what the slow way reads: a plain RSS 2.0 feed read without
feedparser gives feedparser's entries, field by field, and a feed body's text read without
BeautifulSoup and lxml is the parser's text; anything else still goes the slow way."""

from __future__ import annotations

import dataclasses
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import feedparser
import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import make_config
from tracker import htmltext, textutil
from tracker.http import Response
from tracker.pipeline import fetch
from tracker.sources import feeds, rss_plain
from tracker.sources.feeds import RssSource, WordPressRssSource
from tracker.sources.rss_plain import plain_rss_entries
from tracker.store import Store
from tracker.textutil import html_fragment_text

REPO = Path(__file__).resolve().parent.parent
FEED_FILES = sorted([*REPO.glob("tests/fixtures/**/*.xml"), *REPO.glob("tracker/demo/**/*.xml")])
PAGE_FILES = sorted(
    p
    for p in [*REPO.glob("tests/fixtures/**/*"), *REPO.glob("tracker/demo/**/*")]
    if p.suffix in (".html", ".shtml", ".htm")
)
# fixture feeds that are plain RSS 2.0 (read without feedparser), and some that are not
PLAIN_FEEDS = [
    "tests/fixtures/builtin/dow/releases.xml",
    "tests/fixtures/recordings/whitehouse/presidential-actions_feed_p1.bodies-stripped.xml",
    "tracker/demo/site/whitehouse/briefings-statements/feed/index.xml",
    "tracker/demo/live/whitehouse/presidential-actions/feed/index.xml",
]
OTHER_FEEDS = [
    "tests/fixtures/builtin/meti/ml_index_release_atom.xml",  # Atom
    "tests/fixtures/builtin/australia/news.xml",  # xml:base
    "tests/fixtures/recordings/whitehouse/presidential-actions_feed.first-item.xml",  # not closed
]
CONTENT_TYPES = [
    "application/rss+xml",
    "application/rss+xml; charset=UTF-8",
    "text/xml",
    "text/html; charset=utf-8",
    "",
]


def test_the_fixture_feeds_and_pages_are_all_there() -> None:
    found = {p.relative_to(REPO).as_posix() for p in FEED_FILES}
    assert set(PLAIN_FEEDS + OTHER_FEEDS) <= found
    assert len(PAGE_FILES) >= 30


# --- feed bodies: text without a parser ------------------------------------------------------------


def feed_bodies() -> list[str]:
    """Every title and body of every fixture feed, as feedparser reads them."""
    bodies = []
    for path in FEED_FILES:
        parsed = feedparser.parse(path.read_bytes(), sanitize_html=False, resolve_relative_uris=False)
        for e in parsed.entries:
            bodies += [e.get("title", ""), e.get("summary", "")]
            bodies += [c.get("value", "") for c in e.get("content", [])]
    return bodies


def page_fragments() -> list[str]:
    """Every fixture page whole, and the inner HTML of its elements: as written (from an element's
    start tag to the first end tag of its name) and as lxml writes it out."""
    import lxml.html

    fragments = []
    for path in PAGE_FILES:
        page = textutil.decode_bytes(path.read_bytes())
        fragments.append(page)
        for name in ("p", "div", "li", "td", "span", "a", "ul", "table", "article", "section", "body"):
            fragments += re.findall(rf"<{name}\b[^>]*>(.*?)</{name}>", page, re.S | re.I)
        for element in lxml.html.fromstring(page).iter():
            inner = (element.text or "") + "".join(
                lxml.html.tostring(child, encoding="unicode") for child in element
            )
            fragments.append(inner)
    return fragments


def agree(fragments: list[str]) -> int:
    """How many of `fragments` are read without the parser; each of those as the parser reads it."""
    plain = 0
    for html in fragments:
        text = htmltext._plain_fragment_text(html)
        if text is not None:
            plain += 1
            assert text == htmltext._parsed_fragment_text(html), html
    return plain


def test_feed_bodies_in_the_fixtures_read_as_the_parser_reads_them() -> None:
    bodies = feed_bodies()
    assert len(bodies) > 150
    assert agree(bodies) > len(bodies) / 2  # the rest: forms, buttons, svg in WordPress bodies


def test_fragments_of_the_fixture_pages_read_as_the_parser_reads_them() -> None:
    fragments = page_fragments()
    assert len(fragments) > 500
    assert agree(fragments) > len(fragments) / 2


# (fragment, its text, read without the parser?)
TRICKY = [
    ("", "", True),
    ("  \n ", "", True),
    ("Plain words, no markup", "Plain words, no markup", True),
    ("<p>One <b>bold</b>\n word</p><ul><li>a</li><li>b</li></ul>", "One bold word\na\nb", True),
    (
        "a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &nbsp;f&#8217;s &#x4E2D;",
        "a & b <c> \"d\" 'e' f’s 中",
        True,
    ),
    ("AT & T", "AT & T", True),
    # (None: what the parser makes of it depends on libxml2's version)
    ("&copy 2025", None, False),  # no ';'
    ("&notit; &unknown;", None, False),
    ("&#128;uro &#0; &#xD800;", None, False),  # C1, NUL, a surrogate
    ("&#x110000; &#9999999;", None, False),  # past Unicode
    ("line<br>break<br/>again", "line\nbreak\nagain", True),
    ("x</br>y", "xy", False),
    ("<h1>Title</h1><div><p>one</p><p>two</p></div><blockquote>q</blockquote>", "Title\none\ntwo\nq", True),
    ("<p>a</p>\n  <p>b</p>", "a\nb", True),
    ("<ul><li>a<ul><li>b</li><li>c</li></ul></li><li>d</li></ul>", "a\nb\nc\nd", True),
    ("<ol>\n <li>1</li>\n <li>2</li>\n</ol>", "1\n2", True),
    ("<dl><dt>term</dt><dd>definition <p>more</p></dd></dl>", "term\ndefinition\nmore", True),
    ("<table><tbody><tr><th>h</th><td>1</td></tr></tbody></table>", "h\n1", True),
    ("<script>var a = '<p>x</p>';</script>text<style>p { color: red }</style>", "text", False),
    ("<noscript>n</noscript><form><button>b</button></form>t<iframe>i</iframe>", "t", False),
    ("a<!-- a comment -->b", "ab", True),
    ("a<!-->b", "ab", False),  # an abrupt comment
    ("a<!-- never closed <p>b</p>", "a", False),
    ("<!--" * 1000 + "x", "", False),
    ("a<![CDATA[x]]>b", "ab", False),
    ("<?php echo 1; ?>a", "a", False),
    (
        "商务部 海关总署公告2025年第70号<p>关于对<b>镓、锗</b>相关物项实施出口管制的公告</p>",
        "商务部 海关总署公告2025年第70号\n关于对镓、锗相关物项实施出口管制的公告",
        True,
    ),
    ("a\u00a0\u3000b\tc\r\nd", "a b c d", True),
    ("<p>a<div>b</div>c</p>", "a\nb\nc", False),  # a block in a paragraph
    ("<b>bold <p>para</p></b>", "bold\npara", False),
    ("<p>unclosed<p>again", "unclosed\nagain", False),
    ("<div>a</span>b</div>", "ab", False),  # a stray end tag
    ("a</div>b", "a", False),  # closes the wrapper: the parser drops the rest
    ("<ul>loose<li>a</li></ul>", "loose\na", False),
    ("<li>a<li>b", "a\nb", False),
    ("<a href='x'><a href='y'>z</a></a>", "z", False),
    ("<p/>x", "x", False),
    ("a < b > c", "a < b > c", False),
    ("<my-tag>a</my-tag>", "a", False),
    ("<P CLASS=x DATA-y='1 > 0'>Up</P>", "Up", False),  # '>' in a quoted value
    ("<p class=\"x\" data-id=7 hidden>Up</p><img src=a.png alt='pic'>", "Up", True),
    ("a\x00b\x01c", None, False),
    ("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>", True),
]


@pytest.mark.parametrize(("html", "text", "plain"), TRICKY)
def test_a_tricky_fragment_reads_as_the_parser_reads_it(html: str, text: str | None, plain: bool) -> None:
    if text is not None:
        assert htmltext._parsed_fragment_text(html) == text
    assert html_fragment_text(html) == htmltext._parsed_fragment_text(html)
    assert (htmltext._plain_fragment_text(html) is not None) == plain


TAGS = (
    "p div li ul ol br hr img a b i em strong span sup sub mark time table tbody tr td th dl dt dd "
    "h1 h2 pre blockquote section nav figure figcaption font label q s u code wbr script form"
).split()
BITS = [" ", "\n", "x", "word", "中文", "&amp;", "&nbsp;", "&#8217;", "&copy;", "& ", "&c", "\r\n", "\t"]
BITS += ["<!-- c -->", "\u00a0", ">", "&lt;", "&#10;", "<", "</p>", "</div>", "<!--", "&#xD800;", "<p/>"]


def random_fragment(rnd: random.Random, depth: int = 0) -> str:
    out = []
    for _ in range(rnd.randint(0, 5)):
        if rnd.random() < 0.45 or depth > 4:
            out.append(rnd.choice(BITS))
            continue
        tag = rnd.choice(TAGS)
        attrs = rnd.choice(["", ' class="a"', " href='u'", " x=1", " X"])
        if tag in ("br", "hr", "img", "wbr"):
            out.append(f"<{tag}{attrs}{rnd.choice(['', '/'])}>")
        else:
            end = f"</{tag}>" if rnd.random() < 0.9 else ""
            out.append(f"<{tag}{attrs}>{random_fragment(rnd, depth + 1)}{end}")
    return "".join(out)


def test_random_fragments_read_as_the_parser_reads_them() -> None:
    rnd = random.Random(13)
    fragments = [random_fragment(rnd) for _ in range(3000)]
    assert agree(fragments) > 500


def test_a_plain_body_is_read_without_importing_bs4_or_lxml() -> None:
    code = (
        "import sys\n"
        "from tracker.textutil import html_fragment_text\n"
        "assert html_fragment_text('<p>Gallium &amp; germanium</p><ul><li>a</li></ul>') == "
        "'Gallium & germanium\\na'\n"
        "print(sorted(m for m in ('bs4', 'lxml') if m in sys.modules))\n"
        "html_fragment_text('<p>x</p><script>y</script>')\n"
        "print(sorted(m for m in ('bs4', 'lxml') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "['bs4', 'lxml']"]


# --- feeds: entries without feedparser ---------------------------------------------------------------


def fields(entry: Any) -> dict[str, Any]:
    """What FeedSource._item reads of an entry."""
    return {
        "link": entry.get("link"),
        "id": entry.get("id"),
        "guidislink": bool(entry.get("guidislink")),
        "title": entry.get("title", ""),
        "title_type": (entry.get("title_detail") or {}).get("type"),
        "content": [c.get("value", "") for c in entry.get("content") or []],
        "summary": entry.get("summary"),
        "published": entry.get("published"),
        "updated": dict.get(entry, "updated"),  # FeedParserDict.get would fall back to published
        "tags": [(t.get("term"), t.get("scheme")) for t in entry.get("tags", [])],
    }


def read_both(content: bytes, content_type: str) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """The fields of each entry read without feedparser (None: left to it), and by feedparser."""
    plain = plain_rss_entries(content, content_type)
    slow = feeds._feedparser_entries(
        Response("http://feed.test/", 200, content, content_type), "http://feed.test/"
    )
    return ([fields(e) for e in plain] if plain is not None else None), [fields(e) for e in slow]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_a_fixture_feed_reads_as_feedparser_reads_it(path: Path, content_type: str) -> None:
    name = path.relative_to(REPO).as_posix()
    plain, slow = read_both(path.read_bytes(), content_type)
    if name in PLAIN_FEEDS:
        assert plain is not None
    if name in OTHER_FEEDS:
        assert plain is None
    if plain is not None:
        assert plain == slow


NS = (
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:atom="http://www.w3.org/2005/Atom" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
    ' xmlns:media="http://search.yahoo.com/mrss/"'
)


def rss(items: str, head: str = '<?xml version="1.0" encoding="UTF-8"?>\n', channel: str = "") -> bytes:
    return (
        f'{head}<rss version="2.0"{NS}><channel><title>Feed</title><link>http://feed.test/</link>'
        f"{channel}{items}</channel></rss>"
    ).encode()


BENCH_ITEM = (
    "\t<item>\n\t\t<title>Statement on gallium &amp; germanium</title>\n\t\t<link>http://feed.test/s/1</link>\n"
    "\t\t<dc:creator><![CDATA[The White House]]></dc:creator>\n"
    "\t\t<pubDate>Wed, 01 Jan 2025 08:30:00 +0000</pubDate>\n"
    "\t\t<category><![CDATA[Briefings &amp; Statements]]></category>\n"
    '\t\t<guid isPermaLink="false">https://www.whitehouse.gov/?p=1</guid>\n'
    "\t\t<description><![CDATA[Paragraph 0]]></description>\n"
    "\t\t<content:encoded><![CDATA[<p>Paragraph 0</p><p>The post appeared first on X.</p>]]></content:encoded>\n"
    "\t</item>"
)

# (a feed, read without feedparser?)
TRICKY_FEEDS = [
    (rss(BENCH_ITEM), True),
    (rss("<item><title>t</title><description>&lt;p&gt;body&lt;/p&gt;</description></item>"), True),
    (
        rss("<item><guid>http:///feed.test/a</guid><link>http://feed.test/b?x=1&amp;amp;y=2</link></item>"),
        True,
    ),
    (rss("<item><link>http://feed.test/b</link><guid>http://feed.test/a</guid></item>"), True),
    (rss('<item><guid isPermaLink="false">123</guid><title>  padded  </title></item>'), True),
    (rss('<item><guid ISPERMALINK="True">http://x.test/1</guid></item>'), True),
    (rss("<item><title>Ã©tÃ© \u0093quoted\u0094 中文</title><pubDate></pubDate></item>"), True),
    (rss("<item><content:encoded>c</content:encoded><description>d</description></item>"), True),
    (rss("<item><content:encoded></content:encoded><description>d</description></item>"), True),
    (
        rss(
            '<item><category domain="d">A</category><category domain="d">A</category><category>A</category>'
            '<category domain="">B</category><category></category><category domain="e"/></item>'
        ),
        True,
    ),
    (
        rss(
            "<item><title>t</title><author>a@b.test (A)</author><comments>http://c.test/</comments>"
            '<enclosure url="http://e.test/x.mp3" length="1" type="audio/mpeg"/></item>'
        ),
        True,
    ),
    (rss("<item><Title>Upper</Title><PUBDATE>Thu, 02 Jan 2025 08:30:00 +0000</PUBDATE></item>"), True),
    (
        rss(
            "<item><title>t</title></item>",
            channel='<atom:link href="http://feed.test/" rel="self"/>'
            "<image><url>u</url><title>i</title><link>l</link></image><sy:updatePeriod>hourly</sy:updatePeriod>",
        ),
        True,
    ),
    (rss("<item><title>t</title></item>", head=""), True),
    (rss("<item><title>t</title></item>", head='<?xml version="1.0" encoding="iso-8859-1"?>'), False),
    (rss("<item><title>t</title></item>", head='<!DOCTYPE rss [<!ENTITY e "x">]>'), False),
    (rss("<item><title>t</title></item>", head="\ufeff"), False),
    (rss("<item><title>&lt;b&gt;HTML&lt;/b&gt; title</title></item>"), False),  # feedparser: maybe HTML
    (rss("<item><title>AT&amp;T; and more</title></item>"), False),
    (rss("<item><title>a</title><title>b</title></item>"), False),
    (rss("<item><title>t</title><dc:date>2025-01-01</dc:date></item>"), False),
    (rss("<item><title>t</title><media:title>m</media:title></item>"), False),
    (rss('<item><title>t</title><source url="http://s.test/">S</source></item>'), False),
    (rss('<item><link xml:base="http://b.test/">x</link></item>'), False),
    (rss("<item><description><p>unescaped</p></description></item>"), False),
    (rss("<item><title>t</title></item>", channel="<content:encoded>x</content:encoded>"), False),
    (rss("<item><title>t</title>"), False),  # not well-formed
    (rss(""), False),  # no entries
    (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>t</title></entry></feed>',
        False,
    ),
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize(("content", "plain"), TRICKY_FEEDS)
def test_a_tricky_feed_reads_as_feedparser_reads_it(content: bytes, plain: bool, content_type: str) -> None:
    if not plain:
        assert plain_rss_entries(content, content_type) is None
        return
    fast, slow = read_both(content, content_type)
    assert fast is not None and fast == slow


def test_text_xml_without_a_charset_is_read_as_feedparser_reads_it() -> None:
    # text/xml means US-ASCII to feedparser: a UTF-8 feed is read as such only when it says so
    declared, undeclared = (
        rss("<item><title>中文</title></item>"),
        rss("<item><title>中文</title></item>", head=""),
    )
    fast, slow = read_both(declared, "text/xml")
    assert fast == slow == [fields({"title": "中文", "title_detail": {"type": "text/plain"}})]
    assert plain_rss_entries(undeclared, "text/xml") is None
    assert plain_rss_entries(undeclared, "application/rss+xml") is not None


def random_feed(rnd: random.Random) -> bytes:
    texts = ["", " ", "Plain", "  spaced  ", "a &amp; b", "a &amp;amp; b", "x &#233; y", "Ã©tÃ©", "caf\u00e9"]
    texts += [
        "\u0080\u0093q\u0094",
        "中文",
        "<![CDATA[<p>cdata &amp; body</p>]]>",
        "&lt;p&gt;p&lt;/p&gt;",
        "a\nb",
    ]
    links = ["http://e.test/a", "http://e.test/a?x=1&amp;y=2", "http://e.test/&amp;copy;", "http:///e.test/a"]
    links += ["/relative", "", "  http://e.test/s  ", "javascript:alert(1)", "123", "urn:x"]
    permalink = ["", ' isPermaLink="false"', ' isPermaLink="true"']
    dates = ["Wed, 01 Jan 2025 08:30:00 +0000", "", "junk"]
    domains = ["", ' domain="d"']
    elements = [
        lambda: f"<title>{rnd.choice(texts)}</title>",
        lambda: f"<link>{rnd.choice(links)}</link>",
        lambda: f"<guid{rnd.choice(permalink)}>{rnd.choice(links)}</guid>",
        lambda: f"<pubDate>{rnd.choice(dates)}</pubDate>",
        lambda: f"<description>{rnd.choice(texts)}</description>",
        lambda: f"<content:encoded>{rnd.choice(texts)}</content:encoded>",
        lambda: f"<category{rnd.choice(domains)}>{rnd.choice(['', 'A', ' a &amp;amp; b '])}</category>",
        lambda: "<dc:creator>me</dc:creator>",
    ]
    items = "".join(
        "<item>" + "".join(rnd.choice(elements)() for _ in range(rnd.randint(0, 5))) + "</item>"
        for _ in range(rnd.randint(1, 4))
    )
    return rss(
        items, head=rnd.choice(['<?xml version="1.0" encoding="UTF-8"?>', "", '<?xml version="1.0"?>\n'])
    )


def test_random_feeds_read_as_feedparser_reads_them() -> None:
    rnd = random.Random(13)
    plain = 0
    for _ in range(600):
        content = random_feed(rnd)
        fast, slow = read_both(content, rnd.choice(CONTENT_TYPES))
        if fast is not None:
            plain += 1
            assert fast == slow, content
    assert plain > 100


def test_c1_controls_are_read_with_feedparsers_own_table() -> None:
    assert rss_plain._CP1252 == feedparser.html._cp1252


@pytest.mark.parametrize("kind", [RssSource, WordPressRssSource])
@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_a_fixture_feeds_documents_are_the_same_either_way(
    path: Path, kind: type[RssSource] | type[WordPressRssSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(Path(":memory:"), {"feed": {"kind": kind.kind, "url": "http://feed.test/feed/"}})
    with Store(":memory:") as store:
        source = kind(config.source("feed"), None, store)
        fast = source.parse_file(path.read_bytes(), "http://feed.test/feed/", "application/rss+xml")
        monkeypatch.setattr(feeds, "plain_rss_entries", lambda content, content_type: None)
        slow = source.parse_file(path.read_bytes(), "http://feed.test/feed/", "application/rss+xml")
    assert [dataclasses.asdict(d) for d in fast] == [dataclasses.asdict(d) for d in slow]


def stored(db_path: Path) -> list[tuple[Any, ...]]:
    with Store(db_path) as store:
        rows = store.db.execute(
            "SELECT url, title, text, published, language, kind, raw_hash, meta FROM documents ORDER BY url"
        ).fetchall()
    return [tuple(r) for r in rows]


def test_a_plain_feed_fetched_is_stored_as_through_feedparser(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = REPO / "tracker/demo/site/whitehouse/briefings-statements/feed/index.xml"
    httpserver.expect_request("/feed/").respond_with_data(
        path.read_bytes(), content_type="application/rss+xml"
    )
    sources = {"feed": {"kind": "wordpress-rss", "url": httpserver.url_for("/feed/")}}
    [fast] = fetch(make_config(tmp_path / "fast.db", sources))
    monkeypatch.setattr(feeds, "plain_rss_entries", lambda content, content_type: None)
    [slow] = fetch(make_config(tmp_path / "slow.db", sources))
    assert fast.status == slow.status == "ok" and fast.new_documents == slow.new_documents == 2
    assert stored(tmp_path / "fast.db") == stored(tmp_path / "slow.db")


def test_a_plain_feed_is_read_without_importing_feedparser() -> None:
    code = (
        "import sys\n"
        "from tracker.sources.feeds import plain_rss_entries\n"
        f"plain = open({str(REPO / PLAIN_FEEDS[0])!r}, 'rb').read()\n"
        "assert plain_rss_entries(plain, 'application/rss+xml')\n"
        "print('feedparser' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


def test_a_feed_with_a_doctype_never_reaches_the_plain_reader_parser() -> None:
    # a DOCTYPE's entities are feedparser's to drop (the XML-bomb test covers what it does)
    bomb = rss(
        "<item><title>&lol2;</title></item>",
        head='<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>',
    )
    assert plain_rss_entries(bomb, "application/rss+xml") is None


# --- html-list: the title's element found once when it is the link's -----------------------------


@pytest.mark.parametrize(
    ("title", "link", "expected"),
    [
        ("a", "a", ["Link one", "Link two"]),
        ("a.go", "a.go", ["Link one", "Link two"]),
        ("span.t", "a", ["Title one", "Title two"]),
        ("", "a", ["Title one Link one 2025-10-09", "Title two Link two 2025-10-10"]),
    ],
)
def test_an_html_list_titles_its_items_by_the_title_selector(
    httpserver: HTTPServer, db_path: Path, title: str, link: str, expected: list[str]
) -> None:
    rows = "".join(
        f'<li><span class="t">Title {n}</span> <a class="go" href="/n/{i}.html">Link {n}</a> '
        f'<span class="d">2025-10-{9 + i:02d}</span></li>'
        for i, n in enumerate(["one", "two"])
    )
    httpserver.expect_request("/list.html").respond_with_data(
        f'<html><body><ul class="n">{rows}</ul></body></html>', content_type="text/html; charset=utf-8"
    )
    source = {"kind": "html-list", "url": httpserver.url_for("/list.html"), "item": "ul.n li"}
    [stats] = fetch(
        make_config(db_path, {"list": {**source, "title": title, "link": link, "date": "span.d"}})
    )
    assert stats.status == "ok", stats.error
    with Store(db_path) as store:
        titles = [r[0] for r in store.db.execute("SELECT title FROM documents ORDER BY url").fetchall()]
    assert titles == expected
