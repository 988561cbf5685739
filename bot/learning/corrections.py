"""Corrections and confirmations: what a source shows of a decided ticket now, held against what deskbot decided.

A department or priority the team set otherwise is a correction (the label deskbot got wrong, the
most valuable training data a team has); a ticket solved with deskbot's values unchanged is a
confirmation. The same view seen again records nothing: a row is written when the team's answer changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.log.feedback import CONFIRMATION, CORRECTION, Correction
from bot.log.records import as_utc
from bot.log.schema import TicketLog
from bot.log.store import Store
from connectors.base import Observation

log = logging.getLogger(__name__)


def observer(store: Store) -> Callable[[Observation], None]:
    """What a source calls with each Observation: record it, and never let learning stop triage."""
    def observe(seen: Observation) -> None:
        try:
            found = record_observation(store, seen)
        except Exception:  # noqa: BLE001 - a failed lesson must not cost the cycle its tickets
            log.exception("%s: could not record what the team did with %s", seen.source, seen.key or seen.message_id)
            return
        if found is not None:
            log.info("%s: %s of ticket #%s: deskbot %s/%s, team %s/%s (%s)", seen.source, found.kind, found.ticket_id,
                     found.deskbot_department, found.deskbot_priority, found.team_department or "?",
                     found.team_priority or "?", found.channel)
    return observe


def _decided(session: Session, seen: Observation) -> TicketLog | None:
    """The recorded ticket an Observation is about (helpdesks by key, mail by Message-ID in its mailbox)."""
    query = select(TicketLog).where(TicketLog.dry_run == False, col(TicketLog.duplicate_of).is_(None))  # noqa: E712
    if seen.key:
        query = query.where(TicketLog.key == seen.key)
    elif seen.message_id:
        query = query.where(TicketLog.source == seen.source, TicketLog.message_id == seen.message_id)
    else:
        return None
    return session.exec(query.order_by(col(TicketLog.id))).first()


def judge_observation(row: TicketLog, seen: Observation) -> tuple[str, str, str, str] | None:
    """(kind, channel, team department, team priority), or None when the view teaches nothing yet."""
    changed = [(channel, dept) for channel, dept in seen.departments if dept != row.department]
    team_department = changed[0][1] if changed else (row.department if seen.departments else "")
    team_priority = seen.priority or ""
    if changed or (team_priority and team_priority != row.priority):
        return CORRECTION, changed[0][0] if changed else seen.channel, team_department, team_priority
    if seen.solved and (seen.departments or team_priority):
        return CONFIRMATION, seen.channel or seen.departments[0][0], team_department, team_priority
    return None


def record_observation(store: Store, seen: Observation) -> Correction | None:
    """Record a correction or confirmation when this view of a decided ticket says something new."""
    now = store.now()
    with store.session() as session:
        row = _decided(session, seen)
        if row is None or row.id is None or not row.department or row.kind != "ticket":
            return None
        verdict = judge_observation(row, seen)
        if verdict is None:
            return None
        kind, channel, department, priority = verdict
        last = session.exec(select(Correction).where(Correction.ticket_id == row.id)
                            .order_by(col(Correction.id).desc())).first()
        if last is not None and (last.kind, last.team_department, last.team_priority) == (kind, department, priority):
            return None
        found = Correction(ticket_id=row.id, source=row.source, kind=kind, channel=channel,
                           deskbot_department=row.department, deskbot_priority=row.priority,
                           team_department=department, team_priority=priority, model_version=row.model_version,
                           at=as_utc(seen.at) if seen.at else now, recorded_at=now,
                           answered_at=as_utc(seen.answered_at) if seen.answered_at else None)
        session.add(found)
        session.commit()
        return found


def corrections_since(store: Store, since: datetime | None, *, ticket_id: int | None = None,
                      kinds: tuple[str, ...] = (CORRECTION, CONFIRMATION)) -> list[tuple[Correction, TicketLog]]:
    """Corrections and confirmations (newest first) with their tickets."""
    query = select(Correction, TicketLog).join(TicketLog, col(TicketLog.id) == Correction.ticket_id) \
        .where(col(Correction.kind).in_(kinds))
    if since is not None:
        query = query.where(Correction.at >= since)
    if ticket_id is not None:
        query = query.where(Correction.ticket_id == ticket_id)
    with store.session() as session:
        return [(c, t) for c, t in session.exec(query.order_by(col(Correction.at).desc(), col(Correction.id).desc()))]


def as_json(found: Correction, ticket: TicketLog) -> dict[str, Any]:
    """One correction as `deskbot corrections --json` prints it."""
    return {
        "ticket": ticket.reference or f"#{ticket.id}", "ticket_id": ticket.id, "source": found.source,
        "ref": ticket.ref, "kind": found.kind, "channel": found.channel,
        "deskbot": {"department": found.deskbot_department, "priority": found.deskbot_priority or None},
        "team": {"department": found.team_department or None, "priority": found.team_priority or None},
        "at": as_utc(found.at).isoformat(), "recorded_at": as_utc(found.recorded_at).isoformat(),
        "model_version": found.model_version,
        "answered_at": as_utc(found.answered_at).isoformat() if found.answered_at else None,
    }
