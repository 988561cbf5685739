"""Watching one IMAP folder with IDLE (RFC 2177) on a connection of its own, to say the moment mail arrives.

The watcher only says "something arrived" (an untagged EXISTS or RECENT); the source's ordinary cycle does the
work, so IDLE adds no second path through the pipeline. RFC 2177 lets a server log out a client that has been
idle for 30 minutes, so IDLE is ended and re-issued well before (every 25 minutes), with a NOOP in between as
the keep-alive. A dropped connection is opened again after a growing pause; a server without IDLE is left to
the poll. The folder is opened with EXAMINE (read-only): watching must not take \\Recent from anyone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import imapclient

from bot.config.file import MailboxConfig
from bot.errors import AuthError, DeskbotError, ServiceUnavailable
from connectors.imap_session import close_quietly, connect, translated

log = logging.getLogger(__name__)

RENEW_SECONDS = 25 * 60.0  # RFC 2177 section 3: servers may drop a client idle for 30 minutes
TICK_SECONDS = 1.0  # the longest wait for the server before the stop flag is looked at again
FIRST_PAUSE, MAX_PAUSE = 1.0, 60.0  # after a dropped connection: 1, 2, 4, ... 60 s
AUTH_PAUSE = 15 * 60.0  # a refused login is not tried again soon: servers lock such accounts
_ARRIVALS = (b"EXISTS", b"RECENT")


def has_arrivals(responses: Sequence[tuple[object, ...]]) -> bool:
    """True when the server's untagged responses announce new mail (`* N EXISTS` or `* N RECENT`)."""
    return any(len(r) > 1 and r[1] in _ARRIVALS for r in responses)


def is_bye(responses: Sequence[tuple[object, ...]]) -> bool:
    """True when the server said `* BYE` (it is closing the connection: kicked, shutting down)."""
    return any(r and r[0] == b"BYE" for r in responses)


class IdleWatcher:
    """A thread holding an IDLE connection to one folder; calls `on_arrival` when mail arrives there."""

    def __init__(self, config: MailboxConfig, on_arrival: Callable[[], None], *, stop: threading.Event,
                 renew_seconds: float = RENEW_SECONDS, tick: float = TICK_SECONDS,
                 first_pause: float = FIRST_PAUSE) -> None:
        self.config = config
        self.on_arrival = on_arrival
        self.stop = stop
        self.renew_seconds = renew_seconds
        self.tick = tick
        self.first_pause = first_pause
        self.name = f"imap:{config.name}"
        self.idling = threading.Event()  # set while an IDLE is in place (tests and the bench wait for it)
        self.renewals = 0  # IDLE commands re-issued on a live connection
        self.connections = 0  # connections that reached IDLE
        self._thread = threading.Thread(target=self._run, name=f"idle-{config.name}", daemon=True)

    def start(self) -> IdleWatcher:
        """Begin watching in the background."""
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (after `stop` is set); True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        pause, reached = self.first_pause, 0
        while not self.stop.is_set():
            try:
                if not self._watch():
                    return  # no IDLE here: the poll alone
            except AuthError as exc:
                log.warning("%s: IDLE connection refused (%s); trying again in %.0f min, the poll goes on",
                            self.name, exc, AUTH_PAUSE / 60)
                self.stop.wait(AUTH_PAUSE)
            except DeskbotError as exc:
                if self.connections > reached:  # it had worked: a new outage, said once and retried soon
                    pause, reached = self.first_pause, self.connections
                level = logging.WARNING if pause == self.first_pause else logging.DEBUG
                log.log(level, "%s: IDLE connection lost (%s); reconnecting in %.0f s, the poll goes on meanwhile",
                        self.name, exc, pause)
                self.stop.wait(pause)
                pause = min(pause * 2, MAX_PAUSE)
            except Exception:  # noqa: BLE001 - a bug here must not end watching: the poll covers, and we retry
                log.exception("%s: IDLE watcher failed; trying again in %.0f s", self.name, MAX_PAUSE)
                self.stop.wait(MAX_PAUSE)
            finally:
                self.idling.clear()

    def _watch(self) -> bool:
        """One connection: IDLE until told to stop or the connection fails; False if the server has no IDLE."""
        client = connect(self.config)
        try:
            with translated("capability"):
                offered = client.has_capability("IDLE")
            if not offered:
                log.info("%s: the server offers no IDLE; new mail is found by the poll every %d s",
                         self.name, self.config.poll_seconds)
                return False
            with translated(f"IDLE on folder {self.config.folder!r}"):
                client.select_folder(self.config.folder, readonly=True)
                client.idle()
                self._established()
                self._idle(client)
                client.idle_done()
            return True
        finally:
            close_quietly(client)

    def _established(self) -> None:
        """IDLE is in place: say so, and look once for mail that arrived while nobody was watching."""
        self.connections += 1
        self.idling.set()
        if self.connections == 1:
            log.info("%s: watching %s with IDLE; new mail is handled as it arrives", self.name, self.config.folder)
        else:
            log.info("%s: IDLE connection back", self.name)
        self.on_arrival()

    def _idle(self, client: imapclient.IMAPClient) -> None:
        """Wait in IDLE, re-issuing it (DONE, NOOP, IDLE) every `renew_seconds`, until `stop` is set."""
        renew_at = time.monotonic() + self.renew_seconds
        while not self.stop.is_set():
            waited = time.monotonic()
            responses = client.idle_check(timeout=self.tick)
            if is_bye(responses):
                raise ServiceUnavailable(f"the server closed the connection: {responses}")
            if has_arrivals(responses):
                self.on_arrival()
            # idle_check() returns early and empty when the socket saw EOF (imapclient swallows it): probe
            early = not responses and time.monotonic() - waited < self.tick / 2
            if early or time.monotonic() >= renew_at:
                self._renew(client)
                renew_at = time.monotonic() + self.renew_seconds

    def _renew(self, client: imapclient.IMAPClient) -> None:
        """End IDLE, NOOP (the keep-alive; a dead connection fails here), and IDLE again."""
        _, responses = client.idle_done()
        noop = client.noop()
        if is_bye(noop[1]):
            raise ServiceUnavailable(f"the server closed the connection: {noop[1]}")
        if has_arrivals(list(responses) + list(noop[1])):
            self.on_arrival()
        client.idle()
        self.renewals += 1
        log.debug("%s: IDLE re-issued", self.name)
