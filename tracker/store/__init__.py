"""The data layer: the only package that holds SQL. `Store` is one connection to the tracker
database; its methods come from one module per group of tables:

- `base`        the file, the connection, migrations on open, transactions, errors in one line
- `documents`   documents, their URLs and versions, the document listing
- `bookkeeping` what a fetch keeps between runs: unclassified marks, pending texts, the HTTP cache
- `events`      event drafts, events, their minerals and references, the states of controls
- `runs`        fetch runs, source health, list versions
- `alerts`      alerts, deliveries, recipients seen, health incidents; events as alerts read them
- `digests`     digests sent or being sent
- `queries`     the questions of timeline, show and status: events by filters, full text, reference
- `migrations`  the schema's history (frozen: a migration never imports live code)
"""

from __future__ import annotations

from tracker.store.alerts import Alert, AlertTables, Due, Incident
from tracker.store.base import Database, database_error, now_iso, require_database
from tracker.store.bookkeeping import BookkeepingTables, CacheEntry, PendingText
from tracker.store.digests import Digest, DigestTables
from tracker.store.documents import DocumentTables, StoredDocument
from tracker.store.events import EventTables, StoredEvent
from tracker.store.queries import DocumentBrief, EventDocument, EventQuery, Hits, QueryTables, Walk
from tracker.store.runs import Run, RunTables, SourceState, source_health

__all__ = [
    "Alert",
    "CacheEntry",
    "Digest",
    "DocumentBrief",
    "Due",
    "EventDocument",
    "EventQuery",
    "Hits",
    "Incident",
    "PendingText",
    "Run",
    "SourceState",
    "StoredDocument",
    "StoredEvent",
    "Store",
    "Walk",
    "database_error",
    "now_iso",
    "require_database",
    "source_health",
]


class Store(
    DocumentTables,
    BookkeepingTables,
    EventTables,
    RunTables,
    AlertTables,
    DigestTables,
    QueryTables,
    Database,
):
    """A connection to the tracker database (see `Database`): open one per thread; every write is
    atomic."""
