"""Timeline and status output: table, JSON, CSV, Markdown, iCalendar and the HTML page.

Plain-text forms are written here; the HTML page is a template (templates/timeline.html.j2). Every
stored value is escaped for its format (tracker/safe.py) whatever the database holds."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

import click

from tracker import safe
from tracker.timeline import FIELDS, TimelineEvent

ACTION_COLOURS = {
    "new_control": "red",
    "expanded_control": "red",
    "suspension": "yellow",
    "lift": "green",
    "reinstatement": "magenta",
    "list_addition": "cyan",
    "list_removal": "cyan",
    "executive_action": "blue",
    "agreement": "blue",
    "funding": "blue",
    "other": "white",
}


def width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fit(text: str, cols: int) -> str:
    """`text` cut or padded to exactly `cols` terminal columns."""
    out, used = [], 0
    for c in text:
        w = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if used + w > cols - (1 if width(text) > cols else 0):
            out.append("…")
            used += 1
            break
        out.append(c)
        used += w
    return "".join(out) + " " * max(0, cols - used)


def pad(text: str, cols: int) -> str:
    """`text` padded to at least `cols` terminal columns, never cut."""
    return text + " " * max(0, cols - width(text))


# --- how wide a table is: the one decision for every table the CLI prints -------------------------


def table_columns(*, wide: bool = False, stream: TextIO | None = None) -> int | None:
    """The width a table must fit: the terminal's, when `stream` (stdout by default) is one; None,
    every column whole and nothing cut, with `wide` (--wide) or when the output is not a terminal
    (a pipe, a file: as `ls` and `git` do, so `| grep` and `> file` see everything)."""
    if wide or not is_terminal(sys.stdout if stream is None else stream):
        return None
    return shutil.get_terminal_size((120, 24)).columns


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal (a person reading), not a pipe or a file."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


def cell(text: str, cols: int, columns: int | None) -> str:
    """A cell `cols` columns wide of a table fitting `columns` (table_columns): cut with … to fit;
    with None, padded and whole, pushing the cells after it on."""
    return pad(text, cols) if columns is None else fit(text, cols)


def clip(text: str, columns: int | None) -> str:
    """A line cut to `columns` terminal columns with …; whole when `columns` is None (table_columns)."""
    if columns is None or width(text) <= columns:
        return text
    return fit(text, max(1, columns)).rstrip(" ")


def last_cell(head: str, text: str, columns: int | None, least: int = 10) -> str:
    """A line of a table fitting `columns`: `head` whole, then `text` (a title, an error) cut to the
    columns left, keeping at least `least` of it; whole when `columns` is None."""
    return head + clip(text, None if columns is None else max(least, columns - width(head)))


# The English line of an event or control (tracker/describe.py) is at most about this wide: with
# `wide`, the description is padded to it (never cut) so that the title after it lines up.
DESCRIPTION_WIDTH = 110


_SHORT_SCALES = ((" trillion", "T"), (" billion", "B"), (" million", "M"))
AMOUNT_WIDTH = 11  # `USD 24.8M`, `JPY 1,000B`


def short_amount(amount: str | None) -> str:
    """A stored amount as the table writes it: `USD 24.8M`, `JPY 1.2B` ('' for none)."""
    if not amount:
        return ""
    for word, letter in _SHORT_SCALES:
        if amount.endswith(word):
            return amount[: -len(word)] + letter
    return amount


def table(
    events: Iterable[TimelineEvent],
    *,
    colour: bool = False,
    columns: int | None = None,
    search: bool = False,
    wide: bool = False,
) -> Iterator[str]:
    """Rows that fit the terminal: date, jurisdiction, action, number, in force, amount (of a
    funding event, short: `USD 24.8M`; left out on a terminal too narrow for it), minerals and the
    description (the English line, when the events carry it); with `wide` the description is not
    cut and the title follows it."""

    total = columns or shutil.get_terminal_size((120, 24)).columns
    put = pad if wide else fit  # wide: every cell whole (table_columns decides when)
    fixed = [("announced", 10), ("jur", 3), ("action", 16), ("document", 15), ("in force", 23)]
    rest = total - sum(w for _, w in fixed) - len(fixed) - 1
    # the amount where there is room for it beside 20 columns of minerals and description
    amount_w = AMOUNT_WIDTH if wide or rest - AMOUNT_WIDTH - 1 >= 20 else 0
    if amount_w:
        fixed.append(("amount", amount_w))
        rest -= amount_w + 1
    rest = max(20, rest)
    mineral_w = max(12, rest // 3)
    description_w = max(8, rest - mineral_w - 1)
    header = " ".join(fit(h, w) for h, w in fixed) + " " + fit("minerals", mineral_w) + " "
    yield header + (pad("description", DESCRIPTION_WIDTH) + " title" if wide else "description")
    t = safe.terminal  # no stored control character reaches the terminal raw
    for e in events:
        span = t(e.effective or "") + (f"→{t(e.expires)}" if e.expires else "")
        action = put(t(e.action), 16)
        if colour:
            action = click.style(action, fg=ACTION_COLOURS.get(e.action, "white"))
        cells = [
            put(t(e.announced or "?"), 10),
            put(t(e.jurisdiction), 3),
            action,
            put(t(e.doc_number or "-"), 15),
            put(span, 23),
        ]
        if amount_w:
            cells.append(put(t(short_amount(e.amount)) or "-", amount_w))
        cells.append(put(t(", ".join(e.minerals)) or "-", mineral_w))
        description = t(e.description or "")
        if wide:
            cells += [pad(description, DESCRIPTION_WIDTH), t(e.title)]
        else:
            cells.append(fit(description, description_w))
        yield " ".join(cells).rstrip()
        if search and e.snippet:
            yield " " * 11 + "… " + t(e.snippet)


def json_lines(events: Iterable[TimelineEvent]) -> Iterator[str]:
    """A JSON array, written one event at a time (the whole result is never held in memory)."""
    first = True
    yield "["
    for e in events:
        yield ("" if first else ",") + "\n  " + safe.json_text(json.dumps(_public(e), ensure_ascii=False))
        first = False
    yield "\n]\n" if not first else "]\n"


def _public(e: TimelineEvent) -> dict[str, Any]:
    d = {k: getattr(e, k) for k in FIELDS}
    d["trigger"] = e.trigger
    if e.snippet is not None:
        d["snippet"] = e.snippet
    return d


def csv_lines(events: Iterable[TimelineEvent]) -> Iterator[str]:
    """CSV with a header; list fields joined with '; '; no cell a spreadsheet would run as a formula."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*FIELDS, "trigger"])
    yield buf.getvalue()
    for e in events:
        buf.seek(0)
        buf.truncate()
        row = _public(e)
        writer.writerow([csv_value(row[k]) for k in (*FIELDS, "trigger")])
        yield buf.getvalue()


def csv_value(value: Any) -> str:
    """One CSV cell: a list joined with '; ', None empty, text neutralised (safe.csv_cell)."""
    if isinstance(value, list):
        value = "; ".join(map(str, value))
    return "" if value is None else safe.csv_cell(str(value))


# every field of a status record (tracker.describe.status_records), in the order of
# `status --format json` and `--format csv`
STATUS_FIELDS = (
    "jurisdiction",
    "measure",
    "title",
    "description",
    "mineral",
    "state",
    "since",
    "until",
    "changed_by",
    "event_id",
)


def status_table(records: Iterable[dict[str, Any]], *, columns: int | None) -> Iterator[str]:
    """The controls in force as a table fitting `columns` (table_columns): jurisdiction, measure,
    mineral, state, since, until and the description, cut to fit; with None every cell whole and
    the title (the original, Chinese for MOFCOM) after the description."""
    fixed = [("jurisdiction", "jur", 4), ("measure", "measure", 18), ("mineral", "mineral", 16)]
    fixed += [("state", "state", 10), ("since", "since", 10), ("until", "until", 10)]
    header = " ".join(pad(h, w) for _, h, w in fixed) + " "
    yield header + (pad("description", DESCRIPTION_WIDTH) + " title" if columns is None else "description")
    t = safe.terminal  # no stored control character reaches the terminal raw
    for r in records:
        cells = [cell(t(r[k] or "-"), w, columns) for k, _, w in fixed]
        description = t(r["description"] or "")
        if columns is None:
            cells += [pad(description, DESCRIPTION_WIDTH), t(r["title"] or "")]
        else:
            cells.append(fit(description, max(20, columns - sum(w + 1 for *_, w in fixed))))
        yield " ".join(cells).rstrip()


def status_csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The controls in force as CSV, every field (STATUS_FIELDS); no cell a spreadsheet would run
    as a formula."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(STATUS_FIELDS)
    for r in records:
        writer.writerow([csv_value(r[k]) for k in STATUS_FIELDS])
    yield buf.getvalue()


def markdown_lines(events: Iterable[TimelineEvent]) -> Iterator[str]:
    """A Markdown table for pasting into reports: every cell escaped, the title a link only to the
    first http(s) URL."""
    yield "| Announced | Jurisdiction | Action | Document | In force | Minerals | Title |\n"
    yield "|---|---|---|---|---|---|---|\n"
    md = safe.md_text
    for e in events:
        span = (e.effective or "") + (f" to {e.expires}" if e.expires else "")
        link = next((u for u in e.urls if safe.http_url(u)), None)
        yield (
            f"| {md(e.announced or '')} | {md(e.jurisdiction)} | {md(e.action)} | {md(e.doc_number or '')} | "
            f"{md(span)} | {md(', '.join(e.minerals))} | {safe.md_link(e.title, link)} |\n"
        )


def _fold(line: str) -> str:
    """RFC 5545: lines of at most 75 octets, continued with CRLF and a space."""
    out, current = [], b""
    for c in line:
        b = c.encode("utf-8")
        if len(current) + len(b) > 75:
            out.append(current.decode("utf-8"))
            current = b" "
        current += b
    out.append(current.decode("utf-8"))
    return "\r\n".join(out)


def ics_lines(events: Iterable[TimelineEvent], now: datetime | None = None) -> Iterator[str]:
    """An iCalendar file: an all-day event on each effective date and each expiry. Every text value
    is escaped (RFC 5545) and every line folded, so no stored value can start a property or an
    event; the URL is the first http(s) URL, or none."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    yield "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//minerals-tracker//timeline//EN\r\nCALSCALE:GREGORIAN\r\n"
    for e in events:
        name = e.doc_number or e.title
        url = next((u for u in map(safe.link_url, e.urls) if u), None)
        for kind, when, verb in (("effective", e.effective, "in force"), ("expires", e.expires, "ends")):
            if not when:
                continue
            day = date.fromisoformat(when)
            lines = [
                "BEGIN:VEVENT",
                f"UID:{safe.ics_text(e.id)}-{kind}@minerals-tracker",
                f"DTSTAMP:{stamp}",
                f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
                f"SUMMARY:{safe.ics_text(f'{e.jurisdiction} {e.action.replace(chr(95), chr(32))} {verb}: {name}')}",
                f"DESCRIPTION:{safe.ics_text(e.title + (' — ' + ', '.join(e.minerals) if e.minerals else ''))}",
            ]
            if url:
                lines.append(f"URL:{url}")
            lines.append("END:VEVENT")
            yield "".join(_fold(line) + "\r\n" for line in lines)
    yield "END:VCALENDAR\r\n"


def html_page(
    events: list[TimelineEvent],
    *,
    lanes: str,
    title: str,
    environment: Any,
    generated: str,
    jurisdictions: Mapping[str, str] | None = None,
) -> str:
    """One self-contained HTML file: swimlanes per mineral or jurisdiction on a time axis, each
    jurisdiction named as `jurisdictions` (code -> name, the vocabulary's countries) names it. The
    template autoescapes; characters XML 1.0 does not allow are dropped from the page."""
    data = [_public(e) for e in events]
    page = environment.get_template("timeline.html.j2").render(
        events=data,
        lanes=lanes,
        title=title,
        generated=generated,
        count=len(data),
        jurisdictions=dict(jurisdictions or {}),
    )
    return safe.xml_chars(str(page))
