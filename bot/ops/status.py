"""What the daemon tells the decision log about its sources and itself, and what `deskbot status` reads back.

Per source: when it was last polled and last polled successfully, the backlog found, recent
errors, when it runs next, and which instance holds its lease. Per daemon: a heartbeat. Nothing
here needs a server password: `status` reads only the database.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.log.records import as_utc
from bot.log.schema import ActionLog, Counter, Event, Instance, SourceState, TicketLog
from bot.log.store import Store

LEASE = timedelta(minutes=5)  # a dead instance's sources are taken over after this


def instance_id() -> str:
    """host:pid: which daemon holds a lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _state(session: object, source: str) -> SourceState:
    row = session.get(SourceState, source)  # type: ignore[attr-defined]
    return row or SourceState(source=source, last_error="", lease_owner="")


def is_dead(owner: str) -> bool:
    """A holder on this host whose process is gone (killed, crashed) holds nothing any more."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim(store: Store, source: str, owner: str) -> str:
    """Take or renew `source`'s lease for `owner`; returns '' or the other holder's name (then skip the cycle).

    On PostgreSQL the row is read FOR UPDATE, so two instances claiming at once take turns instead of both
    winning; the first claim ever may race on the insert, and the loser reads the winner's row.
    """
    try:
        return _claim(store, source, owner)
    except IntegrityError:  # another instance inserted the row first: now it is there to lock
        return _claim(store, source, owner)


def _claim(store: Store, source: str, owner: str) -> str:
    now = store.now()
    with store.session() as session:
        found = session.exec(select(SourceState).where(SourceState.source == source).with_for_update()).first()
        row = found or SourceState(source=source, last_error="", lease_owner="")
        held = row.lease_owner and row.lease_owner != owner and row.lease_until and as_utc(row.lease_until) > now
        if held and not is_dead(row.lease_owner):
            return row.lease_owner
        row.lease_owner, row.lease_until = owner, now + LEASE
        session.add(row)
        session.commit()
    return ""


def release(store: Store, source: str, owner: str) -> None:
    """Give the lease back at a clean stop, so another instance need not wait for it to expire."""
    with store.session() as session:
        row = session.get(SourceState, source)
        if row is not None and row.lease_owner == owner:
            row.lease_owner, row.lease_until = "", None
            session.add(row)
            session.commit()


def poll_finished(store: Store, source: str, *, error: str, backlog: int | None, next_run: datetime | None) -> None:
    """Record how a cycle of `source` went."""
    now = store.now()
    with store.session() as session:
        row = _state(session, source)
        row.last_poll_at, row.backlog, row.next_run_at = now, backlog, next_run
        if error:
            row.last_error, row.last_error_at = error[:2000], now
            session.add(Event(at=now, source=source, level="ERROR", message=error[:2000]))
        else:
            row.last_success_at = now
        session.add(row)
        session.commit()


def needs_seed(store: Store, source: str) -> bool:
    """True until the reference sequence has been raised above what `source`'s server shows."""
    with store.session() as session:
        row = session.get(SourceState, source)
        return row is None or not row.reference_seeded


def seed_references(store: Store, source: str, highest: int, *, start: int = 1) -> None:
    """Raise the reference sequence to at least `highest` (found on the server) and to `start` - 1 (the rules'
    reference_start), never lower it. Instances starting together on PostgreSQL may race on the first insert of
    the source's row: the loser seeds again on the winner's row."""
    try:
        _seed_references(store, source, highest, start)
    except IntegrityError:
        _seed_references(store, source, highest, start)


def _seed_references(store: Store, source: str, highest: int, start: int) -> None:
    with store.session() as session:
        counter = session.get(Counter, "reference") or Counter(name="reference", value=0)
        counter.value = max(counter.value, highest, start - 1)
        row = _state(session, source)
        row.reference_seeded = True
        session.add(counter)
        session.add(row)
        session.commit()


def heartbeat(store: Store, owner: str, *, started: datetime) -> None:
    """Say this daemon is alive (for `deskbot status`)."""
    now = store.now()
    with store.session() as session:
        row = session.get(Instance, owner) or Instance(owner=owner, pid=os.getpid(), host=socket.gethostname(),
                                                       started_at=started, heartbeat_at=now)
        row.heartbeat_at = now
        session.add(row)
        session.commit()


def stopped(store: Store, owner: str) -> None:
    """A clean stop removes the daemon's heartbeat row."""
    with store.session() as session:
        row = session.get(Instance, owner)
        if row is not None:
            session.delete(row)
            session.commit()


@dataclass(frozen=True)
class SourceSummary:
    """One source as `deskbot status` shows it."""

    source: str
    state: SourceState | None
    counts: dict[str, int]  # ticket status -> number, for pending/failed/quarantined/unreadable
    inflight: int
    recent_errors: list[Event]


def summarize(store: Store, sources: list[str]) -> tuple[list[SourceSummary], list[Instance]]:
    """Every configured source (and any other the log knows) with its counts, plus the running daemons."""
    with store.session() as session:
        known = set(sources) | {s.source for s in session.exec(select(SourceState))}
        out = []
        for source in [*sources, *sorted(known - set(sources))]:
            counts = dict(session.exec(
                select(TicketLog.status, func.count()).where(TicketLog.source == source, TicketLog.dry_run == False)  # noqa: E712
                .group_by(TicketLog.status)).all())
            pending = session.exec(select(func.count()).select_from(TicketLog).where(
                TicketLog.source == source, TicketLog.pending == True,  # noqa: E712
                col(TicketLog.status).not_in(("quarantined", "outbox")))).one()
            inflight = session.exec(select(func.count()).select_from(ActionLog).join(TicketLog).where(
                TicketLog.source == source, ActionLog.state == "inflight")).one()
            errors = list(session.exec(select(Event).where(Event.source == source)
                                       .order_by(col(Event.id).desc()).limit(5)))
            out.append(SourceSummary(source, session.get(SourceState, source), {**counts, "pending": pending},
                                     inflight, errors))
        instances = list(session.exec(select(Instance)))
    return out, instances
