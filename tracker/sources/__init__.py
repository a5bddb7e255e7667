"""Source kinds, one module each; every kind registers itself under its `kind` string."""

from tracker.sources import federalregister, feeds, htmllist, mofcom, usgs  # noqa: F401
from tracker.sources.base import KINDS, Item, ListSource, Page, SourceKind, get_kind

__all__ = ["KINDS", "Item", "ListSource", "Page", "SourceKind", "get_kind"]
