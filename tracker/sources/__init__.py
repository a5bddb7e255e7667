"""Source kinds, one module each; every kind registers itself under its `kind` string."""

from tracker.settings import KindSettings
from tracker.sources import federalregister, feeds, htmllist, mofcom, usgs  # noqa: F401  (register)
from tracker.sources.base import KINDS, Item, ListSource, Page, SourceKind
from tracker.wording import did_you_mean

__all__ = ["KINDS", "Item", "ListSource", "Page", "SourceKind", "get_kind"]


def get_kind(name: str) -> type[SourceKind[KindSettings]]:
    """The source kind registered as `name`; KeyError with the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        hint = did_you_mean(name, KINDS)
        raise KeyError(f"unknown source kind {name!r}{hint}; kinds: {', '.join(sorted(KINDS))}") from None
