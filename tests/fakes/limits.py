"""What both helpdesk fakes share: a clock tests control, per-minute limits, injected faults."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx


@dataclass
class FakeClock:
    """Time that moves only when someone sleeps or advances it (the fakes and deskbot share it)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))
    slept: float = 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        """What deskbot calls instead of time.sleep."""
        self.slept += seconds
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Let time pass."""
        self.now += timedelta(seconds=seconds)


@dataclass
class MinuteLimit:
    """A limit of N requests per clock minute (or per `seconds`: Freshdesk's older plans count per hour,
    Zendesk's per-ticket update limit per 10 minutes), counted the way the helpdesks document it."""

    limit: int
    seconds: int = 60
    window_start: datetime | None = None
    used: int = 0

    def _roll(self, now: datetime) -> None:
        epoch = int(now.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % self.seconds, timezone.utc)
        if start != self.window_start:
            self.window_start, self.used = start, 0

    def take(self, now: datetime, cost: int = 1) -> bool:
        """Count a request; False when the limit is already used up (the answer is a 429)."""
        self._roll(now)
        if self.used + cost > self.limit:
            return False
        self.used += cost
        return True

    def remaining(self, now: datetime) -> int:
        """What is left of this minute."""
        self._roll(now)
        return max(0, self.limit - self.used)

    def resets_in(self, now: datetime) -> int:
        """Whole seconds until the next minute starts."""
        self._roll(now)
        assert self.window_start is not None
        return max(1, int((self.window_start + timedelta(seconds=self.seconds) - now).total_seconds() + 0.999))


@dataclass
class Fault:
    """One injected failure: the next matching request gets `status` (or the timeout) instead."""

    method: str
    path_prefix: str
    status: int = 0  # 0 with timeout_after_apply: the server applies the write, the answer is lost
    times: int = 1
    timeout_after_apply: bool = False
    body: dict[str, object] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class FaultList:
    """Faults waiting for their request, consumed in order."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Arm one fault."""
        self.pending.append(fault)

    def take(self, request: httpx.Request) -> Fault | None:
        """The fault this request triggers, if any (counting it down)."""
        for fault in self.pending:
            if request.method == fault.method and request.url.path.startswith(fault.path_prefix):
                fault.times -= 1
                if fault.times <= 0:
                    self.pending.remove(fault)
                return fault
        return None


def basic_auth(request: httpx.Request) -> tuple[str, str] | None:
    """The user and password of a Basic Authorization header, or None."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    return user, password


def iso(moment: datetime) -> str:
    """The helpdesks' timestamp format: 2026-11-02T09:00:00Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


Handler = Callable[[httpx.Request], httpx.Response]
