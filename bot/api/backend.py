"""What the HTTP routes work through: the same model, pipeline, store and source objects as the daemon.

A posted ticket and a webhook's ticket go through `pipeline.handle_item` like every polled item, each
inside its source (`with source:`), which a scheduled cycle of the same source object waits for:
a request never acts beside a cycle. A request waits at most `wait` seconds for its source, then
gets 503 with Retry-After (a helpdesk retries its webhook, and polling stays the safety net).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from bot.config.file import Config
from bot.errors import DeskbotError, ServiceUnavailable
from bot.log.history import Filters, search
from bot.log.schema import ActionLog, TicketLog
from bot.models import Prediction
from bot.ops import status
from bot.pipeline import handle_item
from bot.triage import Outcome, Triage
from classifier.text import ticket_text
from connectors.api import ApiSource, raw_item
from connectors.base import RawItem, Source
from connectors.smtp import SmtpMailer

log = logging.getLogger(__name__)
WAIT_SECONDS = 10.0  # Zendesk gives a webhook about 12 s before it counts as failed


class PushSource(Source, Protocol):
    """A helpdesk source a webhook can name a ticket of."""

    def enter(self, *, wait: float | None = None) -> PushSource:
        """`with source:` with a bounded wait."""
        ...

    def fetch_one(self, ticket_id: int) -> RawItem | None:
        """One ticket by id, or None when it is out of scope."""
        ...


@dataclass
class Backend:
    """The daemon's parts the API serves: triage (model, rules, log), API clients' and helpdesks' sources."""

    triage: Triage
    clients: dict[str, ApiSource] = field(default_factory=dict)  # token name -> its source (api:<name>)
    desks: dict[str, PushSource] = field(default_factory=dict)  # "zendesk:acme" -> the polled source object
    secrets: dict[str, str] = field(default_factory=dict)  # "zendesk:acme" -> its webhook secret
    wait: float = WAIT_SECONDS

    def predict_many(self, texts: Sequence[tuple[str, str]]) -> list[Prediction]:
        """Many predictions in one model call (when the model can), in order."""
        joined = [ticket_text(subject, body) for subject, body in texts]
        many = getattr(self.triage.classifier, "predict_many", None)
        return list(many(joined)) if many else [self.triage.classifier.predict(t) for t in joined]

    def submit(self, client: str, fields: dict[str, str]) -> tuple[TicketLog, bool]:
        """Triage and record a posted ticket (once per external_id); returns its row and whether it is new."""
        source = self.clients[client]
        external_id = fields.get("external_id") or uuid.uuid4().hex
        key = f"{source.name}:{external_id}"
        known = self.triage.store.find_key(key)
        if known is not None:  # a retry: the first decision, nothing sent again
            return known, False
        item = raw_item({**fields, "external_id": external_id}, received_at=self.triage.store.now())
        outcome: Outcome | None = None
        try:
            with self._entered(source):
                outcome = handle_item(item, source, self.triage)
        except DeskbotError as exc:  # recorded already? then acting resumes at its source's next cycle
            if self.triage.store.find_key(key) is None:
                raise
            log.warning("%s %s: recorded; acting resumes at the next cycle: %s", source.name, external_id, exc)
        row = self.triage.store.find_key(key) or (self._row(outcome.ticket_id) if outcome else None)
        if row is None:
            raise ServiceUnavailable(f"{source.name} {external_id}: not recorded ({outcome and outcome.status})")
        return row, outcome is None or outcome.status != "already-recorded"

    def push(self, name: str, ticket_id: int) -> tuple[Outcome | None, TicketLog | None]:
        """Triage one helpdesk ticket a webhook names, through the polled source object; None: out of scope."""
        source = self.desks[name]
        with self._entered(source):
            item = source.fetch_one(ticket_id)
            outcome = handle_item(item, source, self.triage) if item is not None else None
        return outcome, self._row(outcome.ticket_id) if outcome else None

    def find(self, client: str, ident: str) -> tuple[TicketLog, list[ActionLog]] | None:
        """A ticket this client posted, by id or reference, with its actions."""
        found = search(self.triage.store, Filters(reference=ident), limit=1) if ident.strip() else []
        if not found or found[0].source != f"api:{client}" or found[0].id is None:
            return None
        return found[0], self.triage.store.actions(found[0].id)

    def actions(self, row: TicketLog) -> list[ActionLog]:
        """The actions of a recorded row."""
        return self.triage.store.actions(row.id) if row.id is not None else []

    def _row(self, ticket_id: int | None) -> TicketLog | None:
        return self.triage.store.get(ticket_id) if ticket_id is not None else None

    @contextmanager
    def _entered(self, source: ApiSource | PushSource) -> Iterator[None]:
        """Inside the source for one request: its turn (bounded wait), and its lease on a shared database."""
        source.enter(wait=self.wait)
        try:
            holder = status.claim(self.triage.store, source.name, self.triage.owner) if self.triage.owner else ""
            if holder:
                raise ServiceUnavailable(f"instance {holder} works on {source.name}; its cycle handles the ticket")
            yield
        finally:
            source.__exit__(None, None, None)


def build_backend(config: Config, triage: Triage, sources: Sequence[Source]) -> Backend:
    """The Backend of a config: a source per client that may post tickets, the helpdesk sources webhooks reach."""
    api = config.api
    assert api is not None
    clients = {t.name: ApiSource(t.name, mailer=SmtpMailer(config.smtp) if config.smtp else None)
               for t in api.tokens if "tickets" in t.scopes}
    secrets = {f"{kind}:{t.name}": t.webhook_secret for kind in ("zendesk", "freshdesk") for t in getattr(config, kind)}
    desks: dict[str, PushSource] = {s.name: s for s in sources if hasattr(s, "fetch_one")}  # type: ignore[misc]
    return Backend(triage, clients=clients, desks=desks, secrets=secrets)
