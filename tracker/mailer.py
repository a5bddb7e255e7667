"""Sending a message over SMTP: none / STARTTLS / SSL, a CA file, the password only from the
environment variable named in config (never stored, never logged), and one deadline per send.

`smtp.timeout` bounds the whole conversation with the server, not each socket operation:
connecting, the greeting, EHLO, STARTTLS or the TLS handshake, AUTH, MAIL/RCPT/DATA and QUIT.
Every read and write is given only the time left, so a server that trickles its greeting a byte
a second fails after `timeout` seconds just like one that never answers. (Resolving the host
name is left to the system resolver and its own timeout.)

Once the whole message, up to its final ".", has gone to the server, the server may have stored
it even if its answer never arrives. That failure is `DeliveryUncertain`: send the very same
bytes again (the same Message-ID, so that mail systems can recognise one message), never a new copy.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from contextvars import ContextVar
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any, TypeVar

from tracker.errors import TrackerError
from tracker.settings import SmtpSettings

T = TypeVar("T")

# the commands a failure may name; anything else sent is an AUTH continuation, i.e. a secret
_VERBS = frozenset({"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT"})
_LEADING_DOT = re.compile(rb"(?m)^\.")


class MailError(TrackerError):
    """The message was not handed over: the server could not be reached in time or refused it."""


class DeliveryUncertain(MailError):
    """The message went out in full but the server's answer never came: it may have been delivered."""


class _Deadline:
    """When a send must be over; each socket operation gets only the time left."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.passed = False

    def run(self, sock: socket.socket, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        left = self.end - time.monotonic()
        if left <= 0:
            self.passed = True
            raise TimeoutError(f"no time left of {self.seconds:g} s")
        sock.settimeout(left)
        try:
            return call(*args, **kwargs)
        except TimeoutError:
            self.passed = True
            raise


# the deadline of the send under way in this thread (the scheduler sends from worker threads);
# a context variable because TLS sockets are made by the ssl module, which passes nothing along
_deadline: ContextVar[_Deadline | None] = ContextVar("smtp_deadline", default=None)


def _bounded(sock: socket.socket, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    deadline = _deadline.get()
    if deadline is None:
        return call(*args, **kwargs)
    return deadline.run(sock, call, *args, **kwargs)


class _Bounded(socket.socket):
    """Reads and writes that end by the send's deadline; for plain and TLS sockets alike (an
    SSLSocket is a socket: in _TLSSocket, super() here is SSLSocket's)."""

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        return _bounded(self, super().recv, *args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        return _bounded(self, super().recv_into, *args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        return _bounded(self, super().send, *args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        _bounded(self, super().sendall, *args, **kwargs)


class _Socket(_Bounded, socket.socket):
    """A TCP socket whose every operation ends by the send's deadline."""

    def connect(self, *args: Any, **kwargs: Any) -> None:
        _bounded(self, super().connect, *args, **kwargs)


class _TLSSocket(_Bounded, ssl.SSLSocket):
    """The same over TLS (STARTTLS or implicit), the handshake included."""

    def do_handshake(self, *args: Any, **kwargs: Any) -> None:
        _bounded(self, super().do_handshake, *args, **kwargs)


def _open(host: str, port: int, source_address: Any) -> socket.socket:
    """socket.create_connection, with deadline-bound sockets: every address tried shares it."""
    error: OSError | None = None
    for family, type_, proto, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = _Socket(family, type_, proto)
        try:
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"{host}: no address to connect to")


class _Conversation(smtplib.SMTP):
    """smtplib.SMTP over deadline-bound sockets, knowing how far the exchange got."""

    def __init__(self, settings: SmtpSettings, context: ssl.SSLContext):
        super().__init__(timeout=settings.timeout)  # no host: send() connects, under the deadline
        self._host = settings.host  # STARTTLS checks the certificate against it; only a host above sets it
        self.implicit_tls = context if settings.security == "ssl" else None
        self.stage = "connecting"
        self.message_sent = False  # the whole message, up to its final ".", went out
        self.data_reply: int | None = None

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = _open(host, port, self.source_address)
        if self.implicit_tls is not None:
            self.stage = "during the TLS handshake"
            sock = self.implicit_tls.wrap_socket(sock, server_hostname=host)
        self.stage = "waiting for the greeting"
        return sock

    def putcmd(self, cmd: str, args: str = "") -> None:
        verb = cmd.split(maxsplit=1)[0].upper() if cmd.strip() else ""
        if verb in _VERBS:
            self.stage = f"after {verb}"
        super().putcmd(cmd, args)

    def data(self, msg: Any) -> tuple[int, bytes]:
        """DATA as smtplib sends it (`msg` is bytes), noting when the message has gone out in full."""
        code, reply = self.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = _LEADING_DOT.sub(b"..", bytes(msg))
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body + b".\r\n")
        self.message_sent = True
        self.stage = "after the message was sent"
        self.data_reply, reply = self.getreply()
        return self.data_reply, reply


def flatten(message: EmailMessage) -> bytes:
    """The message as it goes over the wire (an EmailMessage of the default policy), made as
    smtplib's send_message makes it: CRLF line ends, UTF-8 headers only when an address needs them."""
    fields = [str(v) for name in ("From", "To") for v in message.get_all(name, [])]
    utf8 = not "".join(address for _, address in getaddresses(fields)).isascii()
    return message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)


def send(settings: SmtpSettings, recipients: list[str], data: bytes) -> None:
    """Hand `data` (a message as `flatten` made it) to the server within `settings.timeout`
    seconds in all. MailError unless every recipient was accepted; DeliveryUncertain (a MailError)
    when the message went out in full but no answer came."""
    deadline = _Deadline(settings.timeout)
    token = _deadline.set(deadline)
    client: _Conversation | None = None
    try:
        context = ssl.create_default_context(cafile=settings.ca_file or None)
        context.sslsocket_class = _TLSSocket
        client = _Conversation(settings, context)
        _converse(client, settings, context, recipients, data)
    except MailError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise _failure(settings, recipients, client, deadline, exc) from None
    finally:
        if client is not None:
            _quit(client)
        _deadline.reset(token)


def _converse(
    client: _Conversation, settings: SmtpSettings, context: ssl.SSLContext, recipients: list[str], data: bytes
) -> None:
    code, reply = client.connect(settings.host, settings.port)
    if code != 220:
        raise smtplib.SMTPConnectError(code, reply)
    if settings.security == "starttls":
        client.starttls(context=context)
    if settings.username:
        password = os.environ.get(settings.password_env)
        if password is None:
            raise MailError(f"smtp.username is set but ${settings.password_env} is empty")
        client.login(settings.username, password)
    sender = parseaddr(settings.sender)[1]
    options: list[str] = []
    if not "".join([sender, *recipients]).isascii():
        client.ehlo_or_helo_if_needed()
        if not client.has_extn("smtputf8"):
            raise MailError(
                f"{settings.host}:{settings.port} does not take non-ASCII addresses (no SMTPUTF8)"
            )
        options = ["SMTPUTF8", "BODY=8BITMIME"]
    refused = client.sendmail(sender, recipients, data, options)
    if refused:
        raise MailError(f"the server refused {', '.join(refused)}")


def _quit(client: _Conversation) -> None:
    """QUIT, within what is left of the deadline; the message's fate is already known."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _failure(
    settings: SmtpSettings,
    recipients: list[str],
    client: _Conversation | None,
    deadline: _Deadline,
    exc: Exception,
) -> MailError:
    where = f"{settings.host}:{settings.port}"
    if client is not None and client.message_sent and not 400 <= (client.data_reply or 0) < 600:
        # a 4xx/5xx answer to the message is a refusal; anything else leaves it with the server
        if deadline.passed:
            reason = f"timed out after {deadline.seconds:g} s talking to {where}, after the message was sent"
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            reason = f"the server {where} closed the connection after the message was sent"
        else:
            reason = f"the server {where} gave no valid answer after the message was sent ({exc})"
        return DeliveryUncertain(f"{reason}; it may have been delivered")
    if deadline.passed:
        stage = client.stage if client is not None else "connecting"
        return MailError(f"timed out after {deadline.seconds:g} s talking to {where} ({stage})")
    return MailError(
        f"mail to {', '.join(recipients)} via {where} failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
    )
