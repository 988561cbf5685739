"""Durations as admins write them in the config and on the command line: 90s, 15m, 2h, 365d, 12w.

A bare number is seconds (`unhealthy_after = 600`), so TOML integers work as well as strings.
"""

from __future__ import annotations

import re
from datetime import timedelta

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str | int | float, *, what: str = "duration") -> timedelta:
    """`value` as a timedelta; ValueError naming `what` and the accepted forms when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not a duration: give e.g. 90s, 15m, 2h, 365d or 12w")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{what} {value!r} is negative")
        return timedelta(seconds=value)
    match = _SPAN.match(value)
    if not match:
        raise ValueError(f"{what} {value!r} is not a duration: give e.g. 90s, 15m, 2h, 365d or 12w")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


__all__ = ["parse_duration"]
