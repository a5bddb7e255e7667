"""Plain data passed between the stages: what a source yields and what a run reports."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tracker.errors import ParseError
from tracker.wording import plural


def sha256(data: bytes | str) -> str:
    """Hex SHA-256 of bytes, or of a string's UTF-8 encoding."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


# the kinds a source can be made of in config alone: their numbers and guids are keys only within
# their scope (the source's `authority`, else its name); the built-in kinds know what their
# numbers mean and keep them global (MOFCOM 2025-70 is one announcement wherever it is posted)
SCOPED_KINDS = ("html-list", "rss")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+")
# the URLs a stored document may have: web pages, files given to `tracker ingest`, and the Federal
# Register's `federalregister:NNNN` for a result without a usable html_url; never javascript:,
# data:, or anything with a control character or white space in it
_DOCUMENT_URL = re.compile(r"^(?:(?:https?|file)://|federalregister:)[^\x00-\x20\x7f-\x9f\s]+$", re.I)


def scoped_number_key(scope: str, number: str, published: date | None) -> str | None:
    """The key of a config-only source's document number: the number within its scope, with the
    year of issue unless the number holds a year; None (the URL decides) when neither is known."""
    if _YEAR.search(number):
        return f"no:{scope}|{number}"
    if published is not None:
        return f"no:{scope}|{number}|{published.year}"
    return None


def guid_key(guid: str, scope: str | None = None) -> str:
    """The key of a feed item's guid: global when it is an absolute URL (it names its publisher),
    else, for a config-only source, only within `scope` (a bare '123' is unique to one feed)."""
    if scope is None or _ABSOLUTE_URL.match(guid):
        return f"guid:{guid}"
    return f"guid:{scope}|{guid}"


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
    # config-only kinds: the scope its doc_number is a key within (None: the number is global)
    number_scope: str | None = None

    def sanitise(self) -> None:
        """Make this delivery safe to store and to show, in place (every kind's documents pass
        here on their way into the store): no terminal escape sequences or control characters in
        the title and number (none at all) or the text and meta (newlines and tabs kept); no date
        of issue before 1900 or more than a year ahead (dropped and noted). ParseError when the
        URL is not one a reader may follow."""
        # textutil brings BeautifulSoup (~70 ms): loaded only once a document is cleaned, so a
        # command that reads the database never pays for it
        from tracker.textutil import clean_text, clean_title, issue_date

        if not _DOCUMENT_URL.match(self.url):
            raise ParseError(f"not storing a document whose URL is not a web address: {self.url[:200]!r}")
        self.title = clean_title(self.title)
        self.text = clean_text(self.text)
        if self.doc_number:
            self.doc_number = clean_title(self.doc_number) or None
        self.meta = _clean_meta(self.meta)
        self.published = issue_date(self.published)

    @property
    def content_hash(self) -> str:
        """Hash of what a reader sees (title and text), so a re-render with new markup is no edit."""
        return sha256(self.title.strip() + "\n" + self.text.strip())

    @property
    def all_keys(self) -> list[str]:
        """Identifiers that make two deliveries the same announcement, strongest first."""
        number: str | None = self.doc_number
        if number and self.number_scope is not None:
            number = scoped_number_key(self.number_scope, number, self.published)
        keys = [number] if number else []
        return keys + [k for k in self.keys if k and k not in keys]


def _clean_meta(value: Any) -> Any:
    from tracker.textutil import clean_text  # deferred: see Document.sanitise

    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_clean_meta(k): _clean_meta(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_meta(v) for v in value]
    return value


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
    notes: list[str] = field(default_factory=list)  # worth knowing, not a failure (texts refused)

    @property
    def ok(self) -> bool:
        """True when the source was read completely."""
        return self.status == "ok"

    def summary(self) -> str:
        """What the run did, in words, as `tracker fetch` and `tracker run --once` print it: '8 items,
        8 new, 0 updated, 10 requests' (or 'not modified, 1 request') and its notes; for a run that
        did not succeed, its error and what it stored nonetheless."""

        if self.status != "ok":
            return f"{self.error or self.status} ({self.new_documents} new stored)"
        if self.not_modified and not self.items_seen:
            detail = "not modified" + (
                f", {self.updated_documents} updated" if self.updated_documents else ""
            )
        else:
            detail = f"{plural(self.items_seen, 'item')}, {self.new_documents} new, {self.updated_documents} updated"
        extra = (
            f"; {plural(self.skipped_offhost, 'off-host link')} not followed" if self.skipped_offhost else ""
        )
        extra += "".join(f"; {n}" for n in self.notes)
        return f"{detail}, {plural(self.requests, 'request')}{extra}"
