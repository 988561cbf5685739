"""One daemon per SQLite decision log: an exclusive lock on a file beside the database.

Two daemons on one config acknowledge mail twice, and SQLite cannot be shared safely between
machines anyway. The lock is an OS lock (flock), so it goes away with the process however it
dies: a SIGKILL never leaves a stale lock behind. The file holds the holder's pid and start time
only to make the second instance's message useful.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from bot.errors import DeskbotError


class AlreadyRunning(DeskbotError):
    """Another deskbot holds the lock of this decision log."""


class InstanceLock:
    """`with InstanceLock(db_path):` — raises AlreadyRunning when another process holds it."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> InstanceLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise AlreadyRunning(
                f"another deskbot ({holder or 'unknown process'}) is already running on the decision log "
                f"{self.path.with_suffix('')}; stop it first (or give this one its own [database] url)") from None
        os.ftruncate(fd, 0)
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""
