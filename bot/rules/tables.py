"""The tables of a rules file as types: what each key may hold (bot/rules/references.py checks the names used)."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import BeforeValidator

from bot.config.tomlfile import TomlFile, dotted
from bot.errors import ConfigError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHoursSpec(_Section):
    """When the team works; SLA clocks only run inside these hours (`always`: a 24/7 clock)."""

    always: StrictBool = False
    timezone: str = "UTC"
    days: list[Weekday] = Field(default=["mon", "tue", "wed", "thu", "fri"], min_length=1)
    start: time = time(9, 0)
    end: time = time(17, 0)
    holidays: str = ""  # ISO country code for the `holidays` library, e.g. "DE"; empty: none
    holiday_subdivision: str = ""  # e.g. "BE" for Berlin

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as \"Europe/Berlin\")") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> BusinessHoursSpec:
        if self.end <= self.start:
            raise ValueError("end must be later than start")
        if self.holidays:
            try:
                holidays_lib.country_holidays(self.holidays, subdiv=self.holiday_subdivision or None, years=2000)
            except NotImplementedError as exc:
                raise ValueError(f"unknown holiday calendar: {exc}") from None
        return self


class Route(_Section):
    """Where a department's tickets go."""

    group: str | None = None  # helpdesk group
    names: dict[str, str] = {}  # language -> department name shown to customers
    folder: str | None = None  # IMAP folder the mail is moved to; empty: stays
    tags: list[str] = []
    sla_hours: dict[str, float] = {}  # per priority, overriding [sla_hours] for this department
    calendar: str | None = None  # a [calendars.NAME] (or "default") for this department's SLA clock


class Triage(_Section):
    """When a person decides instead of the model."""

    review_below: float = Field(default=0.4, ge=0.0, le=1.0)
    review_group: str = "triage"
    review_folder: str | None = None
    review_tag: str = "needs-review"


class PriorityGuard(_Section):
    """How much worse a high-priority ticket filed low is than any other priority mistake."""

    # 1: take the model's priority as it is. Above 1, "low" stands only where it is more likely than
    # "medium" and "high" even after P(high) counts this many times (`deskbot evaluate` prints the trade-off).
    high_as_low_cost: float = Field(default=1.0, ge=1.0)

    def guard(self, priority: str, scores: dict[str, float]) -> str:
        """The priority to use for a model's `priority` and its `scores`: low only when low is worth the risk.

        Expected cost with this table: a high ticket called low costs `high_as_low_cost`, any other
        mistake 1. So low costs 1 - P(low) + (cost - 1) P(high) and any other priority k costs 1 - P(k).
        """
        if priority != "low" or self.high_as_low_cost == 1.0 or "high" not in scores or "low" not in scores:
            return priority
        low = scores["low"] - (self.high_as_low_cost - 1.0) * scores["high"]
        others = {name: score for name, score in scores.items() if name != "low"}
        best = max(others, key=others.__getitem__)
        return best if others[best] > low else priority


class Acknowledgement(_Section):
    """The automatic reply to the customer."""

    enabled: bool = True
    reference_prefix: str = Field(default="SUP", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    # The first number a new decision log gives out; it also continues above any reference found on the servers.
    reference_start: int = Field(default=1, ge=1)
    languages: list[str] = ["en", "de", "es", "fr", "pt"]  # each needs its templates (the shipped ones: these five)
    default_language: str = "en"
    max_age_days: float = Field(default=7, gt=0)  # older mail is triaged but not acknowledged
    skip_thanks_only: bool = True  # a message that only says thanks gets no acknowledgement
    max_per_address_per_hour: int = Field(default=3, ge=1)  # the last backstop against loops
    max_per_address_per_day: int = Field(default=10, ge=1)
    suppress_after_bounce_hours: float = Field(default=72, ge=0)  # a hard bounce of an ack silences that address


class SpamPolicy(_Section):
    """When the verdict of the mail server in front of us counts as spam (no acknowledgement: no backscatter)."""

    enabled: bool = True
    scl: int = Field(default=5, ge=-1, le=9)  # Microsoft SCL; Exchange's junk threshold is 5
    spamassassin_score: float | None = None  # besides X-Spam-Flag: YES
    rspamd_score: float | None = None  # besides rspamd's own action


class Intake(_Section):
    """Mail that must not reach the department queues: automated mail and spam, each filed apart."""

    automated_folder: str | None = "Automated"  # auto-replies, bounces, lists, our own mail coming back
    automated_tag: str = "automated"
    spam_folder: str | None = "Spam"
    spam_tag: str = "spam"
    spam: SpamPolicy = SpamPolicy()


def _as_list(value: Any) -> Any:
    """A condition may name one value without brackets: `if_language = "de"`."""
    return [value] if isinstance(value, str) else value


Values = Annotated[list[str], BeforeValidator(_as_list)]
Number = StrictFloat | StrictInt
STAGES = ("before_model", "after_model")


class Rule(_Section):
    """One named rule: all `if_*` conditions given must hold (each list matches any of its items), then its actions."""

    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    description: str = ""
    stage: Literal["before_model", "after_model"] = "after_model"
    if_sender: Values = []
    if_sender_domain: Values = []
    if_to: Values = []
    if_source: Values = []
    if_keywords: Values = []
    if_subject_keywords: Values = []
    if_regex: Values = []
    if_has_attachment: StrictBool | None = None
    if_language: Values = []
    if_department: Values = []
    if_priority: Values = []
    if_confidence_below: Number | None = Field(default=None, ge=0.0, le=1.0)
    if_confidence_above: Number | None = Field(default=None, ge=0.0, le=1.0)
    if_business_hours: StrictBool | None = None
    if_tags: Values = []
    if_organization: Values = []
    set_department: str | None = None
    set_priority: str | None = None
    min_priority: str | None = None
    add_tags: Values = []
    group: str | None = None
    review: StrictBool = False
    no_ack: StrictBool = False
    ack_template: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")
    stop: StrictBool = False

    @model_validator(mode="after")
    def _has_action(self) -> Rule:
        if not self.actions():
            raise ValueError(f"a rule needs at least one action ({', '.join(ACTIONS)})")
        return self

    def conditions(self) -> list[str]:
        """The condition keys this rule sets, in file-reference order."""
        return [key for key in CONDITIONS if getattr(self, key) not in (None, [])]

    def actions(self) -> list[str]:
        """The action keys this rule sets."""
        return [key for key in ACTIONS if getattr(self, key) not in (None, [], False)]


CONDITIONS = tuple(k for k in Rule.model_fields if k.startswith("if_"))
ACTIONS = ("set_department", "set_priority", "min_priority", "add_tags", "group", "review", "no_ack", "ack_template",
           "stop")
MODEL_CONDITIONS = ("if_confidence_below", "if_confidence_above")  # only after the model has spoken


class RuleSet(_Section):
    """The whole routing policy of one rules file."""

    priorities: list[str] = Field(default=["low", "medium", "high", "urgent"], min_length=1)
    default_priority: str = "medium"
    sla_hours: dict[str, float]
    sla_calendar: dict[str, str] = {}  # priority -> calendar name
    business_hours: BusinessHoursSpec = BusinessHoursSpec()
    calendars: dict[str, BusinessHoursSpec] = {}
    triage: Triage = Triage()
    priority: PriorityGuard = PriorityGuard()
    acknowledgement: Acknowledgement = Acknowledgement()
    intake: Intake = Intake()
    departments: dict[str, Route] = Field(min_length=1)
    rules: list[Rule] = []
    # helpdesk -> our priority -> its own; bool is listed so that `true` is refused instead of read as 1
    priority_map: dict[str, dict[str, str | int | bool]] = {}
    _file: TomlFile | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)
    _memo: dict[str, Any] = PrivateAttr(default_factory=dict)  # built once per rule set: calendars, compiled rules

    def error_at(self, loc: tuple[str | int, ...], message: str) -> ConfigError:
        """A ConfigError naming this rules file, the line of `loc` and its key (for checks made later,
        e.g. a group name a helpdesk does not know)."""
        if len(loc) > 1 and loc[0] == "rules" and isinstance(loc[1], int) and loc[1] < len(self.rules):
            rule = f"rule {self.rules[loc[1]].name!r}"  # the rules' own FILE:LINE: rule 'NAME': format
            return ConfigError(message, path=self.path, line=self._file.line_of(loc) if self._file else None, key=rule)
        if self._file is None:
            return ConfigError(message, key=dotted(loc))
        return self._file.error(message, loc)

    @property
    def path(self) -> str:
        """The file these rules were read from ('' when built in code)."""
        return self._file.path if self._file else ""

    @property
    def warnings(self) -> list[str]:
        """Findings that do not stop deskbot (a rule that can never fire), as FILE:LINE lines."""
        return list(self._warnings)

    def memo(self) -> dict[str, Any]:
        """A cache of what is derived from these (immutable) rules, filled by its users."""
        return self.__pydantic_private__["_memo"]  # type: ignore[index]  # plain dict access: once per decision

    def rank(self, priority: str) -> int:
        """Position of `priority` from lowest (0) to highest; unknown ones count as default."""
        if priority in self.priorities:
            return self.priorities.index(priority)
        return self.priorities.index(self.default_priority)

    def calendar_names(self) -> list[str]:
        """Every calendar a department or priority may name: "default" ([business_hours]) and [calendars.*]."""
        return ["default", *(name for name in self.calendars if name != "default")]

    def calendar_for(self, department: str, priority: str) -> str:
        """The SLA calendar of a ticket: the department's, else the priority's, else "default"."""
        route = self.departments.get(department)
        if route is not None and route.calendar:
            return route.calendar
        return self.sla_calendar.get(priority, "default")

    def sla_hours_for(self, department: str, priority: str) -> float:
        """The first-answer target: the department's hours for this priority, else [sla_hours]."""
        route = self.departments.get(department)
        if route is not None and priority in route.sla_hours:
            return route.sla_hours[priority]
        return self.sla_hours[priority]
