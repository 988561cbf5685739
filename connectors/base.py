"""The contracts between the pipeline and the systems it reads from and writes to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from bot.models import Decision, Ticket


@dataclass(frozen=True)
class RawItem:
    """One ticket as its source holds it, before parsing.

    `cursor` is the source's position once this item is finished: the pipeline saves it
    only when every earlier item is finished too, so nothing is skipped after a crash.
    """

    ref: str
    data: bytes
    cursor: str
    received_at: datetime | None = None
    problem: str = ""  # set when the source could not even read the item (e.g. too large)


class Source(Protocol):
    """An inbound system: an IMAP folder, a helpdesk."""

    name: str

    def fetch_new(self, cursor: str | None) -> Iterator[RawItem]:
        """Items after `cursor` (None: first contact), oldest first; changes nothing on the server."""
        ...

    def parse(self, item: RawItem) -> Ticket:
        """Translate the native item into a Ticket; raise BadInputError when it cannot be read."""
        ...

    def write_back(self, ticket: Ticket, decision: Decision) -> str:
        """Show the decision where agents work (tags, keywords, group, priority); returns what was done."""
        ...

    def mark_processed(self, ticket: Ticket, decision: Decision) -> str:
        """Mark the item done and file it (e.g. move it to the department's folder); returns what was done."""
        ...

    def set_aside(self, ref: str, reason: str) -> str:
        """Flag an item deskbot cannot read, for a person; returns what was done."""
        ...


class Mailer(Protocol):
    """Sends mail; nothing else."""

    def send(self, message: EmailMessage) -> None:
        """Send one message or raise TransientError / PermanentError."""
        ...
