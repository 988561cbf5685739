"""Stopping on SIGTERM, SIGINT (Ctrl-C) and SIGHUP: finish the ticket in hand, record it, exit in time.

A daemon given `on_hup` reloads on SIGHUP instead (the Unix convention: take the new rules and templates).

The first signal only sets a flag that every cycle checks between tickets, so no ticket is cut in
half by a KeyboardInterrupt in the middle of an action. If the ticket in hand is stuck on a slow
server, a watchdog ends the process after `grace` seconds: that is safe by design, because every
action is recorded in flight before its side effect and checked when work resumes. A second Ctrl-C
ends it at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

GRACE_SECONDS = 8.0  # systemd waits 90 s by default; issue 8 asks for an exit within 10 s
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


class StoppedStarting(BaseException):
    """A stop signal arrived while deskbot was still starting (loading the model): nothing to finish, so stop now."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.name = signal.Signals(number).name


class Shutdown:
    """Turns stop signals into `self.stop` (a threading.Event) and remembers which signal it was."""

    def __init__(self, *, daemon: bool, grace: float = GRACE_SECONDS, on_hup: Callable[[], None] | None = None) -> None:
        self.daemon = daemon
        self.on_hup = on_hup if daemon else None
        self.stop = threading.Event()
        self.signal: int | None = None
        self.grace = grace
        self._previous: dict[int, object] = {}
        self._starting = False

    def install(self, *, starting: bool = False) -> Shutdown:
        """Handle the stop signals (main thread only); `starting`: until `started()`, a signal raises
        StoppedStarting at once (there is no ticket in hand to finish, and loading may take 10 s)."""
        self._starting = starting
        for number in EXIT_CODES:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def started(self) -> None:
        """Start-up is over: from now on a signal finishes the ticket in hand."""
        self._starting = False
        if self.stop.is_set() and self.signal is not None:
            raise StoppedStarting(self.signal)

    def restore(self) -> None:
        """Give the signals back to their previous handlers."""
        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def exit_code(self) -> int | None:
        """130 after Ctrl-C; after SIGTERM/SIGHUP 0 for the daemon (a normal stop), else 128+signal."""
        if self.signal is None:
            return None
        if self.daemon and self.signal != signal.SIGINT:
            return 0
        return EXIT_CODES[signal.Signals(self.signal)]

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if number == signal.SIGHUP and self.on_hup is not None:
            log.info("SIGHUP: checking the rules and templates for changes now")
            threading.Thread(target=self.on_hup, name="reload", daemon=True).start()  # not inside the handler
            return
        if self._starting:
            self.signal = number
            self.stop.set()
            raise StoppedStarting(number)
        if self.stop.is_set():
            if number == signal.SIGINT:
                raise KeyboardInterrupt  # the second Ctrl-C: stop now; in-flight actions are checked at restart
            return
        self.signal = number
        self.stop.set()
        log.warning("%s: finishing the ticket in hand, then stopping (at most %.0f s)",
                    signal.Signals(number).name, self.grace)
        watchdog = threading.Timer(self.grace, self._force, args=(number,))
        watchdog.daemon = True
        watchdog.start()

    def _force(self, number: int) -> None:
        log.error("the ticket in hand did not finish within %.0f s; exiting now (it resumes at the next start)",
                  self.grace)
        logging.shutdown()
        os._exit(self.exit_code() or 1)
