"""Polite, bounded HTTP: per-host delay, a deadline on the whole request, retries with capped
backoff, a size cap applied while decoding, and requests only to a source's own origins. The
connections themselves (kept per origin, TLS, proxies, the deadline at the socket) are
tracker.transport's."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import urljoin, urlsplit

from tracker.errors import FetchError, Interrupted
from tracker.settings import MAX_WAIT, FetchSettings, show_origin, url_origin
from tracker.transport import Answer, Deadline, Transport, WireError, WireTimeout

REDIRECTS = {301, 302, 303, 307, 308}
REFUSALS = {401, 403, 412}  # a firewall or bot wall turning the client away
DRAIN = 64 * 1024  # the most read of a body that is not kept, to keep its connection
PIECE = 64 * 1024  # the most one decoding step turns out at once, whatever the input expands to
GZIP_WBITS, ZLIB_WBITS, RAW_DEFLATE_WBITS = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS
COMPRESSIONS = {"gzip", "x-gzip", "deflate"}
UNDECODABLE = {"br", "zstd", "compress", "x-compress"}  # never asked for, and not decoded here
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
    """One shared client for all sources of a run; safe to use from several threads.

    Setting `stop` ends every wait at once and every request within transport.STOP_POLL seconds
    (reads) or its deadline (connecting), raising Interrupted."""

    def __init__(self, settings: FetchSettings, *, stop: threading.Event | None = None):
        self.settings = settings
        self.stop = stop or threading.Event()
        self.transport = Transport(settings.user_agent)
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
        """Close kept connections."""
        self.transport.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        allowed_origins: Iterable[str],
        etag: str | None = None,
        last_modified: str | None = None,
        timeout: float | None = None,
        ok_statuses: Iterable[int] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET `url`, following redirects only within `allowed_origins` (`scheme://host:port`, as
        `SourceConfig.origins` gives them); raise FetchError on failure, Interrupted on stop.

        A 304 comes back as a Response (see `not_modified`); so does any status in `ok_statuses`
        (a caller that treats 404 as 'end of pages', say). `headers` are sent as well (a Referer,
        a source's own User-Agent)."""
        origins = frozenset(allowed_origins)
        refused = _refusal(url, origins)
        if refused:
            raise FetchError(refused, url=url)
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
                refused = _refusal(nxt, origins)
                if refused:
                    where = "another host" if host_of(nxt) != host_of(current) else "another origin"
                    raise FetchError(
                        f"redirect to {where} refused: {nxt} ({refused})", url=current, status=resp.status
                    )
                current = nxt
                continue
            return resp
        raise FetchError(f"more than {self.settings.max_redirects} redirects", url=url)

    def _sleep(self, seconds: float) -> None:
        """Wait (at most MAX_WAIT), or raise Interrupted as soon as the run is asked to stop."""
        if self.stop.wait(max(0.0, min(seconds, MAX_WAIT))):
            raise Interrupted("stopped while waiting to send a request")

    def _polite_wait(self, host: str) -> None:
        with self._lock:
            lock = self._host_locks.setdefault(host, threading.Lock())
        with lock:
            last = self._last_request.get(host)
            self._sleep(0.0 if last is None else self.settings.host_delay - (time.monotonic() - last))
            self._last_request[host] = time.monotonic()

    def _get_with_retries(
        self, url: str, headers: dict[str, str], timeout: float | None, ok: set[int]
    ) -> Response:
        attempts = self.settings.retries + 1
        last_error: FetchError | None = None
        retry_after: float | None = None
        made = 0
        for attempt in range(attempts):
            if attempt:
                wait = min(self.settings.backoff * 2 ** (attempt - 1), MAX_WAIT)
                self._sleep(max(wait, retry_after or 0.0))
            made += 1
            try:
                return self._get_once(url, headers, timeout, ok)
            except _Retryable as exc:
                last_error, retry_after = exc.error, exc.retry_after
            if attempt + 1 < attempts and retry_after is not None and retry_after > MAX_WAIT:
                last_error.message += (
                    f" (Retry-After asks for {retry_after:,.0f} s, more than the {MAX_WAIT:g} s a fetch"
                    " waits: not retried)"
                )
                break
        assert last_error is not None
        if made > 1:
            last_error.message += f" (after {made} attempts)"
        last_error.args = (f"{url}: {last_error.message}",)
        raise last_error

    def _get_once(self, url: str, headers: dict[str, str], timeout: float | None, ok: set[int]) -> Response:
        self._polite_wait(host_of(url))
        with self._lock:
            self.requests += 1
        self._local.count = self.thread_requests + 1
        limit = timeout if timeout is not None else self.settings.timeout
        # the deadline bounds every socket operation of this request (connect, TLS, status line,
        # headers, body) by the time left to the whole request (tracker.transport)
        deadline = Deadline(limit, self.stop)
        try:
            with self.transport.get(url, headers, deadline) as r:
                resp = self._response(r, url, ok, deadline)
                self._record(resp)
                return resp
        except WireTimeout:
            raise _Retryable(_timed_out(limit, url)) from None
        except WireError as exc:
            error = FetchError(str(exc), url=url)
            if not exc.retryable:
                raise error from None
            raise _Retryable(error) from None

    def _response(self, r: Answer, url: str, ok: set[int], deadline: Deadline) -> Response:
        """The answer being received as a Response (a redirect or a 304 without its body); FetchError
        for an error status not in `ok` or a body over max_bytes."""
        status = r.status
        head = dict(r.headers)
        if status in REDIRECTS or status == 304:
            _drain(r)
            return Response(
                url,
                status,
                b"",
                r.headers.get("content-type"),
                r.headers.get("etag"),
                r.headers.get("last-modified"),
                location=r.headers.get("location"),
                headers=head,
            )
        if status >= 400 and status not in ok:
            self._refuse(r, url, deadline)
        cap = self.settings.max_bytes
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(
                f"response of {int(declared):,} bytes exceeds the {cap:,}-byte limit (max_bytes)",
                url=url,
                status=status,
            )
        return Response(
            url,
            status,
            _read(r, cap, deadline, url, status),
            r.headers.get("content-type"),
            r.headers.get("etag"),
            r.headers.get("last-modified"),
            headers=head,
        )

    def _refuse(self, r: Answer, url: str, deadline: Deadline) -> NoReturn:
        """Raise the FetchError of an error status: _Retryable for a server error or 429 (with the
        wait Retry-After asks for); the body is recorded first when a recorder keeps fixtures."""
        status = r.status
        if self.recorder is not None:  # keep what the server said, for a fixture
            body = _read(r, self.settings.max_bytes, deadline, url, status, lenient=True)
            self._record(Response(url, status, body, r.headers.get("content-type"), headers=dict(r.headers)))
        error = FetchError(f"HTTP {status}", url=url, status=status)
        if status >= 500 or status == 429:
            raise _Retryable(error, _retry_after(r.headers.get("retry-after")))
        if status in REFUSALS:
            error = FetchError(f"HTTP {status}: {REFUSED_HINT}", url=url, status=status)
        raise error

    def _record(self, resp: Response) -> None:
        if self.recorder is not None:
            self.recorder(resp)


class _Retryable(Exception):
    def __init__(self, error: FetchError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _refusal(url: str, origins: frozenset[str]) -> str | None:
    """Why `url` may not be requested under `origins`, or None when it may."""
    origin = url_origin(url)
    if origin is None:
        return f"not an http(s) URL: {url}"
    if origin in origins:
        return None
    host = host_of(url)
    if not any(host_of(o) == host for o in origins):
        return f"host {host!r} is not this source's host"
    same_host = ", ".join(sorted(show_origin(o) for o in origins if host_of(o) == host))
    return (
        f"{show_origin(origin)} is not this source's origin ({same_host}); "
        "add it to allowed_hosts to allow it"
    )


def _timed_out(limit: float, url: str) -> FetchError:
    return FetchError(f"timed out (no complete response within {limit:g} s)", url=url)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        import email.utils  # deferred: only a Retry-After date needs it

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --- the body: read raw, decoded here with a bound on every step -------------------------------


def _drain(r: Answer) -> None:
    """Read to its end the body of an answer whose body is not kept (a 304 has none; a redirect's
    is a line or two), so that its connection is kept for the next request; a body longer than
    DRAIN is left unread, and its connection is closed instead."""
    size = 0
    for chunk in r.iter_raw():
        size += len(chunk)
        if size > DRAIN:
            return


def _read(
    r: Answer,
    cap: int,
    deadline: Deadline,
    url: str,
    status: int,
    *,
    lenient: bool = False,
) -> bytes:
    """The body, decoded and capped while streaming: neither the bytes received nor any decoding
    step may pass `cap` (by more than PIECE), so a few KB expanding to GBs stop at the cap.
    `lenient` keeps what arrived instead of failing (an error answer's body, kept for the record)."""
    encodings = r.header_list("content-encoding")
    chunks: list[bytes] = []
    size = 0
    try:
        pieces: Iterable[bytes] = _raw(r, cap, url, status)
        for layer in _decoders(encodings, url):  # the encoding applied last is undone first
            pieces = layer.decode(pieces)
        for piece in pieces:
            deadline.left()  # decoding takes time too
            size += len(piece)
            if size > cap:
                decoded = f" once decoded (Content-Encoding: {', '.join(encodings)})" if encodings else ""
                raise FetchError(
                    f"response exceeds the {cap:,}-byte limit (max_bytes){decoded}", url=url, status=status
                )
            chunks.append(piece)
    except zlib.error as exc:
        if not lenient:
            raise FetchError(
                f"undecodable response body (Content-Encoding: {', '.join(encodings)}): {exc}",
                url=url,
                status=status,
            ) from None
    except (FetchError, WireError, WireTimeout):
        if not lenient:
            raise
    return b"".join(chunks)


def _raw(r: Answer, cap: int, url: str, status: int) -> Iterator[bytes]:
    """The body as sent (compressed or not), failing once it passes `cap` bytes."""
    size = 0
    for chunk in r.iter_raw():
        size += len(chunk)
        if size > cap:
            raise FetchError(f"response exceeds the {cap:,}-byte limit (max_bytes)", url=url, status=status)
        yield chunk


def _decoders(encodings: list[str], url: str) -> list[_Inflater]:
    """One decoder per compression in a Content-Encoding list, in the order they are undone."""
    layers = []
    for name in reversed(encodings):
        if name in COMPRESSIONS:
            layers.append(_Inflater(name))
        elif name in UNDECODABLE:
            raise FetchError(f"cannot decode a body with Content-Encoding {name!r}", url=url)
        # "identity", or a label that names no compression (a charset, "none"): bytes as sent
    return layers


class _Inflater:
    """One gzip or deflate layer that never turns out more than PIECE bytes at a time."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self._z: zlib._Decompress | None = None
        self._head = b""

    def decode(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """The decoded bytes of `pieces`, in pieces of at most PIECE bytes."""
        for data in pieces:
            yield from self._feed(data)

    def _feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:  # deflate comes with a zlib header or (from some servers) without
            self._head += data
            if self.encoding == "deflate" and len(self._head) < 2:
                return
            self._z = zlib.decompressobj(self._wbits(self._head))
            data, self._head = self._head, b""
        z = self._z
        while not z.eof:  # bytes after the end of the stream are ignored
            out = z.decompress(data, PIECE)
            data = z.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < PIECE:  # all input used and nothing held back
                return

    def _wbits(self, head: bytes) -> int:
        if self.encoding != "deflate":
            return GZIP_WBITS
        zlib_header = (head[0] & 0x0F) == 8 and (head[0] << 8 | head[1]) % 31 == 0
        return ZLIB_WBITS if zlib_header else RAW_DEFLATE_WBITS
