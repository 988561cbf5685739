"""The shapes the HTTP API takes and gives (they are also its OpenAPI schema at /docs)."""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import parseaddr
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.log.records import as_utc
from bot.log.schema import ActionLog, TicketLog
from bot.models import Prediction
from connectors.base import ACKNOWLEDGE

MAX_BATCH = 1000


class TextIn(BaseModel):
    """A ticket's text: a subject, a body, or both."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(default="", max_length=1000)
    body: str = ""

    @model_validator(mode="after")
    def _has_text(self) -> TextIn:
        if not self.subject.strip() and not self.body.strip():
            raise ValueError("give a subject, a body, or both")
        return self


class BatchIn(BaseModel):
    """Up to 1,000 texts, predicted in one model call."""

    model_config = ConfigDict(extra="forbid")
    tickets: list[TextIn] = Field(min_length=1, max_length=MAX_BATCH)


class TicketIn(TextIn):
    """A ticket to triage and record; a retry with the same external_id gets the first decision."""

    sender: str = Field(max_length=254, description="the customer's address: the acknowledgement goes there")
    sender_name: str = Field(default="", max_length=200)
    language: str = Field(default="", pattern=r"^([a-z]{2})?$", description="ISO 639-1; default: detected")
    external_id: str = Field(default="", pattern=r"^[\x21-\x7e]{0,200}$",
                             description="your id of this ticket (visible ASCII); makes retries safe")

    @field_validator("subject", "sender_name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value:  # both go into mail headers of the acknowledgement
            raise ValueError("must be one line (no CR or LF)")
        return value

    @field_validator("sender")
    @classmethod
    def _an_address(cls, value: str) -> str:
        address = parseaddr(value)[1]
        if address != value.strip() or "@" not in address or any(c.isspace() for c in address):
            raise ValueError("must be a bare mail address, e.g. jane@example.com")
        return address


class PredictionOut(BaseModel):
    """The fields of `deskbot classify --json`."""

    department: str
    priority: str | None
    confidence: float
    department_scores: dict[str, float]
    priority_scores: dict[str, float]
    top_terms: list[tuple[str, float]]
    language: str
    model_version: str


class BatchOut(BaseModel):
    """Predictions in the order of the tickets sent."""

    predictions: list[PredictionOut]


class AcknowledgementOut(BaseModel):
    """Whether the customer was acknowledged by mail, will be, or why not."""

    state: Literal["sent", "pending", "failed", "skipped", "none"]
    detail: str | None = None


class DecisionOut(BaseModel):
    """A recorded ticket's decision, as POST /v1/tickets answers."""

    id: int
    reference: str | None
    status: str
    department: str
    priority: str
    needs_review: bool
    tags: list[str]
    group: str | None
    sla_due: datetime | None
    reasons: list[str]
    acknowledgement: AcknowledgementOut


class WebhookOut(BaseModel):
    """What a webhook made of the ticket it named."""

    source: str
    ticket: int
    status: str = Field(description="done, failed, retry, already-recorded, … or ignored (solved, closed, before start)")
    id: int | None = None
    reference: str | None = None


def prediction_out(prediction: Prediction) -> PredictionOut:
    """A prediction as `deskbot classify --json` prints it."""
    return PredictionOut(
        department=prediction.department, priority=prediction.priority,
        confidence=round(prediction.confidence, 4), department_scores=prediction.department_scores,
        priority_scores=prediction.priority_scores, top_terms=[(t.term, t.weight) for t in prediction.top_terms],
        language=prediction.language, model_version=prediction.model_version)


_ACK_STATES = {"done": "sent", "pending": "pending", "inflight": "pending", "failed": "failed", "gone": "failed",
               "skipped": "skipped"}


def decision_out(row: TicketLog, actions: list[ActionLog]) -> DecisionOut:
    """A recorded row and its actions as the answer to POST /v1/tickets."""
    assert row.id is not None
    ack = next((a for a in actions if a.kind == ACKNOWLEDGE), None)
    acknowledgement = AcknowledgementOut(state=_ACK_STATES.get(ack.state, "pending"), detail=ack.detail or None) \
        if ack else AcknowledgementOut(state="none", detail=row.ack_skip_reason)
    return DecisionOut(
        id=row.id, reference=row.reference, status=row.status, department=row.department, priority=row.priority,
        needs_review=row.needs_review, tags=json.loads(row.tags), group=row.group,
        sla_due=as_utc(row.sla_due) if row.sla_due else None, reasons=json.loads(row.reasons),
        acknowledgement=acknowledgement)
