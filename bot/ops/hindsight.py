"""What today's rules would decide for a ticket the log recorded (`deskbot why`, `deskbot log --reference`).

Read-only and without a model call: the ticket as recorded, the prediction recorded with it, the thread it
was in and its sender's acknowledgements before it, decided again with the config's rules file as it is now.
Only a ticket whose recorded decision did not ask the model but whose rules now need it asks the model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select

from bot.decide import decide, needs_model, reply_address
from bot.log.records import as_utc, load_decision, row_ticket
from bot.log.schema import TicketLog
from bot.log.store import Store
from bot.models import Decision, Prediction, PriorTicket, Recipient

RECORDED = "the recorded prediction"
ASKED_NOW = "the model, asked now (the recorded decision did not ask it)"
NOT_NEEDED = "none needed (a before_model rule decides alone)"


@dataclass(frozen=True)
class Hindsight:
    """Today's decision beside the recorded one, and where its prediction came from."""

    decision: Decision
    recorded: Decision
    prediction: str  # RECORDED, ASKED_NOW or NOT_NEEDED
    rules_file: str

    def view(self, decision: Decision) -> dict[str, Any]:
        """The four things an admin compares: department, priority, review, acknowledgement."""
        return {"department": decision.department, "priority": decision.priority,
                "needs_review": decision.needs_review, "acknowledge": decision.ack_template is not None,
                "ack_skip_reason": None if decision.ack_template is not None else decision.ack_skip_reason or None}

    @property
    def differences(self) -> list[str]:
        """The compared fields whose value today is not the recorded one."""
        now, then = self.view(self.decision), self.view(self.recorded)
        return [k for k in ("department", "priority", "needs_review", "acknowledge") if now[k] != then[k]]

    def as_json(self) -> dict[str, Any]:
        """The `today` object of `deskbot log --reference REF --json`."""
        return {**self.view(self.decision), "group": self.decision.group, "folder": self.decision.folder,
                "tags": list(self.decision.tags), "reasons": list(self.decision.reasons),
                "prediction": "recorded" if self.prediction == RECORDED else
                "model" if self.prediction == ASKED_NOW else "none",
                "rules_file": self.rules_file, "same": not self.differences, "differences": self.differences}


def hindsight(store: Store, row: TicketLog, config_path: Path) -> Hindsight | None:
    """Today's decision for a decided ticket (None: the log recorded no decision to hold it against)."""
    from bot.config.file import load_config
    from bot.daemon import own_addresses
    from bot.ops.inspection import rules_source
    from bot.ops.simulation import recorded_prediction
    from bot.rules import load_rules

    if not row.department or row.duplicate_of is not None:  # unreadable, not decided yet, or a second copy
        return None
    config = load_config(config_path, secrets=False)
    path, context = rules_source(config_path, None)
    rules = load_rules(path, context=context)
    ticket, now = row_ticket(row), as_utc(row.created_at)
    prior = _prior(store, row)
    prediction: Prediction | None = recorded_prediction(row)
    source = RECORDED if prediction is not None else NOT_NEEDED
    if prediction is None and needs_model(ticket, rules, now=now, prior=prior):
        from bot.daemon import load_classifier
        from classifier.text import ticket_text

        model = load_classifier(config.resolve(config.paths.model), config.resolve(config.paths.cache))
        prediction = model.predict(ticket_text(ticket.subject, ticket.text))  # type: ignore[attr-defined]
        source = ASKED_NOW
    decision = decide(ticket, prediction, rules, now=now, prior=prior, own_addresses=own_addresses(config),
                      recipient=_recipient(store, row, reply_address(ticket)))
    recorded = load_decision(row)
    if recorded.ack_template is None and decision.ack_template is not None and _by_the_source(row):
        decision = dataclasses.replace(decision, ack_template=None, ack_skip_reason=recorded.ack_skip_reason)
    return Hindsight(decision, recorded, source, str(path) if path else "shipped")


def _by_the_source(row: TicketLog) -> bool:
    """The recorded acknowledgement was left out by the source, not the rules (see bot/judge.py for_source)."""
    reason = row.ack_skip_reason or ""
    no_reply = row_ticket(row).meta_value("no_reply")
    return "sends no acknowledgements" in reason or bool(no_reply and reason == no_reply)


def _prior(store: Store, row: TicketLog) -> PriorTicket | None:
    """The thread's earlier ticket, as the log remembers it."""
    if row.follow_up_of is None:
        return None
    with store.session() as session:
        original = session.get(TicketLog, row.follow_up_of)
    if original is None or original.id is None:
        return None
    return PriorTicket(ticket_id=original.id, department=original.department, reference=original.reference or "",
                       acknowledged=original.ack_template is not None)


def _recipient(store: Store, row: TicketLog, address: str) -> Recipient:
    """The acknowledgements the sender had had before this ticket (the per-address limits), as then."""
    at = as_utc(row.created_at)

    def acks(delta: timedelta) -> int:
        with store.session() as session:
            return int(session.exec(select(func.count()).select_from(TicketLog).where(
                TicketLog.ack_to == address, col(TicketLog.ack_template).is_not(None), col(TicketLog.id) != row.id,
                TicketLog.dry_run == False, col(TicketLog.created_at) >= at - delta,  # noqa: E712
                col(TicketLog.created_at) <= at)).one())
    return Recipient(acks_last_hour=acks(timedelta(hours=1)), acks_last_day=acks(timedelta(days=1)))
