"""The digests table: each digest sent or being sent, with the bytes of its message until the mail
server has answered (a digest whose delivery is uncertain is sent again byte for byte)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracker.store.base import Database


@dataclass(frozen=True)
class Digest:
    """A stored digest: to whom, which alerts its acceptance delivers, and its message's bytes
    (None once the server answered, or when it is not to be sent again)."""

    id: int
    recipient: str
    day: str
    message_id: str
    alerts: int
    alert_ids: tuple[int, ...]
    message: bytes | None


class DigestTables(Database):
    """Digests and their sending."""

    def sent_on(self, recipient: str, day: str) -> bool:
        """Whether a digest reached `recipient` on `day` (a local date)."""
        row = self.db.execute(
            "SELECT 1 FROM digests WHERE recipient = ? AND day = ? AND status = 'sent'", [recipient, day]
        ).fetchone()
        return row is not None

    def add_digest(
        self,
        recipient: str,
        day: str,
        message_id: str,
        subject: str,
        alert_ids: list[int],
        message: bytes,
        created_at: str,
    ) -> int:
        """Keep a digest about to be sent ('sending'), with its message's bytes; returns its id."""
        with self.write():
            cur = self.db.execute(
                """INSERT INTO digests(recipient, day, message_id, subject, alerts, alert_ids, message, status,
                       created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', ?)""",
                [
                    recipient,
                    day,
                    message_id,
                    subject,
                    len(alert_ids),
                    json.dumps(alert_ids),
                    message,
                    created_at,
                ],
            )
        return int(cur.lastrowid or 0)

    def digest(self, digest_id: int) -> Digest:
        """The stored digest `digest_id`."""
        row = self.db.execute(
            "SELECT id, recipient, day, message_id, alerts, alert_ids, message FROM digests WHERE id = ?",
            [digest_id],
        ).fetchone()
        return _digest(row)

    def unsettled_digests(self, recipient: str) -> list[Digest]:
        """The digests to `recipient` that may have been delivered (the server's answer never came,
        or a crash cut the sending short) and still have their bytes, oldest first."""
        rows = self.db.execute(
            """SELECT id, recipient, day, message_id, alerts, alert_ids, message FROM digests
               WHERE recipient = ? AND status IN ('uncertain', 'sending') AND message IS NOT NULL ORDER BY id""",
            [recipient],
        )
        return [_digest(r) for r in rows]

    def drop_digest(self, digest_id: int) -> None:
        """Never send this uncertain digest again (its bytes are forgotten)."""
        with self.write():
            self.db.execute(
                "UPDATE digests SET status = 'uncertain', message = NULL WHERE id = ?", [digest_id]
            )

    def resend_digest(self, digest_id: int) -> None:
        """Note one more attempt at sending a stored digest."""
        with self.write():
            self.db.execute(
                "UPDATE digests SET status = 'sending', attempts = attempts + 1 WHERE id = ?", [digest_id]
            )

    def digest_sent(self, digest_id: int, at: str) -> None:
        """The server accepted the digest: its bytes are no longer needed."""
        with self.write():
            self.db.execute(
                "UPDATE digests SET status = 'sent', sent_at = ?, message = NULL WHERE id = ?",
                [at, digest_id],
            )

    def digest_not_sent(self, digest_id: int, status: str, error: str) -> None:
        """The attempt failed ('failed': rendered afresh next time, its bytes dropped) or its outcome
        is unknown ('uncertain': its bytes are kept, to send again)."""
        with self.write():
            self.db.execute(
                """UPDATE digests SET status = ?, error = ?,
                       message = CASE WHEN ? = 'failed' THEN NULL ELSE message END WHERE id = ?""",
                [status, error, status, digest_id],
            )


def _digest(row: Sequence[Any]) -> Digest:
    digest_id, recipient, day, message_id, alerts, alert_ids, message = row
    return Digest(digest_id, recipient, day, message_id, alerts, tuple(json.loads(alert_ids)), message)
