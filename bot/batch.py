"""A chunk of a fetched batch: new items judged one by one, then recorded together in one transaction.

Judging a mail reads the decision log (the thread it continues, how many acknowledgements its sender got
lately), so a mail is only judged into a chunk while nothing in the chunk could change its decision: a mail
from an address the chunk acknowledges (only acknowledgements count towards an address's limits), in the same
thread, a second copy of the same key, or from an address a bounce report in the chunk names first sends the
chunk to the log (`Chunk.depends`). Anything unusual (unreadable input, a known
key, a model that fails) goes the per-ticket way; the same decisions come out as when every mail is handled on its own.

What the log answers for judging (the thread a mail continues, its recipient's acknowledgements, whether its
key is known) is asked once for the whole fetched batch (`Recall`); an answer a ticket judged since then
could have changed (its key, addresses or thread) is asked again, so each answer is the per-mail one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from bot.decide import reply_address
from bot.errors import SYSTEMIC
from bot.judge import for_source, judge, new_ack_id
from bot.log import recall
from bot.log.batch import Decided
from bot.log.store import Store
from bot.thread import reference_tokens
from bot.models import Prediction, PriorTicket, Recipient, Ticket
from bot.triage import Classifier, Triage
from classifier.text import ticket_text
from connectors.base import RawItem, Source
from connectors.meanwhile import Job, Meanwhile

log = logging.getLogger(__name__)


@dataclass
class Chunk:
    """Judged items waiting to be recorded together, and what they could change in a later item's judging."""

    items: list[RawItem] = field(default_factory=list)
    decided: list[Decided] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)  # where the chunk's acknowledgements go
    threads: set[str] = field(default_factory=set)
    silenced: set[str] = field(default_factory=set)  # addresses a bounce report of the chunk may suppress
    cursor: str | None = None  # past the last item read: the chunk's items and those handled on their own

    def __len__(self) -> int:
        return len(self.items)

    def depends(self, ticket: Ticket) -> bool:
        """Would recording the chunk first change how `ticket` is judged (its key, its thread, its reply address
        where the chunk sends an acknowledgement, or an address a bounce report of the chunk names)?"""
        thread = {ticket.message_id, *ticket.references} - {""}
        address = reply_address(ticket)
        return (ticket.key in self.keys or address in self.addresses or address in self.silenced
                or bool(thread & self.threads))

    def add(self, item: RawItem, decided: Decided) -> None:
        """One more judged item."""
        ticket = decided.ticket
        self.items.append(item)
        self.decided.append(decided)
        self.keys.add(ticket.key)
        if decided.decision.ack_template is not None and decided.decision.ack_to:
            self.addresses.add(decided.decision.ack_to)  # only an acknowledgement counts for a recipient's limits
        self.threads |= {ticket.message_id, *ticket.references} - {""}
        self.silenced |= {a.lower() for a in ticket.meta_value("failed_recipients").split()}


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


def _thread(message_ids: Sequence[str]) -> tuple[str, ...]:
    """A mail's thread Message-IDs, once each, as find_prior asks for them."""
    return tuple(dict.fromkeys(m for m in message_ids if m))


def _number(reference: str) -> int:
    """The sequence number in a customer reference (SUP-000042 -> 42)."""
    digits = reference.rpartition("-")[2]
    return int(digits) if digits.isdigit() else 1 << 62


class Recall:
    """The decision log's answers for a fetched batch, asked at once (bot/log/recall.py), handed to judge() mail
    by mail. Only a ticket judged since can change an answer (recorded with its chunk, or on its own): its
    key, addresses (a bounce suppresses those it names) and Message-IDs (its own, its acknowledgement's) are
    then asked of the log again."""

    def __init__(self, store: Store, tickets: list[Ticket], prefix: str) -> None:
        self.store = store
        self.known = recall.known_keys(store, [t.key for t in tickets])
        self.recipients = recall.recipients(store, [reply_address(t) for t in tickets])
        lookups = list(dict.fromkeys((_thread(t.references), reference_tokens(t, prefix)) for t in tickets))
        self.priors = dict(zip(lookups, recall.priors(store, lookups)))
        self.changed: set[str] = set()  # keys, addresses and Message-IDs whose answers may have changed
        self.numbered = recall.references_given(store)  # a reference given out later may be found later

    def is_known(self, key: str) -> bool:
        """Is `key` recorded (`Store.find_key`)?"""
        return self.store.find_key(key) is not None if key in self.changed else key in self.known

    def recipient(self, address: str) -> Recipient:
        """`recall.recipient`, from the batch's answers while they hold."""
        # No acknowledgement goes to an empty address and no bounce names one: its answer never changes.
        found = self.recipients.get(address) if not address or address not in self.changed else None
        return found if found is not None else recall.recipient(self.store, address)

    def find_prior(self, message_ids: Sequence[str], references: Sequence[str]) -> PriorTicket | None:
        """`recall.find_prior`, from the batch's answers unless a ticket judged since has a Message-ID its thread
        names, or it quotes a reference given out since the batch was read."""
        lookup = (_thread(message_ids), tuple(references))
        fresh = lookup in self.priors and not self.changed.intersection(lookup[0]) and \
            all(_number(r) <= self.numbered for r in references)
        return self.priors[lookup] if fresh else recall.find_prior(self.store, message_ids, references)

    def judged(self, ticket: Ticket, decided: Decided | None) -> None:
        """`ticket` is about to be recorded (with its chunk or on its own): what it could change is asked again."""
        self.changed |= {ticket.key, reply_address(ticket), ticket.message_id}  # a prior is found by these ids
        self.changed |= {a.lower() for a in ticket.meta_value("failed_recipients").split()}
        if decided is not None:
            self.changed |= {decided.decision.ack_to or "", decided.ack_message_id}


def predictions(triage: Triage, tickets: list[Ticket | None]) -> Foreseen:
    """The batch's predictions, made at once: they depend on the texts and the model only, so they may be made
    early (`read_ahead`), while the server works on the batch before."""
    texts = dict.fromkeys(ticket_text(t.subject, t.text) for t in tickets if t is not None)
    return Foreseen(triage.classifier, list(texts))


def foreseeing(triage: Triage, tickets: list[Ticket | None], foreseen: Foreseen | None = None) -> Triage:
    """`triage` with the batch's predictions made at once (or `foreseen` earlier) and the log's answers asked at
    once (now: what the batches before recorded counts)."""
    known = [t for t in tickets if t is not None]
    memory = Recall(triage.store, known, triage.rules.acknowledgement.reference_prefix) if known else None
    return replace(triage, classifier=foreseen or predictions(triage, tickets), memory=memory)


def parsed(item: RawItem, source: Source) -> Ticket | None:
    """The item's ticket, or None when it cannot be read (the per-ticket path records why)."""
    try:
        return source.parse(item)
    except Exception:  # noqa: BLE001 - handle_item reads it again and sets it aside with the reason
        return None


def read_ahead(source: Source, batches: Iterator[list[RawItem]], meanwhile: Meanwhile | None,
               foresee: Callable[[list[Ticket | None]], Foreseen] | None = None
               ) -> Iterator[tuple[list[RawItem], list[Ticket | None], Foreseen | None]]:
    """Each fetched batch with its items parsed (None: unreadable), and `foresee` of its tickets. With a
    `meanwhile` queue, the next batch is fetched and parsed in the time the mailer waits while this one is
    acted on, and foreseen (a long job) while the IMAP server moves this one (connectors/meanwhile.py): the same
    commands, the same tickets and errors, only earlier. The caller clears the queue when it stops."""
    if meanwhile is None:
        for items in batches:
            tickets = [parsed(item, source) for item in items]
            yield items, tickets, foresee(tickets) if foresee else None
        return

    def fetch() -> tuple[list[RawItem], list[Job[Ticket | None]], Job[Foreseen] | None] | None:
        items = next(batches, None)
        if items is None:
            return None
        jobs = [meanwhile.later(partial(parsed, i, source)) for i in items]
        ahead = meanwhile.later(lambda: foresee([job.result() for job in jobs]), long=True) if foresee else None
        return items, jobs, ahead

    upcoming = meanwhile.later(fetch)
    while (batch := upcoming.result()) is not None:
        items, jobs, ahead = batch
        tickets = [job.result() for job in jobs]
        upcoming = meanwhile.later(fetch)
        yield items, tickets, ahead.result() if ahead else None


def judge_fresh(ticket: Ticket, source: Source, triage: Triage) -> Decided | None:
    """A new ticket judged for a chunk, or None when it takes the per-ticket path (a known key, a model or rules
    that fail on it); record the chunk first when it `depends` on it. A bounce report's suppressions are noted
    when its chunk is acted on (bot/acting_batch.py), before anything after it is judged."""
    memory = triage.memory if isinstance(triage.memory, Recall) else None
    decided = None
    try:
        if memory.is_known(ticket.key) if memory else triage.store.find_key(ticket.key) is not None:
            return None
        try:
            prediction, decision = judge(ticket, triage)
        except SYSTEMIC:
            raise
        except Exception:  # noqa: BLE001 - the per-ticket path keeps it to decide later, with the error
            return None
        decision = for_source(decision, source, ticket)
        decided = Decided(ticket, prediction, decision, source.plan(decision), new_ack_id(triage))
        return decided
    finally:
        if memory is not None:
            memory.judged(ticket, decided)
