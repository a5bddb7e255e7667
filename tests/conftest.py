"""Shared fixtures: a clean environment, a temp database, and the sample sites on 127.0.0.1."""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tracker.config import load_config
from tracker.demo.server import SiteServer, site_root
from tracker.settings import Config

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TRACKER_* variable leaks in, and no test reads a tracker.toml from the checkout."""
    for name in list(os.environ):
        if name.startswith("TRACKER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# the CLI's today in tests that give relative dates (30d, 1y) or rely on the default day
CLI_TODAY = date(2026, 11, 23)


@pytest.fixture
def cli_today(monkeypatch: pytest.MonkeyPatch) -> date:
    """Freezes the CLI's today (Context.today) at CLI_TODAY, so that `--since 1y` or `status`
    without --as-of answer the same whatever day the tests run."""
    from tracker.cli import Context

    monkeypatch.setattr(Context, "today", lambda self: CLI_TODAY)
    return CLI_TODAY


def fixture_path(*parts: str) -> Path:
    """A file under tests/fixtures; a missing one fails loudly."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test fixture missing: {path}")
    return path


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver on 127.0.0.1 (its default, 'localhost', may resolve to ::1 first)."""
    return ("127.0.0.1", 0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tracker.db"


@pytest.fixture
def site() -> Iterator[SiteServer]:
    """The bundled sample sites (a copy of shared/samples/site) served on 127.0.0.1."""
    with SiteServer(site_root()) as server:
        yield server


FAST_FETCH = {"host_delay": 0.0, "retries": 1, "backoff": 0.01, "timeout": 5.0}


def make_config(
    db_path: Path, sources: dict[str, dict[str, Any]], fetch: dict[str, Any] | None = None, only: bool = True
) -> Config:
    """A config with fast fetch settings; with `only`, the built-in sources not named are disabled."""
    srcs: dict[str, dict[str, Any]] = {}
    if only:
        for name in ("mofcom", "whitehouse", "federalregister", "usgs"):
            if name not in sources:
                srcs[name] = {"enabled": False}
    srcs.update(sources)
    return load_config(
        None,
        use_user_config=False,
        db_path=db_path,
        overrides={"fetch": {**FAST_FETCH, **(fetch or {})}, "sources": srcs},
    )


def site_config(site: SiteServer, db_path: Path, **extra: Any) -> Config:
    """All four built-in sources pointed at the sample site (USGS at its 2018 list)."""
    base = site.base_url
    site.aliases.setdefault("/usgs/list.html", site_root() / "usgs/2018/critical-minerals-list.html")
    return make_config(
        db_path,
        {
            "mofcom": {"url": f"{base}/mofcom/zwgk/zcfb/index.html"},
            "whitehouse": {
                "urls": [
                    f"{base}/whitehouse/presidential-actions/feed/",
                    f"{base}/whitehouse/briefings-statements/feed/",
                ]
            },
            "federalregister": {"url": f"{base}/federalregister/api/v1/documents.json"},
            "usgs": {"url": f"{base}/usgs/list.html"},
        },
        **extra,
    )


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (no client trusts it unless told to) and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(tls_cert: tuple[Path, Path]) -> Iterator[HTTPServer]:
    """pytest-httpserver over TLS on 127.0.0.1, with the self-signed certificate of `tls_cert`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_cert)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()
