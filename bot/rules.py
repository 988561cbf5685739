"""Routing rules: the admin-edited policy that `decide()` applies to each prediction.

Rules are data, not code: every condition and action is a named key of a known kind,
validated when the file is loaded, so a typo stops the daemon at start-up with the
file, line and key instead of silently never matching.
"""

from __future__ import annotations

import importlib.resources
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from bot.config.tomlfile import TomlFile, dotted
from bot.errors import ConfigError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHoursSpec(_Section):
    """When the team works; SLA clocks only run inside these hours."""

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


class Rule(_Section):
    """One named rule: all `if_*` conditions given must hold (each list matches any of its items)."""

    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    description: str = ""
    if_sender: list[str] = []
    if_sender_domain: list[str] = []
    if_keywords: list[str] = []
    if_department: list[str] = []
    if_language: list[str] = []
    min_priority: str | None = None
    set_department: str | None = None
    add_tags: list[str] = []
    review: bool = False
    no_ack: bool = False

    @model_validator(mode="after")
    def _has_condition_and_action(self) -> Rule:
        if not (self.if_sender or self.if_sender_domain or self.if_keywords or self.if_department or self.if_language):
            raise ValueError("a rule needs at least one if_* condition")
        if not (self.min_priority or self.set_department or self.add_tags or self.review or self.no_ack):
            raise ValueError("a rule needs at least one action (min_priority, set_department, add_tags, review, no_ack)")
        return self


class RuleSet(_Section):
    """The whole routing policy of one rules file."""

    priorities: list[str] = Field(default=["low", "medium", "high", "urgent"], min_length=1)
    default_priority: str = "medium"
    sla_hours: dict[str, float]
    business_hours: BusinessHoursSpec = BusinessHoursSpec()
    triage: Triage = Triage()
    priority: PriorityGuard = PriorityGuard()
    acknowledgement: Acknowledgement = Acknowledgement()
    intake: Intake = Intake()
    departments: dict[str, Route] = Field(min_length=1)
    rules: list[Rule] = []
    # helpdesk -> our priority -> its own; bool is listed so that `true` is refused instead of read as 1
    priority_map: dict[str, dict[str, str | int | bool]] = {}
    _file: TomlFile | None = PrivateAttr(default=None)

    def error_at(self, loc: tuple[str | int, ...], message: str) -> ConfigError:
        """A ConfigError naming this rules file, the line of `loc` and its key (for checks made later,
        e.g. a group name a helpdesk does not know)."""
        if self._file is None:
            return ConfigError(message, key=dotted(loc))
        return self._file.error(message, loc)

    def rank(self, priority: str) -> int:
        """Position of `priority` from lowest (0) to highest; unknown ones count as default."""
        if priority in self.priorities:
            return self.priorities.index(priority)
        return self.priorities.index(self.default_priority)


def shipped_rules_path() -> Path:
    """The rules file that ships with deskbot."""
    return Path(str(importlib.resources.files("bot.shipped.rules") / "default.toml"))


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate a rules file; ConfigError names file, line and key."""
    toml = TomlFile.read(path or shipped_rules_path())
    ruleset = toml.validate(RuleSet)
    _check_references(toml, ruleset)
    ruleset._file = toml
    return ruleset


def _check_references(toml: TomlFile, rs: RuleSet) -> None:
    """Cross-checks pydantic cannot express: names used must be names defined."""
    known = ", ".join(rs.priorities)
    if rs.default_priority not in rs.priorities:
        raise toml.error(f"unknown priority {rs.default_priority!r}; known: {known}", ("default_priority",))
    for priority in rs.priorities:
        if priority not in rs.sla_hours:
            raise toml.error(f"no SLA for priority {priority!r}; add `{priority} = <hours>`", ("sla_hours",))
    for priority, hours in rs.sla_hours.items():
        if priority not in rs.priorities:
            raise toml.error(f"unknown priority {priority!r}; known: {known}", ("sla_hours", priority))
        if hours <= 0:
            raise toml.error("SLA hours must be greater than 0", ("sla_hours", priority))
    if rs.acknowledgement.default_language not in rs.acknowledgement.languages:
        raise toml.error("default_language must be one of languages", ("acknowledgement", "default_language"))
    for index, rule in enumerate(rs.rules):
        if rule.min_priority and rule.min_priority not in rs.priorities:
            raise toml.error(f"unknown priority {rule.min_priority!r}; known: {known}", ("rules", index, "min_priority"))
        if rule.set_department and rule.set_department not in rs.departments:
            raise toml.error(
                f"unknown department {rule.set_department!r}; define it under [departments]", ("rules", index, "set_department")
            )
        if rule.name in [r.name for r in rs.rules[:index]]:
            raise toml.error(f"rule name {rule.name!r} is used twice", ("rules", index, "name"))
    _check_priority_map(toml, rs)


# The priorities each helpdesk accepts: Zendesk names them, Freshdesk numbers them 1 (low) to 4 (urgent).
HELPDESK_PRIORITIES: dict[str, tuple[str | int, ...]] = {
    "zendesk": ("low", "normal", "high", "urgent"),
    "freshdesk": (1, 2, 3, 4),
}


def _check_priority_map(toml: TomlFile, rs: RuleSet) -> None:
    """[priority_map.<helpdesk>]: known helpdesks, known priorities, values that helpdesk accepts."""
    for helpdesk, mapping in rs.priority_map.items():
        if helpdesk not in HELPDESK_PRIORITIES:
            raise toml.error(f"unknown helpdesk {helpdesk!r}; known: {', '.join(HELPDESK_PRIORITIES)}",
                             ("priority_map", helpdesk))
        allowed = HELPDESK_PRIORITIES[helpdesk]
        for priority, value in mapping.items():
            if priority not in rs.priorities:
                raise toml.error(f"unknown priority {priority!r}; known: {', '.join(rs.priorities)}",
                                 ("priority_map", helpdesk, priority))
            if value not in allowed or type(value) is not type(allowed[0]):
                shown = ", ".join(repr(v) for v in allowed)
                raise toml.error(f"{helpdesk} has no priority {value!r}; use one of {shown}",
                                 ("priority_map", helpdesk, priority))
