"""Small pieces of wording every message shares: counts in words ('1 event', '2 events') and
the "did you mean" hint after an unknown name."""

from __future__ import annotations

from collections.abc import Iterable


def plural(n: int, word: str, many: str | None = None) -> str:
    """`n` and `word`, the word in the plural unless `n` is 1 (`many`, else `word` + 's'):
    plural(1, "event") is '1 event', plural(0, "entry", "entries") is '0 entries'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def did_you_mean(word: str, known: Iterable[str], n: int = 1) -> str:
    """' (did you mean 'severity'?)' for the closest of `known` to a mistyped `word` (up to `n`
    of them), or '' when none is close: the tail of every "unknown ..." message."""
    import difflib  # deferred: only a mistake needs it (1.6 ms of every command otherwise)

    close = difflib.get_close_matches(word, sorted(known), n=n)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
