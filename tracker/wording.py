"""Counts in words, for every message that says how many: '1 event', '2 events'."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """`n` and `word`, the word in the plural unless `n` is 1 (`many`, else `word` + 's'):
    plural(1, "event") is '1 event', plural(0, "entry", "entries") is '0 entries'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
