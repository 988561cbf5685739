"""The tables of the decision log (SQLModel). Changes to them ship with an Alembic migration (bot/log/migrations).

A ticket moves through named states, owned by bot/log/store.py:

    received ──> decided ──> done | failed | quarantined | gone | given-up
                     └──> outbox ──> done (filed; its acknowledgement waits for the mail server)
    (no decision yet: the model or rules failed on it; retried)
    unreadable   the input could not be parsed: recorded with the reason, flagged on the server
    duplicate    a second copy of a ticket already recorded (the same mail in two mailboxes)
    dry-run      decided by `run --dry-run`: nothing was done, no reference consumed
    given-up     a person closed it with `deskbot retry --give-up`: it can never succeed, nothing more is tried

`pending` says the ticket still has work (a decision to take or actions to run); each action has
its own state: pending -> inflight (recorded *before* its side effect) -> done | skipped | failed | gone;
an acknowledgement the mail server cannot take now waits as `outbox` until the ticket's `retry_at`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

TICKET_STATES = ("received", "decided", "outbox", "done", "failed", "quarantined", "gone", "given-up", "unreadable",
                 "duplicate", "dry-run")
ACTION_STATES = ("pending", "inflight", "outbox", "done", "skipped", "failed", "gone")
FINISHED_ACTIONS = ("done", "skipped", "failed", "gone")


class TicketLog(SQLModel, table=True):
    """One ticket: what came in, what the model said, what was decided, and where it stands."""

    __tablename__ = "ticket"
    __table_args__ = (
        # One ticket per key across every source of a config; duplicates and dry runs point elsewhere.
        Index("ux_ticket_key", "key", unique=True,
              sqlite_where=text("dry_run = 0 AND duplicate_of IS NULL"),
              postgresql_where=text("dry_run = false AND duplicate_of IS NULL")),
        Index("ix_ticket_pending", "source", "pending"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True)
    key: str
    ref: str
    reference: str | None = Field(default=None, unique=True)
    created_at: datetime
    updated_at: datetime | None = None
    dry_run: bool = False
    status: str = "decided"
    pending: bool = True
    attempts: int = 0  # failures of this ticket's own (not of its server); quarantined at the limit
    flagged: bool = False  # deskbot flagged it on the server for a person (failed, quarantined, unreadable)
    error: str = ""
    duplicate_of: int | None = None  # the ticket this one is a copy of
    message_id: str = Field(default="", index=True)
    ack_message_id: str = Field(default="", index=True)  # chosen when decided, before anything is sent
    sender: str = Field(default="", index=True)
    sender_name: str = ""
    reply_to: str = ""
    subject: str = ""
    language: str = ""
    body: str = ""
    text: str = ""
    received_at: datetime | None = None
    thread_refs: str = "[]"  # Message-IDs of References and In-Reply-To
    headers: str = "[]"
    meta: str = "[]"
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
    kind: str = "ticket"  # "automated" / "spam": filed apart, out of the queues and the SLA figures
    follow_up_of: int | None = None  # the ticket whose thread this mail continues
    ack_to: str = Field(default="", index=True)  # the acknowledgement's recipient address
    attachments: str = "[]"  # [[name, type, bytes], …]: listed, never classified
    retry_at: datetime | None = None  # not worked on again before this (the outbox's next try)
    earlier_decisions: str = "[]"  # decisions `deskbot retry` replaced, oldest first, each with when


class ActionLog(SQLModel, table=True):
    """One side effect of a decision and how it went; `marker` identifies its effect on the server."""

    __tablename__ = "action"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    kind: str
    state: str = Field(default="pending", index=True)
    marker: str = ""
    detail: str = ""
    attempts: int = 0
    updated_at: datetime
    refused_since: datetime | None = None  # the first temporary refusal (an SMTP 4xx): given up after a day


class SourceCursor(SQLModel, table=True):
    """How far a source has been read and recorded (IMAP: UIDVALIDITY:UID; helpdesks: their cursor)."""

    __tablename__ = "cursor"
    source: str = Field(primary_key=True)
    value: str
    updated_at: datetime


class Counter(SQLModel, table=True):
    """A sequence that never goes back: customer references are numbered from it."""

    __tablename__ = "counter"
    name: str = Field(primary_key=True)
    value: int = 0


class SourceState(SQLModel, table=True):
    """What `deskbot status` shows of a source, and which instance may work on it (a lease)."""

    __tablename__ = "source_state"
    source: str = Field(primary_key=True)
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    backlog: int | None = None  # items found after the cursor and not yet recorded, at the last poll
    next_run_at: datetime | None = None
    reference_seeded: bool = False
    auth_failures: int = 0  # logins refused in a row: the next try waits longer each time
    auth_retry_at: datetime | None = None
    lease_owner: str = ""
    lease_until: datetime | None = None


class Event(SQLModel, table=True):
    """A warning or error worth showing a person later (`deskbot status`)."""

    __tablename__ = "event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    source: str = Field(default="", index=True)
    ticket_id: int | None = None
    level: str = "WARNING"
    message: str = ""


class Suppression(SQLModel, table=True):
    """An address no acknowledgement goes to until `until`: one of ours bounced there for good."""

    __tablename__ = "suppression"
    address: str = Field(primary_key=True)
    until: datetime
    reason: str = ""


class Instance(SQLModel, table=True):
    """A running daemon: who it is and when it last said it is alive."""

    __tablename__ = "instance"
    owner: str = Field(primary_key=True)  # host:pid:start
    pid: int
    host: str
    started_at: datetime
    heartbeat_at: datetime


from bot.log.feedback import Correction, ShadowDecision  # noqa: E402,F401 - their tables belong to this metadata
