"""Regular expressions written by a maintainer (rule files, a source's `number`), run with a time
budget so that a pattern that backtracks catastrophically cannot hang the tracker.

They are compiled with the `regex` engine, which accepts the syntax of `re`, avoids much of the
backtracking `re` falls into, and stops a search that runs past a timeout. Inside `budget(s)` every
search of the thread shares one deadline (the budget of one document); outside, each search has
`SEARCH_LIMIT` seconds. The engine is imported by the first pattern compiled: a run that compiles
none (a re-poll that finds nothing new loads no rules) does without it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracker.errors import PatternTimeout

SEARCH_LIMIT = 5.0  # seconds for one search outside a budget
DOCUMENT_BUDGET = 2.0  # seconds for every rule pattern on one document
PROBE_SECONDS = 0.05  # `tracker rules check`: a pattern slower than this on a short probe is refused

_local = threading.local()


def _engine() -> Any:
    """The `regex` module, imported on first use."""
    import regex

    return regex


def __getattr__(name: str) -> Any:
    # `error`: what compiling a bad pattern raises (regex.error), the engine imported to name it
    if name == "error":
        return _engine().error
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Pattern:
    """A compiled pattern with `search` and `finditer` bounded in time; `where` says whose it is."""

    def __init__(self, source: str, where: str = "", flags: int = 0):
        self.source = str(source)  # a plain str, whatever subclass it came as (tracker.yamlfile.LStr)
        self.where = where
        regex = _engine()
        self._re: Any = regex.compile(source, flags | regex.VERSION0)
        self.groupindex: dict[str, int] = dict(self._re.groupindex)
        self.groups: int = int(self._re.groups)

    def search(self, text: str) -> Any:
        """The first match, or None; PatternTimeout when the time is up."""
        seconds = _remaining(self)
        try:
            return self._re.search(text, timeout=seconds)
        except TimeoutError:
            raise PatternTimeout(self.source, self.where, _spent(seconds)) from None

    def finditer(self, text: str) -> list[Any]:
        """Every match, in order (a list: the time is spent here, not by the caller)."""
        seconds = _remaining(self)
        try:
            return list(self._re.finditer(text, timeout=seconds))
        except TimeoutError:
            raise PatternTimeout(self.source, self.where, _spent(seconds)) from None

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"


@contextmanager
def budget(seconds: float = DOCUMENT_BUDGET) -> Iterator[None]:
    """Every pattern search of this thread inside the block shares one deadline."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + seconds
    _local.total = seconds
    try:
        yield
    finally:
        _local.deadline = previous


def _remaining(p: Pattern) -> float:
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return SEARCH_LIMIT
    left = float(deadline) - time.monotonic()
    if left <= 0:
        raise PatternTimeout(p.source, p.where, float(getattr(_local, "total", 0.0)))
    return left


def _spent(seconds: float) -> float:
    return float(getattr(_local, "total", seconds)) if getattr(_local, "deadline", None) else seconds


def probe(source: str, seconds: float = PROBE_SECONDS) -> bool:
    """True when the pattern answers quickly on short inputs built to make a badly written one
    backtrack (runs of the characters it names, ending in one it cannot match)."""
    regex = _engine()
    compiled = regex.compile(source, regex.VERSION0)
    letters = {c for c in source if c.isalnum()} | {"a", "0", " ", "."}
    runs = [c * 30 for c in sorted(letters)] + ["ab" * 15, "a " * 15, "a1" * 15]
    for run in runs:
        for tail in ("!", "\n", "\x00"):
            try:
                compiled.search(run + tail, timeout=seconds)
            except TimeoutError:
                return False
    return True
