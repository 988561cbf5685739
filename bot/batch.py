"""A chunk of a fetched batch: new items judged one by one, then recorded together in one transaction.

Judging a mail reads the decision log (the thread it continues, how many acknowledgements its sender got
lately), so a mail is only judged into a chunk while nothing in the chunk could change its decision: a mail
of the same reply address, in the same thread, or a second copy of the same key first sends the chunk to the
log (`Chunk.depends`). Anything unusual (unreadable input, a known key, a model that fails, a bounce report)
goes the per-ticket way; the same decisions come out as when every mail is handled on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from bot.decide import reply_address
from bot.errors import SYSTEMIC
from bot.judge import for_source, judge, new_ack_id
from bot.log.batch import Decided
from bot.models import Prediction, Ticket
from bot.triage import Classifier, Triage
from classifier.text import ticket_text
from connectors.base import RawItem, Source

log = logging.getLogger(__name__)


@dataclass
class Chunk:
    """Judged items waiting to be recorded together, and what they could change in a later item's judging."""

    items: list[RawItem] = field(default_factory=list)
    decided: list[Decided] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    threads: set[str] = field(default_factory=set)
    cursor: str | None = None  # past the last item read: the chunk's items and those handled on their own

    def __len__(self) -> int:
        return len(self.items)

    def depends(self, ticket: Ticket) -> bool:
        """Would recording the chunk first change how `ticket` is judged (same sender, thread or key)?"""
        thread = {ticket.message_id, *ticket.references} - {""}
        return ticket.key in self.keys or reply_address(ticket) in self.addresses or bool(thread & self.threads)

    def add(self, item: RawItem, decided: Decided) -> None:
        """One more judged item."""
        ticket = decided.ticket
        self.items.append(item)
        self.decided.append(decided)
        self.keys.add(ticket.key)
        self.addresses.add(reply_address(ticket))
        self.threads |= {ticket.message_id, *ticket.references} - {""}


class Foreseen:
    """The classifier with the predictions of a whole batch made at once (one matrix, predict_many), handed to
    judge() one text at a time; a text not foreseen is predicted on its own. Predictions depend on the text
    only, so each is the one the per-ticket path makes."""

    def __init__(self, classifier: Classifier, texts: list[str]) -> None:
        self.classifier = classifier
        # Only a class that defines predict_many itself: a wrapper that forwards unknown attributes to a model
        # may change what predict() does (and predict_many would then bypass it).
        many = getattr(type(classifier), "predict_many", None)
        self.known: dict[str, Prediction] = dict(zip(texts, many(classifier, texts))) if many and texts else {}

    def predict(self, text: str) -> Prediction:
        """The foreseen prediction of `text`, else the classifier's."""
        found = self.known.get(text)
        return found if found is not None else self.classifier.predict(text)


def foreseeing(triage: Triage, tickets: list[Ticket | None]) -> Triage:
    """`triage` whose classifier has the batch's predictions made at once."""
    texts = list(dict.fromkeys(ticket_text(t.subject, t.text) for t in tickets if t is not None))
    return replace(triage, classifier=Foreseen(triage.classifier, texts))


def parsed(item: RawItem, source: Source) -> Ticket | None:
    """The item's ticket, or None when it cannot be read (the per-ticket path records why)."""
    try:
        return source.parse(item)
    except Exception:  # noqa: BLE001 - handle_item reads it again and sets it aside with the reason
        return None


def judge_fresh(ticket: Ticket, source: Source, triage: Triage) -> Decided | None:
    """A new ticket judged for a chunk, or None when it takes the per-ticket path (known key, bounce report,
    a model or rules that fail on it); record the chunk first when it `depends` on it."""
    if ticket.meta_value("failed_recipients") or triage.store.find_key(ticket.key):
        return None
    try:
        prediction, decision = judge(ticket, triage)
    except SYSTEMIC:
        raise
    except Exception:  # noqa: BLE001 - the per-ticket path keeps it to decide later, with the error
        return None
    decision = for_source(decision, source, ticket)
    return Decided(ticket, prediction, decision, source.plan(decision), new_ack_id(triage))
