"""Work that may be done early, in the time a connector would otherwise spend waiting on its server.

Sending an acknowledgement is four SMTP round trips, and the server takes its time over the message itself:
deskbot's own CPU sat idle for about a quarter of a busy cycle. The pipeline queues pure work it will need
soon (fetching and parsing the next batch of mail) as `Job`s; the mailer runs them one at a time while it
waits for an answer (`SmtpMailer.send_many`). A job not yet run when its result is wanted runs then, so the
work and its errors are exactly those of doing it in order: only the moment changes. Everything runs in the
thread that queued it (no locks, no second connection on a server): a job runs between two awaits of the
mailer, never in the middle of a command.

A *long* job (predicting a whole batch: tens of milliseconds) would hold the mailer's next command back that
long, so it waits for a different kind of pause: an IMAP connection with commands sent and their answers not
yet read (the batch's MOVEs), where the server works through them meanwhile (`step(long=True)` runs long
jobs only; they touch no server connection themselves).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Job(Generic[T]):
    """A call queued for later; its result (or its exception) is kept for whoever asks."""

    __slots__ = ("_call", "_done", "_value", "_error")

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self._done = False
        self._value: T | None = None
        self._error: Exception | None = None

    @property
    def done(self) -> bool:
        return self._done

    def run(self) -> None:
        """Run the call once; an Exception is kept for `result` (KeyboardInterrupt and the like go on up)."""
        if self._done:
            return
        self._done = True
        try:
            self._value = self._call()
        except Exception as exc:  # noqa: BLE001 - raised again, unchanged, to the caller of result()
            self._error = exc
        self._call = _ran  # let go of what the call held

    def result(self) -> T:
        """The call's value, running it now if nobody ran it yet; raises the call's exception."""
        self.run()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def _ran() -> None:
    return None


class Meanwhile:
    """The queues of jobs a connector may run while it waits (oldest first): short ones, and long ones."""

    def __init__(self) -> None:
        self._jobs: deque[Job[object]] = deque()
        self._long: deque[Job[object]] = deque()

    def later(self, call: Callable[[], T], *, long: bool = False) -> Job[T]:
        """Queue `call`; its `Job` runs when a connector has time, or when its result is asked for. A `long` one
        runs only in a pause that fits it (see the module's docstring), and must use no server connection."""
        job: Job[T] = Job(call)
        (self._long if long else self._jobs).append(job)  # type: ignore[arg-type]
        return job

    def step(self, *, long: bool = False) -> bool:
        """Run the oldest short job (with `long`: long job) nobody ran yet; False when there is none."""
        jobs = self._long if long else self._jobs
        while jobs:
            job = jobs.popleft()
            if not job.done:
                job.run()
                return True
        return False

    def clear(self) -> None:
        """Forget the queued jobs (a job whose result is asked for later still runs then)."""
        self._jobs.clear()
        self._long.clear()

    def __len__(self) -> int:
        return sum(not job.done for job in (*self._jobs, *self._long))
