"""`deskbot purge --older-than SPAN [--bodies-only] [--dry-run]` on a real SQLite file (and once on PostgreSQL):
old finished tickets go with every row hanging off them, tickets with work left stay, and the bytes leave the disk."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.cli import main
from bot.decide import decide
from bot.log.feedback import Correction, ShadowDecision
from bot.log.purge import purge_older
from bot.log.schema import ActionLog, Event, Suppression, TicketLog
from bot.log.store import Store
from bot.rules import load_rules
from tests.postgres import PostgresServer
from tests.rulebase import PREDICTION, TICKET
from tests.test_postgres import postgres  # noqa: F401 - the throwaway cluster fixture

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=400)
SECRET = "zebra-ledger-4711"  # what the customer wrote: it must leave the file, not only the rows


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def record(store: Store, name: str, *, status: str = "done", pending: bool = False,
           kinds: tuple[str, ...] = ()) -> int:
    """A ticket recorded at the store's clock, carrying the customer's text, left in `status`."""
    mail = replace(TICKET, key=f"k-{name}", ref=name, message_id=f"<{name}@example.org>",
                   subject=f"{name}: {SECRET}", body=f"my account {SECRET} was charged twice",
                   attachments=((f"{SECRET}.pdf", "application/pdf", 1234),), received_at=store.now())
    row = store.record_decision(mail, PREDICTION, decide(mail, PREDICTION, load_rules(None), now=store.now()),
                                kinds=kinds, cursor=None)
    assert row.id is not None
    store.update_ticket(row.id, status=status, pending=pending)
    return row.id


def feedback(store: Store, ticket_id: int, key: str) -> None:
    """A correction, a shadow decision and an event hanging off a ticket."""
    at = store.now()
    with store.session() as session:
        session.add(Correction(ticket_id=ticket_id, source="imap:support", at=at, recorded_at=at))
        session.add(ShadowDecision(key=key, at=at))
        session.add(Event(at=at, source="imap:support", ticket_id=ticket_id, message=f"about {SECRET}"))
        session.commit()


@pytest.fixture
def log(tmp_path: Path) -> tuple[Store, Clock, dict[str, int]]:
    """A decision log with old tickets (finished, pending, in the outbox, quarantined) and a recent one."""
    clock = Clock(OLD)
    store = Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}", clock=clock)
    ids = {"old": record(store, "old"), "pending": record(store, "pending", status="decided", pending=True,
                                                          kinds=("acknowledge",)),
           "outbox": record(store, "outbox", status="outbox", pending=True),
           "quarantined": record(store, "quarantined", status="quarantined", pending=True)}
    feedback(store, ids["old"], "k-old")
    store.add_event("imap:support", "login refused for ann@example.org")  # a source-wide event, as old
    with store.session() as session:
        session.add(Suppression(address="bounced@example.org", until=OLD + timedelta(days=1), reason="5.1.1"))
        session.add(Suppression(address="recent@example.org", until=NOW + timedelta(days=1), reason="5.1.1"))
        session.commit()
    clock.at = NOW - timedelta(days=10)
    ids["recent"] = record(store, "recent")
    clock.at = NOW
    return store, clock, ids


def tickets(store: Store) -> dict[str, TicketLog]:
    with Session(store.engine) as session:
        return {row.ref: row for row in session.exec(select(TicketLog))}


def count(store: Store, table: type) -> int:
    with Session(store.engine) as session:
        return len(list(session.exec(select(table))))


def on_disk(path: Path) -> bytes:
    """The database file and its WAL, as bytes."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_old_finished_tickets_go_with_all_their_rows_and_those_with_work_left_stay(log, tmp_path: Path) -> None:
    store, _, ids = log

    done = purge_older(store, timedelta(days=365))

    assert set(tickets(store)) == {"pending", "outbox", "quarantined", "recent"}
    assert (done.tickets, done.corrections, done.shadow_decisions, done.suppressions) == (1, 1, 1, 1)
    assert done.kept == {"decided": 1, "outbox": 1, "quarantined": 1}
    assert count(store, Correction) == count(store, ShadowDecision) == 0
    with Session(store.engine) as session:
        assert [e.message for e in session.exec(select(Event))] == []
        assert [s.address for s in session.exec(select(Suppression))] == ["recent@example.org"]
        assert [a.ticket_id for a in session.exec(select(ActionLog))] == [ids["pending"]]


def test_the_purged_text_leaves_the_file_not_only_the_rows(log, tmp_path: Path) -> None:
    store, _, _ = log
    for name in ("pending", "outbox", "quarantined", "recent"):  # only the old finished ticket carries the secret
        store.update_ticket(tickets(store)[name].id, subject="", body="", text="", attachments="[]", headers="[]")
    store.add_event("imap:support", "nothing personal")  # a write after the secret's rows were freed
    path = tmp_path / "log.sqlite3"
    assert SECRET.encode() in on_disk(path)

    done = purge_older(store, timedelta(days=365))

    assert "VACUUM" in done.compacted
    assert SECRET.encode() not in on_disk(path)


def test_bodies_only_blanks_what_the_customer_wrote_and_keeps_the_decision(log) -> None:
    store, _, ids = log
    before = tickets(store)["old"]

    done = purge_older(store, timedelta(days=365), bodies_only=True)

    after = tickets(store)["old"]
    assert done.tickets == 1 and set(tickets(store)) == {"old", "pending", "outbox", "quarantined", "recent"}
    assert (after.subject, after.body, after.text, after.headers, after.top_terms) == ("", "", "", "[]", "[]")
    assert json.loads(after.attachments) == [["", "application/pdf", 1234]]
    kept = ("department", "priority", "tags", "sla_due", "created_at", "sender", "message_id", "reference")
    assert all(getattr(after, name) == getattr(before, name) for name in kept)
    assert count(store, Correction) == 1 and tickets(store)["pending"].body != ""
    assert purge_older(store, timedelta(days=365), bodies_only=True).tickets == 0  # nothing left to blank


def test_dry_run_counts_and_changes_nothing(log, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, _, _ = log
    db = tmp_path / "log.sqlite3"
    spell = datetime.now(timezone.utc) - NOW  # the command's clock is the real one
    span = f"{(spell + timedelta(days=365)).days}d"

    assert main(["purge", "--db", str(db), "--older-than", span, "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "would remove 1 ticket(s)" in out and "1 correction(s)" in out
    assert "kept 3 older ticket(s) with work left (1 decided, 1 outbox, 1 quarantined)" in out
    assert len(tickets(store)) == 5
    assert main(["purge", "--db", str(db), "--older-than", span]) == 0
    assert "remove 1 ticket(s)" in capsys.readouterr().out and len(tickets(store)) == 4


def test_a_span_that_is_not_a_duration_and_bodies_only_without_a_span_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "log.sqlite3")
    with pytest.raises(SystemExit) as exit_:
        main(["purge", "--db", db, "--older-than", "a year"])
    assert exit_.value.code == 2 and "give e.g. 90s, 15m, 2h, 365d or 12w" in capsys.readouterr().err
    assert main(["purge", "--db", db, "--dry-runs", "--bodies-only"]) == 1
    assert "--bodies-only goes with --older-than" in capsys.readouterr().err


def test_purge_on_postgresql_removes_old_tickets_keeps_pending_ones_and_vacuums(postgres: PostgresServer) -> None:
    clock = Clock(OLD)
    store = Store.open(postgres.new_database(), clock=clock)
    try:
        old = record(store, "old")
        feedback(store, old, "k-old")
        record(store, "pending", status="decided", pending=True, kinds=("acknowledge",))
        clock.at = NOW

        dry = purge_older(store, timedelta(days=365), dry_run=True)
        assert (dry.tickets, dry.corrections, dry.events, len(tickets(store))) == (1, 1, 1, 2)
        done = purge_older(store, timedelta(days=365))

        assert set(tickets(store)) == {"pending"} and done.kept == {"decided": 1}
        assert count(store, Correction) == count(store, ShadowDecision) == count(store, Event) == 0
        assert done.compacted.startswith("VACUUM ran")
    finally:
        store.engine.dispose()
