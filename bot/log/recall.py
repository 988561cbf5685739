"""What the decision log remembers for judging a new mail: the thread it continues, and how its
acknowledgement's recipient has fared (acknowledgements lately, a hard bounce that silences the address).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, case, func
from sqlmodel import Session, col, select

from bot.log.records import as_utc
from bot.log.schema import Counter, Suppression, TicketLog
from bot.log.store import Store
from bot.models import PriorTicket, Recipient

T = TypeVar("T")


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
    return recipients(store, [address])[address]


def priors(store: Store, lookups: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[PriorTicket | None]:
    """`find_prior` for many mails at once, each given as (thread Message-IDs, quoted customer references), in
    three queries: the newest ticket whose Message-ID or acknowledgement's Message-ID the thread names, else the
    newest holding a reference the mail quotes, and the first tickets of their threads."""
    ids = sorted({m for names, _ in lookups for m in names if m})
    refs = sorted({r for _, quoted in lookups for r in quoted if r})
    with store.session() as session:
        by_id = _rows_by(session, ids, lambda part: col(TicketLog.message_id).in_(part) |
                         col(TicketLog.ack_message_id).in_(part), lambda row: (row.message_id, row.ack_message_id))
        by_ref = _rows_by(session, refs, lambda part: col(TicketLog.reference).in_(part),
                          lambda row: (row.reference or "",))
        found = [_newest(by_id, names) or _newest(by_ref, quoted) for names, quoted in lookups]
        roots = sorted({r.follow_up_of for r in found if r is not None and r.follow_up_of is not None})
        parents = {r.id: r for part in _parts(roots)
                   for r in session.exec(select(TicketLog).where(col(TicketLog.id).in_(part)))}
    return [None if row is None else _prior(row, parents.get(row.follow_up_of) if row.follow_up_of else row)
            for row in found]


def _rows_by(session: Session, values: list[str], matches: Callable[[Sequence[str]], ColumnElement[bool]],
             names: Callable[[TicketLog], tuple[str, ...]]) -> dict[str, list[TicketLog]]:
    """The tickets `find_prior` may answer with (not dry runs, decided, real tickets) that `matches` one of
    `values`, by each of their `names`."""
    found: dict[str, list[TicketLog]] = {}
    for part in _parts(values):
        for row in session.exec(select(TicketLog).where(
                TicketLog.dry_run == False, TicketLog.department != "", TicketLog.kind == "ticket",  # noqa: E712
                matches(part))):
            for name in set(names(row)) - {""}:
                found.setdefault(name, []).append(row)
    return found


def _newest(rows: dict[str, list[TicketLog]], names: Sequence[str]) -> TicketLog | None:
    """The highest id among the rows found under `names`, as find_prior's ORDER BY id DESC takes it."""
    return max((r for name in names for r in rows.get(name, ())), key=lambda r: r.id or 0, default=None)


def _prior(row: TicketLog, root: TicketLog | None) -> PriorTicket:
    """What `find_prior` answers for the row found and the first ticket of its thread."""
    root = root or row
    assert root.id is not None
    return PriorTicket(ticket_id=root.id, department=row.department, reference=root.reference or "",
                       acknowledged=bool(root.ack_template or row.ack_template))


def recipients(store: Store, addresses: Iterable[str]) -> dict[str, Recipient]:
    """`recipient` for many addresses at once (two queries: the counts grouped by address, the suppressions)."""
    now, wanted = store.now(), sorted(set(addresses))
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    counts: dict[str, tuple[int, int]] = {}
    held: dict[str, str] = {}
    with store.session() as session:
        for part in _parts(wanted):
            for address, last_hour, last_day in session.exec(
                    select(TicketLog.ack_to, func.sum(case((col(TicketLog.created_at) >= hour, 1), else_=0)),
                           func.count()).where(col(TicketLog.ack_to).in_(part),
                                               col(TicketLog.ack_template).is_not(None), TicketLog.dry_run == False,  # noqa: E712
                                               col(TicketLog.created_at) >= day).group_by(TicketLog.ack_to)):
                counts[address] = (int(last_hour or 0), int(last_day))
            for hold in session.exec(select(Suppression).where(col(Suppression.address).in_(part))):
                held[hold.address] = hold.reason if as_utc(hold.until) > now else ""
    return {a: Recipient(acks_last_hour=counts.get(a, (0, 0))[0], acks_last_day=counts.get(a, (0, 0))[1],
                         suppressed=held.get(a, "")) for a in wanted}


def known_keys(store: Store, keys: Iterable[str]) -> set[str]:
    """Which of `keys` `Store.find_key` finds (one query)."""
    found: set[str] = set()
    with store.session() as session:
        for part in _parts(sorted(set(keys))):
            found.update(session.exec(select(TicketLog.key).where(
                col(TicketLog.key).in_(part), TicketLog.dry_run == False,  # noqa: E712
                col(TicketLog.duplicate_of).is_(None))))
    return found


def _parts(values: Sequence[T], size: int = 500) -> list[Sequence[T]]:
    """Slices short enough for any database's limit on bound parameters."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def references_given(store: Store) -> int:
    """The number of the last customer reference given out (the sequence only goes up)."""
    with store.session() as session:
        counter = session.get(Counter, "reference")
        return counter.value if counter is not None else 0


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
