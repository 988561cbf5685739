"""The shapes the HTTP API takes and gives (they are also its OpenAPI schema at /docs)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from bot.api.text import clean_text, one_line_pattern, visible_pattern
from bot.log.records import as_utc
from bot.log.schema import ActionLog, TicketLog
from bot.models import Prediction
from connectors.base import ACKNOWLEDGE

MAX_BATCH = 1000
# A decision log id (SQLite's integers stop at 2**63) or a reference (rules' reference_prefix, then digits).
TICKET_IDENT = r"^(?:[0-9]{1,18}|[A-Za-z][A-Za-z0-9]{0,9}-[0-9]{1,18})$"
SOURCE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # the name of a [[zendesk]] or [[freshdesk]] table
# The WHATWG HTML "valid e-mail address" (what a web form's <input type=email> accepts): no display
# name, no comments, no quoted local part; widened to internationalised addresses (RFC 6531: jörg@bücher.de),
# which deskbot acknowledges over SMTPUTF8. Non-ASCII means visible letters here: no C1 controls, no
# no-break or zero-width spaces and other format characters of U+2000-U+206F, no byte-order mark.
_INTL = r"\u00a1-\u167f\u1681-\u1fff\u2070-\u2fff\u3001-\ud7ff\ue000-\ufefe\uff00-\uffff"
_LABEL = rf"[a-zA-Z0-9{_INTL}](?:[a-zA-Z0-9{_INTL}-]{{0,61}}[a-zA-Z0-9{_INTL}])?"
ADDRESS = rf"^[a-zA-Z0-9.!#$%&'*+/=?^_`{{|}}~{_INTL}-]+@{_LABEL}(?:\.{_LABEL})*$"
ONE_LINE = one_line_pattern()


def _one_line(value: str) -> str:
    if not re.fullmatch(ONE_LINE, value):  # both go into mail headers of the acknowledgement
        raise ValueError("must be one line (no line breaks)")
    return value


def _an_address(value: str) -> str:
    if not re.fullmatch(ADDRESS, value):
        raise ValueError("must be a bare mail address, e.g. jane@example.com")
    return value


def _needs_text(schema: dict[str, Any]) -> None:
    """The schema of `_has_text`: a subject or a body with something visible in it."""
    schema["anyOf"] = [{"required": [name], "properties": {name: {"pattern": visible_pattern()}}}
                       for name in ("subject", "body")]


# [term, weight]. Said without `prefixItems`: Schemathesis 4 rewrites a nested prefixItems into the
# draft-7 array form of `items`, which its own OpenAPI 3.1 check then refuses as an invalid schema.
TermWeight = Annotated[tuple[str, float], WithJsonSchema({
    "type": "array", "minItems": 2, "maxItems": 2, "items": {"type": ["string", "number"]},
    "description": "[term, weight]: the term first, then its contribution"})]
Cleaned = AfterValidator(clean_text)  # NFKC, no control or format characters (bot/api/text.py)


class TextIn(BaseModel):
    """A ticket's text: a subject, a body, or both, with something visible in it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_needs_text)
    subject: Annotated[str, Field(max_length=1000), Cleaned] = ""
    body: Annotated[str, Cleaned] = ""

    @model_validator(mode="after")
    def _has_text(self) -> TextIn:
        if not self.subject.strip() and not self.body.strip():  # cleaned already: as `has_text` judges
            raise ValueError("give a subject, a body, or both (invisible and control characters do not count)")
        return self


class BatchIn(BaseModel):
    """Up to 1,000 texts, predicted in one model call."""

    model_config = ConfigDict(extra="forbid")
    tickets: list[TextIn] = Field(min_length=1, max_length=MAX_BATCH)


class TicketIn(TextIn):
    """A ticket to triage and record; a retry with the same external_id gets the first decision."""

    subject: Annotated[str, Field(max_length=1000, json_schema_extra={"pattern": ONE_LINE}),
                       AfterValidator(_one_line), Cleaned] = ""
    sender: Annotated[str, Field(max_length=254, json_schema_extra={"pattern": ADDRESS},
                                 description="the customer's address: the acknowledgement goes there"),
                      AfterValidator(_an_address)]
    sender_name: Annotated[str, Field(max_length=200, json_schema_extra={"pattern": ONE_LINE}),
                           AfterValidator(_one_line), Cleaned] = ""
    language: str = Field(default="", pattern=r"^([a-z]{2})?$", description="ISO 639-1; default: detected")
    external_id: str = Field(default="", pattern=r"^[\x21-\x7e]{0,200}$",
                             description="your id of this ticket (visible ASCII); makes retries safe")


class PredictionOut(BaseModel):
    """The fields of `deskbot classify --json`."""

    department: str
    priority: str | None
    confidence: float
    department_scores: dict[str, float]
    priority_scores: dict[str, float]
    top_terms: list[TermWeight]
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


class FieldError(BaseModel):
    """Where a request is wrong, and how (never the value sent)."""

    loc: str = Field(description="e.g. body.tickets.3.subject")
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document: every refusal and error of the API."""

    type: Literal["about:blank"]
    title: str = Field(description="the status phrase")
    status: int = Field(ge=400, le=599)
    detail: str = Field(default="", description="what is wrong and how to fix it; absent when the status says it")
    errors: list[FieldError] = Field(default=[], description="400 and 422 of a body: each field that is wrong")


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
