"""The decision log's read side for people: `deskbot log` (filters, JSON) and the tickets `deskbot retry` means."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot.log.records import as_utc
from bot.log.schema import ActionLog, TicketLog
from bot.log.store import Store


@dataclass(frozen=True)
class Filters:
    """What `deskbot log` narrows the log to; every field given must hold."""

    reference: str = ""
    sender: str = ""  # an address, or part of one
    status: str = ""
    source: str = ""
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool | None = None  # None: both


def search(store: Store, filters: Filters, *, limit: int = 20) -> list[TicketLog]:
    """The newest records matching `filters`, newest first."""
    query = select(TicketLog)
    if filters.reference:
        wanted = filters.reference.strip().upper()
        query = query.where(col(TicketLog.reference) == wanted) if not wanted.isdigit() else \
            query.where(col(TicketLog.id) == int(wanted))
    if filters.sender:
        query = query.where(col(TicketLog.sender).contains(filters.sender.lower()))
    if filters.status:
        query = query.where(TicketLog.status == filters.status)
    if filters.source:
        query = query.where(TicketLog.source == filters.source)
    if filters.since:
        query = query.where(col(TicketLog.created_at) >= as_utc(filters.since))
    if filters.until:
        query = query.where(col(TicketLog.created_at) < as_utc(filters.until))
    if filters.dry_run is not None:
        query = query.where(TicketLog.dry_run == filters.dry_run)
    with store.session() as session:
        return list(session.exec(query.order_by(col(TicketLog.id).desc()).limit(limit)))


def actions_of(store: Store, ticket_ids: list[int]) -> dict[int, list[ActionLog]]:
    """The actions of many tickets at once, in order."""
    out: dict[int, list[ActionLog]] = {i: [] for i in ticket_ids}
    if not ticket_ids:
        return out
    with store.session() as session:
        for action in session.exec(select(ActionLog).where(col(ActionLog.ticket_id).in_(ticket_ids))
                                   .order_by(col(ActionLog.id))):
            out[action.ticket_id].append(action)
    return out


def _time(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


def as_json(row: TicketLog, actions: list[ActionLog]) -> dict[str, Any]:
    """One record as real JSON values (no JSON inside strings), with its actions and their states."""
    return {
        "id": row.id, "reference": row.reference, "source": row.source, "ref": row.ref, "status": row.status,
        "pending": row.pending, "attempts": row.attempts, "error": row.error or None, "dry_run": row.dry_run,
        "duplicate_of": row.duplicate_of, "follow_up_of": row.follow_up_of, "kind": row.kind,
        "retry_at": _time(row.retry_at), "earlier_decisions": json.loads(row.earlier_decisions or "[]"),
        "created_at": _time(row.created_at), "updated_at": _time(row.updated_at),
        "received_at": _time(row.received_at), "sender": row.sender, "sender_name": row.sender_name,
        "subject": row.subject, "language": row.language, "message_id": row.message_id or None,
        "ack_message_id": row.ack_message_id or None, "body": row.body, "text": row.text,
        "prediction": {
            "department": row.predicted_department, "priority": row.predicted_priority or None,
            "confidence": row.confidence, "department_scores": json.loads(row.department_scores),
            "priority_scores": json.loads(row.priority_scores), "top_terms": json.loads(row.top_terms),
            "model_version": row.model_version,
        } if row.model_version else None,
        "decision": {
            "department": row.department, "priority": row.priority, "tags": json.loads(row.tags),
            "group": row.group, "folder": row.folder, "needs_review": row.needs_review,
            "sla_hours": row.sla_hours, "sla_due": _time(row.sla_due), "ack_language": row.ack_language,
            "acknowledge": row.ack_template is not None, "ack_skip_reason": row.ack_skip_reason,
            "reasons": json.loads(row.reasons),
        } if row.department else None,
        "actions": [{"kind": a.kind, "state": a.state, "detail": a.detail or None, "attempts": a.attempts,
                     "updated_at": _time(a.updated_at)} for a in actions],
    }


def retry_targets(store: Store, *, reference: str = "", failed: bool = False) -> list[TicketLog]:
    """The tickets `deskbot retry` re-queues: one by reference (or id), or every failed and quarantined one."""
    if reference:
        found = search(store, Filters(reference=reference, dry_run=False), limit=1)
        return found
    with store.session() as session:
        return list(session.exec(select(TicketLog).where(col(TicketLog.status).in_(("failed", "quarantined")),
                                                         TicketLog.dry_run == False)  # noqa: E712
                                 .order_by(col(TicketLog.id))))
