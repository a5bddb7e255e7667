"""`tracker init`: a starter `tracker.toml`, and a copy of the shipped rules to edit.

The starter config is generated from the defaults a run really uses (the built-in `defaults.toml`
over the settings dataclasses), so it cannot drift from them: each key is written commented out
with its default, and a setting added to a dataclass appears in it without a change here."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from tracker import __version__
from tracker.config import load_config
from tracker.errors import InitError
from tracker.settings import DEFAULTS_NAME, Config
from tracker.shipped import shipped_dir

CONFIG_NAME = "tracker.toml"
RULES_NAME = "rules"
RULE_PATTERNS = ("*.yaml", "README.md")  # what a rules folder holds (pyproject.toml ships the same)
COLUMN = 36  # where a key's hint starts

# a short hint after a key; a key without one is written all the same
HINTS = {
    "timezone": 'dates shown to people and the digest\'s time, e.g. "Asia/Shanghai"',
    "database.path": "or --db FILE; a relative path is read from the working directory",
    "fetch.user_agent": "sent with every request: add a contact address",
    "fetch.timeout": "seconds for a whole request",
    "fetch.retries": "more attempts after a connection error, timeout, 5xx or 429",
    "fetch.backoff": "seconds before the first retry, doubled each time",
    "fetch.host_delay": "seconds between two requests to one host",
    "fetch.max_bytes": "the largest response accepted, after decompression",
    "fetch.workers": "sources fetched side by side",
    "sources.urls": "replace the list to move the source",
    "sources.interval": "how often `tracker run` fetches it: 30m, 6h, 1d",
    "sources.enabled": "false switches the source off",
    "alerts.max_age_days": "events announced longer ago are recorded without an alert (0: no limit)",
    "alerts.warn_days": "days before an expiry or a start that each give a warning",
    "alerts.failures_before_alert": "failed runs in a row that open a health alert",
    "alerts.silent_after": "a source without success for this many intervals is 'silent'",
    "digest.time": "local time (in `timezone`) the digest goes out",
    "digest.send_empty": 'on a quiet day, a short "no changes" note',
    "digest.templates": "a folder whose subject.txt.j2, digest.txt.j2, digest.html.j2 override the built-in ones",
    "digest.horizon_days": "deadlines listed this far ahead",
    "digest.backlog_days": "a new recipient's first digest carries the alerts of this many days before it",
    "smtp.security": "none | starttls | ssl",
    "smtp.password_env": "the password is read from this environment variable, never from this file",
    "smtp.timeout": "seconds for one recipient's whole exchange with the server",
    "smtp.ca_file": "a CA bundle for a private mail server",
}

HEAD = f"""\
# tracker.toml: the configuration of minerals-tracker, written by `tracker init` ({__version__}).
#
# Every setting is optional. A commented-out line shows the built-in default: remove the "# " to
# change it. [rules] dir and [digest] templates are read from this file's folder, other paths from
# the working directory. Secrets never go in this file: see [smtp] password_env.
"""

OWN_SOURCE = """\
# A source of your own, no Python needed (`tracker sources --kinds` lists every kind's settings):
# [sources.ministry]
# kind = "html-list"
# url = "https://www.example.gov/notices/"
# item = "ul.notices li"            # CSS selectors
# title = "a"
# link = "a"
# date = "span.date"
"""

RECIPIENT = """\
# Who gets the digest: one [[recipients]] table each (without any, nothing is sent).
# [[recipients]]
# email = "analyst@example.org"
# minerals = ["gallium", "稀土"]    # any alias or group; leave out for everything
# jurisdictions = ["CN"]
# actions = ["new_control", "suspension", "lift"]
# min_severity = "medium"           # info | low | medium | high | critical
"""


def starter_config(db_path: str | None = None, *, commented: bool = True) -> str:
    """The text of a starter tracker.toml: every section, each key with its default (commented
    out unless `commented` is False), the built-in sources with their URLs, and examples of a
    source and a recipient; `[rules] dir` names the copy of the rules beside it, and `[database]
    path` is `db_path` when given."""
    config = load_config(None, use_user_config=False)
    raw = tomllib.loads(resources.files("tracker").joinpath(DEFAULTS_NAME).read_text("utf-8"))
    off = "# " if commented else ""
    out = [HEAD, *_entry(off, "timezone", config.timezone), ""]
    out.append("[database]")
    if db_path is None:
        out += _entry(off, "database.path", str(config.db_path))
    else:
        out += _entry("", "database.path", db_path, "or --db FILE")
    out.append("")
    out.append("[rules]")
    out += _entry("", "rules.dir", RULES_NAME, "the rules to edit; leave out for the built-in rules")
    out.append("")
    fetch = dataclasses.asdict(config.fetch)
    fetch["user_agent"] = raw.get("fetch", {}).get("user_agent", fetch["user_agent"])  # keeps {version}
    out += _section(off, "fetch", fetch, "# How politely and how far every fetch goes.")
    out += _sources(off, config)
    out.append(_commented(OWN_SOURCE, commented))
    out += _section(
        off, "alerts", dataclasses.asdict(config.alerts), "# When events and sources become alerts."
    )
    out += _section(off, "digest", dataclasses.asdict(config.digest), "# The daily digest.")
    out += _section(
        off, "smtp", dataclasses.asdict(config.smtp), "# The mail server the digest goes out through."
    )
    out.append(_commented(RECIPIENT, commented))
    return "\n".join(out)


def write_starter(folder: str | Path, *, db_path: str | None = None, force: bool = False) -> list[Path]:
    """Write FOLDER/tracker.toml (with `db_path` as its [database] path, if given) and
    FOLDER/rules/ (a copy of the shipped rules, README.md included) and return the files written;
    files there already are kept (InitError naming them, nothing written) unless `force`. Other
    files in the folder are never touched."""
    folder = Path(folder)
    shipped = shipped_dir(RULES_NAME)
    files: dict[Path, bytes] = {folder / CONFIG_NAME: starter_config(db_path=db_path).encode("utf-8")}
    for source in _rule_files(shipped):
        files[folder / RULES_NAME / source.name] = source.read_bytes()
    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder}: not a folder")
    existing = [p for p in files if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise InitError(
            f"{len(existing)} file(s) there already, nothing written (--force replaces them): {names}"
        )
    written = []
    try:
        (folder / RULES_NAME).mkdir(parents=True, exist_ok=True)
        for path, data in files.items():
            path.write_bytes(data)
            written.append(path)
    except OSError as exc:
        raise InitError(f"{exc.filename or folder}: cannot write: {exc.strerror or exc}") from None
    return written


def _rule_files(folder: Path) -> list[Path]:
    found = {p for pattern in RULE_PATTERNS for p in folder.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.name)


def _sources(off: str, config: Config) -> list[str]:
    out = [
        "# The built-in sources: a key given here replaces the built-in one, the others stay;",
        "# `tracker check --source NAME` reads a source's first page and stores nothing.",
    ]
    for name, source in config.sources.items():
        if source.description:
            out.append(f"# {source.description}")
        out.append(f"{f'[sources.{name}]':<{COLUMN}}# kind {_toml(source.kind)}")
        out += _entry(off, "sources.urls", list(source.urls))
        out += _entry(off, "sources.interval", _interval(source.interval))
        out += _entry(off, "sources.enabled", source.enabled)
        out.append("")
    return out


def _section(off: str, name: str, values: dict[str, Any], comment: str) -> list[str]:
    out = [comment, f"[{name}]"]
    for key, value in values.items():
        out += _entry(off, f"{name}.{key}", value)
    return [*out, ""]


def _entry(off: str, key: str, value: Any, hint: str | None = None) -> list[str]:
    """`key = value` behind `off` ("# " or nothing) with its hint; a long array one item a line."""
    text = f"{off}{key.rsplit('.', 1)[-1]} = {_toml(value)}"
    if isinstance(value, list | tuple) and len(text) > 100:
        items = [f"{off}  {_toml(v)}," for v in value]
        return [f"{off}{key.rsplit('.', 1)[-1]} = [", *items, f"{off}]"]
    hint = hint if hint is not None else HINTS.get(key)
    if hint:
        text = f"{text:<{COLUMN}}# {hint}" if len(text) < COLUMN else f"{text}  # {hint}"
    return [text]


def _commented(block: str, commented: bool) -> str:
    """An example block as written (commented out), or with its settings switched on."""
    if commented:
        return block
    lines = block.splitlines()
    return "\n".join(lines[:1] + [line.removeprefix("# ") for line in lines[1:]]) + "\n"


def _interval(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _toml(value: Any) -> str:
    """A TOML value for a setting: a string, number, boolean or array of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"no TOML for {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, Iterable):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")
