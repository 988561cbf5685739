"""What the team made of a helpdesk ticket deskbot wrote back to, read from pages the source reads anyway.

Zendesk's incremental export and Freshdesk's `updated_since` list bring every ticket that changed,
so a ticket an agent moved to another group, gave another priority or solved comes back on its own:
no call per ticket is needed to learn from it (the learning from agents of bot/learning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from bot.rules import RuleSet
from connectors.base import Observation


def observation_of(data: Mapping[str, Any], *, source: str, kind: str, rules: RuleSet, group_names: Mapping[int, str],
                   priorities: Mapping[str, str | int], solved_statuses: Iterable[object]) -> Observation:
    """One helpdesk ticket as an Observation: its group as a department, its priority in deskbot's terms."""
    department = department_of(data.get("group_id"), rules=rules, group_names=group_names)
    wanted = {value: name for name, value in reversed(list(priorities.items()))}
    priority = wanted.get(data.get("priority"))  # type: ignore[arg-type]
    stats = data.get("stats") if isinstance(data.get("stats"), dict) else {}
    return Observation(source=source, key=f"{source}:{data['id']}", departments=((kind, department),) if department else (),
                       priority=priority, solved=data.get("status") in set(solved_statuses),
                       at=parse_time(data.get("updated_at")), channel=kind,
                       answered_at=parse_time(stats.get("first_responded_at")))  # Freshdesk include=stats only


def department_of(group_id: object, *, rules: RuleSet, group_names: Mapping[int, str]) -> str | None:
    """The department whose group a ticket is in; the group's own name for a group no department names;
    None for no group or the review group (nobody has decided yet)."""
    if not isinstance(group_id, int):
        return None
    name = group_names.get(group_id, f"group {group_id}")
    if name == rules.triage.review_group:
        return None
    return next((dept for dept, route in rules.departments.items() if route.group == name), name)


def parse_time(value: object) -> datetime | None:
    """A helpdesk timestamp (2026-11-02T09:00:00Z) as an aware datetime; None when there is none."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
