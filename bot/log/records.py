"""Between values and rows: a Ticket and its Decision stored whole, so work resumes without the source."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from bot.log.schema import TicketLog
from bot.models import Decision, Prediction, Ticket


def as_utc(moment: datetime) -> datetime:
    """Times are stored as UTC; SQLite keeps no zone, so a naive value read back is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def ticket_values(ticket: Ticket, now: datetime, *, status: str, dry_run: bool = False) -> dict[str, object]:
    """The columns of a new row holding everything the ticket is, so it can be rebuilt without its source."""
    return dict(
        source=ticket.source, key=ticket.key, ref=ticket.ref, created_at=now, updated_at=now, dry_run=dry_run,
        status=status, pending=not dry_run, message_id=ticket.message_id, sender=ticket.sender,
        sender_name=ticket.sender_name, reply_to=ticket.reply_to, subject=ticket.subject, language=ticket.language,
        body=ticket.body, text=ticket.text, received_at=as_utc(ticket.received_at) if ticket.received_at else None,
        thread_refs=json.dumps(list(ticket.references)), headers=json.dumps([list(h) for h in ticket.headers]),
        meta=json.dumps([list(m) for m in ticket.meta]), attachments=json.dumps([list(a) for a in ticket.attachments]),
    )


def decision_values(prediction: Prediction, decision: Decision, ack_message_id: str) -> dict[str, object]:
    """The columns that hold a prediction and the decision taken on it."""
    return dict(
        model_version=prediction.model_version, predicted_department=prediction.department,
        predicted_priority=prediction.priority or "", confidence=prediction.confidence,
        department_scores=json.dumps(prediction.department_scores),
        priority_scores=json.dumps(prediction.priority_scores),
        top_terms=json.dumps([[t.term, round(t.weight, 4)] for t in prediction.top_terms]),
        department=decision.department, priority=decision.priority, tags=json.dumps(list(decision.tags)),
        group=decision.group, folder=decision.folder, needs_review=decision.needs_review,
        sla_hours=decision.sla_hours, sla_due=as_utc(decision.sla_due) if decision.sla_due else None,
        ack_language=decision.language, ack_template=decision.ack_template, ack_skip_reason=decision.ack_skip_reason,
        ack_message_id=ack_message_id if decision.ack_template else "", reasons=json.dumps(list(decision.reasons)),
        kind=decision.kind, follow_up_of=decision.follow_up_of, ack_to=decision.ack_to,
    )


# Every column a new row gets when nothing else is said, for rows written without an ORM object (bot/log/batch.py).
ROW_DEFAULTS: dict[str, object] = {name: field.get_default(call_default_factory=True)
                                   for name, field in TicketLog.model_fields.items()
                                   if not field.is_required() and name != "id"}


def ticket_row(ticket: Ticket, now: datetime, *, status: str, dry_run: bool = False) -> TicketLog:
    """A new row holding everything the ticket is, so it can be rebuilt without its source."""
    return TicketLog(**ticket_values(ticket, now, status=status, dry_run=dry_run))


def fill_decision(row: TicketLog, prediction: Prediction, decision: Decision, ack_message_id: str) -> None:
    """Copy a prediction and the decision taken on it into a row."""
    for name, value in decision_values(prediction, decision, ack_message_id).items():
        setattr(row, name, value)


def row_ticket(row: TicketLog) -> Ticket:
    """The Ticket a row holds, to resume its work without reading the source again."""
    return Ticket(
        source=row.source, key=row.key, ref=row.ref, sender=row.sender, sender_name=row.sender_name,
        subject=row.subject, body=row.body, text=row.text, language=row.language,
        received_at=as_utc(row.received_at) if row.received_at else None, message_id=row.message_id,
        references=tuple(json.loads(row.thread_refs)), headers=tuple(tuple(h) for h in json.loads(row.headers)),
        reply_to=row.reply_to, meta=tuple(tuple(m) for m in json.loads(row.meta)),
        attachments=tuple(tuple(a) for a in json.loads(row.attachments)),  # type: ignore[misc]
    )


def load_decision(row: TicketLog) -> Decision:
    """The Decision a row holds, to resume its unfinished actions unchanged."""
    return Decision(
        department=row.department, priority=row.priority, tags=tuple(json.loads(row.tags)), group=row.group,
        folder=row.folder, needs_review=row.needs_review, sla_hours=row.sla_hours or 0.0,
        sla_due=as_utc(row.sla_due) if row.sla_due else None, language=row.ack_language,
        ack_template=row.ack_template, ack_skip_reason=row.ack_skip_reason, reasons=tuple(json.loads(row.reasons)),
        kind=row.kind, follow_up_of=row.follow_up_of, ack_to=row.ack_to,
    )
