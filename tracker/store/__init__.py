"""The data layer: the only package that holds SQL. `Store` is one connection to the tracker
database; its methods come from one module per group of tables:

- `base`       the file, the connection, migrations on open, transactions, errors in one line
- `documents`  documents, their URLs and versions, classification bookkeeping, pending texts, HTTP cache
- `runs`       fetch runs, source health, list versions
- `migrations` the schema's history (frozen: a migration never imports live code)
"""

from __future__ import annotations

from tracker.store.base import Database, database_error, now_iso, require_database
from tracker.store.documents import CacheEntry, DocumentTables, PendingText
from tracker.store.runs import RunTables

__all__ = [
    "CacheEntry",
    "PendingText",
    "Store",
    "database_error",
    "now_iso",
    "require_database",
]


class Store(DocumentTables, RunTables, Database):
    """A connection to the tracker database. Open one per thread; every write is atomic."""
