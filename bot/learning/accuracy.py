"""Accuracy over time: per week of decision, how often the team agreed with deskbot, and how much it routed alone.

Agreement counts each ticket's latest correction or confirmation: the department (and priority) agreement
rate, per department and per priority the team gave; the high-predicted-low rate is the share of labelled
tickets the team ranked high or urgent that deskbot had filed as low, the costliest mistake.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

HIGH = frozenset({"high", "urgent"})
LOW = "low"


@dataclass(frozen=True)
class Decided:
    """What the accuracy needs of one decided ticket."""

    ticket_id: int
    week: date  # the Monday of the week it was decided
    department: str
    priority: str
    needs_review: bool


@dataclass(frozen=True)
class Label:
    """A ticket's latest correction or confirmation ('' where the team's value is not known)."""

    team_department: str
    team_priority: str


def week_of(day: date) -> date:
    """The Monday of the ISO week holding `day`."""
    return day - timedelta(days=day.weekday())


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def weekly(decided: Iterable[Decided], labels: Mapping[int, Label]) -> list[dict[str, Any]]:
    """One row per week, oldest first: tickets, auto-route and review rates, agreement rates."""
    weeks: dict[date, dict[str, Any]] = defaultdict(lambda: {
        "tickets": 0, "review": 0, "labelled": 0, "dept_seen": 0, "dept_agree": 0, "prio_seen": 0, "prio_agree": 0,
        "high": 0, "high_low": 0, "by_dept": defaultdict(lambda: [0, 0]), "by_prio": defaultdict(lambda: [0, 0])})
    for ticket in decided:
        week = weeks[ticket.week]
        week["tickets"] += 1
        week["review"] += ticket.needs_review
        label = labels.get(ticket.ticket_id)
        if label is None:
            continue
        week["labelled"] += 1
        if label.team_department:
            agree = label.team_department == ticket.department
            week["dept_seen"] += 1
            week["dept_agree"] += agree
            week["by_dept"][label.team_department][0] += agree
            week["by_dept"][label.team_department][1] += 1
        if label.team_priority:
            agree = label.team_priority == ticket.priority
            week["prio_seen"] += 1
            week["prio_agree"] += agree
            week["by_prio"][label.team_priority][0] += agree
            week["by_prio"][label.team_priority][1] += 1
            week["high_low"] += label.team_priority in HIGH and ticket.priority == LOW
    return [_row(day, weeks[day]) for day in sorted(weeks)]


def _row(day: date, week: dict[str, Any]) -> dict[str, Any]:
    n = week["tickets"]
    return {
        "week": day.isoformat(), "tickets": n, "auto_route_rate": _rate(n - week["review"], n),
        "review_rate": _rate(week["review"], n), "labelled": week["labelled"],
        "department_agreement": _rate(week["dept_agree"], week["dept_seen"]),
        "priority_agreement": _rate(week["prio_agree"], week["prio_seen"]),
        "high_predicted_low_rate": _rate(week["high_low"], week["prio_seen"]),
        "department_agreement_by_department": {k: _rate(a, s) for k, (a, s) in sorted(week["by_dept"].items())},
        "priority_agreement_by_priority": {k: _rate(a, s) for k, (a, s) in sorted(week["by_prio"].items())},
    }
