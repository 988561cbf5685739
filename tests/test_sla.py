"""Business-hours arithmetic against hand-computed due times (Berlin, Mon-Fri 09-17, DE/BE holidays)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.rules import BusinessHoursSpec
from bot.sla import BusinessHours, add_business_hours

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = BusinessHours.from_spec(
    BusinessHoursSpec(timezone="Europe/Berlin", start=time(9), end=time(17), holidays="DE", holiday_subdivision="BE")
)


def berlin(day: str, hour: int, minute: int = 0) -> datetime:
    """An aware Berlin datetime from 'YYYY-MM-DD' and a wall-clock time."""
    return datetime.combine(datetime.fromisoformat(day).date(), time(hour, minute), tzinfo=BERLIN)


# 2026-11-18 is a Wednesday; 2026-11-21/22 a weekend; 2026-12-25/26 (Fri/Sat) and 2026-05-14 (Thu) holidays;
# 2026-10-02 is a Friday before German Unity Day, which falls on Saturday 2026-10-03.
CASES = [
    ("within one day", berlin("2026-11-18", 10), 2, berlin("2026-11-18", 12)),
    ("ends exactly at closing", berlin("2026-11-18", 13), 4, berlin("2026-11-18", 17)),
    ("across the evening: 1 h Wed + 3 h Thu", berlin("2026-11-18", 16), 4, berlin("2026-11-19", 12)),
    ("started at night: all of it Thu", berlin("2026-11-18", 20), 2, berlin("2026-11-19", 11)),
    ("started before opening", berlin("2026-11-18", 7, 30), 2, berlin("2026-11-18", 11)),
    ("a whole working day and a bit: 8 h Wed + 1 h Thu", berlin("2026-11-18", 9), 9, berlin("2026-11-19", 10)),
    ("over the weekend: 1 h Fri + 1 h Mon", berlin("2026-11-20", 16), 2, berlin("2026-11-23", 10)),
    ("started on Saturday", berlin("2026-11-21", 12), 2, berlin("2026-11-23", 11)),
    ("started on Sunday night", berlin("2026-11-22", 23), 8, berlin("2026-11-23", 17)),
    ("fractional hours", berlin("2026-11-18", 10), 1.5, berlin("2026-11-18", 11, 30)),
    ("fractional across the night: 0.25 h Wed + 0.5 h Thu", berlin("2026-11-18", 16, 45), 0.75,
     berlin("2026-11-19", 9, 30)),
    ("Christmas: 1 h Thu 24th, Fri 25th and Sat 26th off, 1 h Mon 28th", berlin("2026-12-24", 16), 2,
     berlin("2026-12-28", 10)),
    ("Ascension Day Thu 14 May: 1 h Wed + 3 h Fri", berlin("2026-05-13", 16), 4, berlin("2026-05-15", 12)),
    ("Good Friday and Easter Monday: Thu 2 Apr 16:00 -> Tue 7 Apr", berlin("2026-04-02", 16), 2,
     berlin("2026-04-07", 10)),
    ("started on a holiday (Labour Day, Fri 1 May)", berlin("2026-05-01", 10), 1, berlin("2026-05-04", 10)),
    ("DST ends Sun 25 Oct: Fri 16:00 CEST + 2 h -> Mon 10:00 CET", berlin("2026-10-23", 16), 2,
     berlin("2026-10-26", 10)),
    ("DST starts Sun 29 Mar: Fri 16:00 CET + 2 h -> Mon 10:00 CEST", berlin("2026-03-27", 16), 2,
     berlin("2026-03-30", 10)),
    ("start given in UTC: 08:00 UTC is 09:00 CET", datetime(2026, 11, 18, 8, tzinfo=timezone.utc), 3,
     berlin("2026-11-18", 12)),
    ("start given in New York: Wed 20:00 EST is Thu 02:00 Berlin", datetime(2026, 11, 18, 20,
     tzinfo=ZoneInfo("America/New_York")), 1, berlin("2026-11-19", 10)),
]


@pytest.mark.parametrize(("start", "hours", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_due_time(start: datetime, hours: float, expected: datetime) -> None:
    due = add_business_hours(start, hours, OFFICE)
    assert due == expected  # same instant
    assert due.utcoffset() == expected.utcoffset()  # and given in the team's zone, with the right offset
    assert due.tzinfo == BERLIN


def test_dst_end_offsets_are_right() -> None:
    due = add_business_hours(berlin("2026-10-23", 16), 2, OFFICE)
    assert due.utcoffset() == timedelta(hours=1)
    assert due == datetime(2026, 10, 26, 9, tzinfo=timezone.utc)


def test_unity_day_on_saturday_changes_nothing() -> None:
    # 3 Oct 2026 is a Saturday: Friday 2 Oct and Monday 5 Oct are ordinary working days.
    assert add_business_hours(berlin("2026-10-02", 16), 2, OFFICE) == berlin("2026-10-05", 10)


def test_unity_day_on_a_weekday_is_skipped() -> None:
    # 3 Oct 2025 is a Friday: Thursday 16:00 + 2 h -> 1 h Thu, Fri off, 1 h Mon 6 Oct.
    assert add_business_hours(berlin("2025-10-02", 16), 2, OFFICE) == berlin("2025-10-06", 10)


def test_without_holidays_christmas_is_a_working_day() -> None:
    plain = BusinessHours(zone=BERLIN, weekdays=frozenset(range(5)), start=time(9), end=time(17))
    assert add_business_hours(berlin("2026-12-24", 16), 2, plain) == berlin("2026-12-25", 10)


def test_weekend_team_works_saturday() -> None:
    weekend = BusinessHours(zone=BERLIN, weekdays=frozenset({5, 6}), start=time(10), end=time(14))
    # Wed 12:00 -> nothing until Sat 10:00; 4 h Sat, 1 h Sun.
    assert add_business_hours(berlin("2026-11-18", 12), 5, weekend) == berlin("2026-11-22", 11)


def test_round_the_clock_team_counts_the_repeated_hour() -> None:
    # A 24/7 team (Sundays too) on the night clocks go back: 01:00 CEST is 23:00 UTC on Saturday.
    # Three hours of work later it is 02:00 UTC, i.e. 03:00 CET; the hour 02:00-03:00 happened twice.
    always = BusinessHours(zone=BERLIN, weekdays=frozenset(range(7)), start=time(0), end=time(23, 59))
    due = add_business_hours(berlin("2026-10-25", 1), 3, always)
    assert due == datetime(2026, 10, 25, 2, tzinfo=timezone.utc)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_hours(datetime(2026, 11, 18, 10), 2, OFFICE)


def test_calendar_without_working_days_is_refused() -> None:
    never = BusinessHours(zone=BERLIN, weekdays=frozenset(), start=time(9), end=time(17))
    with pytest.raises(ValueError, match="no working time"):
        add_business_hours(berlin("2026-11-18", 10), 1, never)


def test_from_spec_reads_the_days_and_holidays() -> None:
    spec = BusinessHoursSpec(timezone="Europe/Berlin", days=["mon", "sat"], holidays="DE")
    calendar = BusinessHours.from_spec(spec)
    assert calendar.weekdays == frozenset({0, 5})
    assert not calendar.is_working_day(datetime(2026, 12, 26).date())  # Saturday, but a holiday
    assert calendar.is_working_day(datetime(2026, 11, 21).date())  # an ordinary Saturday
    assert not calendar.is_working_day(datetime(2026, 11, 18).date())  # Wednesday: not listed


ALWAYS = BusinessHours.from_spec(BusinessHoursSpec(timezone="Europe/Berlin", always=True))


@pytest.mark.parametrize(("start", "hours", "due"), [
    (berlin("2026-11-21", 11), 2, berlin("2026-11-21", 13)),  # Saturday: no waiting for Monday
    (berlin("2026-12-25", 23), 2, berlin("2026-12-26", 1)),  # Christmas night
    (berlin("2026-03-29", 1, 30), 1, berlin("2026-03-29", 3, 30)),  # 02:00 CET does not exist: 1 h ends 03:30 CEST
])
def test_always_calendar_counts_every_hour(start: datetime, hours: float, due: datetime) -> None:
    result = add_business_hours(start, hours, ALWAYS)
    assert result.astimezone(timezone.utc) == due.astimezone(timezone.utc)
    assert result.tzinfo == BERLIN


@pytest.mark.parametrize(("moment", "open_"), [
    (berlin("2026-11-18", 9), True), (berlin("2026-11-18", 16, 59), True), (berlin("2026-11-18", 17), False),
    (berlin("2026-11-21", 12), False),  # Saturday
    (berlin("2026-12-25", 12), False),  # Christmas Day, a Friday
    (berlin("2026-10-26", 9, 30), True),  # the Monday after DST ended: 09:30 CET
    (datetime(2026, 10, 26, 8, 30, tzinfo=timezone.utc), True),  # the same moment given in UTC
    (datetime(2026, 10, 26, 7, 30, tzinfo=timezone.utc), False),  # 08:30 CET: not yet
])
def test_is_open(moment: datetime, open_: bool) -> None:  # noqa: FBT001 - a parametrized expectation
    assert OFFICE.is_open(moment) is open_
    assert ALWAYS.is_open(moment)
