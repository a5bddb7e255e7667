"""One `tracker run` per database: an exclusive flock on a lock file next to it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from tracker.errors import AlreadyRunningError, StoreError


class InstanceLock:
    """An exclusive flock on `<db>.lock`, which holds the owner's pid; the kernel releases it when
    the process ends, even on a crash."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        self.path = Path(f"{db_path}.lock")
        self._fd: int | None = None

    def __enter__(self) -> InstanceLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the lock file: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunningError(
                f"another 'tracker run' (pid {pid}) is using {self.db_path} (lock file {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
