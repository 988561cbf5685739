"""The decision log's write side for a batch of tickets: what `Store` does per ticket, in one commit per step.

A fetched batch is recorded in one transaction (tickets, references, pending actions and the cursor past
the last of them); then each action kind is finished for the whole batch and the next kind marked in flight
in one commit. The meaning of every marker is the one of bot/log/store.py: an action is in flight before its
side effect, done after. Only the number of commits changes (one per step instead of one per ticket and step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.log.records import ROW_DEFAULTS, decision_values, ticket_values
from bot.log.schema import ActionLog, Counter, TicketLog
from bot.log.store import KeyTaken, Store, _put_cursor, format_reference, gets_reference
from bot.models import Decision, Prediction, Ticket


@dataclass(frozen=True)
class Decided:
    """One judged ticket of a batch, ready to record."""

    ticket: Ticket
    prediction: Prediction
    decision: Decision
    kinds: tuple[str, ...]
    ack_message_id: str


@dataclass(frozen=True)
class Step:
    """One action's outcome, and what the same commit does next: mark `then` in flight, update the ticket."""

    action_id: int | None
    state: str = ""
    detail: str = ""
    then: int | None = None
    action_update: dict[str, object] = field(default_factory=dict)
    ticket_update: dict[str, object] = field(default_factory=dict)
    tried: bool = True  # counts as an attempt of the action


def record_decisions(store: Store, decided: Sequence[Decided], *, cursor: str | None) -> list[TicketLog]:
    """Record every ticket of a batch with its reference and pending actions, and the cursor, in one transaction.

    All or nothing: a key another job recorded meanwhile raises KeyTaken and nothing of the batch is kept
    (the caller records its tickets one by one then, each with its own answer to the race).
    """
    if not decided:
        return []
    now, table = store.now(), TicketLog.__table__
    try:
        with store.session() as session:
            numbers = iter(_next_references(session, sum(gets_reference(e.decision) for e in decided)))
            values = []
            for entry in decided:
                row = {**ROW_DEFAULTS, **ticket_values(entry.ticket, now, status="decided"),
                       **decision_values(entry.prediction, entry.decision, entry.ack_message_id)}
                if gets_reference(entry.decision):
                    row["reference"] = format_reference(store.reference_prefix, next(numbers))
                values.append(row)
            # One INSERT for all (executemany), their ids in order, and the rows read back once: building an
            # ORM object per ticket cost more than the whole write.
            ids = [found for (found,) in session.execute(insert(table).returning(table.c.id,
                                                                                 sort_by_parameter_order=True), values)]
            actions = [{"ticket_id": ticket_id, "kind": kind, "state": "pending", "updated_at": now, "detail": "",
                        "marker": "", "attempts": 0} for ticket_id, entry in zip(ids, decided) for kind in entry.kinds]
            if actions:
                session.exec(insert(ActionLog.__table__), params=actions)  # type: ignore[call-overload]
            if cursor is not None:
                _put_cursor(session, decided[0].ticket.source, cursor, now)
            by_id = {row.id: row for row in session.exec(select(TicketLog).where(col(TicketLog.id).in_(ids)))}
            session.commit()
    except IntegrityError as exc:
        raise KeyTaken(f"a key of this batch is already recorded: {exc.orig}") from exc
    return [by_id[ticket_id] for ticket_id in ids]


def _next_references(session: Session, count: int) -> range:
    """`count` numbers of the reference sequence at once, inside the caller's transaction (never reused)."""
    if not count:
        return range(0)
    session.exec(update(Counter).where(col(Counter.name) == "reference").values(value=Counter.value + count))
    counter = session.get(Counter, "reference")
    if counter is None:  # a database whose counter row was removed by hand: as Store._next_reference does
        counter = Counter(name="reference", value=count)
        session.add(counter)
        session.flush()
    session.refresh(counter)
    return range(counter.value - count + 1, counter.value + 1)


def actions_of(store: Store, ticket_ids: Sequence[int]) -> dict[int, list[ActionLog]]:
    """The actions of many tickets, each ticket's in the order they run (one query)."""
    found: dict[int, list[ActionLog]] = {ticket_id: [] for ticket_id in ticket_ids}
    with store.session() as session:
        for action in session.exec(select(ActionLog).where(col(ActionLog.ticket_id).in_(list(ticket_ids)))
                                   .order_by(ActionLog.id)):
            found[action.ticket_id].append(action)
    return found


def commit_steps(store: Store, steps: Sequence[Step]) -> None:
    """Finish many actions, mark the next ones in flight and update their tickets, in a single commit.

    One UPDATE for all finished actions (executemany), one for those now in flight, one per set of ticket
    values: the rows are written without being read first."""
    if not steps:
        return
    now, action, ticket = store.now(), ActionLog.__table__, TicketLog.__table__
    finished = [{"a_id": s.action_id, "a_state": s.state, "a_detail": s.detail[:2000], "a_tried": int(s.tried)}
                for s in steps if s.action_id is not None]
    marked = [s.then for s in steps if s.then is not None]
    tickets: dict[tuple[tuple[str, object], ...], list[object]] = {}
    for step in steps:
        if step.ticket_update:
            values = tuple(sorted((k, v) for k, v in step.ticket_update.items() if k != "id"))
            tickets.setdefault(values, []).append(step.ticket_update["id"])
    with store.session() as session:
        if finished:
            session.exec(update(action).where(action.c.id == bindparam("a_id")).values(
                state=bindparam("a_state"), detail=bindparam("a_detail"), updated_at=now,
                attempts=action.c.attempts + bindparam("a_tried")), params=finished)
        for step in steps:
            if step.action_id is not None and step.action_update:
                session.exec(update(action).where(action.c.id == step.action_id).values(**step.action_update))
        if marked:
            session.exec(update(action).where(action.c.id.in_(marked)).values(state="inflight", updated_at=now))
        for values, ids in tickets.items():
            session.exec(update(ticket).where(ticket.c.id.in_(ids)).values(**dict(values), updated_at=now))
        session.commit()
