"""Sending a message over SMTP: none / STARTTLS / SSL, a timeout, a CA file, and the password
only from the environment variable named in config (never stored, never logged)."""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage

from tracker.config import SmtpSettings
from tracker.errors import TrackerError


class MailError(TrackerError):
    """The mail server could not be reached or refused the message."""


def send(settings: SmtpSettings, message: EmailMessage, recipients: list[str]) -> None:
    """Hand `message` to the server; MailError unless every recipient was accepted."""
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    try:
        if settings.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=context)
            if settings.username:
                password = os.environ.get(settings.password_env)
                if password is None:
                    raise MailError(f"smtp.username is set but ${settings.password_env} is empty")
                client.login(settings.username, password)
            refused = client.send_message(message, to_addrs=recipients)
    except MailError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(
            f"mail to {', '.join(recipients)} via {settings.host}:{settings.port} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if refused:
        raise MailError(f"the server refused {', '.join(refused)}")
