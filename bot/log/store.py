"""The decision log's write side: it owns each ticket's state machine (see bot/log/schema.py).

A ticket is recorded in one transaction together with its actions, its customer reference and
the source's cursor, so "read" and "recorded" never drift apart. Each action is marked in flight
in the same commit that finishes the one before it, *before* its side effect: after a crash the
pipeline knows exactly which effect may or may not have happened and asks the source to look.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from bot.errors import DeskbotError, ServiceUnavailable
from bot.log.database import open_engine, open_reader
from bot.log.records import as_utc, fill_decision, ticket_row
from bot.log.schema import ActionLog, Counter, Event, SourceCursor, TicketLog
from bot.models import Decision, Prediction, Ticket
from connectors.base import FLAG_FAILED, QUARANTINE, UNFLAG

log = logging.getLogger(__name__)


class KeyTaken(DeskbotError):
    """Another ticket with this key was recorded first (a copy of the same mail, read at the same time)."""


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(timezone.utc)


class Store:
    """Records tickets and moves them through their states; every method is one short transaction."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now,
                 reference_prefix: str = "SUP") -> None:
        self.engine = engine
        self.clock = clock
        self.reference_prefix = reference_prefix

    @classmethod
    def open(cls, url: str, *, reference_prefix: str = "SUP", clock: Callable[[], datetime] = utc_now,
             read_only: bool = False) -> Store:
        """Open the database at `url`, creating or upgrading its schema (or, `read_only`, only reading it)."""
        engine = open_reader(url) if read_only else open_engine(url, reference_prefix=reference_prefix)
        return cls(engine, clock=clock, reference_prefix=reference_prefix)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose rows stay readable after commit; a database failure stops the cycle, not the ticket."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except OperationalError as exc:
            raise ServiceUnavailable(f"decision log: {exc.orig}") from exc

    def now(self) -> datetime:
        """The store's clock, in UTC."""
        return as_utc(self.clock())

    # -- reading ---------------------------------------------------------------------------------

    def find_key(self, key: str) -> TicketLog | None:
        """The ticket recorded under `key` (not a dry run, not a duplicate copy), if any."""
        with self.session() as session:
            return session.exec(select(TicketLog).where(
                TicketLog.key == key, TicketLog.dry_run == False, col(TicketLog.duplicate_of).is_(None))  # noqa: E712
            ).first()

    def get(self, ticket_id: int) -> TicketLog | None:
        """One ticket by its row id."""
        with self.session() as session:
            return session.get(TicketLog, ticket_id)

    def actions(self, ticket_id: int) -> list[ActionLog]:
        """The actions of one ticket, in the order they run."""
        with self.session() as session:
            return list(session.exec(select(ActionLog).where(ActionLog.ticket_id == ticket_id).order_by(ActionLog.id)))

    def unfinished(self, source: str, *, limit: int = 500) -> list[TicketLog]:
        """Tickets of `source` with work left (oldest first); quarantined ones wait for `deskbot retry`."""
        with self.session() as session:
            return list(session.exec(
                select(TicketLog).where(TicketLog.source == source, TicketLog.pending == True,  # noqa: E712
                                        TicketLog.dry_run == False, TicketLog.status != "quarantined")  # noqa: E712
                .order_by(TicketLog.id).limit(limit)))

    def get_cursor(self, source: str) -> str | None:
        """Where reading `source` stopped: everything up to it is recorded."""
        with self.session() as session:
            row = session.get(SourceCursor, source)
            return row.value if row else None

    # -- recording what was read (one transaction each, with the cursor) --------------------------

    def record_decision(self, ticket: Ticket, prediction: Prediction, decision: Decision, *, kinds: Sequence[str],
                        cursor: str | None, dry_run: bool = False, ack_message_id: str = "") -> TicketLog:
        """A decided ticket, its reference, one pending action per kind, and the cursor past it."""
        row = ticket_row(ticket, self.now(), status="dry-run" if dry_run else "decided", dry_run=dry_run)
        fill_decision(row, prediction, decision, ack_message_id)
        return self._insert(row, kinds, cursor, numbered=not dry_run and gets_reference(decision))

    def record_received(self, ticket: Ticket, error: str, *, cursor: str | None) -> TicketLog:
        """A readable ticket the model or the rules failed on: kept, to decide again next cycle."""
        row = ticket_row(ticket, self.now(), status="received")
        row.attempts, row.error = 1, error[:2000]
        return self._insert(row, (), cursor, numbered=False)

    def record_unreadable(self, source: str, key: str, ref: str, reason: str, *, cursor: str | None,
                          kinds: Sequence[str]) -> TicketLog:
        """Input that cannot be parsed, with the reason, and the action that flags it for a person."""
        now = self.now()
        row = TicketLog(source=source, key=key, ref=ref, created_at=now, updated_at=now, status="unreadable",
                        pending=bool(kinds), error=reason[:2000])
        return self._insert(row, kinds, cursor, numbered=False)

    def record_duplicate(self, ticket: Ticket, original: TicketLog, *, kinds: Sequence[str],
                         cursor: str | None) -> TicketLog:
        """A second copy of `original` (the same mail in another mailbox): marked and filed, never answered."""
        row = ticket_row(ticket, self.now(), status="duplicate")
        row.duplicate_of, row.department, row.folder = original.id, original.department, original.folder
        row.reasons = json.dumps([f"duplicate of {original.reference or original.id} ({original.source})"])
        row.pending = bool(kinds)
        return self._insert(row, kinds, cursor, numbered=False)

    def _insert(self, row: TicketLog, kinds: Sequence[str], cursor: str | None, *, numbered: bool) -> TicketLog:
        now = self.now()
        try:
            with self.session() as session:
                if numbered:
                    row.reference = format_reference(self.reference_prefix, self._next_reference(session))
                session.add(row)
                session.flush()
                for kind in kinds:
                    state = "skipped" if row.dry_run else "pending"
                    session.add(ActionLog(ticket_id=row.id, kind=kind, state=state, updated_at=now,
                                          detail="dry run: nothing changed" if row.dry_run else ""))
                if cursor is not None and not row.dry_run:
                    _put_cursor(session, row.source, cursor, now)
                session.commit()
        except IntegrityError as exc:
            raise KeyTaken(f"key {row.key} is already recorded") from exc
        return row

    def _next_reference(self, session: Session) -> int:
        """The next number of the reference sequence, inside the caller's transaction (never reused)."""
        session.exec(update(Counter).where(col(Counter.name) == "reference").values(value=Counter.value + 1))
        counter = session.get(Counter, "reference")
        if counter is None:  # a database whose counter row was removed by hand: start above every ticket
            counter = Counter(name="reference", value=1)
            session.add(counter)
            session.flush()
        session.refresh(counter)
        return counter.value

    def record_late_decision(self, ticket_id: int, prediction: Prediction, decision: Decision, *,
                             kinds: Sequence[str], ack_message_id: str = "") -> TicketLog:
        """Decide a ticket recorded as received (its model or rules failed before): reference and actions too."""
        now = self.now()
        with self.session() as session:
            row = session.get(TicketLog, ticket_id)
            assert row is not None
            fill_decision(row, prediction, decision, ack_message_id)
            row.status, row.error, row.updated_at = "decided", "", now
            if gets_reference(decision) and not row.reference:
                row.reference = format_reference(self.reference_prefix, self._next_reference(session))
            session.add(row)
            for kind in kinds:
                session.add(ActionLog(ticket_id=ticket_id, kind=kind, state="pending", updated_at=now))
            session.commit()
            return row

    def requeue(self, ticket_ids: Sequence[int]) -> list[TicketLog]:
        """`deskbot retry`: failed and quarantined tickets get their unfinished actions back, attempts reset."""
        now, done = self.now(), []
        with self.session() as session:
            for ticket_id in ticket_ids:
                row = session.get(TicketLog, ticket_id)
                if row is None or row.dry_run or row.status not in ("failed", "quarantined", "received", "decided",
                                                                    "outbox"):
                    continue
                actions = session.exec(select(ActionLog).where(ActionLog.ticket_id == ticket_id)).all()
                for action in actions:
                    if action.kind in (FLAG_FAILED, QUARANTINE):
                        action.state, action.detail = "skipped", "superseded by `deskbot retry`"
                    elif action.state == "failed":
                        action.state, action.detail = "pending", "re-queued by `deskbot retry`"
                    action.updated_at = now
                    session.add(action)
                if row.flagged:
                    session.add(ActionLog(ticket_id=ticket_id, kind=UNFLAG, state="pending", updated_at=now))
                row.status = "decided" if row.department else "received"
                row.pending, row.attempts, row.error, row.updated_at, row.retry_at = True, 0, "", now, None
                session.add(row)
                done.append(row)
            session.commit()
        return done

    def save_cursor(self, source: str, value: str) -> None:
        """Move the cursor past items found already recorded."""
        with self.session() as session:
            _put_cursor(session, source, value, self.now())
            session.commit()

    # -- acting -------------------------------------------------------------------------------------

    def start(self, action_id: int) -> None:
        """Mark an action in flight: from now on its effect may exist."""
        self.step(None, "", "", then=action_id)

    def step(self, action_id: int | None, state: str, detail: str, *, then: int | None = None,
             ticket_update: dict[str, object] | None = None, action_update: dict[str, object] | None = None) -> None:
        """Finish one action and mark the next in flight (and update the ticket) in a single commit."""
        now = self.now()
        with self.session() as session:
            if action_id is not None:
                action = session.get(ActionLog, action_id)
                assert action is not None
                action.state, action.detail, action.updated_at = state, detail[:2000], now
                action.attempts += 1
                for name, value in (action_update or {}).items():
                    setattr(action, name, value)
                session.add(action)
            if then is not None:
                following = session.get(ActionLog, then)
                assert following is not None
                following.state, following.updated_at = "inflight", now
                session.add(following)
            if ticket_update:
                self._update_ticket(session, ticket_update)
            session.commit()

    def _update_ticket(self, session: Session, values: dict[str, object]) -> None:
        row = session.get(TicketLog, values["id"])
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = self.now()
        session.add(row)

    def update_ticket(self, ticket_id: int, **values: object) -> None:
        """Set fields of one ticket (status, pending, error, flagged…)."""
        with self.session() as session:
            self._update_ticket(session, {"id": ticket_id, **values})
            session.commit()

    def add_action(self, ticket_id: int, kind: str) -> ActionLog:
        """Append an action (flag a failure, quarantine) to a ticket's list."""
        with self.session() as session:
            action = ActionLog(ticket_id=ticket_id, kind=kind, state="pending", updated_at=self.now())
            session.add(action)
            row = session.get(TicketLog, ticket_id)
            assert row is not None
            row.pending = True
            session.add(row)
            session.commit()
            return action

    def count_failure(self, ticket_id: int, error: str) -> int:
        """One more failure of this ticket's own; returns how many it has had, across restarts."""
        with self.session() as session:
            row = session.get(TicketLog, ticket_id)
            assert row is not None
            row.attempts += 1
            row.error, row.updated_at = error[:2000], self.now()
            session.add(row)
            session.commit()
            return row.attempts

    def add_event(self, source: str, message: str, *, level: str = "WARNING", ticket_id: int | None = None) -> None:
        """Keep a warning or error for `deskbot status`."""
        with self.session() as session:
            session.add(Event(at=self.now(), source=source, ticket_id=ticket_id, level=level, message=message[:2000]))
            session.commit()


def gets_reference(decision: Decision) -> bool:
    """A customer reference for a new request only: not for robots, spam or a reply in a known thread."""
    return decision.kind == "ticket" and decision.follow_up_of is None


def format_reference(prefix: str, number: int) -> str:
    """The customer-facing reference: SUP-000042 (more digits once past a million)."""
    return f"{prefix}-{number:06d}"


def _put_cursor(session: Session, source: str, value: str, now: datetime) -> None:
    row = session.get(SourceCursor, source) or SourceCursor(source=source, value=value, updated_at=now)
    row.value, row.updated_at = value, now
    session.add(row)
