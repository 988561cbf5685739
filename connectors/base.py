"""The contracts between the pipeline and the systems it reads from and writes to.

Every kind of source (an IMAP folder, a Zendesk or Freshdesk account) is driven the same way:

1. read: `fetch_new(cursor)` yields raw items after the cursor, `parse(item)` makes a Ticket;
2. act: `plan(decision)` names the actions this source needs, in order; for each one the store
   records it *in flight* (with its `marker`) before `perform(action)` causes the side effect,
   and records the outcome after;
3. recover: an action found in flight after a crash is first `verify`-ed: the source looks at the
   server where it can (IMAP: where the message is; a helpdesk: is our marker in the comments) and
   answers done (True), not done (False) or cannot tell (None).

Sources raise only deskbot's own errors (bot/errors.py); the pipeline catches them once per ticket.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from functools import cached_property
from types import TracebackType
from typing import Protocol

from bot.models import Decision, Ticket

# The action kinds a source may plan or be asked to perform.
WRITE_BACK = "write_back"  # show the decision where agents work: keywords / group, priority, tags (+ note)
NOTE = "note"  # a private note explaining the decision (helpdesks; may be folded into write_back)
ACKNOWLEDGE = "acknowledge"  # the acknowledgement to the customer: mail, or a public helpdesk reply
FILE = "file"  # mark processed and file (IMAP: processed keyword, then MOVE to the department's folder)
SET_ASIDE = "set_aside"  # unreadable input: flag it for a person, leave it in place
DUPLICATE = "duplicate"  # a second copy of a ticket already handled: mark it as a duplicate and file it
FLAG_FAILED = "flag_failed"  # an action failed for good: make the ticket visible to a person
QUARANTINE = "quarantine"  # kept failing N times: flag it so it cannot block the source
UNFLAG = "unflag"  # after `deskbot retry`: take deskbot's flags off again, before the ticket is filed


@dataclass(frozen=True)
class RawItem:
    """One ticket as its source holds it, before parsing.

    `cursor` is the source's position once this item is recorded: the pipeline saves it with the
    item's record, so a crash never skips an item and never reads a recorded one as new.
    """

    ref: str
    data: bytes
    cursor: str | None  # None: an item pushed to deskbot (API, webhook) leaves the source's cursor alone
    received_at: datetime | None = None
    problem: str = ""  # set when the source could not even read the item (e.g. too large)
    key: str = ""  # its identity when its bytes change with every edit (a helpdesk ticket: "zendesk:acme:123")


@dataclass(frozen=True)
class Wire:
    """A mail as the SMTP server gets it: the envelope's sender and recipients, and the bytes (CRLF line ends,
    raw UTF-8 in the headers only where an address needs SMTPUTF8)."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes

    @property
    def utf8(self) -> bool:
        """Does an address of the envelope need SMTPUTF8?"""
        return needs_smtputf8(self.sender, *self.recipients)


def needs_smtputf8(*addresses: str) -> bool:
    """Does one of these envelope addresses need SMTPUTF8 (RFC 6531), as aiosmtplib decides it: a non-ASCII one."""
    return not all(a.isascii() for a in addresses)


@dataclass(frozen=True)
class Ack:
    """A rendered acknowledgement, ready to deliver by mail (`wire`) or as a public helpdesk reply."""

    message_id: str  # stable across retries: the marker looked for after a crash
    to: str  # the recipient, as a mail address header value
    subject: str
    text: str
    html: str | None = None
    wire: Wire | None = None  # the whole RFC 5322 message as it is sent, for mail

    @cached_property
    def message(self) -> EmailMessage | None:
        """The mail as an EmailMessage, read from `wire` when first asked for (to look at, not to send)."""
        if self.wire is None:
            return None
        return _READER.parsebytes(self.wire.data.replace(b"\r\n", b"\n"))  # type: ignore[return-value]


_READER = BytesParser(policy=policy.default)


@dataclass(frozen=True)
class Action:
    """One side effect the pipeline asks a source to cause (or to verify after a crash)."""

    kind: str
    ticket: Ticket
    decision: Decision | None  # None for set_aside (no decision on unreadable input)
    reference: str  # the customer-facing reference, e.g. SUP-000042 ("" when none was given)
    marker: str  # identifies this action's effect on the server; the same on every retry
    note: str = ""  # the private note's text (write_back/note), or the reason (set_aside, flag, quarantine)
    ack: Ack | None = None  # for acknowledge
    duplicate_of: str = ""  # for duplicate: the reference of the ticket this copy belongs to


@dataclass(frozen=True)
class Observation:
    """How a ticket deskbot acted on looks at its source now: what the team made of it (learning from agents).

    Sources report these from what they read anyway (a helpdesk's incremental pages, an IMAP folder scan);
    bot/learning compares them with the decision and records corrections and confirmations.
    """

    source: str
    key: str  # the ticket's key for helpdesks ("zendesk:acme:123"); "" for mail, found by `message_id`
    departments: tuple[tuple[str, str], ...]  # (channel, department) the team's signals, strongest first
    priority: str | None  # the team's priority in deskbot's terms (None: the source does not say)
    solved: bool  # solved or closed (IMAP: answered): unchanged values then confirm deskbot's decision
    at: datetime | None  # when the source last changed the ticket
    channel: str = ""  # of the priority signal and of a confirmation
    message_id: str = ""
    answered_at: datetime | None = None  # the first answer, where the source says


class Source(Protocol):
    """An inbound system: an IMAP folder, a helpdesk account. Used as a context manager per cycle."""

    name: str  # e.g. "imap:support", "zendesk:acme": unique in a config, the store's name for it

    def __enter__(self) -> Source:
        """Connect and log in (raise TransientError / PermanentError / ConfigError)."""
        ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Disconnect; never raises."""
        ...

    def check(self) -> str:
        """Log in and look at what the config names (folders, groups); say what was found in one line."""
        ...

    def fetch_new(self, cursor: str | None) -> Iterator[RawItem]:
        """Items after `cursor` (None: first contact), oldest first; changes nothing on the server."""
        ...

    def parse(self, item: RawItem) -> Ticket:
        """Translate the native item into a Ticket; raise BadInputError when it cannot be read."""
        ...

    def plan(self, decision: Decision) -> tuple[str, ...]:
        """The action kinds this decision needs here, in the order they must run."""
        ...

    def perform(self, action: Action) -> str:
        """Cause one action's effect; return what was done, for the log. Safe to call again after verify."""
        ...

    def verify(self, action: Action) -> bool | None:
        """After a crash: is this action's effect already there (True), surely not (False), or unknown (None)?"""
        ...


class BatchSource(Source, Protocol):
    """A source that reads and acts on many items at once (IMAP: one command per UID set); the pipeline uses
    it when a source has `fetch_batches`, else the per-item methods above."""

    batch_kinds: tuple[str, ...]  # the action kinds `perform_batch` can cause for many items at once

    def fetch_batches(self, cursor: str | None) -> Iterator[list[RawItem]]:
        """`fetch_new`, a batch at a time."""
        ...

    def perform_batch(self, kind: str, actions: list[Action]) -> list[str | Exception]:
        """Cause `kind` for every action; one result each: what was done, or that item's own error."""
        ...


class Mailer(Protocol):
    """Sends mail; nothing else."""

    def send(self, message: EmailMessage | Wire) -> None:
        """Send one message (an EmailMessage, or one in its wire form) or raise TransientError / PermanentError."""
        ...

    def close(self) -> None:
        """Close any open connection; never raises."""
        ...
