"""Plain data passed between the stages: what a source yields and what a run reports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any


def sha256(data: bytes | str) -> str:
    """Hex SHA-256 of bytes, or of a string's UTF-8 encoding."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


@dataclass
class Document:
    """One announcement as a source delivered it, before storage."""

    source: str
    url: str
    title: str
    text: str
    raw_hash: str
    published: date | None = None
    language: str = "en"
    doc_number: str | None = None
    keys: list[str] = field(default_factory=list)
    kind: str = "announcement"
    meta: dict[str, Any] = field(default_factory=dict)
    source_kind: str = ""  # the kind of the source that delivered it (set by the source)

    @property
    def content_hash(self) -> str:
        """Hash of what a reader sees (title and text), so a re-render with new markup is no edit."""
        return sha256(self.title.strip() + "\n" + self.text.strip())

    @property
    def all_keys(self) -> list[str]:
        """Identifiers that make two deliveries the same announcement, strongest first."""
        keys = [self.doc_number] if self.doc_number else []
        return keys + [k for k in self.keys if k and k not in keys]


@dataclass
class ListVersion:
    """A list of minerals as one version of a list page states it."""

    items: list[str]
    stated_count: int | None
    published: date | None


@dataclass
class RunStats:
    """What one run of one source did; becomes a row of `fetch_runs`."""

    source: str
    mode: str = "fetch"
    status: str = "ok"
    http_status: int | None = None
    items_seen: int = 0
    new_documents: int = 0
    updated_documents: int = 0
    pages: int = 0
    requests: int = 0
    not_modified: int = 0
    skipped_offhost: int = 0
    error: str | None = None
    item_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the source was read completely."""
        return self.status == "ok"
