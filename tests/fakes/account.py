"""What both helpdesk fakes keep alike: ids, groups, faults, the call log, and the agents' own edits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.fakes.limits import FakeClock, FaultList


class FakeAccount:
    """A helpdesk account's state outside the tickets' own shape; subclasses add the API."""

    def __init__(self, clock: FakeClock, first_ids: dict[str, int]) -> None:
        self.clock = clock
        self.groups: dict[int, str] = {}
        self.tickets: dict[int, Any] = {}
        self.faults = FaultList()
        self.calls: list[tuple[str, str]] = []
        self.throttled = 0
        self._next = dict(first_ids)

    def _id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind]

    def add_group(self, name: str) -> int:
        """A group agents can be routed to."""
        group_id = self._id("group")
        self.groups[group_id] = name
        return group_id

    def group_id(self, name: str) -> int:
        """The id of a group by name."""
        return next(i for i, n in self.groups.items() if n == name)

    def agent_edit(self, ticket_id: int, **changes: Any) -> None:
        """A person (or a trigger) changes group, priority, tags or status in the agent UI."""
        ticket = self.tickets[ticket_id]
        if "group" in changes:
            ticket.group_id = self.group_id(changes.pop("group"))
        for name, value in changes.items():
            setattr(ticket, name, list(value) if name == "tags" else value)
        self._touch(ticket)

    def delete_ticket(self, ticket_id: int) -> None:
        """An agent deletes the ticket."""
        self.tickets[ticket_id].deleted = True

    def _touch(self, ticket: Any) -> None:
        """A change moves updated_at on (by a second at least: the APIs show whole seconds)."""
        ticket.updated_at = max(self.clock(), ticket.updated_at + timedelta(seconds=1))
