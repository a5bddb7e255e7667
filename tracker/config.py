"""Configuration: `tracker.toml` parsed once into the frozen dataclasses of tracker.settings; every
error names file and key."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tracker import __version__
from tracker.codes import SEVERITIES
from tracker.errors import ConfigError
from tracker.settings import (
    COMMON_SOURCE_KEYS,
    DEFAULTS_NAME,
    ENV_CONFIG,
    FETCH_LIMITS,
    MAX_INTERVAL,
    SOURCE_LIMITS,
    TOP_LEVEL_KEYS,
    AlertSettings,
    Config,
    DigestSettings,
    FetchSettings,
    Recipient,
    SmtpSettings,
    SourceConfig,
    known_timezone,
    url_origin,
)
from tracker.sources import get_kind
from tracker.wording import did_you_mean

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# a table as tomllib reads it (and _merge combines them), before any checking: the only untyped
# shape, read in this module alone
TomlTable = dict[str, Any]
PathArg = str | os.PathLike[str]
MAX_DESCRIPTION = 200  # characters of a source's `description`, the line `tracker sources` shows


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The config file to read: --config, else $TRACKER_CONFIG, else ./tracker.toml if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    local = Path("tracker.toml")
    return local if local.is_file() else None


def load_config(
    path: PathArg | None = None,
    *,
    db_path: PathArg | None = None,
    overrides: Mapping[str, Any] | None = None,
    use_user_config: bool = True,
    rules_dir: PathArg | None = None,
) -> Config:
    """Read the built-in defaults, then the user's file (if any), then `overrides` (a dict shaped
    like the TOML), into a validated Config."""
    # beside this module (importlib.resources would cost every command 4 ms of imports for it)
    defaults_text = (Path(__file__).parent / DEFAULTS_NAME).read_text("utf-8")
    defaults = tomllib.loads(defaults_text)
    cfg_path = find_config_path(path) if use_user_config else None
    user: TomlTable = {}
    file_label = str(cfg_path) if cfg_path else "<defaults>"
    if cfg_path is not None:
        try:
            user = tomllib.loads(cfg_path.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError("config file not found", file=str(cfg_path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file: {exc}", file=str(cfg_path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", file=str(cfg_path)) from None
    merged = _merge(defaults, user, file_label)
    if overrides:
        merged = _merge(merged, dict(overrides), "<overrides>")
    config = _build(merged, file_label, cfg_path, db_path)
    if rules_dir is not None:
        config = dataclasses.replace(config, rules_dir=Path(rules_dir))
    return config


# the top-level keys that are tables of settings, merged key by key over the defaults
SETTINGS_TABLES = frozenset({"database", "fetch", "alerts", "digest", "smtp"})


def _merge(base: TomlTable, user: TomlTable, file: str) -> TomlTable:
    """`user` over `base`, table by table; each table (each source) notes the file it came from
    as `__file__`, for the errors that name it."""
    unknown = set(user) - TOP_LEVEL_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"unknown key{did_you_mean(key, TOP_LEVEL_KEYS)}", file=file, key=key)
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in user.items():
        if k == "sources":
            if not isinstance(v, dict):
                raise ConfigError("must be a table of [sources.NAME]", file=file, key="sources")
            srcs = {n: dict(s) for n, s in out.get("sources", {}).items()}
            for name, table in v.items():
                if not isinstance(table, dict):
                    raise ConfigError("must be a table", file=file, key=f"sources.{name}")
                cur = srcs.get(name, {})
                if "url" in table or "urls" in table:
                    cur.pop("url", None)
                    cur.pop("urls", None)
                if "kind" in table and table["kind"] != cur.get("kind", table["kind"]):
                    cur = {}  # a different kind shares nothing with the built-in source
                cur.update(table)
                cur["__file__"] = file
                srcs[name] = cur
            out["sources"] = srcs
        elif k in SETTINGS_TABLES:
            if not isinstance(v, dict):
                raise ConfigError(f"must be a table: [{k}] with its keys below it", file=file, key=k)
            out[k] = {**out.get(k, {}), **v, "__file__": file}
        else:
            out[k] = v
    return out


def _build(data: TomlTable, file: str, cfg_path: Path | None, db_override: PathArg | None) -> Config:
    """The merged tables as a Config, each checked in turn (the first problem raised)."""
    db_path = _database_path(data, file, db_override)
    fetch = _fetch_settings(data, file)
    tz = _coerce(data.get("timezone", "UTC"), str, file, "timezone")
    _check_timezone(tz, file)
    sources = {name: _source(name, dict(raw)) for name, raw in data.get("sources", {}).items()}
    rules_path = _rules_dir(data, file, cfg_path)
    return Config(
        path=cfg_path,
        db_path=db_path,
        timezone=tz,
        fetch=fetch,
        sources=sources,
        rules_dir=rules_path,
        alerts=_alert_settings(data, file),
        digest=_digest_settings(data, file),
        smtp=_smtp_settings(data, file),
        recipients=_recipients(data, file),
    )


def _database_path(data: TomlTable, file: str, db_override: PathArg | None) -> Path:
    """--db, else `[database] path`."""
    db = data.get("database", {})
    db_file = db.pop("__file__", file)
    _check_keys(db, {"path"}, db_file, "database")
    if db_override:
        return Path(db_override)
    return Path(_coerce(db.get("path", "tracker.db"), str, db_file, "database.path"))


def _fetch_settings(data: TomlTable, file: str) -> FetchSettings:
    """`[fetch]`, its numbers within their limits and its User-Agent with the version filled in."""
    fetch_raw = dict(data.get("fetch", {}))
    fetch_file = fetch_raw.pop("__file__", file)
    fetch = _dataclass_from(FetchSettings, fetch_raw, fetch_file, "fetch")
    fetch = dataclasses.replace(fetch, user_agent=fetch.user_agent.replace("{version}", __version__))
    for key, limits in FETCH_LIMITS.items():
        _check_limits(getattr(fetch, key), limits, fetch_file, f"fetch.{key}")
    _check_header_value(fetch.user_agent, fetch_file, "fetch.user_agent")
    return fetch


def _source(name: str, raw: TomlTable) -> SourceConfig:
    """One `[sources.NAME]`: the keys every source shares, checked, and the settings of its kind,
    built as the kind's own Settings dataclass and checked by the kind."""
    sfile = raw.pop("__file__", "<defaults>")
    prefix = f"sources.{name}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError("source names use letters, digits, '-', '_' and '.'", file=sfile, key=prefix)
    if "kind" not in raw:
        raise ConfigError("missing key 'kind'", file=sfile, key=prefix)
    kind_name = _coerce(raw.pop("kind"), str, sfile, f"{prefix}.kind")
    try:
        kind_cls = get_kind(kind_name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0]), file=sfile, key=f"{prefix}.kind") from None
    urls = _source_urls(raw, sfile, prefix)
    settings_fields = {f.name for f in dataclasses.fields(kind_cls.Settings)}
    common: TomlTable = {}
    kind_raw: TomlTable = {}
    for key, value in raw.items():
        if key in COMMON_SOURCE_KEYS:
            common[key] = value
        elif key in settings_fields:
            kind_raw[key] = value
        else:
            allowed = COMMON_SOURCE_KEYS | settings_fields
            raise ConfigError(
                f"unknown key for kind {kind_name!r}{did_you_mean(key, allowed)}",
                file=sfile,
                key=f"{prefix}.{key}",
            )
    if "interval" in common:
        common["interval"] = parse_interval(common["interval"], sfile, f"{prefix}.interval")
    settings = _dataclass_from(kind_cls.Settings, kind_raw, sfile, prefix)
    sc = _dataclass_from(
        SourceConfig, {**common, "name": name, "kind": kind_name, "urls": urls}, sfile, prefix
    )
    _check_source(sc, sfile, prefix)
    sc = dataclasses.replace(sc, settings=settings)
    kind_cls.validate(sc, sfile)
    return sc


def _source_urls(raw: TomlTable, file: str, prefix: str) -> tuple[str, ...]:
    """A source's `url` or `urls` (taken out of `raw`): at least one, each an http(s) URL."""
    urls: tuple[str, ...]
    if "url" in raw and "urls" in raw:
        raise ConfigError("give either 'url' or 'urls', not both", file=file, key=prefix)
    if "url" in raw:
        urls = (_coerce(raw.pop("url"), str, file, f"{prefix}.url"),)
    elif "urls" in raw:
        urls = _coerce(raw.pop("urls"), tuple[str, ...], file, f"{prefix}.urls")
    else:
        raise ConfigError("missing key 'url' (or 'urls')", file=file, key=prefix)
    if not urls:
        raise ConfigError("needs at least one URL", file=file, key=f"{prefix}.urls")
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not an http(s) URL: {u!r}", file=file, key=f"{prefix}.url")
    return urls


def _check_source(sc: SourceConfig, file: str, prefix: str) -> None:
    """The shared keys of a source within their limits: numbers, its User-Agent, its description,
    its allowed hosts."""
    for key, limits in SOURCE_LIMITS.items():
        if getattr(sc, key) is not None:
            _check_limits(getattr(sc, key), limits, file, f"{prefix}.{key}")
    if sc.user_agent is not None:
        _check_header_value(sc.user_agent, file, f"{prefix}.user_agent")
    if not sc.description.isprintable() or len(sc.description) > MAX_DESCRIPTION:
        raise ConfigError(
            f"must be one line of at most {MAX_DESCRIPTION} printable characters",
            file=file,
            key=f"{prefix}.description",
        )
    for entry in sc.allowed_hosts:
        _check_allowed_host(entry, file, f"{prefix}.allowed_hosts")


def _rules_dir(data: TomlTable, file: str, cfg_path: Path | None) -> Path | None:
    """`[rules] dir`, or the top-level `rules_dir` it replaces, relative to the config file's
    folder; None when neither is given (the built-in rules, never a `./rules` found by chance)."""
    table = data.get("rules", {})
    if not isinstance(table, dict):
        raise ConfigError('must be a table: [rules] with dir = "FOLDER"', file=file, key="rules")
    table = dict(table)
    table_file = table.pop("__file__", file)
    _check_keys(table, {"dir"}, table_file, "rules")
    if "dir" in table and "rules_dir" in data:
        raise ConfigError(
            "give the rules folder once, as [rules] dir (rules_dir is its old name)",
            file=file,
            key="rules_dir",
        )
    if "dir" in table:
        value, where, key = table["dir"], table_file, "rules.dir"
    elif "rules_dir" in data:
        value, where, key = data["rules_dir"], file, "rules_dir"
        logging.getLogger(__name__).warning(
            '%s: rules_dir is deprecated: write it as [rules] dir = "%s"', file, value
        )
    else:
        return None
    folder = _coerce(value, str, where, key)
    if not folder.strip():
        raise ConfigError("must name a folder (leave it out for the built-in rules)", file=where, key=key)
    path = Path(folder)
    if cfg_path is not None and not path.is_absolute():
        path = cfg_path.parent / path
    return path


def _check_limits(value: float, limits: tuple[float, float, bool], file: str, key: str) -> None:
    """A number within its limits: finite, from (or above) the lowest, at most the highest."""
    low, high, low_allowed = limits
    if math.isfinite(value) and (value >= low if low_allowed else value > low) and value <= high:
        return
    what = "whole number" if isinstance(value, int) else "finite number"
    span = (
        f"from {_num(low)} to {_num(high)}" if low_allowed else f"above {_num(low)} and at most {_num(high)}"
    )
    raise ConfigError(f"must be a {what} {span}, got {value!r}", file=file, key=key)


def _num(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) else f"{x:g}"


def _check_header_value(value: str, file: str, key: str) -> None:
    """A header value sent as is: one line of printable ASCII (no header of our own can be injected)."""
    if not value.strip() or not all(" " <= ch <= "~" for ch in value):
        raise ConfigError(f"must be one line of printable ASCII, got {value!r}", file=file, key=key)


def _check_allowed_host(entry: str, file: str, key: str) -> None:
    """A host name (`www.example.gov`) or an origin (`https://www.example.gov:8443`), nothing more."""
    if "://" in entry:
        parts = urlsplit(entry)
        bare = parts.path in ("", "/") and not (parts.query or parts.fragment or parts.username)
        if url_origin(entry) is not None and bare:
            return
    elif re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9])?", entry):
        return
    raise ConfigError(
        "expected a host name like 'www.example.gov' or an origin like 'https://www.example.gov:8443',"
        f" got {entry!r}",
        file=file,
        key=key,
    )


def _check_timezone(tz: str, file: str) -> None:
    if not known_timezone(tz):
        raise ConfigError(f"unknown time zone {tz!r}", file=file, key="timezone")


def _check_keys(table: Mapping[str, Any], allowed: set[str], file: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown key{did_you_mean(key, allowed)}", file=file, key=f"{prefix}.{key}")


_T = typing.TypeVar("_T", bound="DataclassInstance")


@functools.cache
def _field_types(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """The field types of a settings dataclass and its field names, worked out once per class
    (get_type_hints evaluates every annotation: 0.15 ms a call, once per source otherwise)."""
    return typing.get_type_hints(cls), frozenset(f.name for f in dataclasses.fields(cls))


def _dataclass_from(cls: type[_T], raw: Mapping[str, Any], file: str, prefix: str) -> _T:
    """An instance of the dataclass `cls` from a table, each value checked against its field's type."""
    hints, names = _field_types(cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(f"unknown key{did_you_mean(key, names)}", file=file, key=f"{prefix}.{key}")
        values[key] = _coerce(value, hints[key], file, f"{prefix}.{key}")
    return cls(**values)


def _coerce(value: Any, typ: Any, file: str, key: str) -> Any:
    """Check `value` against a simple type (str, int, float, bool, tuple[str, ...], X | None)."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, file, key)
            except ConfigError as exc:
                errors.append(exc.message)
        raise ConfigError(errors[0] if errors else "invalid value", file=file, key=key)
    if typ is Any:
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"expected a list of strings, got {value!r}", file=file, key=key)
        (inner, _ellipsis) = typing.get_args(typ)
        return tuple(_coerce(v, inner, file, key) for v in value)
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {value!r}", file=file, key=key)
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected a whole number, got {value!r}", file=file, key=key)
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"expected a number, got {value!r}", file=file, key=key)
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {value!r}", file=file, key=key)
        return value
    raise ConfigError(f"unsupported setting type {typ!r}", file=file, key=key)


_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")


def parse_interval(value: Any, file: str, key: str) -> int:
    """'90s', '30m', '6h', '1d' or a number of seconds, as seconds (one minute to 366 days)."""
    if isinstance(value, bool):
        raise ConfigError(f"expected a duration like '30m' or '6h', got {value!r}", file=file, key=key)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _INTERVAL.match(value)):
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    else:
        raise ConfigError(f"expected a duration like '30m' or '6h', got {value!r}", file=file, key=key)
    if not (math.isfinite(seconds) and 60 <= seconds <= MAX_INTERVAL):
        raise ConfigError(f"must be from one minute to 366 days, got {value!r}", file=file, key=key)
    return int(seconds)


def _table(data: TomlTable, key: str, file: str) -> tuple[TomlTable, str]:
    """A table of the merged data without its `__file__`, and that file (else `file`)."""
    raw = dict(data.get(key) or {})
    return raw, raw.pop("__file__", file)


def _alert_settings(data: TomlTable, file: str) -> AlertSettings:
    """`[alerts]`, checked."""
    raw, f = _table(data, "alerts", file)
    alerts = _dataclass_from(AlertSettings, raw, f, "alerts")
    if any(d < 0 for d in alerts.warn_days):
        raise ConfigError("days must not be negative", file=f, key="alerts.warn_days")
    if alerts.failures_before_alert < 1:
        raise ConfigError("must be at least 1", file=f, key="alerts.failures_before_alert")
    _check_limits(alerts.silent_after, (0.0, 1000.0, False), f, "alerts.silent_after")
    return alerts


def _digest_settings(data: TomlTable, file: str) -> DigestSettings:
    """`[digest]`, checked."""
    raw, f = _table(data, "digest", file)
    digest = _dataclass_from(DigestSettings, raw, f, "digest")
    if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", digest.time):
        raise ConfigError(f"expected a time like '07:30', got {digest.time!r}", file=f, key="digest.time")
    _check_limits(digest.backlog_days, (0, 365, True), f, "digest.backlog_days")
    return digest


def _smtp_settings(data: TomlTable, file: str) -> SmtpSettings:
    """`[smtp]`, checked; never a password."""
    raw, f = _table(data, "smtp", file)
    smtp = _dataclass_from(SmtpSettings, raw, f, "smtp")
    _check_limits(smtp.timeout, (0.0, 3600.0, False), f, "smtp.timeout")
    _check_limits(smtp.port, (1, 65535, True), f, "smtp.port")
    if smtp.security not in ("none", "starttls", "ssl"):
        raise ConfigError(
            f"expected none, starttls or ssl, got {smtp.security!r}", file=f, key="smtp.security"
        )
    if "password" in raw:
        raise ConfigError(
            "never put the password in the file: name an environment variable in password_env",
            file=f,
            key="smtp.password",
        )
    return smtp


def _recipients(data: TomlTable, file: str) -> tuple[Recipient, ...]:
    """`[[recipients]]`, each checked."""
    recipients = []
    entries = data.get("recipients") or []
    if not isinstance(entries, list):
        raise ConfigError("use [[recipients]] tables", file=file, key="recipients")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError("must be a table", file=file, key=f"recipients[{i}]")
        if "email" not in entry:
            raise ConfigError("missing key 'email'", file=file, key=f"recipients[{i}]")
        r = _dataclass_from(Recipient, entry, file, f"recipients[{i}]")
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", r.email):
            raise ConfigError(f"not an email address: {r.email!r}", file=file, key=f"recipients[{i}].email")
        if r.min_severity not in SEVERITIES:
            raise ConfigError(
                f"expected one of {', '.join(SEVERITIES)}", file=file, key=f"recipients[{i}].min_severity"
            )
        recipients.append(r)
    return tuple(recipients)
