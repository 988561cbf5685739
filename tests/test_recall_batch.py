"""The decision log's answers for judging, asked once for a whole fetched batch (bot/log/recall.py, bot/batch.py
`Recall`), on a real SQLite file: the same answers as asked mail by mail, also after a mail of the same batch
was recorded in between."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.batch import Recall
from bot.decide import decide
from bot.log import recall
from bot.log.batch import Decided
from bot.log.store import Store
from bot.models import Ticket
from bot.rules import load_rules
from tests.rulebase import PREDICTION, TICKET

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def mail(name: str, *, sender: str = "", references: tuple[str, ...] = (), subject: str = "") -> Ticket:
    """A customer mail with its own key and Message-ID."""
    return replace(TICKET, key=f"k-{name}", ref=name, message_id=f"<{name}@example.org>", references=references,
                   sender=sender or f"{name}@example.org", reply_to="", subject=subject or f"About {name}")


def record(store: Store, ticket: Ticket, *, ack: bool = True, dry_run: bool = False,
           follow_up_of: int | None = None) -> int:
    """Record `ticket` as decided at the store's clock, acknowledged (or not) to its sender."""
    decision = decide(ticket, PREDICTION, load_rules(None), now=store.now())
    decision = replace(decision, ack_template="ack" if ack else None, ack_to=ticket.sender if ack else "",
                       follow_up_of=follow_up_of, kind="ticket")
    row = store.record_decision(ticket, PREDICTION, decision, kinds=(), cursor=None, dry_run=dry_run,
                                ack_message_id=f"<ack.{ticket.ref}@deskbot.example>")
    assert row.id is not None
    return row.id


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW - timedelta(days=3))


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    """A log with acknowledgements to a@ three days, twenty hours and ten minutes ago, a dry run to b@, a thread of
    three mails, and suppressions of c@ (lasting) and d@ (over)."""
    store = Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}", clock=clock)
    record(store, mail("a1", sender="a@example.org"))
    clock.at = NOW - timedelta(hours=20)
    record(store, mail("a2", sender="a@example.org"))
    record(store, mail("b1", sender="b@example.org"), dry_run=True)
    recall.suppress(store, "d@example.org", hours=1, reason="bounced")
    first = record(store, mail("t1"))
    second = record(store, mail("t2", references=("<t1@example.org>",)), ack=False, follow_up_of=first)
    record(store, mail("t3", references=("<t1@example.org>", "<t2@example.org>")), ack=False, follow_up_of=second)
    clock.at = NOW - timedelta(minutes=10)
    record(store, mail("a3", sender="a@example.org"))
    recall.suppress(store, "c@example.org", hours=48, reason="bounced")
    clock.at = NOW
    return store


ADDRESSES = ["a@example.org", "b@example.org", "c@example.org", "d@example.org", "nobody@example.org"]
LOOKUPS = [((), ()), (("<t1@example.org>",), ()), (("<t2@example.org>",), ("SUP-000001",)),
           (("<t3@example.org>", "<x@example.org>"), ()), (("<ack.t1@deskbot.example>",), ()),
           (("<ack.a3@deskbot.example>", "<t2@example.org>"), ()), (("<unknown@example.org>",), ()),
           (("<unknown@example.org>",), ("SUP-000002", "SUP-000099")), ((), ("SUP-000004",)), ((), ("SUP-000099",))]


def test_recipients_asked_at_once_are_those_asked_one_by_one(store: Store, clock: Clock) -> None:
    at_once = recall.recipients(store, ADDRESSES)
    assert at_once == {a: recall.recipient(store, a) for a in ADDRESSES}
    assert (at_once["a@example.org"].acks_last_hour, at_once["a@example.org"].acks_last_day) == (1, 2)
    assert at_once["c@example.org"].suppressed and not at_once["d@example.org"].suppressed


def test_priors_and_known_keys_asked_at_once_are_those_asked_one_by_one(store: Store) -> None:
    at_once = recall.priors(store, LOOKUPS)
    assert at_once == [recall.find_prior(store, ids, refs) for ids, refs in LOOKUPS]
    assert at_once[3] is not None, "a follow-up of a follow-up leads to the first ticket"
    assert at_once[7] is not None and at_once[8] is not None and at_once[9] is None, "by a quoted reference"
    keys = ["k-a1", "k-b1", "k-t3", "k-none"]
    assert recall.known_keys(store, keys) == {k for k in keys if store.find_key(k) is not None}


def test_an_answer_a_mail_of_the_same_batch_changed_is_asked_again(store: Store) -> None:
    """Mail 1 and 2 come from the same customer, mail 3 replies to mail 1, mail 4 is a second copy of mail 1:
    once mail 1 is recorded (its chunk sent to the log), the later ones see it, as when handled one by one."""
    first = mail("n1", sender="e@example.org")
    later = [mail("n2", sender="e@example.org"), mail("n3", references=("<n1@example.org>",)),
             replace(mail("n4"), key="k-n1")]
    memory = Recall(store, [first, *later], "SUP")
    before = memory.recipient("e@example.org"), memory.find_prior(later[1].references, ()), memory.is_known("k-n1")
    assert before == (recall.recipient(store, "e@example.org"), None, False)

    decision = replace(decide(first, PREDICTION, load_rules(None), now=store.now()), ack_to="e@example.org")
    memory.judged(first, Decided(first, PREDICTION, decision, (), "<ack.n1@deskbot.example>"))
    record(store, first)

    assert memory.recipient("e@example.org") == recall.recipient(store, "e@example.org")
    assert memory.recipient("e@example.org").acks_last_hour == 1
    prior = memory.find_prior(later[1].references, ())
    assert prior is not None and prior == recall.find_prior(store, later[1].references)
    assert memory.is_known("k-n1")


def test_a_bounce_makes_the_addresses_it_names_asked_again(store: Store) -> None:
    """A delivery report suppresses the addresses it names once recorded: later mails from them see that."""
    customer = mail("f1", sender="f@example.org")
    bounce = replace(mail("dsn"), meta=(("failed_recipients", "f@example.org"),))
    memory = Recall(store, [bounce, customer], "SUP")
    assert not memory.recipient("f@example.org").suppressed
    memory.judged(bounce, None)
    recall.suppress(store, "f@example.org", hours=24, reason="bounced")
    assert memory.recipient("f@example.org").suppressed


def test_a_reference_given_out_after_the_batch_was_read_is_found(store: Store) -> None:
    """A mail quoting a reference that a ticket recorded since received (only a made-up test can do that, but
    the answer must still be the one asked mail by mail)."""
    first = mail("g1")
    number = recall.references_given(store) + 1
    quoting = mail("g2", subject=f"About SUP-{number:06d}")
    memory = Recall(store, [first, quoting], "SUP")
    assert memory.find_prior((), (f"SUP-{number:06d}",)) is None
    memory.judged(first, None)
    record(store, first)
    prior = memory.find_prior((), (f"SUP-{number:06d}",))
    assert prior is not None and prior == recall.find_prior(store, (), (f"SUP-{number:06d}",))
