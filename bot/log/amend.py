"""What a person changes in the decision log by hand: a new decision for a failed ticket, giving a ticket
up, removing the records of dry runs. Each is one transaction and leaves an event saying who did what."""

from __future__ import annotations

import json

from sqlalchemy import delete
from sqlmodel import col, select

from bot.log.records import as_utc, fill_decision
from bot.log.schema import ActionLog, Event, TicketLog
from bot.log.store import Store
from bot.models import Decision, Prediction
from connectors.base import WRITE_BACK


def redecide(store: Store, ticket_id: int, prediction: Prediction, decision: Decision) -> tuple[str, str]:
    """Replace a ticket's decision (kept in `earlier_decisions`); returns (was, now) in a few words.

    The acknowledgement stays as it was decided (one already sent is never sent again); a write-back
    already done is done again when what it shows changed.
    """
    now = store.now()
    with store.session() as session:
        row = session.get(TicketLog, ticket_id)
        assert row is not None
        was = _short(row)
        earlier = json.loads(row.earlier_decisions or "[]")
        earlier.append({"until": now.isoformat(timespec="seconds"), "department": row.department,
                        "priority": row.priority, "tags": json.loads(row.tags), "group": row.group,
                        "folder": row.folder, "needs_review": row.needs_review, "reasons": json.loads(row.reasons),
                        "model_version": row.model_version, "confidence": row.confidence,
                        "sla_due": as_utc(row.sla_due).isoformat() if row.sla_due else None})
        shown = (row.department, row.priority, row.tags, row.group)
        kept = (row.ack_language, row.ack_template, row.ack_skip_reason, row.ack_message_id, row.ack_to)
        fill_decision(row, prediction, decision, row.ack_message_id)
        row.ack_language, row.ack_template, row.ack_skip_reason, row.ack_message_id, row.ack_to = kept
        row.earlier_decisions, row.updated_at = json.dumps(earlier), now
        if (row.department, row.priority, row.tags, row.group) != shown:
            for action in session.exec(select(ActionLog).where(ActionLog.ticket_id == ticket_id,
                                                               ActionLog.kind == WRITE_BACK)):
                action.state, action.detail, action.updated_at = "failed", "the decision changed", now
                session.add(action)  # `requeue` makes it pending again
        session.add(row)
        session.add(Event(at=now, source=row.source, ticket_id=ticket_id, level="INFO",
                          message=f"re-decided by `deskbot retry`: was {was}; now {_short(row)}"))
        session.commit()
        return was, _short(row)


def _short(row: TicketLog) -> str:
    return f"{row.department} / {row.priority or '-'} -> {row.folder or row.group or 'left in place'}"


def give_up(store: Store, ticket_id: int, *, why: str) -> TicketLog | None:
    """Close a ticket that can never succeed: its unfinished actions are skipped, `status` stops counting it."""
    now = store.now()
    with store.session() as session:
        row = session.get(TicketLog, ticket_id)
        if row is None or row.dry_run:
            return None
        for action in session.exec(select(ActionLog).where(ActionLog.ticket_id == ticket_id,
                                                           col(ActionLog.state).in_(("pending", "inflight", "outbox")))):
            action.state, action.detail, action.updated_at = "skipped", f"given up by a person: {why}", now
            session.add(action)
        session.add(Event(at=now, source=row.source, ticket_id=ticket_id, level="INFO",
                          message=f"given up by a person (was {row.status}): {why}"))
        row.status, row.pending, row.retry_at, row.updated_at = "given-up", False, None, now
        session.add(row)
        session.commit()
        return row


def purge_dry_runs(store: Store) -> int:
    """Remove every record made by `run --dry-run` (they hold customers' mail and were never acted on)."""
    with store.session() as session:
        ids = list(session.exec(select(TicketLog.id).where(TicketLog.dry_run == True)))  # noqa: E712
        if ids:
            session.exec(delete(ActionLog).where(col(ActionLog.ticket_id).in_(ids)))  # type: ignore[call-overload]
            session.exec(delete(Event).where(col(Event.ticket_id).in_(ids)))  # type: ignore[call-overload]
            session.exec(delete(TicketLog).where(col(TicketLog.id).in_(ids)))  # type: ignore[call-overload]
            session.commit()
        return len(ids)
