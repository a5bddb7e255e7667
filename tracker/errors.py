"""The exceptions minerals-tracker raises; each carries the context a user needs to act.

TrackerError                      anything the CLI turns into one line and a non-zero exit
├── ConfigError                   a bad config file, key or value (file, key)
├── UnknownSourceError            a source name that is not configured
├── InputError                    an unreadable or unusable input file (path)
├── InitError                     `tracker init` would replace files, or cannot write them (paths)
├── StoreError                    the database cannot be opened or used (path)
│   └── MissingDatabaseError      a command that reads asked for a database that does not exist
├── Interrupted                   a run stopped (Ctrl-C, SIGTERM) between two documents
├── AlreadyRunningError           another `tracker run` holds the database's lock (lock file, pid)
├── PatternTimeout                a maintainer's regular expression ran out of time (pattern, where)
├── RuleFileError                 a rule or vocabulary file is wrong (file, line)   [tracker.yamlfile]
├── MailError                     the mail server refused or failed a send            [tracker.mailer]
│   └── DeliveryUncertain         the message went out, the server's answer never came
└── SourceError                   a source could not be read (source, url)
    ├── FetchError                transport: refused, timeout, HTTP error, oversized, off-host
    │   └── TextRefused           a full text answered with something else   [sources.federalregister]
    └── ParseError                the response is not what the source kind expects
        └── LayoutChangedError    a list that had items now yields none

The exceptions marked with a module live beside the code that raises them.
"""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error minerals-tracker raises on purpose."""


class ConfigError(TrackerError):
    """A configuration problem, located by file and key."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        self.message = message
        where = ":".join(p for p in (file, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class UnknownSourceError(TrackerError):
    """A source name that the configuration does not define."""


class InputError(TrackerError):
    """An input file that cannot be read or parsed."""


class InitError(TrackerError):
    """`tracker init` found files it would replace (without --force), or cannot write its own."""


class StoreError(TrackerError):
    """The database cannot be opened or written."""


class MissingDatabaseError(StoreError):
    """The database file does not exist, and whoever opened it asked not to create one (a command
    that only reads: a mistyped --db must not become a new, empty tracker)."""


class Interrupted(TrackerError):
    """A run was asked to stop; it stopped between two documents, leaving nothing half-stored."""


class AlreadyRunningError(TrackerError):
    """Another `tracker run` on the same database holds its lock file."""


class SourceError(TrackerError):
    """A source could not be read; recorded as a failed run, never as 'no news'."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        url: str | None = None,
        status: int | None = None,
    ):
        self.message = message
        self.source = source
        self.url = url
        self.status = status
        super().__init__(f"{url}: {message}" if url else message)


class FetchError(SourceError):
    """The HTTP exchange failed: connection, timeout, HTTP status, size cap or host policy."""


class ParseError(SourceError):
    """The response arrived but is not what the source kind expects."""


class LayoutChangedError(ParseError):
    """A list page or feed that used to yield items yields none: its layout probably changed."""


class PatternTimeout(TrackerError):
    """A regular expression from a rule file or the config ran past its time (catastrophic
    backtracking on some text); `where` names it (rule id and file:line, or a config key), and
    `document` the document it was run on, once known."""

    def __init__(self, pattern: str, where: str, seconds: float, document: str | None = None):
        self.pattern = pattern
        self.where = where
        self.seconds = seconds
        self.document = document
        on = f" on {document}" if document else ""
        super().__init__(f"{where}: pattern {pattern!r} took longer than {seconds:g} s{on}")
