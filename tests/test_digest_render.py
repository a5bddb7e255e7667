"""The HTML digest as a reader sees it: built from a real database through the CLI, checked for
email safety and escaping, then opened in headless Chromium at phone and desktop widths.

Chromium is Debian's package (`.ci/run` installs it); a machine without it fails here, never skips."""

from __future__ import annotations

import html as htmllib
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.demo.server import site_root

NOW = "2026-10-30T00:00:00+00:00"  # 11 days before the 2025-70 suspension expires (2026-11-10)
EVIL = "<script>alert(1)</script>"
EVIL_URL = "https://www.mofcom.gov.cn/zwgk/zcfb/art/2027/art_gallium.html"

# A MOFCOM article whose title carries markup as text: the stored title holds a literal "<script>".
EVIL_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head>
<meta charset="utf-8">
<title>商务部公告2027年第1号 关于对镓实施出口管制的公告_商务部</title>
<meta name="PubDate" content="2026-10-29 10:00">
</head><body>
<div class="art-top"><span>来源：安全与管制局</span> <span>2026-10-29 10:00</span></div>
<h1 class="art-title">商务部公告2027年第1号 关于对镓实施出口管制的公告 &lt;script&gt;alert(1)&lt;/script&gt;</h1>
<div class="art-con" id="zoom">
<p>【发布文号】商务部公告2027年第1号</p>
<p>【发文日期】2026年10月29日</p>
<p>根据《中华人民共和国出口管制法》有关规定，经国务院批准，决定对镓相关物项实施出口管制。本公告自2027年2月1日起正式实施。</p>
</div></body></html>
"""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no network here: no calls home
    "--disable-component-update",
    "--disable-sync",
]
# what Chromium logs (with --enable-logging=stderr) when a page misbehaves
PAGE_TROUBLE = re.compile(r":CONSOLE|Uncaught|Failed to load resource|net::ERR_", re.IGNORECASE)


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
    if path is None:
        pytest.fail(
            "chromium is not installed: these tests need Debian's chromium package, which .ci/run "
            "installs (apt-get install chromium)"
        )
    return path


def browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on `page` with a fresh profile; it must exit 0."""
    profile.mkdir()
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium took over 30 s on {page.name} (a script's alert() dialog blocks it)")
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def page_trouble(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if PAGE_TROUBLE.search(line)]


def png_image(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the filtered scanlines of an 8-bit RGB(A) PNG, checked chunk by chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, width, height, bpp, idat = 8, 0, 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path}: bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and not interlace, f"unexpected PNG {depth=} {colour=}"
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + width * bpp), "IDAT does not match IHDR"
    return width, height, raw


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def digest_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digest of the five 2025 MOFCOM sample pages plus one hostile title, as of NOW."""
    tmp = tmp_path_factory.mktemp("digest")
    cfg, db = tmp / "tracker.toml", tmp / "tracker.db"
    cfg.write_text(
        'timezone = "Asia/Shanghai"\n[alerts]\nmax_age_days = 0\n[[recipients]]\nemail = "a@example.org"\n',
        "utf-8",
    )
    pages = sorted((site_root() / "mofcom/zwgk/zcfb/art/2025").glob("*.html"))
    assert len(pages) >= 5, "the 2025 MOFCOM sample pages are missing"
    run("--config", str(cfg), "--db", str(db), "ingest", *map(str, pages), "--source", "mofcom")
    evil = tmp / "gallium.html"
    evil.write_text(EVIL_PAGE, "utf-8")
    out = run(
        "--config", str(cfg), "--db", str(db), "ingest", str(evil), "--source", "mofcom", "--url", EVIL_URL
    )
    assert EVIL in out  # stored as text, markup and all
    html = tmp / "digest.html"
    out = run("--config", str(cfg), "--db", str(db), "digest", "--now", NOW, "--out", str(html))
    assert out.startswith(f"wrote {html}")
    return html


def test_digest_html_is_email_safe_and_escapes_titles(digest_html: Path) -> None:
    html = digest_html.read_text("utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    doc = parse(html)
    tags = [t for t, _ in doc.tags]
    assert "script" not in tags and "style" not in tags and "link" not in tags
    assert EVIL in "".join(doc.text)  # the reader sees the title as written
    for tag, attrs in doc.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} on <{tag}>"
            if tag == "a" and name == "href":
                continue
            if name in ("src", "srcset", "background"):  # a mail client has no folder to look in
                assert (value or "").startswith(("cid:", "data:")), f"<{tag} {name}={value!r}>"
            assert not re.search(r"https?:|//|url\(", value or "", re.IGNORECASE), (
                f"<{tag} {name}={value!r}> loads something from outside"
            )
    links = [attrs.get("href") for tag, attrs in doc.tags if tag == "a"]
    assert links == [EVIL_URL]
    assert any("style" in attrs for _, attrs in doc.tags)  # styled inline, nothing else
    assert "class" not in {name for _, attrs in doc.tags for name in attrs}


@pytest.mark.parametrize("width", [420, 1000])
def test_chromium_renders_the_digest(digest_html: Path, tmp_path: Path, width: int) -> None:
    png = tmp_path / f"digest-{width}.png"
    proc = browse(
        digest_html,
        tmp_path / "profile",
        f"--window-size={width},2000",
        f"--screenshot={png}",
        "--enable-logging=stderr",
        "--v=0",
    )
    assert not page_trouble(proc.stderr), "\n".join(page_trouble(proc.stderr))
    assert png.is_file(), f"no screenshot:\n{proc.stderr[-3000:]}"
    w, h, raw = png_image(png)
    assert (w, h) == (width, 2000)
    # A page of one colour filters to a handful of byte values (the colour's channels and 0s,
    # whatever the row filters; an empty card ~50); anti-aliased text gives nearly all 256.
    assert len(set(raw)) > 128, "the screenshot is blank"


def test_chromium_logs_page_errors_where_we_look(tmp_path: Path) -> None:
    """The check above would pass vacuously if Chromium stopped logging console errors to stderr."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefinedFunction();</script></body></html>", "utf-8")
    proc = browse(bad, tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert any("Uncaught" in line for line in page_trouble(proc.stderr)), proc.stderr[-3000:]


def test_chromium_dom_has_the_sections_and_no_script_element(digest_html: Path, tmp_path: Path) -> None:
    proc = browse(digest_html, tmp_path / "profile", "--dump-dom")
    dom = parse(proc.stdout)
    text = " ".join(" ".join(dom.text).split())
    assert "New export control" in text
    assert "Suspension" in text
    assert "Suspension expires in 11 days (2026-11-10)" in text
    assert "Coming up (next 30 days)" in text
    assert "suspension of MOFCOM 2025-70 expires 2026-11-10, in 11 days" in text
    assert EVIL in text  # shown as text ...
    assert "script" not in [t for t, _ in dom.tags]  # ... and never an element
    assert "&lt;script&gt;" in proc.stdout


# Each frame reports its viewport width and how wide its content really is; a frame whose content
# is wider than the frame would make a phone scroll sideways. (A page narrower than 500 px can't be
# measured at the top level: headless Chromium lays the window out at 500 px at least.)
LAYOUT_PROBE = """<script>addEventListener("load", function () {
  document.querySelectorAll("iframe").forEach(function (f) {
    var root = f.contentDocument.documentElement;
    f.setAttribute("data-client-width", root.clientWidth);
    f.setAttribute("data-scroll-width", root.scrollWidth);
    f.removeAttribute("srcdoc");
  });
});</script>"""


def test_digest_fits_phone_and_desktop_widths_without_sideways_scrolling(
    digest_html: Path, tmp_path: Path
) -> None:
    frames = [("digest", w, digest_html.read_text("utf-8")) for w in (360, 420, 1000)]
    frames.append(("control", 420, f'<p style="white-space:nowrap;">{"x" * 200}</p>'))  # too wide
    page = tmp_path / "frames.html"
    page.write_text(
        "<!DOCTYPE html><html><body>"
        + "".join(
            f'<iframe data-name="{name}" width="{w}" height="800" style="border:0;display:block;" '
            f'srcdoc="{htmllib.escape(doc, quote=True)}"></iframe>'
            for name, w, doc in frames
        )
        + LAYOUT_PROBE
        + "</body></html>",
        "utf-8",
    )
    proc = browse(page, tmp_path / "profile", "--window-size=1200,800", "--dump-dom")
    measured = [
        (attrs["data-name"], int(attrs["data-client-width"] or 0), int(attrs["data-scroll-width"] or 0))
        for tag, attrs in parse(proc.stdout).tags
        if tag == "iframe" and "data-scroll-width" in attrs
    ]
    assert len(measured) == len(frames), proc.stdout[-2000:]
    (control,) = [m for m in measured if m[0] == "control"]
    assert control[2] > control[1], "the probe no longer sees content wider than its frame"
    for name, client, scroll in measured:
        if name == "digest":
            assert scroll <= client, f"the digest is {scroll} px wide in a {client} px view"
