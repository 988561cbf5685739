"""What one cycle of triage works with (`Triage`), what happened to a ticket (`Outcome`) and to a source (`SourceReport`).

These types sit below the pipeline, the judging and the acting that all pass them around, so none of
those three modules has to import another one just for its types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.ack.templates import AckRenderer
from bot.log.store import Store
from bot.models import Decision, Prediction, PriorTicket, Recipient, Ticket
from bot.rules import RuleSet
from bot.sla import BusinessHours

if TYPE_CHECKING:
    from bot.ops.metrics import Metrics


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


class Memory(Protocol):
    """What the decision log answers for judging, asked ahead for a whole fetched batch (bot/batch.py)."""

    def find_prior(self, message_ids: Sequence[str], references: Sequence[str]) -> PriorTicket | None:
        """The ticket a mail continues (bot/log/recall.py find_prior)."""
        ...

    def recipient(self, address: str) -> Recipient:
        """Acknowledgements to `address` lately, and its suppression (bot/log/recall.py recipient)."""
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
    seeded: set[str] = field(default_factory=set)  # sources whose references were checked since this start
    shadow: Shadow | None = None  # bot/learning/shadow.py
    metrics: Metrics | None = None  # bot/ops/metrics.py: counted when set
    memory: Memory | None = None  # the log's answers for a fetched batch, asked at once; None: asked per mail


@dataclass(frozen=True)
class Outcome:
    """What happened to one item or ticket in one cycle."""

    ref: str
    status: str  # done | failed | quarantined | retry | unreadable | duplicate | already-recorded | gone | dry-run
    ticket_id: int | None = None
    detail: str = ""


FAILED = ("failed", "quarantined", "retry")  # outcomes that make `run --once` exit non-zero


@dataclass
class SourceReport:
    """One source's cycle: what happened to each item, or why the source could not be worked."""

    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""
    error_kind: str = ""  # what failed the cycle, for the metrics: auth, unavailable, refused, config, model, internal
    stopped: bool = False  # a stop was asked for before the cycle ended
    read: int = 0  # new items read (and recorded) in this cycle

    def summary(self) -> str:
        """One line: how many items ended in each status ("3 done, 1 failed"), and the error if any."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        if counts.get("outbox"):
            text += " (acknowledgements wait in the outbox for the mail server)"
        text += " (stopped early)" if self.stopped else ""
        if self.error:
            return f"{text + '; ' if text else ''}FAILED: {self.error}"
        return text or "nothing new"

    @property
    def failed(self) -> bool:
        """The source failed, or a ticket failed, was quarantined or must be retried."""
        return bool(self.error) or any(o.status in FAILED for o in self.outcomes)
