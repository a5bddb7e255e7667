"""The configuration as the library uses it: frozen dataclasses and the small helpers they need
(URL origins). Parsing and checking a `tracker.toml` is tracker.config's work; this module imports
nothing of the tracker but its version, errors and wording, so every stage may import it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker import __version__
from tracker.errors import UnknownSourceError
from tracker.wording import did_you_mean

DEFAULTS_NAME = "defaults.toml"
ENV_CONFIG = "TRACKER_CONFIG"
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_WAIT = 300.0  # seconds: the longest single wait of a fetch (a backoff step, Retry-After, host_delay)
MAX_INTERVAL = 366 * 86400

# the range of each number in [fetch] and of a source's own: (lowest, highest, whether the lowest
# itself is allowed); outside it a run would hang, never end, or do nothing
FETCH_LIMITS: dict[str, tuple[float, float, bool]] = {
    "timeout": (0, 3600, False),
    "retries": (0, 10, True),
    "backoff": (0, MAX_WAIT, True),
    "host_delay": (0, MAX_WAIT, True),
    "max_bytes": (1, 1_000_000_000, True),
    "max_redirects": (0, 20, True),
    "workers": (1, 64, True),
}
SOURCE_LIMITS: dict[str, tuple[float, float, bool]] = {
    "timeout": FETCH_LIMITS["timeout"],
    "max_pages": (1, 1000, True),
}


@dataclass(frozen=True)
class FetchSettings:
    """How politely and how far the fetchers go."""

    user_agent: str = f"minerals-tracker/{__version__}"
    timeout: float = 20.0
    retries: int = 2
    backoff: float = 2.0
    host_delay: float = 1.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    workers: int = 4


@dataclass(frozen=True)
class KindSettings:
    """The settings of a source kind, beyond the keys every source shares. Each kind that has some
    declares them as a frozen dataclass subclassing this one (tracker.sources.base.SourceKind.Settings);
    a kind without any uses this one, empty."""


@dataclass(frozen=True)
class SourceConfig:
    """One configured source: the keys every kind shares, plus the kind's own settings."""

    name: str
    kind: str
    urls: tuple[str, ...]
    interval: int = 6 * 3600
    enabled: bool = True
    timeout: float | None = None
    max_pages: int = 3
    recheck: bool = True
    language: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    user_agent: str | None = None  # this source's own User-Agent (a site that refuses the default)
    description: str = ""  # one line that `tracker sources` prints under the source
    settings: KindSettings = field(default_factory=KindSettings)  # of the kind's own Settings class

    @property
    def hosts(self) -> frozenset[str]:
        """Hosts this source's links may lead to: those of its URLs plus `allowed_hosts`."""
        found = {urlsplit(u).hostname or "" for u in self.urls}
        found |= {(urlsplit(a).hostname or "") if "://" in a else a for a in self.allowed_hosts}
        return frozenset(h.lower() for h in found if h)

    @property
    def origins(self) -> frozenset[str]:
        """Origins (`scheme://host:port`) this source may request, redirects included: those of its
        URLs and of `allowed_hosts` (a bare host name there stands for http and https on their
        default ports), and the https upgrade of each http origin on port 80."""
        found: set[str] = set()
        for entry in (*self.urls, *self.allowed_hosts):
            if "://" in entry:
                found.add(url_origin(entry) or "")
            else:
                found |= {
                    f"{scheme}://{_host_part(entry.lower())}:{port}" for scheme, port in DEFAULT_PORTS.items()
                }
        found |= {_upgraded(o) for o in found if o.startswith("http://") and o.endswith(":80")}
        return frozenset(o for o in found if o)


def url_origin(url: str) -> str | None:
    """The origin of an http(s) URL as `scheme://host:port`, the port always written out; None
    for anything else (another scheme, no host, a port out of range)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port out of range or not a number
        return None
    if port is None or not parts.hostname:
        return None
    return f"{scheme}://{_host_part(parts.hostname.lower())}:{port}"


def show_origin(origin: str) -> str:
    """An origin as people write it: without the scheme's default port."""
    for scheme, port in DEFAULT_PORTS.items():
        if origin.startswith(f"{scheme}://") and origin.endswith(f":{port}"):
            return origin[: -len(f":{port}")]
    return origin


def _host_part(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets


def _upgraded(origin: str) -> str:
    """http://host:80 as https://host:443: the move to TLS on the same host that sites make."""
    return "https://" + origin.removeprefix("http://").removesuffix(":80") + ":443"


@dataclass(frozen=True)
class AlertSettings:
    """When things become alerts."""

    max_age_days: int = 90  # events announced earlier are recorded without alerting (0: no limit)
    warn_days: tuple[int, ...] = (30, 7)  # warnings before an expiry or a start, one per threshold
    failures_before_alert: int = 3  # failed runs in a row that open a health alert
    silent_after: float = 3.0  # a source with no success for this many intervals is 'silent'


@dataclass(frozen=True)
class DigestSettings:
    """The daily digest."""

    time: str = "07:30"  # local time (see `timezone`) the scheduler sends it
    send_empty: bool = True  # on a day without changes, send the short "no changes" note
    templates: str = ""  # a folder whose templates override the built-in ones
    horizon_days: int = 30  # upcoming deadlines listed this far ahead
    backlog_days: int = 7  # a new recipient's first digest carries the alerts of this many days before it


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server; the password only ever comes from the environment variable named here."""

    host: str = "localhost"
    port: int = 25
    security: str = "none"  # none | starttls | ssl
    username: str = ""
    password_env: str = "TRACKER_SMTP_PASSWORD"
    sender: str = "minerals-tracker <tracker@localhost>"
    timeout: float = 30.0
    ca_file: str = ""


@dataclass(frozen=True)
class Recipient:
    """Who gets a digest, and which alerts."""

    email: str
    name: str = ""
    minerals: tuple[str, ...] = ()  # any alias or group; empty: all
    jurisdictions: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    min_severity: str = "info"
    health: bool = True  # source-health alerts too


@dataclass(frozen=True)
class Config:
    """The whole configuration, as the library uses it."""

    path: Path | None
    db_path: Path
    timezone: str = "UTC"
    rules_dir: Path | None = None  # --rules, else [rules] dir; None: the rules shipped with the tracker
    fetch: FetchSettings = field(default_factory=FetchSettings)
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    recipients: tuple[Recipient, ...] = ()

    def source(self, name: str) -> SourceConfig:
        """The source called `name`, or an UnknownSourceError suggesting the closest names."""
        if name not in self.sources:
            hint = did_you_mean(name, self.sources, n=3)
            known = ", ".join(sorted(self.sources)) or "none"
            raise UnknownSourceError(f"unknown source {name!r}{hint}; configured: {known}")
        return self.sources[name]


COMMON_SOURCE_KEYS = {f.name for f in dataclasses.fields(SourceConfig)} - {"name", "settings"} | {"url"}
TOP_LEVEL_KEYS = {
    "database",
    "fetch",
    "sources",
    "timezone",
    "rules",
    "rules_dir",  # the old spelling of [rules] dir, still read
    "alerts",
    "digest",
    "smtp",
    "recipients",
}


def known_timezone(name: str) -> bool:
    """True for a time zone name the tz database knows ('Asia/Shanghai', 'UTC')."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
