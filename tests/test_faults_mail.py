"""Fault cases of sending digests, each against a real server on 127.0.0.1.

aiosmtpd stores what it receives and then loses its answer in the ways a real server can (the
connection closed, reset, or silent past the deadline). `Front`, a bare TCP server, misbehaves on
its first connection (a greeting trickled byte by byte, a reply that never ends, a TLS handshake
that stalls) and pipes every later connection to a real aiosmtpd, so the next recipient has a
working server at the same address. Nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import email
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result
from test_alerts_digest import SAMPLES, at, free_port, ingest

from tracker.alerts import list_alerts
from tracker.app import Tracker
from tracker.cli import cli
from tracker.config import load_config
from tracker.digest import send_digests
from tracker.scheduler import Scheduler
from tracker.settings import Config
from tracker.store import Store

NOW = "2026-10-30T01:00:00+00:00"  # 09:00 in Asia/Shanghai, as `at("2026-10-30")`
DEADLINE = 1.0


class Mailbox:
    """An aiosmtpd handler that stores every message it receives, then answers 250 — unless told
    to lose the answer to the next one: 'close' the connection, 'reset' it, or 'stall' (answer
    only long after the sender's deadline)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.lose: str | None = None
        self.stall = 3.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(envelope.original_content)  # stored: from here on it may be delivered
        lose, self.lose = self.lose, None
        if lose == "close":
            server.transport.close()
        elif lose == "reset":
            sock = server.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            server.transport.abort()  # with SO_LINGER 0: an RST, not a FIN
        elif lose == "stall":
            await asyncio.sleep(self.stall)
        return "250 OK"


@pytest.fixture(scope="session")
def tls(tls_cert: tuple[Path, Path]) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the config's ca_file) and its key (conftest's)."""
    return tls_cert


def start_smtp(
    mailbox: Mailbox, port: int, security: str = "none", tls: tuple[Path, Path] | None = None
) -> Controller:
    """aiosmtpd on 127.0.0.1:`port`, plain, with STARTTLS, or implicit TLS ('ssl')."""
    kwargs: dict[str, Any] = {}
    if security != "none":
        assert tls is not None
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls[0], tls[1])
        kwargs = (
            {"tls_context": context, "require_starttls": True}
            if security == "starttls"
            else {"ssl_context": context}
        )
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = start_smtp(box, port)
    try:
        yield box, port
    finally:
        controller.stop()


def make(
    tmp_path: Path,
    port: int,
    *recipients: str,
    timeout: float = DEADLINE,
    security: str = "none",
    ca_file: Path | None = None,
    extra: str = "",
) -> Config:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(
        'timezone = "Asia/Shanghai"\n'
        f'[database]\npath = "{tmp_path / "t.db"}"\n'
        "[alerts]\nmax_age_days = 0\n"
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsender = "tracker <tracker@example.org>"\n'
        f'timeout = {timeout}\nsecurity = "{security}"\nca_file = "{ca_file or ""}"\n{extra}'
        + "".join(f'[[recipients]]\nemail = "{r}"\n' for r in recipients or ["a@example.org"]),
        "utf-8",
    )
    return load_config(cfg)


def send(config: Config, now: str = NOW) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config.path), "digest", "--send", "--now", now])


def digests(config: Config) -> list[tuple[Any, ...]]:
    with sqlite3.connect(config.db_path) as db:
        return db.execute(
            "SELECT status, attempts, message_id, message IS NOT NULL FROM digests ORDER BY id"
        ).fetchall()


def pending_for(config: Config) -> list[list[str]]:
    with Store(config.db_path) as store:
        return [
            a.pending_for for a in list_alerts(store, config, Tracker(config).routes.values(), pending=True)
        ]


def message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=default_policy)["Message-ID"])


def text_of(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


# --- 1. stored, then the answer lost: the same message again, never a new copy -------------------


@pytest.mark.parametrize(
    "lose, reason",
    [
        ("close", "the server 127.0.0.1:{port} closed the connection after the message was sent"),
        ("reset", "the server 127.0.0.1:{port} closed the connection after the message was sent"),
        ("stall", "timed out after 1 s talking to 127.0.0.1:{port}, after the message was sent"),
    ],
)
def test_a_digest_stored_but_unanswered_is_uncertain_and_sent_again_byte_for_byte(
    tmp_path: Path, mailbox: tuple[Mailbox, int], lose: str, reason: str
) -> None:
    box, port = mailbox
    config = make(tmp_path, port)
    ingest(config, *SAMPLES)
    box.lose = lose

    first = send(config)

    assert first.exit_code == 1, first.output
    assert len(box.received) == 1  # the server has it; the sender cannot know
    [(status, attempts, mid, kept)] = digests(config)
    assert (status, attempts, kept) == ("uncertain", 1, True)
    assert first.output == (
        f"a@example.org: uncertain: {reason.format(port=port)}; it may have been delivered"
        f" — will be sent again with the same Message-ID {mid}; its 4 alerts stay pending\n"
    )
    assert pending_for(config) == [["a@example.org"]] * 4  # nothing lost

    again = send(config)

    assert again.exit_code == 0, again.output
    assert again.output == (
        f"a@example.org: sent: 4 alerts, {mid} (sent again: an earlier attempt may have been delivered too)\n"
    )
    assert len(box.received) == 2
    assert box.received[1] == box.received[0]  # the same Message-ID, Date and body: one message
    assert message_id(box.received[1]) == mid
    assert digests(config) == [("sent", 2, mid, False)]
    assert pending_for(config) == []
    assert send(config).output == "a@example.org: skipped: nothing new today\n"
    assert len(box.received) == 2


def test_an_uncertain_digest_goes_again_unchanged_on_a_later_day_before_newer_news(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    config = make(tmp_path, port)
    ingest(config, SAMPLES[0])  # MOFCOM 2023-23, gallium and germanium
    box.lose = "close"
    [first] = send_digests(config, at("2026-10-30"))
    assert first.status == "uncertain" and first.alerts == 1
    ingest(config, SAMPLES[1])  # MOFCOM 2025-57, news of the next day

    outcomes = send_digests(config, at("2026-10-31"))

    assert [(o.status, o.alerts, o.again) for o in outcomes] == [("sent", 1, True), ("sent", 1, False)]
    assert outcomes[0].message_id == first.message_id != outcomes[1].message_id
    old, resent, fresh = box.received
    assert resent == old  # still the digest of 2026-10-30, Date and subject included
    assert b"Subject: minerals-tracker 2026-10-30" in resent
    assert "MOFCOM 2025-57" in text_of(fresh) and "MOFCOM 2023-23" not in text_of(fresh)
    assert pending_for(config) == []


def test_a_failed_retry_keeps_the_digest_uncertain_and_its_message_id(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    config = make(tmp_path, port)
    ingest(config, SAMPLES[0])
    box.lose = "close"
    [first] = send_digests(config, at("2026-10-30"))
    down = make(tmp_path, free_port())  # the server is unreachable for the retry

    [retry] = send_digests(down, at("2026-10-30"))

    assert retry.status == "uncertain" and retry.message_id == first.message_id
    assert retry.error is not None and "ConnectionRefusedError" in retry.error
    assert retry.error.endswith("; an earlier attempt may have been delivered")
    assert digests(config) == [("uncertain", 2, first.message_id, True)]
    [last] = send_digests(config, at("2026-10-30"))
    assert (last.status, last.again, last.message_id) == ("sent", True, first.message_id)
    assert box.received[1] == box.received[0]


def test_a_send_killed_while_waiting_for_the_answer_is_sent_again_with_the_same_message_id(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.stall = 20.0
    config = make(tmp_path, port, timeout=30.0)
    ingest(config, SAMPLES[0])
    box.lose = "stall"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--config", str(config.path), "digest", "--send", "--now", NOW],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        t0 = time.monotonic()
        while not box.received and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        assert box.received, "the message never reached the server"
    finally:
        proc.kill()
        proc.wait()
    [(status, _, mid, kept)] = digests(config)
    assert (status, kept) == ("sending", True)  # cut off before it knew

    [out] = send_digests(config, at("2026-10-30"))

    assert (out.status, out.again, out.message_id) == ("sent", True, mid)
    assert box.received[1] == box.received[0]


class GrumpyAtQuit(Mailbox):
    """Accepts the message, then answers QUIT with an error or not at all."""

    def __init__(self, quit: str) -> None:
        super().__init__()
        self.quit = quit

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.quit == "stall":
            await asyncio.sleep(3)
        return "421 closing anyway"


@pytest.mark.parametrize("quit", ["error", "stall"])
def test_a_message_accepted_is_sent_whatever_the_answer_to_quit(tmp_path: Path, quit: str) -> None:
    box, port = GrumpyAtQuit(quit), free_port()
    controller = start_smtp(box, port)
    try:
        config = make(tmp_path, port)
        ingest(config, SAMPLES[0])
        [out] = send_digests(config, at("2026-10-30"))
    finally:
        controller.stop()
    assert (out.status, out.error) == ("sent", None)
    assert pending_for(config) == []


def test_the_scheduler_reports_an_uncertain_digest_as_a_failed_job(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    config = make(tmp_path, port)
    ingest(config, SAMPLES[0])
    box.lose = "close"

    result = Scheduler(config, clock=lambda: at("2026-10-30")).run_job("digest")

    assert result.status == "failed"
    assert result.detail == (
        f"0 sent, 0 skipped, 0 failed, 1 uncertain; a@example.org: the server 127.0.0.1:{port}"
        " closed the connection after the message was sent; it may have been delivered"
    )


# --- 2. a server too slow in total: one deadline per send, the next recipient still sent ----------


def _line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


def _trickle(conn: socket.socket, stop: threading.Event, start: bytes, byte: bytes = b"z") -> None:
    conn.sendall(start)
    while not stop.wait(0.2):
        conn.sendall(byte)


def greeting_trickled(conn: socket.socket, stop: threading.Event) -> None:
    _trickle(conn, stop, b"220 ")  # a reply line that never ends, one byte every 0.2 s


def greeting_without_end(conn: socket.socket, stop: threading.Event) -> None:
    while not stop.wait(0.05):  # complete lines, quickly, of a multi-line reply that never ends
        conn.sendall(b"220-still greeting\r\n")


def silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(10)


def ehlo_reply_trickled(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"220 front ESMTP\r\n")
    _line(conn)
    _trickle(conn, stop, b"250-")


def tls_handshake_trickled(conn: socket.socket, stop: threading.Event) -> None:
    _trickle(conn, stop, b"\x16\x03\x03\x40\x00", b"\x00")  # a 16 KB handshake record, a byte at a time


def starttls_then_trickled(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"220 front ESMTP\r\n")
    _line(conn)
    conn.sendall(b"250-front\r\n250 STARTTLS\r\n")
    _line(conn)
    conn.sendall(b"220 go ahead\r\n")
    tls_handshake_trickled(conn, stop)


class Front:
    """A TCP server on 127.0.0.1: the first connection gets `first(conn, stop)`, every later one
    is piped to the SMTP server at 127.0.0.1:`upstream`."""

    def __init__(self, first: Callable[[socket.socket, threading.Event], None], upstream: int):
        self.first, self.upstream = first, upstream
        self.stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        count = 0
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._open.append(conn)
            if count == 0:
                self._spawn(self._misbehave, conn)
            else:
                up = socket.create_connection(("127.0.0.1", self.upstream))
                self._open.append(up)
                self._spawn(self._pipe, conn, up)
                self._spawn(self._pipe, up, conn)
            count += 1

    def _misbehave(self, conn: socket.socket) -> None:
        try:
            self.first(conn, self.stop)
        except OSError:
            pass  # the client gave up and closed its end

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        for s in self._open:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)
        for s in [*self._open, self._sock]:
            s.close()


@pytest.mark.parametrize(
    "security, first, stage",
    [
        ("none", greeting_trickled, "waiting for the greeting"),
        ("none", greeting_without_end, "waiting for the greeting"),
        ("none", silent, "waiting for the greeting"),
        ("none", ehlo_reply_trickled, "after EHLO"),
        ("starttls", starttls_then_trickled, "after STARTTLS"),
        ("ssl", tls_handshake_trickled, "during the TLS handshake"),
    ],
    ids=["greeting-trickled", "greeting-never-ends", "silent", "ehlo-reply-trickled", "starttls", "ssl"],
)
def test_a_server_too_slow_in_total_fails_by_the_deadline_and_the_next_recipient_is_sent(
    tmp_path: Path,
    tls: tuple[Path, Path],
    security: str,
    first: Callable[[socket.socket, threading.Event], None],
    stage: str,
) -> None:
    box, upstream = Mailbox(), free_port()
    controller = start_smtp(box, upstream, security, tls)
    front = Front(first, upstream)
    try:
        config = make(
            tmp_path, front.port, "a@example.org", "b@example.org", security=security, ca_file=tls[0]
        )
        ingest(config, *SAMPLES)

        t0 = time.monotonic()
        result = send(config)
        elapsed = time.monotonic() - t0
    finally:
        front.close()
        controller.stop()

    a, b = result.output.splitlines()
    assert a == (
        f"a@example.org: failed: timed out after 1 s talking to 127.0.0.1:{front.port} ({stage});"
        " its 4 alerts stay pending"
    )
    assert b.startswith("b@example.org: sent: 4 alerts, <")  # its own deadline, not what a left
    assert result.exit_code == 1
    assert elapsed < DEADLINE + 5, f"took {elapsed:.1f} s"  # generous: the stall is 10 s
    assert len(box.received) == 1
    assert pending_for(config) == [["a@example.org"]] * 4
    with sqlite3.connect(config.db_path) as db:
        assert db.execute("SELECT recipient, status FROM digests ORDER BY id").fetchall() == [
            ("a@example.org", "failed"),
            ("b@example.org", "sent"),
        ]


def auth_login_stalls(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"220 front ESMTP\r\n")
    _line(conn)
    conn.sendall(b"250-front\r\n250 AUTH LOGIN\r\n")
    _line(conn)  # AUTH LOGIN <user>
    conn.sendall(b"334 UGFzc3dvcmQ6\r\n")
    _line(conn)  # the password, base64
    stop.wait(10)


def test_a_stall_during_auth_names_the_stage_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_TEST_PW", "s3cret-pw")
    front = Front(auth_login_stalls, free_port())
    try:
        config = make(tmp_path, front.port, extra='username = "bot"\npassword_env = "TRACKER_TEST_PW"\n')
        ingest(config, SAMPLES[0])
        t0 = time.monotonic()
        [out] = send_digests(config, at("2026-10-30"))
        elapsed = time.monotonic() - t0
    finally:
        front.close()
    assert out.status == "failed" and elapsed < DEADLINE + 5  # generous: the stall is 10 s
    assert out.error == f"timed out after 1 s talking to 127.0.0.1:{front.port} (after AUTH)"
