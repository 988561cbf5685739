"""`--since 30d`: a span back from now (h, d, w) or a date, as a UTC moment."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from bot.errors import ConfigError

_SPAN = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None, now: datetime, *, option: str = "--since") -> datetime | None:
    """The moment `value` names: 48h, 30d, 12w back from `now`, or YYYY-MM-DD / an ISO time (UTC unless given)."""
    if not value:
        return None
    span = _SPAN.match(value.strip())
    if span:
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is neither a span (48h, 30d, 12w) nor a date (YYYY-MM-DD)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
