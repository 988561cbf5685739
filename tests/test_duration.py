"""Durations in the config and on the command line (bot/config/duration.py)."""

from datetime import timedelta

import pytest

from bot.config.duration import parse_duration


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
    ("365d", timedelta(days=365)), ("12w", timedelta(weeks=12)), ("600", timedelta(seconds=600)),
    (600, timedelta(seconds=600)), (" 1.5h ", timedelta(minutes=90)),
])
def test_accepted_forms(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "365 days", "-5m", "1y", True, -3])
def test_refusals_name_the_value(text: object) -> None:
    with pytest.raises(ValueError, match="older-than"):
        parse_duration(text, what="--older-than")  # type: ignore[arg-type]
