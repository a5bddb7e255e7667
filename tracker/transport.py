"""The wire under tracker.http: HTTP/1.1 GETs over kept connections, on the standard library's
sockets, with h11 speaking the protocol.

- Connections are kept per origin and reused while the server keeps them open; one that the
  server closed while idle is noticed before use, and a kept connection that fails before any
  byte of its answer arrives is tried once more on a new one.
- Every socket operation of a request (connect, TLS handshake, write, each read) is cut to what
  is left of the whole request's deadline, so a server trickling its bytes cannot hold a run;
  reads wait at most STOP_POLL seconds at a time and end the request once the run is stopped.
- https verifies certificates (the bundle of `certifi`, or SSL_CERT_FILE / SSL_CERT_DIR when
  set); `ssl` is imported only when the first https connection is made.
- Proxies come from the environment as for other tools: http_proxy, https_proxy, all_proxy and
  no_proxy (either case; the lower-case name wins). A proxy is an http:// URL, with a user and a
  password if it needs them; https goes through it in a CONNECT tunnel.

Failures are WireError (how it failed, in its `kind`: ConnectError, ReadError, WriteError,
RemoteProtocolError, LocalProtocolError, ProxyError) or WireTimeout (the deadline passed);
tracker.http turns them into FetchError."""

from __future__ import annotations

import base64
import os
import select
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self
from urllib.parse import quote, unquote, urlsplit

import h11

from tracker.errors import Interrupted

if TYPE_CHECKING:
    import ssl

STOP_POLL = 0.2  # seconds: how soon a socket read notices that the run was asked to stop
READ_SIZE = 64 * 1024
MAX_HEAD = 64 * 1024  # the most a status line and its headers may take
KEEP_IDLE = 16  # idle connections kept per origin; more are closed
DEFAULT_PORTS = {"http": 80, "https": 443}
# what a request target keeps as it is: RFC 3986 pchar and '/', '%' (already escaped); the query
# also keeps '?'. Anything else (spaces, non-ASCII) is sent percent-encoded as UTF-8.
_PATH_SAFE = "/%:@!$&'()*+,;=~-._"
_QUERY_SAFE = _PATH_SAFE + "?"


class WireError(Exception):
    """A request failed on its way; `kind` says how ("ConnectError", "ReadError", ...)."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        # a protocol error of ours (a header value no request may carry) will fail again as it is
        self.retryable = kind != "LocalProtocolError"


class WireTimeout(Exception):
    """The request's deadline passed before its answer was complete."""


class Deadline:
    """When a request must be complete, and the run's stop flag."""

    def __init__(self, seconds: float, stop: threading.Event):
        self.at = time.monotonic() + seconds
        self.stop = stop

    def left(self) -> float:
        """Seconds left to the request: WireTimeout when none are, Interrupted once the run stops."""
        if self.stop.is_set():
            raise Interrupted("stopped during a request")
        left = self.at - time.monotonic()
        if left <= 0:
            raise WireTimeout
        return left


@dataclass(frozen=True)
class Target:
    """Where a URL's request goes: scheme, host (ASCII: IDNA for a non-ASCII name), port, and the
    request target (path and query, percent-encoded where they must be)."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if scheme not in DEFAULT_PORTS or not host:
            raise WireError("UnsupportedProtocol", f"not an http(s) URL: {url}")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
            host = host if host.isascii() else host.encode("idna").decode("ascii")
        except (ValueError, UnicodeError) as exc:
            raise WireError("UnsupportedProtocol", f"{url}: {exc}") from None
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=_QUERY_SAFE)
        return cls(scheme, host, port, path)

    @property
    def authority(self) -> str:
        """host:port, an IPv6 address in brackets (a CONNECT target)."""
        return f"{_bracketed(self.host)}:{self.port}"

    @property
    def host_header(self) -> str:
        """The Host header: the port only when it is not the scheme's own."""
        if self.port == DEFAULT_PORTS[self.scheme]:
            return _bracketed(self.host)
        return self.authority

    @property
    def url(self) -> str:
        """The absolute URL (what a request through an http proxy names)."""
        return f"{self.scheme}://{self.host_header}{self.path}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Proxy:
    """An http:// proxy: where it listens and the Proxy-Authorization it needs, if any."""

    host: str
    port: int
    authorization: str | None = None

    @classmethod
    def of(cls, url: str) -> Proxy:
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise WireError("ProxyError", f"proxy {_shown(url)}: only http:// proxies are supported")
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise WireError("ProxyError", f"proxy {_shown(url)}: {exc}") from None
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        return cls(parts.hostname, port, authorization)

    @property
    def shown(self) -> str:
        return f"{_bracketed(self.host)}:{self.port}"


def _shown(url: str) -> str:
    """A proxy URL without its password, for a message."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


class Proxies:
    """The proxies of the environment, read and parsed once, when the transport is made (a proxy
    URL that cannot serve is kept as its error, raised by each request that would use it)."""

    def __init__(self, environ: Mapping[str, str]):
        def var(name: str) -> str:
            return (environ.get(name) or environ.get(name.upper()) or "").strip()

        self._proxies: dict[str, Proxy | WireError | None] = {}
        for scheme in DEFAULT_PORTS:
            url = var(f"{scheme}_proxy") or var("all_proxy")
            try:
                self._proxies[scheme] = Proxy.of(url) if url else None
            except WireError as exc:
                self._proxies[scheme] = exc
        self._bypass = [_bypass_name(h) for h in var("no_proxy").lower().split(",") if h.strip()]

    def for_target(self, target: Target) -> Proxy | None:
        """The proxy `target` goes through, or None for a direct connection."""
        proxy = self._proxies[target.scheme]
        if proxy is None or self._bypassed(target.host):
            return None
        if isinstance(proxy, WireError):
            raise WireError(proxy.kind, proxy.detail)  # a new one each time: no shared traceback
        return proxy

    def _bypassed(self, host: str) -> bool:
        return any(name == "*" or host == name or host.endswith("." + name) for name in self._bypass)


def _bypass_name(entry: str) -> str:
    """The host or domain of a no_proxy entry: without its port, brackets or leading '*.'."""
    name = entry.strip()
    if name == "*":
        return name
    if name.startswith("["):  # [::1] or [::1]:8080
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:  # host:port
        name = name.split(":", 1)[0]
    return name.lstrip("*").lstrip(".")


class Connection:
    """One HTTP/1.1 connection: its socket and h11's state of it. Used by one thread at a time."""

    def __init__(self, sock: socket.socket, key: tuple[str, str, int]):
        self.sock = sock
        self.key = key
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.received = 0  # bytes of the current answer received so far
        self.reused = False  # it served a request before this one

    def send(self, data: bytes, deadline: Deadline) -> None:
        self.sock.settimeout(deadline.left())
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise WireTimeout from None
        except OSError as exc:
            raise WireError("WriteError", _describe(exc)) from None

    def send_request(self, request: h11.Request, deadline: Deadline) -> None:
        try:
            data = self.h11.send(request) + (self.h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise WireError("LocalProtocolError", str(exc)) from None
        self.send(data, deadline)

    def next_event(self, deadline: Deadline) -> object:
        """h11's next event of the answer, reading from the socket as it needs."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise WireError("RemoteProtocolError", str(exc)) from None
            if event is not h11.NEED_DATA:
                if isinstance(event, h11.ConnectionClosed):
                    raise WireError(
                        "RemoteProtocolError", "the server closed the connection before the end of its answer"
                    )
                return event
            data = self._recv(deadline)
            self.received += len(data)
            self.h11.receive_data(data)

    def answer(self, deadline: Deadline) -> h11.Response:
        """The status line and headers of the answer (informational 1xx answers skipped)."""
        while True:
            event = self.next_event(deadline)
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):
                raise WireError("RemoteProtocolError", f"unexpected {type(event).__name__} before the answer")

    def _recv(self, deadline: Deadline) -> bytes:
        while True:
            self.sock.settimeout(min(deadline.left(), STOP_POLL))
            try:
                return self.sock.recv(READ_SIZE)
            except TimeoutError:
                continue  # a slice ran out: look at the stop flag and the clock again
            except OSError as exc:
                raise WireError("ReadError", _describe(exc)) from None

    def done(self) -> bool:
        """True when both sides finished the exchange and the connection may serve another."""
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def dropped(self) -> bool:
        """True for an idle connection that the server closed (or sent something unasked on)."""
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return bool(poller.poll(0))
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Answer:
    """An answer being received: status and headers at once, the body as it is read.
    `headers` has lower-case names; a header sent more than once is joined with ', '."""

    def __init__(self, transport: Transport, conn: Connection, response: h11.Response, deadline: Deadline):
        self.status: int = response.status_code
        self.headers: dict[str, str] = {}
        for name, value in response.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        self._transport = transport
        self._conn = conn
        self._deadline = deadline

    def header_list(self, name: str) -> list[str]:
        """The comma-separated values of a header, each stripped, lower-cased."""
        return [v.strip().lower() for v in self.headers.get(name, "").split(",") if v.strip()]

    def iter_raw(self) -> Iterator[bytes]:
        """The body as sent (compressed or not), in the pieces it arrives in."""
        while True:
            event = self._conn.next_event(self._deadline)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return

    def close(self) -> None:
        """Give the connection back for the next request if the answer was read to its end (and
        the server keeps it open), else close it."""
        self._transport.release(self._conn)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """Kept connections for the requests of one client, safe to share between threads."""

    def __init__(self, user_agent: str, environ: Mapping[str, str] | None = None):
        self.user_agent = user_agent
        self.proxies = Proxies(os.environ if environ is None else environ)
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self.connections = 0  # opened so far

    def get(self, url: str, headers: Mapping[str, str], deadline: Deadline) -> Answer:
        """Send a GET for `url` and return its answer, status and headers read, body not yet."""
        target = Target.of(url)
        proxy = self.proxies.for_target(target)
        via_http_proxy = proxy is not None and target.scheme == "http"
        key = (
            ("proxy", proxy.host, proxy.port)
            if via_http_proxy and proxy
            else (target.scheme, target.host, target.port)
        )
        # names as browsers write them (some sites' bot walls look at that); a caller's header
        # replaces a default of the same name, whatever its case
        head = {
            "host": ("Host", target.host_header),
            "user-agent": ("User-Agent", self.user_agent),
            "accept": ("Accept", "*/*"),
            "accept-encoding": ("Accept-Encoding", "gzip, deflate"),
        }
        if via_http_proxy and proxy and proxy.authorization:
            head["proxy-authorization"] = ("Proxy-Authorization", proxy.authorization)
        head.update((name.lower(), (name, value)) for name, value in headers.items())
        request = h11.Request(
            method="GET",
            target=target.url if via_http_proxy else target.path,
            headers=[
                (name.encode("ascii"), value.encode("latin-1", "replace")) for name, value in head.values()
            ],
        )
        conn = self._take(key)
        while True:
            if conn is None:
                conn = self._connect(target, proxy, key, deadline)
            try:
                conn.send_request(request, deadline)
                return Answer(self, conn, conn.answer(deadline), deadline)
            except WireError:
                conn.close()
                if conn.reused and conn.received == 0:  # a kept connection the server had dropped
                    conn = None
                    continue
                raise
            except BaseException:
                conn.close()
                raise

    def release(self, conn: Connection) -> None:
        """Keep `conn` for the next request to its origin, or close it when it cannot serve one."""
        if not conn.done():
            conn.close()
            return
        conn.h11.start_next_cycle()
        conn.received, conn.reused = 0, True
        with self._lock:
            idle = self._idle.setdefault(conn.key, [])
            if len(idle) < KEEP_IDLE:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = [c for conns in self._idle.values() for c in conns], {}
        for conn in idle:
            conn.close()

    def _take(self, key: tuple[str, str, int]) -> Connection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None or not conn.dropped():
                return conn
            conn.close()

    def _connect(
        self, target: Target, proxy: Proxy | None, key: tuple[str, str, int], deadline: Deadline
    ) -> Connection:
        host, port = (proxy.host, proxy.port) if proxy else (target.host, target.port)
        try:
            sock = socket.create_connection((host, port), timeout=deadline.left())
        except TimeoutError:
            raise WireTimeout from None
        except OSError as exc:
            where = f"proxy {proxy.shown}" if proxy else target.authority
            raise WireError("ConnectError", f"{_describe(exc)} ({where})") from None
        with self._lock:
            self.connections += 1
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if proxy is not None and target.scheme == "https":
                self._tunnel(sock, target, proxy, deadline)
            if target.scheme == "https":
                sock = self._tls_wrap(sock, target.host, deadline)
        except BaseException:
            sock.close()
            raise
        return Connection(sock, key)

    def _tunnel(self, sock: socket.socket, target: Target, proxy: Proxy, deadline: Deadline) -> None:
        """Ask the proxy for a tunnel to `target` (CONNECT); TLS then runs through it."""
        conn = Connection(sock, ("connect", proxy.host, proxy.port))
        head = [("Host", target.authority), ("User-Agent", self.user_agent)]
        if proxy.authorization:
            head.append(("Proxy-Authorization", proxy.authorization))
        conn.send_request(h11.Request(method="CONNECT", target=target.authority, headers=head), deadline)
        status = conn.answer(deadline).status_code
        if not 200 <= status < 300:
            raise WireError(
                "ProxyError", f"the proxy {proxy.shown} refused a tunnel to {target.authority}: HTTP {status}"
            )

    def _tls_wrap(self, sock: socket.socket, host: str, deadline: Deadline) -> socket.socket:
        context = self._tls_context()
        sock.settimeout(deadline.left())
        try:
            return context.wrap_socket(sock, server_hostname=host)
        except TimeoutError:
            raise WireTimeout from None
        except OSError as exc:  # ssl.SSLError and ssl.CertificateError among them
            raise WireError("ConnectError", _describe(exc)) from None

    def _tls_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._tls is None:
                self._tls = tls_context()
            return self._tls


def tls_context() -> ssl.SSLContext:
    """A client context that verifies certificates and host names: the CA files named by
    SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi's bundle."""
    import ssl

    cafile, capath = os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        import certifi

        cafile = certifi.where()
    context = ssl.create_default_context(cafile=cafile, capath=capath)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _describe(exc: OSError) -> str:
    return str(exc) or type(exc).__name__
