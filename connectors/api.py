"""Tickets posted to the HTTP API, as a source: recorded like any other, acknowledged by mail.

One source per API client (`api:<token name>`), so the store's exactly-once machinery applies
unchanged: a ticket's key is `api:<token name>:<external_id>` (a retried POST finds its first
record), its one action is the acknowledgement through the configured [smtp] server, recorded in
flight before it is sent; a crash in between is resent with the same Message-ID. Nothing is read
from a server: `fetch_new` yields nothing, and a cycle of this source only resumes unfinished work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from types import TracebackType

from bot.errors import BadInputError, PermanentError
from bot.models import Decision, Ticket
from classifier.text import detect_language
from connectors.base import ACKNOWLEDGE, Action, Mailer, RawItem
from connectors.mail import strip_quotes
from connectors.turn import Turn

FIELDS = ("subject", "body", "sender", "sender_name", "language", "external_id")


def raw_item(fields: dict[str, str], *, received_at: datetime) -> RawItem:
    """A posted ticket (its validated fields) as the pipeline reads items; it moves no cursor."""
    data = json.dumps({name: fields.get(name, "") for name in FIELDS}, ensure_ascii=False).encode()
    return RawItem(ref=fields["external_id"], data=data, cursor=None, received_at=received_at)


class ApiSource:
    """The tickets of one API client; shared by its requests and its resume cycle, one at a time."""

    def __init__(self, client: str, *, mailer: Mailer | None) -> None:
        self.name = f"api:{client}"
        self.mailer = mailer
        self.turn = Turn()

    def __enter__(self) -> ApiSource:
        return self.enter()

    def enter(self, *, wait: float | None = None) -> ApiSource:
        """`with source:` that gives up after `wait` seconds while another thread is in it."""
        self.turn.take(self.name, wait)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.mailer is not None:
            self.mailer.close()
        self.turn.give()

    def check(self) -> str:
        """What this source does."""
        return f"{self.name}: " + ("acknowledgements by mail" if self.mailer else "no [smtp]: no acknowledgements")

    def fetch_new(self, cursor: str | None) -> Iterator[RawItem]:
        """Nothing: API tickets are pushed, one request each."""
        return iter(())

    def parse(self, item: RawItem) -> Ticket:
        """The posted fields as a Ticket; the classifier reads the body without quoted replies."""
        try:
            data = json.loads(item.data)
            fields = {name: str(data.get(name) or "") for name in FIELDS}
        except (ValueError, AttributeError) as exc:
            raise BadInputError(f"not an API ticket: {exc}") from None
        if not fields["external_id"] or "@" not in fields["sender"]:
            raise BadInputError("an API ticket needs an external_id and a sender address")
        text = strip_quotes(fields["body"])
        language = fields["language"] or detect_language(f"{fields['subject']}\n{text}")
        return Ticket(source=self.name, key=f"{self.name}:{fields['external_id']}", ref=fields["external_id"],
                      sender=fields["sender"].lower(), sender_name=fields["sender_name"], subject=fields["subject"],
                      body=fields["body"], text=text, language=language, received_at=item.received_at)

    def plan(self, decision: Decision) -> tuple[str, ...]:
        """The acknowledgement by mail, when an [smtp] server is configured; nothing else happens anywhere."""
        return (ACKNOWLEDGE,) if self.mailer is not None else ()

    def perform(self, action: Action) -> str:
        """Send the acknowledgement; flagging has no server to flag on (the decision log shows it)."""
        if action.kind != ACKNOWLEDGE:
            return "recorded in the decision log (an API ticket has no server to flag it on)"
        if self.mailer is None or action.ack is None or action.ack.wire is None:
            raise PermanentError("no acknowledgement could be sent: no [smtp] server, or nothing rendered")
        self.mailer.send(action.ack.wire)
        return f"sent {action.ack.message_id} to {action.ack.to}"

    def verify(self, action: Action) -> bool | None:
        """No mailbox to look in: an acknowledgement interrupted in flight is sent again with its Message-ID."""
        return None
