"""Polite, bounded HTTP: per-host delay, timeouts, retries with backoff, size cap, same-host policy."""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from tracker.config import FetchSettings
from tracker.errors import FetchError

REDIRECTS = {301, 302, 303, 307, 308}
REFUSALS = {401, 403, 412}  # a firewall or bot wall turning the client away
MAX_RETRY_AFTER = 120.0
REFUSED_HINT = (
    "the site refused this client (it may block automated clients); set user_agent in [fetch] or in "
    "this source's table to an identifying browser-like string, or try again later"
)


@dataclass
class Response:
    """A completed GET: final URL, status, headers and the whole (capped) body."""

    url: str
    status: int
    content: bytes
    content_type: str | None
    etag: str | None = None
    last_modified: str | None = None
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional GET."""
        return self.status == 304


Recorder = Callable[[Response], None]  # sees every response as received (`tracker check --save`)


def host_of(url: str) -> str:
    """Lower-case host name of a URL ('' when it has none)."""
    return (urlsplit(url).hostname or "").lower()


class HttpClient:
    """One shared client for all sources of a run; safe to use from several threads."""

    def __init__(self, settings: FetchSettings, *, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self._client = httpx.Client(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=settings.timeout,
            follow_redirects=False,
            transport=transport,
        )
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._last_request: dict[str, float] = {}
        self._local = threading.local()
        self.requests = 0
        self.recorder: Recorder | None = None

    @property
    def thread_requests(self) -> int:
        """Requests sent so far by the calling thread (a source runs in one thread)."""
        return int(getattr(self._local, "count", 0))

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        allowed_hosts: Iterable[str],
        etag: str | None = None,
        last_modified: str | None = None,
        timeout: float | None = None,
        ok_statuses: Iterable[int] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET `url`, following redirects only within `allowed_hosts`; raise FetchError on failure.

        A 304 comes back as a Response (see `not_modified`); so does any status in `ok_statuses`
        (a caller that treats 404 as 'end of pages', say). `headers` are sent as well (a Referer,
        a source's own User-Agent)."""
        hosts = {h.lower() for h in allowed_hosts}
        self._check_host(url, hosts)
        headers = dict(headers or {})
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for _ in range(self.settings.max_redirects + 1):
            resp = self._get_with_retries(current, headers, timeout, set(ok_statuses))
            if resp.status in REDIRECTS:
                location = resp.location
                if not location:
                    raise FetchError(
                        f"HTTP {resp.status} without a Location header", url=current, status=resp.status
                    )
                nxt = urljoin(current, location)
                try:
                    self._check_host(nxt, hosts)
                except FetchError:
                    raise FetchError(
                        f"redirect to another host refused: {nxt}", url=current, status=resp.status
                    ) from None
                current = nxt
                continue
            return resp
        raise FetchError(f"more than {self.settings.max_redirects} redirects", url=url)

    def _check_host(self, url: str, hosts: set[str]) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"not an http(s) URL: {url}", url=url)
        if (parts.hostname or "").lower() not in hosts:
            raise FetchError(f"host {parts.hostname!r} is not this source's host", url=url)

    def _polite_wait(self, host: str) -> None:
        with self._lock:
            lock = self._host_locks.setdefault(host, threading.Lock())
        with lock:
            delay = self.settings.host_delay
            last = self._last_request.get(host)
            now = time.monotonic()
            if last is not None and now - last < delay:
                time.sleep(delay - (now - last))
            self._last_request[host] = time.monotonic()

    def _get_with_retries(
        self, url: str, headers: dict[str, str], timeout: float | None, ok: set[int]
    ) -> Response:
        attempts = self.settings.retries + 1
        last_error: FetchError | None = None
        retry_after: float | None = None
        for attempt in range(attempts):
            if attempt:
                wait = self.settings.backoff * (2 ** (attempt - 1))
                if retry_after is not None:
                    wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
                time.sleep(wait)
            try:
                return self._get_once(url, headers, timeout, ok)
            except _Retryable as exc:
                last_error, retry_after = exc.error, exc.retry_after
        assert last_error is not None
        if attempts > 1:
            last_error.message += f" (after {attempts} attempts)"
            last_error.args = (f"{url}: {last_error.message}",)
        raise last_error

    def _get_once(self, url: str, headers: dict[str, str], timeout: float | None, ok: set[int]) -> Response:
        self._polite_wait(host_of(url))
        with self._lock:
            self.requests += 1
        self._local.count = self.thread_requests + 1
        cap = self.settings.max_bytes
        limit = timeout if timeout is not None else self.settings.timeout
        t = httpx.Timeout(limit)
        # httpx times each read, not the request: a server trickling bytes would never time out
        deadline = time.monotonic() + limit
        try:
            with self._client.stream("GET", url, headers=headers, timeout=t) as r:
                _check_deadline(deadline, limit, url)
                status = r.status_code
                head = dict(r.headers)
                if status in REDIRECTS or status == 304:
                    resp = Response(
                        url,
                        status,
                        b"",
                        r.headers.get("content-type"),
                        r.headers.get("etag"),
                        r.headers.get("last-modified"),
                        location=r.headers.get("location"),
                        headers=head,
                    )
                    self._record(resp)
                    return resp
                if status >= 400 and status not in ok:
                    if self.recorder is not None:  # keep what the server said, for a fixture
                        body = self._read(r, cap, deadline, limit, url, status, lenient=True)
                        self._record(Response(url, status, body, r.headers.get("content-type"), headers=head))
                    error = FetchError(f"HTTP {status}", url=url, status=status)
                    if status >= 500 or status == 429:
                        raise _Retryable(error, _retry_after(r.headers.get("retry-after")))
                    if status in REFUSALS:
                        error = FetchError(f"HTTP {status}: {REFUSED_HINT}", url=url, status=status)
                    raise error
                declared = r.headers.get("content-length")
                if (
                    declared
                    and declared.isdigit()
                    and int(declared) > cap
                    and "content-encoding" not in r.headers
                ):
                    raise FetchError(
                        f"response of {int(declared):,} bytes exceeds the {cap:,}-byte limit",
                        url=url,
                        status=status,
                    )
                resp = Response(
                    str(r.url),
                    status,
                    self._read(r, cap, deadline, limit, url, status),
                    r.headers.get("content-type"),
                    r.headers.get("etag"),
                    r.headers.get("last-modified"),
                    headers=head,
                )
                self._record(resp)
                return resp
        except httpx.TimeoutException:
            raise _Retryable(FetchError("timed out", url=url)) from None
        except httpx.DecodingError as exc:
            raise FetchError(f"undecodable response body: {exc}", url=url) from None
        except httpx.TransportError as exc:
            raise _Retryable(
                FetchError(f"{type(exc).__name__}: {exc or 'connection failed'}", url=url)
            ) from None

    @staticmethod
    def _read(
        r: httpx.Response,
        cap: int,
        deadline: float,
        limit: float,
        url: str,
        status: int,
        *,
        lenient: bool = False,
    ) -> bytes:
        """The body, decoded and capped while streaming; `lenient` keeps what arrived instead of
        failing (the body of an error answer, kept only for the record)."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in r.iter_bytes():
                _check_deadline(deadline, limit, url)
                size += len(chunk)
                if size > cap:
                    raise FetchError(f"response exceeds the {cap:,}-byte limit", url=url, status=status)
                chunks.append(chunk)
        except (FetchError, _Retryable, httpx.HTTPError):
            if not lenient:
                raise
        return b"".join(chunks)

    def _record(self, resp: Response) -> None:
        if self.recorder is not None:
            self.recorder(resp)


class _Retryable(Exception):
    def __init__(self, error: FetchError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _check_deadline(deadline: float, limit: float, url: str) -> None:
    if time.monotonic() > deadline:
        message = f"timed out (response not complete within {limit:g} s)"
        raise _Retryable(FetchError(message, url=url))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
