"""What a simulation found: department and priority moves as matrices, review and no-acknowledgement rates
before and after, SLA due-time shifts, and a few examples of each move."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.log.records import as_utc
from bot.log.schema import TicketLog
from bot.models import Decision

EXAMPLES_PER_MOVE = 3


@dataclass(frozen=True)
class Change:
    """One ticket's recorded decision beside its new one."""

    ticket: str  # reference, or #id
    subject: str
    department: tuple[str, str]
    priority: tuple[str, str]
    review: tuple[bool, bool]
    no_ack: tuple[bool, bool]
    shift_hours: float | None  # new SLA due minus old, in hours (None: one of them has none)

    @classmethod
    def of(cls, row: TicketLog, new: Decision) -> Change:
        """Compare a row's decision with a new one."""
        old_due = as_utc(row.sla_due) if row.sla_due else None
        shift = (new.sla_due - old_due).total_seconds() / 3600 if old_due and new.sla_due else None
        return cls(row.reference or f"#{row.id}", row.subject, (row.department, new.department),
                   (row.priority, new.priority), (row.needs_review, new.needs_review),
                   (row.ack_template is None, new.ack_template is None), shift)


@dataclass
class Summary:
    """Counts over every re-decided ticket."""

    tickets: int
    departments: Counter[tuple[str, str]] = field(default_factory=Counter)
    priorities: Counter[tuple[str, str]] = field(default_factory=Counter)
    review: list[int] = field(default_factory=lambda: [0, 0])
    no_ack: list[int] = field(default_factory=lambda: [0, 0])
    shifts: list[float] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    changed: int = 0

    def add(self, change: Change) -> None:
        """Count one ticket."""
        self.departments[change.department] += 1
        self.priorities[change.priority] += 1
        for index in (0, 1):
            self.review[index] += change.review[index]
            self.no_ack[index] += change.no_ack[index]
        if change.shift_hours is not None and abs(change.shift_hours) > 1 / 60:
            self.shifts.append(change.shift_hours)
        moves = [f"department {change.department[0]} -> {change.department[1]}"] * (change.department[0] !=
                                                                                     change.department[1])
        moves += [f"priority {change.priority[0]} -> {change.priority[1]}"] * (change.priority[0] != change.priority[1])
        self.changed += bool(moves or change.review[0] != change.review[1] or change.no_ack[0] != change.no_ack[1])
        for move in moves:
            shown = self.examples.setdefault(move, [])
            if len(shown) < EXAMPLES_PER_MOVE:
                shown.append(f"{change.ticket} {change.subject[:60]!r}")

    @property
    def decided(self) -> int:
        """Tickets re-decided (without errors)."""
        return self.tickets - len(self.errors)

    def rate(self, counts: list[int]) -> dict[str, float]:
        """Before/after as fractions of the re-decided tickets."""
        total = max(self.decided, 1)
        return {"before": round(counts[0] / total, 4), "after": round(counts[1] / total, 4)}

    def as_json(self, since: str) -> dict[str, Any]:
        """The machine-readable summary."""
        return {
            "since": since, "tickets": self.tickets, "decided": self.decided, "changed": self.changed,
            "department_matrix": matrix(self.departments), "priority_matrix": matrix(self.priorities),
            "department_moves": {f"{a} -> {b}": n for (a, b), n in self.departments.items() if a != b},
            "priority_moves": {f"{a} -> {b}": n for (a, b), n in self.priorities.items() if a != b},
            "review_rate": self.rate(self.review), "no_ack_rate": self.rate(self.no_ack),
            "sla_shift": self.shift_summary(), "examples": self.examples, "errors": self.errors,
        }

    def shift_summary(self) -> dict[str, Any]:
        """How many due times moved, earlier or later, and by how much (hours)."""
        shifts = self.shifts
        return {"moved": len(shifts), "earlier": sum(s < 0 for s in shifts), "later": sum(s > 0 for s in shifts),
                "median_hours": round(statistics.median(shifts), 2) if shifts else 0.0,
                "max_earlier_hours": round(min(shifts), 2) if shifts else 0.0,
                "max_later_hours": round(max(shifts), 2) if shifts else 0.0}


def matrix(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """{old: {new: n}}."""
    out: dict[str, dict[str, int]] = {}
    for (old, new), n in sorted(counts.items()):
        out.setdefault(old, {})[new] = n
    return out


def summary_lines(summary: Summary, since: str) -> list[str]:
    """The summary for a terminal: matrices with old rows and new columns."""
    lines = [f"{summary.tickets} tickets recorded in the last {since}; {summary.changed} would change "
             "(nothing was changed or sent)"]
    for title, counts in (("department", summary.departments), ("priority", summary.priorities)):
        lines += ["", f"{title}: recorded (rows) -> new (columns)", *_table(matrix(counts))]
    review, no_ack, shift = summary.rate(summary.review), summary.rate(summary.no_ack), summary.shift_summary()
    lines += ["", f"review rate: {review['before']:.1%} -> {review['after']:.1%}",
              f"no acknowledgement: {no_ack['before']:.1%} -> {no_ack['after']:.1%}",
              f"SLA due times moved: {shift['moved']} ({shift['earlier']} earlier, {shift['later']} later; "
              f"median {shift['median_hours']:+.1f} h)"]
    for move, examples in summary.examples.items():
        lines += ["", f"{move}:", *(f"  {e}" for e in examples)]
    lines += [f"could not re-decide {e}" for e in summary.errors]
    return lines


def _table(cells: dict[str, dict[str, int]]) -> list[str]:
    columns = sorted({new for row in cells.values() for new in row})
    if not columns:
        return ["  (no tickets)"]
    width = max(len(c) for c in [*columns, *cells, "recorded"]) + 2
    lines = ["".ljust(width) + "".join(c.rjust(width) for c in columns)]
    for old, row in cells.items():
        lines.append(old.ljust(width) + "".join(str(row.get(c, "")).rjust(width) for c in columns))
    return lines
