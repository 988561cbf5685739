"""How much of a helpdesk's rate limit is left, so connectors/http.py can slow down before a 429.

One Budget per limit: the account's and each endpoint family's (Zendesk's Update Ticket, its
incremental export; Freshdesk's ticket list). It learns from the response headers when the
helpdesk sends them and otherwise counts what deskbot itself spent in the last window, which
is all a documented per-minute limit without headers (Zendesk Update Ticket: 100 a minute)
allows. A 429's Retry-After blocks only the budget it was about.

Budgets belong to the source, not to one cycle's HTTP client: a Retry-After of an hour is still
honoured on the next poll. A limit whose headers do not say per what (Freshdesk: per minute or, on
older plans, per hour) is paced by what the headers say is left, never by our own count over an
assumed minute: once low, deskbot probes at growing intervals until the count goes up again.
A limit of one item (Zendesk's 30 updates per ticket per 10 minutes) gets a budget of its own per item.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0  # the documented limits without headers of their own (Zendesk, Freshdesk sub-limits)
IDLE_PROBE = WINDOW_SECONDS / 6  # how long to wait when the header says "low" and nothing says when it resets
MAX_PROBE = 900.0  # longest wait between probes of a limit whose window nobody told us


@dataclass
class Budget:
    """One rate limit: its size, what the server last said is left, and what we spent."""

    limit: int | None = None
    remaining: int | None = None
    resets_at: float | None = None  # when the server said the window starts anew (seconds, our clock)
    blocked_until: float = 0.0  # a 429's Retry-After
    spent: deque[tuple[float, int]] = field(default_factory=deque)  # (when, cost) within the window
    window: float | None = WINDOW_SECONDS  # None: the limit's period is unknown (pace by `remaining` only)
    probes: int = 0  # probes in a row while the headers said "low" and not when it resets
    next_probe: float = 0.0  # when such a limit may be probed again (our clock)

    def reserve(self) -> int:
        """Requests kept back: other clients of the same account need some of the limit too."""
        return max(1, (self.limit or 0) // 20)

    def delay(self, now: float) -> float:
        """Seconds to wait before the next request may go out (0: now)."""
        if self.blocked_until > now:
            return self.blocked_until - now
        while self.spent and self.spent[0][0] <= now - (self.window or WINDOW_SECONDS):
            self.spent.popleft()
        if self.limit is None:
            return 0.0
        if self.low():
            if self.resets_at is not None and self.resets_at > now:
                return self.resets_at - now
            if self.window is None:
                return max(0.0, self.next_probe - now)
            return self._until_oldest_ages_out(now) or IDLE_PROBE
        if self.window is not None and sum(cost for _, cost in self.spent) >= self.limit - self.reserve():
            return self._until_oldest_ages_out(now)
        return 0.0

    def low(self) -> bool:
        """The headers said no more than the reserve is left."""
        return self.remaining is not None and self.remaining <= self.reserve()

    def idle(self, now: float) -> bool:
        """Nothing of this budget matters any more (a per-item budget that may be forgotten)."""
        return self.blocked_until <= now and (self.resets_at is None or self.resets_at <= now) and not self.low()

    def _until_oldest_ages_out(self, now: float) -> float:
        return max(0.0, self.spent[0][0] + (self.window or WINDOW_SECONDS) - now) if self.spent else 0.0

    def waited(self) -> None:
        """After a wait, what the server said before is stale: learn it again from the next response."""
        self.remaining = None
        self.resets_at = None

    def spend(self, now: float, cost: int = 1) -> None:
        """Count one request of ours."""
        self.spent.append((now, cost))

    def observe(self, now: float, *, limit: int | None, remaining: int | None, reset_in: float | None) -> None:
        """What a response's headers say of this limit."""
        if limit is not None:
            self.limit = limit
        if remaining is not None:
            self.remaining = remaining
        self.resets_at = now + reset_in if reset_in is not None else None
        if not self.low():
            self.probes = 0
        elif self.resets_at is None and self.window is None:  # nothing says when it refills: probe ever more rarely
            self.next_probe = now + min(MAX_PROBE, IDLE_PROBE * 2 ** self.probes)
            self.probes += 1

    def block(self, now: float, seconds: float) -> None:
        """A 429: nothing of this budget before Retry-After has passed."""
        self.blocked_until = max(self.blocked_until, now + seconds)
