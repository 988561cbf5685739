"""The decision log (SQLModel on SQLite): every ticket, its scores, reasons and actions.

Each action is a row with a state, so a cycle that stopped half-way resumes exactly
where it stopped and never repeats what is recorded as done.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Index, event, text
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select

from bot.models import Decision, Prediction, PriorTicket, Ticket

SQLITE_SYNCHRONOUS = "FULL"  # NORMAL is ~1.4x faster here but may lose the last commits on power loss
ACTIONS = ("write_back", "acknowledge", "mark_processed")
FINISHED = ("done", "skipped", "failed")


def as_utc(moment: datetime) -> datetime:
    """Times are stored as UTC; SQLite keeps no zone, so a naive value read back is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class TicketLog(SQLModel, table=True):
    """One ticket and the decision taken on it."""

    __tablename__ = "ticket"
    __table_args__ = (
        Index("ux_ticket_source_key", "source", "key", unique=True,
              sqlite_where=text("dry_run = 0"), postgresql_where=text("dry_run = false")),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True)
    key: str
    ref: str
    created_at: datetime
    dry_run: bool = False
    status: str = "decided"  # decided -> done | failed ; or skipped (unreadable input)
    error: str = ""
    message_id: str = Field(default="", index=True)
    ack_message_id: str = Field(default="", index=True)
    sender: str = ""
    sender_name: str = ""
    subject: str = ""
    language: str = ""
    body: str = ""
    text: str = ""
    received_at: datetime | None = None
    model_version: str = ""
    predicted_department: str = ""
    predicted_priority: str = ""
    confidence: float | None = None
    department_scores: str = "{}"
    priority_scores: str = "{}"
    top_terms: str = "[]"
    department: str = ""
    priority: str = ""
    tags: str = "[]"
    group: str | None = None
    folder: str | None = None
    needs_review: bool = False
    sla_hours: float | None = None
    sla_due: datetime | None = None
    ack_language: str = ""
    ack_template: str | None = None
    ack_skip_reason: str | None = None
    reasons: str = "[]"


class ActionLog(SQLModel, table=True):
    """One side effect of a decision and how it went."""

    __tablename__ = "action"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    kind: str
    state: str = "pending"  # pending | done | skipped | retry | failed
    detail: str = ""
    attempts: int = 0
    updated_at: datetime


class SourceCursor(SQLModel, table=True):
    """How far a source has been read (for IMAP: UIDVALIDITY:UID)."""

    __tablename__ = "cursor"
    source: str = Field(primary_key=True)
    value: str
    updated_at: datetime


def open_engine(url: str) -> Engine:
    """An engine with the tables created; a SQLite file's folder is made if missing."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    # The scheduler runs one job per mailbox in threads; each call opens its own session.
    connect_args = {"check_same_thread": False, "timeout": 30} if url.startswith("sqlite") else {}
    engine = create_engine(url, connect_args=connect_args)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    SQLModel.metadata.create_all(engine)
    return engine


def _sqlite_pragmas(connection: Any, record: object) -> None:
    """WAL: one fsync per commit instead of several, readers never block the writer."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cursor.close()


class Store:
    """Reads and writes the decision log."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and create) the database at `url`."""
        return cls(open_engine(url))

    def find(self, source: str, key: str) -> TicketLog | None:
        """The real (not dry-run) record of a ticket, if it was seen before."""
        with Session(self.engine) as session:
            query = select(TicketLog).where(TicketLog.source == source, TicketLog.key == key, TicketLog.dry_run == False)  # noqa: E712
            return session.exec(query).first()

    def get(self, ticket_id: int) -> TicketLog | None:
        """One record by id."""
        with Session(self.engine) as session:
            return session.get(TicketLog, ticket_id)

    def find_prior(self, message_ids: Iterable[str]) -> PriorTicket | None:
        """The latest decided ticket of the thread these Message-IDs belong to."""
        ids = [m for m in message_ids if m]
        if not ids:
            return None
        with Session(self.engine) as session:
            query = (
                select(TicketLog)
                .where(TicketLog.dry_run == False, TicketLog.department != "")  # noqa: E712
                .where(TicketLog.message_id.in_(ids) | TicketLog.ack_message_id.in_(ids))  # type: ignore[union-attr]
                .order_by(TicketLog.id.desc())  # type: ignore[union-attr]
            )
            row = session.exec(query).first()
            if row is None:
                return None
            assert row.id is not None
            return PriorTicket(ticket_id=row.id, department=row.department,
                               acknowledged=bool(row.ack_message_id or row.ack_template))

    def record_decision(
        self, ticket: Ticket, prediction: Prediction, decision: Decision, *, now: datetime, dry_run: bool
    ) -> TicketLog:
        """Write the ticket, prediction and decision, with one pending row per action."""
        row = TicketLog(
            **_ticket_columns(ticket, now, dry_run),
            model_version=prediction.model_version,
            predicted_department=prediction.department,
            predicted_priority=prediction.priority or "",
            confidence=prediction.confidence,
            department_scores=json.dumps(prediction.department_scores),
            priority_scores=json.dumps(prediction.priority_scores),
            top_terms=json.dumps([[t.term, round(t.weight, 4)] for t in prediction.top_terms]),
            department=decision.department,
            priority=decision.priority,
            tags=json.dumps(list(decision.tags)),
            group=decision.group,
            folder=decision.folder,
            needs_review=decision.needs_review,
            sla_hours=decision.sla_hours,
            sla_due=as_utc(decision.sla_due) if decision.sla_due else None,
            ack_language=decision.language,
            ack_template=decision.ack_template,
            ack_skip_reason=decision.ack_skip_reason,
            reasons=json.dumps(list(decision.reasons)),
            status="dry-run" if dry_run else "decided",
        )
        return self._insert(row, now, "skipped" if dry_run else "pending")

    def record_skipped(self, source: str, key: str, ref: str, reason: str, *, now: datetime, dry_run: bool,
                       status: str = "skipped") -> TicketLog:
        """Record input that could not be handled, with the reason, and a pending set-aside action."""
        row = TicketLog(source=source, key=key, ref=ref, created_at=as_utc(now), dry_run=dry_run,
                        status=status, error=reason[:2000])
        return self._insert(row, now, "skipped" if dry_run else "pending", kinds=("set_aside",))

    def _insert(self, row: TicketLog, now: datetime, state: str, kinds: Sequence[str] = ACTIONS) -> TicketLog:
        with Session(self.engine) as session:
            session.add(row)
            session.flush()
            for kind in kinds:
                session.add(ActionLog(ticket_id=row.id, kind=kind, state=state, updated_at=as_utc(now),
                                      detail="dry run: nothing changed" if state == "skipped" else ""))
            session.commit()
            session.refresh(row)
            return row

    def actions(self, ticket_id: int) -> list[ActionLog]:
        """The actions of one ticket, in the order they run."""
        with Session(self.engine) as session:
            return list(session.exec(select(ActionLog).where(ActionLog.ticket_id == ticket_id).order_by(ActionLog.id)))

    def set_action(self, action_id: int, state: str, detail: str, *, now: datetime) -> None:
        """Record how one action went."""
        with Session(self.engine) as session:
            action = session.get(ActionLog, action_id)
            assert action is not None
            action.state, action.detail, action.updated_at = state, detail[:2000], as_utc(now)
            action.attempts += 1
            session.add(action)
            session.commit()

    def update_ticket(self, ticket_id: int, **values: str) -> None:
        """Set status, error or the acknowledgement's Message-ID of a ticket."""
        with Session(self.engine) as session:
            row = session.get(TicketLog, ticket_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
            session.add(row)
            session.commit()

    def get_cursor(self, source: str) -> str | None:
        """Where reading `source` stopped last time."""
        with Session(self.engine) as session:
            row = session.get(SourceCursor, source)
            return row.value if row else None

    def set_cursor(self, source: str, value: str, *, now: datetime) -> None:
        """Remember where to go on reading `source`."""
        with Session(self.engine) as session:
            row = session.get(SourceCursor, source) or SourceCursor(source=source, value=value, updated_at=as_utc(now))
            row.value, row.updated_at = value, as_utc(now)
            session.add(row)
            session.commit()

    def recent(self, limit: int = 20, *, source: str | None = None) -> list[TicketLog]:
        """The latest records, newest first."""
        with Session(self.engine) as session:
            query = select(TicketLog).order_by(TicketLog.id.desc()).limit(limit)  # type: ignore[union-attr]
            if source:
                query = query.where(TicketLog.source == source)
            return list(session.exec(query))


def load_decision(row: TicketLog) -> Decision:
    """The Decision a record holds, to resume its unfinished actions unchanged."""
    return Decision(
        department=row.department,
        priority=row.priority,
        tags=tuple(json.loads(row.tags)),
        group=row.group,
        folder=row.folder,
        needs_review=row.needs_review,
        sla_hours=row.sla_hours or 0.0,
        sla_due=as_utc(row.sla_due) if row.sla_due else None,
        language=row.ack_language,
        ack_template=row.ack_template,
        ack_skip_reason=row.ack_skip_reason,
        reasons=tuple(json.loads(row.reasons)),
    )


def _ticket_columns(ticket: Ticket, now: datetime, dry_run: bool) -> dict[str, object]:
    return {
        "source": ticket.source,
        "key": ticket.key,
        "ref": ticket.ref,
        "created_at": as_utc(now),
        "dry_run": dry_run,
        "message_id": ticket.message_id,
        "sender": ticket.sender,
        "sender_name": ticket.sender_name,
        "subject": ticket.subject,
        "language": ticket.language,
        "body": ticket.body,
        "text": ticket.text,
        "received_at": as_utc(ticket.received_at) if ticket.received_at else None,
    }
