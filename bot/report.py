"""What one cycle of one source did, for the log line, `run --once`'s exit code and the demo."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.triage import Outcome

FAILED = ("failed", "quarantined", "retry")  # outcomes that make `run --once` exit non-zero


@dataclass
class SourceReport:
    """One source's cycle: what happened to each item, or why the source could not be worked."""

    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""
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
