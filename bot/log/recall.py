"""What the decision log remembers for judging a new mail: the thread it continues, and how its
acknowledgement's recipient has fared (acknowledgements lately, a hard bounce that silences the address).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select

from bot.log.records import as_utc
from bot.log.schema import Suppression, TicketLog
from bot.log.store import Store
from bot.models import PriorTicket, Recipient


def find_prior(store: Store, message_ids: Sequence[str], references: Sequence[str] = ()) -> PriorTicket | None:
    """The ticket a mail continues: by the thread's Message-IDs (its own or our acknowledgement's),
    else by a customer reference it quotes. A follow-up of a follow-up leads to the first ticket."""
    ids, refs = [m for m in message_ids if m], [r for r in references if r]
    if not ids and not refs:
        return None
    with store.session() as session:
        known = (select(TicketLog).where(TicketLog.dry_run == False, TicketLog.department != "",  # noqa: E712
                                         TicketLog.kind == "ticket").order_by(col(TicketLog.id).desc()))
        row = session.exec(known.where(col(TicketLog.message_id).in_(ids) |
                                       col(TicketLog.ack_message_id).in_(ids))).first() if ids else None
        row = row or (session.exec(known.where(col(TicketLog.reference).in_(refs))).first() if refs else None)
        if row is None or row.id is None:
            return None
        root = session.get(TicketLog, row.follow_up_of) if row.follow_up_of else row
    root = root or row
    assert root.id is not None
    return PriorTicket(ticket_id=root.id, department=row.department, reference=root.reference or "",
                       acknowledged=bool(root.ack_template or row.ack_template))

def recipient(store: Store, address: str) -> Recipient:
    """How many acknowledgements went to `address` lately, and whether it is suppressed after a bounce."""
    now = store.now()
    with store.session() as session:
        def acks_since(delta: timedelta) -> int:
            return session.exec(select(func.count()).select_from(TicketLog).where(
                TicketLog.ack_to == address, col(TicketLog.ack_template).is_not(None),
                TicketLog.dry_run == False, col(TicketLog.created_at) >= now - delta)).one()  # noqa: E712
        hold = session.get(Suppression, address)
        suppressed = hold.reason if hold is not None and as_utc(hold.until) > now else ""
        return Recipient(acks_last_hour=acks_since(timedelta(hours=1)), acks_last_day=acks_since(timedelta(days=1)),
                         suppressed=suppressed)

def suppress(store: Store, address: str, *, hours: float, reason: str) -> None:
    """No acknowledgement to `address` for `hours` (one of ours bounced there for good)."""
    until = store.now() + timedelta(hours=hours)
    with store.session() as session:
        hold = session.get(Suppression, address) or Suppression(address=address, until=until)
        hold.until, hold.reason = max(as_utc(hold.until), until), f"{reason} (until {until:%Y-%m-%d %H:%M} UTC)"
        session.add(hold)
        session.commit()

def acknowledged_by(store: Store, message_ids: Sequence[str]) -> list[TicketLog]:
    """The tickets whose acknowledgement has one of these Message-IDs (what a bounce is about)."""
    ids = [m for m in message_ids if m]
    if not ids:
        return []
    with store.session() as session:
        return list(session.exec(select(TicketLog).where(col(TicketLog.ack_message_id).in_(ids))))
