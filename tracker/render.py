"""Timeline and status output: table, JSON, CSV, Markdown, iCalendar and the HTML page.

Plain-text forms are written here; the HTML page is a template (templates/timeline.html.j2)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

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


def table(
    events: Iterable[TimelineEvent], *, colour: bool = False, columns: int | None = None, search: bool = False
) -> Iterator[str]:
    """Rows that fit the terminal: date, jurisdiction, action, number, in force, minerals, title."""
    import click

    total = columns or shutil.get_terminal_size((120, 24)).columns
    fixed = [("announced", 10), ("jur", 3), ("action", 16), ("document", 15), ("in force", 23)]
    rest = max(20, total - sum(w for _, w in fixed) - len(fixed) - 1)
    mineral_w = max(12, rest // 3)
    title_w = max(8, rest - mineral_w - 1)
    yield " ".join(fit(h, w) for h, w in fixed) + " " + fit("minerals", mineral_w) + " " + "title"
    for e in events:
        span = (e.effective or "") + (f"→{e.expires}" if e.expires else "")
        action = fit(e.action, 16)
        if colour:
            action = click.style(action, fg=ACTION_COLOURS.get(e.action, "white"))
        cells = [
            fit(e.announced or "?", 10),
            fit(e.jurisdiction, 3),
            action,
            fit(e.doc_number or "-", 15),
            fit(span, 23),
            fit(", ".join(e.minerals) or "-", mineral_w),
            fit(e.title, title_w).rstrip(),
        ]
        yield " ".join(cells)
        if search and e.snippet:
            yield " " * 11 + "… " + e.snippet


def json_lines(events: Iterable[TimelineEvent]) -> Iterator[str]:
    """A JSON array, written one event at a time (the whole result is never held in memory)."""
    first = True
    yield "["
    for e in events:
        yield ("" if first else ",") + "\n  " + json.dumps(_public(e), ensure_ascii=False)
        first = False
    yield "\n]\n" if not first else "]\n"


def _public(e: TimelineEvent) -> dict[str, Any]:
    d = {k: getattr(e, k) for k in FIELDS}
    d["trigger"] = e.trigger
    if e.snippet is not None:
        d["snippet"] = e.snippet
    return d


def csv_lines(events: Iterable[TimelineEvent]) -> Iterator[str]:
    """CSV with a header; list fields joined with '; '."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*FIELDS, "trigger"])
    yield buf.getvalue()
    for e in events:
        buf.seek(0)
        buf.truncate()
        row = _public(e)
        writer.writerow(
            [
                "; ".join(v) if isinstance(v, list) else ("" if v is None else v)
                for v in (row[k] for k in (*FIELDS, "trigger"))
            ]
        )
        yield buf.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_lines(events: Iterable[TimelineEvent]) -> Iterator[str]:
    """A Markdown table for pasting into reports."""
    yield "| Announced | Jurisdiction | Action | Document | In force | Minerals | Title |\n"
    yield "|---|---|---|---|---|---|---|\n"
    for e in events:
        span = (e.effective or "") + (f" to {e.expires}" if e.expires else "")
        title = f"[{_md(e.title)}]({e.urls[0]})" if e.urls else _md(e.title)
        yield (
            f"| {e.announced or ''} | {e.jurisdiction} | {e.action} | {_md(e.doc_number or '')} | {span} | "
            f"{_md(', '.join(e.minerals))} | {title} |\n"
        )


def _ics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


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
    """An iCalendar file: an all-day event on each effective date and each expiry."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    yield "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//minerals-tracker//timeline//EN\r\nCALSCALE:GREGORIAN\r\n"
    for e in events:
        name = e.doc_number or e.title
        for kind, when, verb in (("effective", e.effective, "in force"), ("expires", e.expires, "ends")):
            if not when:
                continue
            day = date.fromisoformat(when)
            lines = [
                "BEGIN:VEVENT",
                f"UID:{e.id}-{kind}@minerals-tracker",
                f"DTSTAMP:{stamp}",
                f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
                f"SUMMARY:{_ics_escape(f'{e.jurisdiction} {e.action.replace(chr(95), chr(32))} {verb}: {name}')}",
                f"DESCRIPTION:{_ics_escape(e.title + (' — ' + ', '.join(e.minerals) if e.minerals else ''))}",
            ]
            if e.urls:
                lines.append(f"URL:{e.urls[0]}")
            lines.append("END:VEVENT")
            yield "".join(_fold(line) + "\r\n" for line in lines)
    yield "END:VCALENDAR\r\n"


def html_page(
    events: list[TimelineEvent], *, lanes: str, title: str, environment: Any, generated: str
) -> str:
    """One self-contained HTML file: swimlanes per mineral or jurisdiction on a time axis."""
    data = [_public(e) for e in events]
    return str(
        environment.get_template("timeline.html.j2").render(
            events=data, lanes=lanes, title=title, generated=generated, count=len(data)
        )
    )
