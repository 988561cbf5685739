"""The decision log's tables of what agents taught deskbot: corrections, confirmations, and shadow decisions.

A correction is a ticket whose department or priority the team set otherwise than deskbot did (moved to
another group or folder, priority changed, or solved with other values); a confirmation is one solved
(IMAP: answered) with deskbot's values unchanged. A shadow decision is what a second model
(`deskbot run --shadow DIR`) would have decided, recorded beside the live one and never acted on.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

CORRECTION, CONFIRMATION = "correction", "confirmation"


class Correction(SQLModel, table=True):
    """What deskbot decided of one ticket against what the team decided, when, and through which channel."""

    __tablename__ = "correction"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    source: str = Field(index=True)
    kind: str = CORRECTION  # correction | confirmation
    channel: str = ""  # zendesk | freshdesk | imap-folder | imap-keyword
    deskbot_department: str = ""
    deskbot_priority: str = ""
    team_department: str = ""
    team_priority: str = ""
    model_version: str = ""  # the model that made deskbot's decision
    at: datetime = Field(index=True)  # when the source shows the change (its updated_at), else when seen
    recorded_at: datetime
    answered_at: datetime | None = None  # the first answer, where the source says


class ShadowDecision(SQLModel, table=True):
    """A second model's decision on a ticket the live model decided; nothing was done with it."""

    __tablename__ = "shadow_decision"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True)  # the ticket's key (TicketLog.key)
    source: str = ""
    model_version: str = ""
    department: str = ""
    priority: str = ""
    confidence: float | None = None
    needs_review: bool = False
    live_model_version: str = ""
    live_department: str = ""
    live_priority: str = ""
    at: datetime
