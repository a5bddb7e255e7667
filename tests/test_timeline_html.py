"""The timeline page (`tracker timeline --format html`): one self-contained file, safe with a hostile
scraped title, drawn by headless Chromium at a desktop and a phone width."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.demo.server import site_root
from tracker.store import Store

CHROMIUM = Path("/usr/bin/chromium")
ART = site_root() / "mofcom/zwgk/zcfb/art"
EVIL = "</script><script>alert(1)</script>"
EVIL_ESCAPED = "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
EVIL_URL = "https://www.mofcom.gov.cn/zwgk/zcfb/art/2027/art_0001.html"
TITLE = "商务部公告2027年第1号 关于对镓实施出口管制的公告"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def data_json(page: str) -> Any:
    """The events embedded in the page, parsed back."""
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert found, "no embedded data"
    return json.loads(found.group(1))


DRIVER = """<!DOCTYPE html><body><iframe id="f" src="mineral.html" style="width:1200px;height:900px"></iframe>
<pre id="out"></pre>
<script>
document.getElementById("f").onload = function () {
  var d = this.contentDocument, form = d.getElementById("controls"), out = {};
  function state() {
    var lanes = Array.from(d.querySelectorAll("g.lane")).map(function (g) { return g.getAttribute("data-lane"); });
    return [lanes, d.getElementById("shown").textContent, d.querySelectorAll("#list tbody tr:not([hidden])").length];
  }
  function set(name, value) { form.elements[name].value = value; form.dispatchEvent(new Event("input", { bubbles: true })); }
  set("q", "GALLIUM"); out.search = state(); set("q", "");
  var box = d.querySelector('#legend input[data-action="new_control"]');
  box.click(); out.actions = state(); box.click();
  form.elements.lanes[1].click(); out.lanes = state(); form.elements.lanes[0].click();
  set("from", "2025"); out.from = state(); set("to", "2025"); out.range = state(); set("from", ""); set("to", "");
  d.querySelector('circle.marker[data-id]').dispatchEvent(new MouseEvent("click", { bubbles: true }));
  out.details = d.getElementById("details").hidden ? null : d.querySelector("#details h3").textContent;
  out.all = state();
  document.getElementById("out").textContent = JSON.stringify(out);
};
</script></body>"""


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a valid, non-blank PNG (checked without PIL)."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    chunks, pos = {}, 8
    while pos < len(raw):
        (length,) = struct.unpack(">I", raw[pos : pos + 4])
        kind, body = raw[pos + 4 : pos + 8], raw[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", raw[pos + 8 + length : pos + 12 + length])[0]
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    stride = width * (3 if colour == 2 else 4) + 1
    pixels = zlib.decompress(chunks[b"IDAT"])
    assert len(pixels) == stride * height
    rows = {pixels[i : i + stride] for i in range(0, len(pixels), stride)}
    assert len(rows) > height // 10 and len(set(pixels)) > 64, f"{path.name} looks blank"
    return width, height


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A database from the sample MOFCOM pages plus one with a hostile title; the page in both lane modes."""
    tmp = tmp_path_factory.mktemp("timeline")
    evil = tmp / "evil.html"
    evil.write_text(
        f"<html><body><h1 class='art-title'>{TITLE} &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h1>"
        "<div class='art-con'><p>【发布文号】商务部公告2027年第1号</p><p>【发文日期】2027年01月05日</p>"
        "<p>决定对镓实施出口管制。</p></div></body></html>",
        "utf-8",
    )
    db = str(tmp / "t.db")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("TRACKER_"):
                mp.delenv(name)
        mp.chdir(tmp)
        samples = sorted(str(p) for p in (*ART.glob("2023/*.html"), *ART.glob("2025/*.html")))
        run("--db", db, "ingest", *samples, "--source", "mofcom")
        run("--db", db, "ingest", str(evil), "--source", "mofcom", "--url", EVIL_URL)
        run("--db", db, "timeline", "--format", "html", "--out", str(tmp / "mineral.html"))
        run(
            "--db",
            db,
            "timeline",
            "--format",
            "html",
            "--lanes",
            "jurisdiction",
            "--out",
            str(tmp / "jur.html"),
        )
        Store(tmp / "empty.db").close()  # an empty tracker database: `timeline` creates none
        run("--db", str(tmp / "empty.db"), "timeline", "--format", "html", "--out", str(tmp / "empty.html"))
        events = json.loads(run("--db", db, "timeline", "--format", "json"))
    return {
        "dir": tmp,
        "events": events,
        **{k: (tmp / f"{k}.html").read_text("utf-8") for k in ("mineral", "jur")},
    }


@pytest.fixture(scope="module")
def browser(pages: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Headless Chromium runs, all at once: DOM dumps and screenshots; name -> (stdout, stderr)."""
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is missing (/usr/bin/chromium): the timeline page tests need Debian's chromium package, "
            "which .ci/run installs (apt-get install -y chromium); install it the same way."
        )
    tmp: Path = pages["dir"]
    # headless windows are at least 500 px wide: the phone width is an iframe of 420 px
    (tmp / "phone.html").write_text(
        '<!DOCTYPE html><body style="margin:0"><iframe src="mineral.html" '
        'style="border:0;display:block;width:420px;height:900px"></iframe></body>',
        "utf-8",
    )
    # the filters, driven from a page that frames the timeline (file pages may read each other with
    # --allow-file-access-from-files); it writes what the timeline shows after each step into #out
    (tmp / "drive.html").write_text(DRIVER, "utf-8")
    suspension = next(e for e in pages["events"] if e["action"] == "suspension")
    jobs = {
        "mineral": ["--dump-dom", (tmp / "mineral.html").as_uri()],
        "jur": ["--dump-dom", (tmp / "jur.html").as_uri()],
        "details": ["--dump-dom", (tmp / "mineral.html").as_uri() + f"#ev-{suspension['id']}"],
        "empty": ["--dump-dom", (tmp / "empty.html").as_uri()],
        "filters": ["--allow-file-access-from-files", "--dump-dom", (tmp / "drive.html").as_uri()],
        "wide": [f"--screenshot={tmp / 'wide.png'}", (tmp / "mineral.html").as_uri()],
        "narrow": [
            f"--screenshot={tmp / 'narrow.png'}",
            "--window-size=420,900",
            (tmp / "phone.html").as_uri(),
        ],
    }
    procs = {}
    for name, args in jobs.items():
        cmd = [
            str(CHROMIUM),
            "--headless",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / ('profile-' + name)}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
            "--window-size=1200,900",
            *(["--no-sandbox"] if os.geteuid() == 0 else []),
            *args,
        ]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"chromium {name} exited {proc.returncode}: {stderr[-2000:]}"
        out[name] = (stdout, stderr)
    return out


def test_the_page_is_one_file_with_no_outside_resources(pages: dict[str, Any]) -> None:
    urls = {u for e in pages["events"] for u in e["urls"]}
    for page in (pages["mineral"], pages["jur"]):
        assert "<link" not in page and "@import" not in page and "url(" not in page
        assert not re.search(r"\ssrc\s*=", page), "nothing is loaded from elsewhere"
        refs = re.findall(r"<(\w+)[^>]*?\shref=\"([^\"]*)\"", page)
        assert refs and all(tag == "a" for tag, _ in refs), refs
        assert {href for _, href in refs} == urls, (
            "every event links to its sources, and nothing else is linked"
        )
        for tag in re.findall(r"<a\s[^>]*>", page):
            assert 'target="_blank"' in tag and 'rel="noopener"' in tag, tag
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert scripts == [
            '<script type="application/json" id="data">',
            '<script type="application/json" id="labels">',
            "<script>",
        ]
        outside = re.sub(r'<script type="application/json".*?</script>|<a\s[^>]*>', "", page, flags=re.S)
        assert "https://" not in outside
        assert re.findall(r"http://[^\"' ]*", outside) == ["http://www.w3.org/2000/svg"]


def test_a_hostile_title_stays_data(pages: dict[str, Any]) -> None:
    for page in (pages["mineral"], pages["jur"]):
        assert "<script>alert(1)" not in page and EVIL not in page
        assert f"{TITLE} {EVIL_ESCAPED}" in page  # the table, escaped
        data = data_json(page)
        assert data == pages["events"], "the embedded events are the ones `--format json` gives"
        evil = next(e for e in data if e["doc_number"] == "MOFCOM 2027-1")
        assert evil["title"] == f"{TITLE} {EVIL}" and evil["urls"] == [EVIL_URL]
    assert len(pages["events"]) == 8
    assert 'value="mineral" checked' in pages["mineral"] and 'value="jurisdiction" checked' in pages["jur"]


def test_chromium_draws_a_lane_per_mineral(
    pages: dict[str, Any], browser: dict[str, tuple[str, str]]
) -> None:
    dom = browser["mineral"][0]
    assert '<html lang="en" class="js">' in dom, "the script ran"
    lanes = re.findall(r'<g class="lane" data-lane="([^"]+)"', dom)
    expected = sorted({m for e in pages["events"] for m in e["minerals"]})
    assert lanes == expected and {"gallium", "holmium", "rare-earths"} <= set(lanes)
    markers = re.findall(r'<circle class="marker a-(\w+)', dom)
    assert len(markers) == sum(len(e["minerals"]) for e in pages["events"])
    bars = re.findall(r'<rect class="bar a-suspension" data-id="(\w+)"', dom)
    suspension = next(e for e in pages["events"] if e["action"] == "suspension")
    assert bars and set(bars) == {suspension["id"]} and len(bars) == len(suspension["minerals"])
    assert "suspended until 2026-11-10" in dom
    legend = re.search(r'<ul class="legend" id="legend">(.*?)</ul>', dom, re.S)
    assert legend and {"New export control", "Suspension", "Control expanded", "Other"} <= set(
        re.findall(r'<span class="sw"></span>([^<]+)</label>', legend.group(1))
    )
    assert re.search(r'<g class="tick year">.*?>2025</text>', dom), "year ticks"
    assert "8 of 8 events shown" in dom
    assert "<script>alert(1)" not in dom and EVIL_ESCAPED in dom
    assert len(re.findall(r"<script\b", dom)) == 3


def test_chromium_draws_a_lane_per_jurisdiction(browser: dict[str, tuple[str, str]]) -> None:
    dom = browser["jur"][0]
    assert re.findall(r'<g class="lane" data-lane="([^"]+)"', dom) == ["CN"]
    assert len(re.findall(r'<circle class="marker', dom)) == 8
    assert len(re.findall(r'<rect class="bar a-suspension', dom)) == 1
    assert "<script>alert(1)" not in dom and EVIL_ESCAPED in dom


def test_an_event_link_opens_its_details(pages: dict[str, Any], browser: dict[str, tuple[str, str]]) -> None:
    dom = browser["details"][0]
    panel = re.search(r'<section id="details"([^>]*)>(.*?)</section>', dom, re.S)
    assert panel and "hidden" not in panel.group(1)
    suspension = next(e for e in pages["events"] if e["action"] == "suspension")
    body = panel.group(2)
    for text in (suspension["title"], suspension["trigger"], "2026-11-10", "MOFCOM 2025-70", "holmium"):
        assert text in body
    links = re.findall(r'<a href="([^"]+)" target="_blank" rel="noopener">', body)
    assert links == suspension["urls"]
    assert re.search(rf'<circle class="marker a-suspension sel" data-id="{suspension["id"]}"', dom)


def test_an_empty_timeline_says_so(browser: dict[str, tuple[str, str]]) -> None:
    dom = browser["empty"][0]
    assert "No events match the filters." in dom and "All events (0)" in dom


def test_screenshots_at_desktop_and_phone_width(
    pages: dict[str, Any], browser: dict[str, tuple[str, str]]
) -> None:
    assert png_size(pages["dir"] / "wide.png") == (1200, 900)
    assert png_size(pages["dir"] / "narrow.png") == (420, 900)


def test_no_script_errors_in_chromium(browser: dict[str, tuple[str, str]]) -> None:
    for name, (_, stderr) in browser.items():
        console = [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
        assert not console, f"{name}: {console}"


def test_the_filters_redraw_the_chart_and_the_table(browser: dict[str, tuple[str, str]]) -> None:
    found = re.search(r'<pre id="out">(.*?)</pre>', browser["filters"][0], re.S)
    assert found and found.group(1), "the driver page did not run"
    out = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    rare_2025 = ["dysprosium", "erbium", "europium", "gadolinium", "holmium", "lutetium", "rare-earths"]
    rare_2025 += ["samarium", "scandium", "terbium", "thulium", "ytterbium", "yttrium"]
    assert out["search"] == [["gallium", "germanium"], "2 of 8 events shown", 2]  # title/mineral substring
    assert out["actions"][1:] == ["3 of 8 events shown", 3] and "gallium" not in out["actions"][0]
    assert out["lanes"] == [["CN"], "8 of 8 events shown", 8]
    assert out["from"] == [sorted([*rare_2025, "gallium"]), "6 of 8 events shown", 6]  # 2027 counts
    assert out["range"] == [rare_2025, "5 of 8 events shown", 5]
    assert out["details"] == "商务部 海关总署公告2025年第18号 公布对部分中重稀土相关物项实施出口管制的决定"
    assert len(out["all"][0]) == 16 and out["all"][1:] == ["8 of 8 events shown", 8]
