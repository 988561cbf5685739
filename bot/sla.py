"""Business-hours arithmetic: when a first answer is due, counting only working time of the ticket's calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from bot.rules.tables import WEEKDAYS, BusinessHoursSpec, RuleSet

_MAX_DAYS = 3 * 366  # a calendar with no working day left would loop forever
_KNOWN_DAYS = 4096  # days remembered per calendar (eleven years)
_NOTHING, _ONE_DAY = timedelta(0), timedelta(days=1)


@dataclass(frozen=True)
class BusinessHours:
    """Working days, daily opening times and public holidays of one team."""

    zone: ZoneInfo
    weekdays: frozenset[int]  # Monday is 0
    start: time
    end: time
    holidays: holidays_lib.HolidayBase | None = None
    always: bool = False  # a 24/7 clock: every hour counts
    # Day -> its opening, and its opening and closing in UTC (() for a day off), worked out once per day: the
    # holidays library's lookup and the time-zone arithmetic cost more than the rest of a due time.
    _days: dict[date, tuple[datetime, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_spec(cls, spec: BusinessHoursSpec) -> BusinessHours:
        """Build from the rules file's [business_hours] table."""
        calendar = None
        if spec.holidays:
            calendar = holidays_lib.country_holidays(spec.holidays, subdiv=spec.holiday_subdivision or None)
        return cls(
            zone=ZoneInfo(spec.timezone),
            weekdays=frozenset(WEEKDAYS.index(d) for d in spec.days),
            start=spec.start,
            end=spec.end,
            holidays=calendar,
            always=spec.always,
        )

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` (aware) is working time."""
        if self.always:
            return True
        local = moment.astimezone(self.zone)
        return self.is_working_day(local.date()) and self.opening(local.date()) <= local < self.closing(local.date())

    def is_working_day(self, day: date) -> bool:
        """A listed weekday that is not a public holiday."""
        return bool(self.working_hours(day))

    def working_hours(self, day: date) -> tuple[datetime, ...]:
        """(opening, opening in UTC, closing in UTC) of a working day; () for a day off."""
        known = self._days.get(day)
        if known is None:
            if len(self._days) >= _KNOWN_DAYS:
                self._days.clear()
            working = day.weekday() in self.weekdays and not (self.holidays is not None and day in self.holidays)
            opening = self.opening(day)
            known = self._days[day] = (opening, opening.astimezone(timezone.utc),
                                       self.closing(day).astimezone(timezone.utc)) if working else ()
        return known

    def opening(self, day: date) -> datetime:
        """When work starts on `day`."""
        return datetime.combine(day, self.start, tzinfo=self.zone)

    def closing(self, day: date) -> datetime:
        """When work stops on `day`."""
        return datetime.combine(day, self.end, tzinfo=self.zone)


def add_business_hours(start: datetime, hours: float, calendar: BusinessHours) -> datetime:
    """The moment `hours` of working time after `start` (an aware datetime), in the team's zone."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if calendar.always:
        return (start.astimezone(timezone.utc) + timedelta(hours=hours)).astimezone(calendar.zone)
    current: datetime | None = start.astimezone(calendar.zone)  # None: the day's opening
    day, left = current.date(), timedelta(hours=hours)
    for _ in range(_MAX_DAYS):
        hours_of_day = calendar.working_hours(day)
        if hours_of_day:
            opening, opening_utc, closing_utc = hours_of_day
            # Elapsed time, not clock-face time: same-zone arithmetic ignores a DST shift.
            begin = opening_utc if current is None or opening > current else current.astimezone(timezone.utc)
            available = closing_utc - begin
            if available > _NOTHING:
                if left <= available:
                    return (begin + left).astimezone(calendar.zone)
                left -= available
        day, current = day + _ONE_DAY, None
    raise ValueError("the business calendar has no working time in the next three years")


def calendars_of(rules: RuleSet, default: BusinessHours | None = None) -> dict[str, BusinessHours]:
    """Every calendar of a rule set by name ("default" is [business_hours]), built once per rule set."""
    memo = rules.memo()
    if "calendars" not in memo:
        zone = rules.business_hours.timezone  # a calendar that names no zone shows times in the default's
        built = {name: BusinessHours.from_spec(spec if "timezone" in spec.model_fields_set else
                                               spec.model_copy(update={"timezone": zone}))
                 for name, spec in rules.calendars.items()}
        built["default"] = BusinessHours.from_spec(rules.business_hours)
        memo["calendars"] = built
    calendars: dict[str, BusinessHours] = memo["calendars"]
    return calendars if default is None else {**calendars, "default": default}
