"""What one cycle of triage works with: its dependencies (`Triage`) and what happened to a ticket (`Outcome`).

These types sit below the pipeline, the judging and the acting that all pass them around, so none of
those three modules has to import another one just for its types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.ack.templates import AckRenderer
from bot.log.store import Store
from bot.models import Decision, Prediction, Ticket
from bot.rules import RuleSet
from bot.sla import BusinessHours


class Classifier(Protocol):
    """Anything that predicts department and priority from text."""

    def predict(self, text: str) -> Prediction:
        """Predict one text."""
        ...


class Shadow(Protocol):
    """A second model deciding beside the live one, recorded and never acted on (`deskbot run --shadow`)."""

    def record(self, ticket: Ticket, text: str, live: Prediction, decide_with: Callable[[Prediction], Decision]) -> None:
        """Predict and decide with the second model and record it; never raises."""
        ...


@dataclass
class Triage:
    """Everything a cycle needs, passed in (no globals)."""

    classifier: Classifier
    rules: RuleSet
    calendar: BusinessHours
    store: Store
    renderer: AckRenderer
    from_address: str = ""
    dry_run: bool = False
    own_addresses: frozenset[str] = field(default_factory=frozenset)
    max_attempts: int = 3
    owner: str = ""  # the lease holder's name; '' when leases are not used (one instance, SQLite lock)
    shadow: Shadow | None = None  # bot/learning/shadow.py


@dataclass(frozen=True)
class Outcome:
    """What happened to one item or ticket in one cycle."""

    ref: str
    status: str  # done | failed | quarantined | retry | unreadable | duplicate | already-recorded | gone | dry-run
    ticket_id: int | None = None
    detail: str = ""
