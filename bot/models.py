"""The normalised values that cross every seam: Ticket in, Prediction, Decision out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Ticket:
    """One inbound support request, whatever system it came from.

    `key` identifies the ticket across every source of a config, for deduplication: for mail
    the Message-ID plus a digest of the content (the same mail in two mailboxes is one ticket),
    for a helpdesk its name and ticket id ("zendesk:acme:123"). `ref` is where the source finds
    it again (an IMAP UIDVALIDITY:UID, the helpdesk's ticket id). `meta` keeps native values a
    source needs again when it acts (e.g. the helpdesk's updated_at as deskbot read it).
    """

    source: str
    key: str
    ref: str
    sender: str
    sender_name: str
    subject: str
    body: str
    text: str  # what the classifier reads: body without quotes and signatures
    language: str
    received_at: datetime | None = None
    message_id: str = ""
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    reply_to: str = ""  # where the customer asked answers to go (a mail address header value), if anywhere
    meta: tuple[tuple[str, str], ...] = ()
    attachments: tuple[tuple[str, str, int], ...] = ()  # (file name, content type, bytes) of each attached file
    # Every MIME part's type, for loop checks: ">" per enclosing message/rfc822 (a forwarded mail),
    # multipart/report with its report-type ("multipart/report;report-type=delivery-status").
    content_types: tuple[str, ...] = ()

    def header(self, name: str) -> str:
        """The first value of header `name` (case-insensitive), or ''."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), "")

    def meta_value(self, name: str) -> str:
        """A native value the source stored with the ticket, or ''."""
        return next((v for k, v in self.meta if k == name), "")


@dataclass(frozen=True)
class Term:
    """One word (feature) and how much it pushed the prediction towards its label."""

    term: str
    weight: float


@dataclass(frozen=True)
class Prediction:
    """What the classifier says of one text, with why."""

    department: str
    priority: str | None
    confidence: float  # probability of `department`
    priority_confidence: float | None
    department_scores: dict[str, float]
    priority_scores: dict[str, float]
    top_terms: tuple[Term, ...]
    language: str
    model_version: str


@dataclass(frozen=True, slots=True)  # slots: a quarter less to build, and decide() builds one per ticket
class Decision:
    """What deskbot will do with a ticket, and every reason for it."""

    department: str
    priority: str
    tags: tuple[str, ...]
    group: str | None
    folder: str | None
    needs_review: bool
    sla_hours: float
    sla_due: datetime | None
    language: str  # of the acknowledgement
    ack_template: str | None  # template family, e.g. "ack"; None: no acknowledgement
    ack_skip_reason: str | None
    reasons: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "ticket"  # "ticket"; "automated" or "spam": filed apart, out of the queues and the SLA figures
    follow_up_of: int | None = None  # the ticket this mail continues (same thread or reference)
    ack_to: str = ""  # the address an acknowledgement goes to (Reply-To, else the sender)


@dataclass(frozen=True)
class Recipient:
    """What the decision log knows of an acknowledgement's recipient, for the per-address backstops."""

    acks_last_hour: int = 0
    acks_last_day: int = 0
    suppressed: str = ""  # why acknowledgements to this address are suppressed now ('' : they are not)


@dataclass(frozen=True)
class PriorTicket:
    """An earlier ticket of the same mail thread, as the decision log remembers it."""

    ticket_id: int
    department: str
    reference: str
    acknowledged: bool  # an acknowledgement was sent, or is planned and not yet sent
