"""One thread at a time inside a source that a scheduled cycle and HTTP requests share.

The daemon runs each source's cycle in a scheduler thread; the HTTP API triages a ticket through the
very same source object at once (a webhook, a posted ticket). A source takes its turn on entering
(`with source:`) and gives it back on leaving, so a cycle and a request never act on the same source
(its HTTP client, its mail connection, the tickets it resumes) at the same moment.
"""

from __future__ import annotations

import threading

from bot.errors import ServiceUnavailable


class Turn:
    """A lock with a say: a request that cannot wait long is told the source is busy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def take(self, name: str, wait: float | None = None) -> None:
        """Wait for the source: for ever (a cycle), or `wait` seconds and then ServiceUnavailable (a request)."""
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise ServiceUnavailable(f"{name} is busy with a cycle; try again shortly")

    def give(self) -> None:
        """Leave the source to the next thread."""
        self._lock.release()
