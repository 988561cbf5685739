"""The acknowledgement outbox: when a mail the server could not take now is tried again, and when a
temporary refusal becomes a permanent one.

Mail servers retry a 4xx for days (RFC 5321 4.5.4.1 suggests giving up after 4-5 days); greylisting
lifts in minutes, a full mailbox in hours. deskbot tries on a schedule that reaches hours and calls a
refusal permanent only after a day. An outage of our own SMTP server is nobody's refusal: the
acknowledgement is simply tried at the next cycle, however long the outage lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Pauses after the 1st, 2nd, ... temporary refusal of one acknowledgement.
REFUSED_RETRY = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                 timedelta(hours=6), timedelta(hours=24))
GIVE_UP_AFTER = timedelta(days=1)  # a recipient refusing "later" for this long is refusing for good
OUTAGE_RETRY = timedelta(seconds=50)  # our SMTP server is down: try at the next cycle (60 s polls)


@dataclass(frozen=True)
class Waiting:
    """What becomes of an acknowledgement that could not go out now."""

    state: str  # "outbox", or "failed" once a temporary refusal lasted a day
    retry_at: datetime | None
    refused_since: datetime | None
    detail: str


def wait(error: str, *, outage: bool, now: datetime, refusals: int, refused_since: datetime | None) -> Waiting:
    """Schedule the next try; `refusals` counts this one, `refused_since` is the first refusal (if any)."""
    if outage:
        return Waiting("outbox", now + OUTAGE_RETRY, refused_since,
                       f"in the outbox: the mail server is unavailable ({error}); sent when it is back")
    since = refused_since or now
    if now - since >= GIVE_UP_AFTER:
        return Waiting("failed", None, since, f"refused temporarily for more than a day, given up: {error}")
    pause = REFUSED_RETRY[min(max(refusals, 1), len(REFUSED_RETRY)) - 1]
    retry_at = min(now + pause, since + GIVE_UP_AFTER)
    return Waiting("outbox", retry_at, since,
                   f"in the outbox: refused for now ({error}); next try at {retry_at:%Y-%m-%d %H:%M} UTC")
