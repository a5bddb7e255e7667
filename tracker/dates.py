"""The one date syntax of every date option: `2025`, `2025-04`, `2025-04-04`, or a span back from
today (`30d`, `6w`, `3m`, `1y`).

A year or a month stands for its first day where a period starts (`--since`, `backfill --until`,
which walks back to it) and for its last day where a period ends or a single day is asked for
(`timeline --until`, `status --as-of`: "as of 2025" is the state at the end of 2025)."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from tracker.errors import InputError

DATE_FORMS = "YYYY, YYYY-MM, YYYY-MM-DD, or a span back from today such as 30d, 6w, 3m, 1y"
_RELATIVE = re.compile(r"(\d{1,6})\s*([dwmy])")


def parse_when(value: str, *, end: bool = False, today: date | None = None) -> date:
    """'2025' / '2025-04' / '2025-04-04' / '30d' / '6w' / '3m' / '1y' as a date; `end` picks the
    last day of a year or month. Anything else is an InputError naming the accepted forms."""
    text = value.strip().lower()
    today = today or date.today()
    try:
        if m := _RELATIVE.fullmatch(text):
            return _back(today, int(m.group(1)), m.group(2))
        if re.fullmatch(r"\d{4}", text):
            return date(int(text), 12, 31) if end else date(int(text), 1, 1)
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
            y, mo = int(m.group(1)), int(m.group(2))
            return date(y, mo, calendar.monthrange(y, mo)[1] if end else 1)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except (ValueError, OverflowError):  # 2025-13, 2025-02-30, a span past year 1
        pass
    raise InputError(f"{value!r} is not a date: use {DATE_FORMS}")


def _back(today: date, n: int, unit: str) -> date:
    """`n` days, weeks, months or years before `today` (a month or year back keeps the day of the
    month, or the month's last day when it is shorter)."""
    if unit == "d":
        return today - timedelta(days=n)
    if unit == "w":
        return today - timedelta(weeks=n)
    months = today.month - 1 - (n if unit == "m" else 12 * n)
    year, month = today.year + months // 12, months % 12 + 1
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))
