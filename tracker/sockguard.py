"""The deadline of a request, kept at the socket: httpx times each read, so a server trickling
its bytes would never time out. Between httpx and every socket it opens sits a layer that cuts each
connect, TLS handshake, write and read to what is left of the whole request, and ends a read within
STOP_POLL seconds of a stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from tracker.errors import Interrupted

STOP_POLL = 0.2  # seconds: how soon a socket read notices that the run was asked to stop


class Deadline(threading.local):
    """When the calling thread's current request must be complete, and the run's stop flag."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.at: float | None = None

    def left(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """What a socket operation allowed `timeout` may take: cut to what is left of the request;
        `expired` when nothing is, Interrupted when the run is stopping."""
        if self.stop.is_set():
            raise Interrupted("stopped during a request")
        now = time.monotonic()
        ends = [t for t in (self.at, None if timeout is None else now + timeout) if t is not None]
        if not ends:
            return None
        left = min(ends) - now
        if left <= 0:
            raise expired("the request ran out of time")
        return left


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket layer with every connect and TLS handshake cut to the request's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend, deadline: Deadline):
        self._inner = inner
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, left, local_address, socket_options)
        return GuardedStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        return GuardedStream(self._inner.connect_unix_socket(path, left, socket_options), self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedStream(httpcore.NetworkStream):
    """A connection whose reads and writes end by the request's deadline, and whose reads end
    within STOP_POLL seconds of a stop, however slowly the server trickles its bytes."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline):
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self._deadline.left(None if end is None else end - time.monotonic(), httpcore.ReadTimeout)
            try:
                return self._inner.read(max_bytes, STOP_POLL if left is None else min(left, STOP_POLL))
            except httpcore.ReadTimeout:
                continue  # a slice ran out: look at the stop flag and the clock again

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        return GuardedStream(self._inner.start_tls(ssl_context, server_hostname, left), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def guard_sockets(client: httpx.Client, deadline: Deadline) -> None:
    """Put the deadline between httpx and every socket it opens, directly or through a proxy from
    the environment. httpx has no public hook at this layer: its transports keep an httpcore pool
    in `_pool`, whose `_network_backend` opens every connection; fail at once if that moves."""
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if transport is None:  # a host that NO_PROXY excludes: the default transport serves it
            continue
        if getattr(transport, "opens_sockets", True) is False:  # one that only refuses (tracker.http)
            continue
        pool: Any = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):
            raise RuntimeError(
                "this httpx keeps its connections elsewhere: the request deadline cannot be set"
            )
        pool._network_backend = GuardedBackend(backend, deadline)
