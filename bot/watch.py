"""Instant mail in the daemon: an IDLE watcher per IMAP mailbox wakes that source's scheduled cycle at once.

The poll stays as it was (the fallback, and the only path for servers without IDLE and for helpdesks, whose
instant path is their webhooks). A wake never starts a second cycle of the same source beside a running one:
a wake during a cycle makes that cycle run once more right after it, so mail that arrived after the running
cycle looked is not left for the next poll. APScheduler's own `max_instances=1` cannot do this: a run it is
asked for while the job is still counted as running is skipped, and that mail would wait for the next poll.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError

from bot.config.file import MailboxConfig
from connectors.imap_idle import RENEW_SECONDS, IdleWatcher
from connectors.registry import Scheduled

log = logging.getLogger(__name__)
STOP_SECONDS = 2.0  # how long stopping waits for the watchers (each looks at the stop flag every second)


class JobScheduler(Protocol):
    """What a wake needs of APScheduler's scheduler: move a job's next run."""

    def modify_job(self, job_id: str, jobstore: str | None = None, **changes: object) -> object: ...


class Waker:
    """Runs one source's cycle now on request, never two at once; a request during a cycle repeats it once."""

    def __init__(self, scheduler: JobScheduler, job_id: str, stop: threading.Event) -> None:
        self.scheduler = scheduler
        self.job_id = job_id
        self.stop = stop
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def wake(self) -> None:
        """Run the cycle now (or right after the one running)."""
        if self.stop.is_set():
            return
        with self._lock:
            if self._running:
                self._again = True
                return
        try:
            self.scheduler.modify_job(self.job_id, next_run_time=datetime.now(timezone.utc))
        except (JobLookupError, SchedulerNotRunningError):  # the daemon is stopping
            pass

    def guard(self, cycle: Callable[..., None]) -> Callable[..., None]:
        """`cycle` as the scheduler's job: run again while wakes came in during it; a job started beside a
        running one only asks that one to go again (so the scheduler may start two: `max_instances=2`)."""
        @functools.wraps(cycle)
        def job(*args: object) -> None:
            with self._lock:
                if self._running:
                    self._again = True
                    return
                self._running = True
            try:
                while True:
                    with self._lock:
                        self._again = False
                    cycle(*args)
                    with self._lock:  # the check and the release in one step: no wake falls between them
                        if not self._again or self.stop.is_set():
                            self._running = False
                            return
                    log.debug("%s: mail arrived during the cycle: running it again", self.job_id)
            except BaseException:
                with self._lock:
                    self._running = False
                raise
        return job


class Watchers:
    """The wakers of every scheduled source and the IDLE watchers of the mailboxes that want one."""

    def __init__(self, scheduler: JobScheduler, stop: threading.Event, *, renew_seconds: float = RENEW_SECONDS) -> None:
        self.scheduler = scheduler
        self.stop = stop
        self.renew_seconds = renew_seconds
        self.wakers: dict[str, Waker] = {}
        self.watchers: list[IdleWatcher] = []

    def job(self, item: Scheduled, cycle: Callable[..., None]) -> Callable[..., None]:
        """The scheduled job of `item`: its cycle, wakeable."""
        waker = self.wakers[item.source.name] = Waker(self.scheduler, item.source.name, self.stop)
        return waker.guard(cycle)

    def start(self, scheduled: list[Scheduled]) -> Watchers:
        """An IDLE watcher for every IMAP mailbox with `idle` on (the default)."""
        for item in scheduled:
            config = getattr(item.source, "config", None)
            if not isinstance(config, MailboxConfig) or item.source.name not in self.wakers:
                continue  # helpdesks poll; webhooks are their instant path
            if not config.idle:
                log.info("%s: idle = false: new mail is found by the poll every %d s", item.source.name,
                         config.poll_seconds)
                continue
            watcher = IdleWatcher(config, self.wakers[item.source.name].wake, stop=self.stop,
                                  renew_seconds=self.renew_seconds)
            self.watchers.append(watcher.start())
        return self

    def close(self, timeout: float = STOP_SECONDS) -> None:
        """Stop every watcher (by setting the daemon's `stop`: the daemon is ending) and wait for them a little;
        their threads never hold the process up."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for watcher in self.watchers:
            if not watcher.join(max(0.0, deadline - time.monotonic())):
                log.debug("%s: IDLE watcher still closing its connection", watcher.name)
