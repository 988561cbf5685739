"""Data protection: removing (or blanking) what customers wrote once it is older than the span an admin keeps.

Every table that holds a customer's data is covered: `ticket` (the mail, its sender and the decision),
`action` (what was done, with addresses in its details), `event` (warnings naming tickets), `correction`
and `shadow_decision` (hang off a ticket), and `suppression` (bounced addresses, once expired longer ago
than the span). `cursor`, `counter`, `source_state` and `instance` hold no personal data.

A ticket with work left (pending, in the outbox, an action not finished, failed or quarantined awaiting
`deskbot retry`) is never touched, however old: removing it would lose a customer's mail.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, delete, func, or_, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from bot.log.feedback import Correction, ShadowDecision
from bot.log.records import as_utc
from bot.log.schema import ActionLog, Event, Suppression, TicketLog
from bot.log.store import Store

log = logging.getLogger(__name__)

OPEN_ACTIONS = ("pending", "inflight", "outbox")
UNFINISHED_STATES = ("received", "decided", "outbox")
# --bodies-only: what the customer wrote (and the words the model picked from it); the sender, the times,
# the Message-IDs (threads, duplicates) and the whole decision stay for statistics.
BLANKED = {"subject": "", "body": "", "text": "", "headers": "[]", "meta": "[]", "top_terms": "[]"}
NAMELESS = '[["", '  # json.dumps of attachments whose names _blank() removed (all at once, so the first tells)
TABLES = ("ticket", "action", "event", "correction", "shadow_decision", "suppression")


@dataclass
class Purged:
    """What a purge removed or blanked (or, in a dry run, would), and the old tickets it had to keep."""

    cutoff: datetime
    bodies_only: bool
    tickets: int = 0
    actions: int = 0
    events: int = 0
    corrections: int = 0
    shadow_decisions: int = 0
    suppressions: int = 0
    kept: dict[str, int] = field(default_factory=dict)  # status -> old tickets kept because work is left
    compacted: str = ""  # how the freed space was given back (VACUUM), or why not


def _unfinished() -> object:
    """A ticket still has work: pending (failed and quarantined ones too), in the outbox, or an action not finished."""
    open_action = select(ActionLog.id).where(col(ActionLog.ticket_id) == TicketLog.id,
                                             col(ActionLog.state).in_(OPEN_ACTIONS)).exists()
    work = or_(col(TicketLog.pending).is_(True), col(TicketLog.status).in_(UNFINISHED_STATES), open_action)
    return and_(col(TicketLog.dry_run).is_(False), work)  # a dry run's record was never meant to be acted on


def _old(cutoff: datetime) -> object:
    return col(TicketLog.created_at) < as_utc(cutoff)


def _doomed(cutoff: datetime, *, bodies_only: bool) -> Select:  # type: ignore[type-arg]
    """The ids of the old, finished tickets; with `bodies_only`, only those with text left to blank."""
    query = select(TicketLog.id).where(_old(cutoff), ~_unfinished())  # type: ignore[operator]
    if bodies_only:
        named = and_(col(TicketLog.attachments) != "[]", ~col(TicketLog.attachments).startswith(NAMELESS))
        query = query.where(or_(*(col(getattr(TicketLog, name)) != empty for name, empty in BLANKED.items()), named))
    return query


def _count(session: Session, query: Select) -> int:  # type: ignore[type-arg]
    return int(session.exec(select(func.count()).select_from(query.subquery())).one())  # type: ignore[call-overload]


def purge_older(store: Store, older_than: timedelta, *, bodies_only: bool = False, dry_run: bool = False) -> Purged:
    """Remove (or blank) the finished tickets recorded before now - `older_than`, in one transaction."""
    cutoff = store.now() - older_than
    done = Purged(cutoff=cutoff, bodies_only=bodies_only)
    with store.session() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.connection().exec_driver_sql("PRAGMA secure_delete=ON")  # freed cells are zeroed at once
        done.kept = dict(session.exec(select(TicketLog.status, func.count()).where(  # type: ignore[call-overload]
            _old(cutoff), _unfinished()).group_by(TicketLog.status)).all())
        doomed = _doomed(cutoff, bodies_only=bodies_only)
        done.tickets = _count(session, doomed)
        if bodies_only:
            _blank(session, doomed, dry_run=dry_run)
        else:
            _remove(session, done, doomed, cutoff, dry_run=dry_run)
        if not dry_run:
            session.commit()
    if not dry_run and (done.tickets or done.suppressions or done.events):
        done.compacted = compact(store)
    return done


def _remove(session: Session, done: Purged, doomed: Select, cutoff: datetime, *,  # type: ignore[type-arg]
            dry_run: bool) -> None:
    """Delete the tickets and every row hanging off them; expired suppressions and old source-wide events."""
    ids = doomed.scalar_subquery()
    keys = select(TicketLog.key).where(col(TicketLog.id).in_(ids)).scalar_subquery()
    targets = {
        "actions": (ActionLog, col(ActionLog.ticket_id).in_(ids)),
        "corrections": (Correction, col(Correction.ticket_id).in_(ids)),
        "shadow_decisions": (ShadowDecision, col(ShadowDecision.key).in_(keys)),
        "events": (Event, or_(col(Event.ticket_id).in_(ids),
                              (col(Event.ticket_id).is_(None)) & (col(Event.at) < as_utc(cutoff)))),
        "suppressions": (Suppression, col(Suppression.until) < as_utc(cutoff)),
    }
    for name, (table, where) in targets.items():
        setattr(done, name, _count(session, select(table).where(where)))
        if not dry_run:
            session.exec(delete(table).where(where))  # type: ignore[call-overload]
    if not dry_run:  # last: the rows above find the tickets through these ids
        session.exec(delete(TicketLog).where(col(TicketLog.id).in_(ids)))  # type: ignore[call-overload]


def _blank(session: Session, doomed: Select, *, dry_run: bool) -> None:  # type: ignore[type-arg]
    """Blank the customer's text of the tickets; attachments keep their type and size, not their name."""
    if dry_run:
        return
    rows = session.exec(select(TicketLog.id, TicketLog.attachments).where(  # type: ignore[call-overload]
        col(TicketLog.id).in_(doomed.scalar_subquery()), col(TicketLog.attachments) != "[]")).all()
    for ticket_id, attachments in rows:
        nameless = json.dumps([["", *entry[1:]] for entry in json.loads(attachments or "[]")])
        session.exec(update(TicketLog).where(col(TicketLog.id) == ticket_id)  # type: ignore[call-overload]
                     .values(attachments=nameless))
    session.exec(update(TicketLog).where(col(TicketLog.id).in_(doomed.scalar_subquery()))  # type: ignore[call-overload]
                 .values(**BLANKED))


def compact(store: Store) -> str:
    """Give the freed space back so the purged bytes leave the disk: SQLite VACUUM (and the WAL emptied);
    on PostgreSQL a plain VACUUM (VACUUM FULL would lock out the running daemons: left to the admin)."""
    engine = store.engine
    dialect = engine.dialect.name
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if dialect == "sqlite":
                connection.exec_driver_sql("VACUUM")
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
                if busy and busy[0]:  # a running daemon was reading: its WAL is emptied at a later checkpoint
                    return ("the database file was rewritten (VACUUM); its write-ahead log still holds old pages "
                            "until the running daemon's next checkpoint")
                return "the database file was rewritten (VACUUM): the removed data is gone from the disk"
            connection.exec_driver_sql("VACUUM (ANALYZE) " + ", ".join(f'"{name}"' for name in TABLES))
            return ("VACUUM ran: the space is reused; to rewrite the files now, run VACUUM FULL in a quiet hour "
                    "(it locks the tables against the daemons)")
    except DBAPIError as exc:
        log.warning("purge: VACUUM failed: %s", exc.orig)
        return f"VACUUM failed ({exc.orig}): the removed rows' bytes stay in the file until it runs"


def count_dry_runs(store: Store) -> int:
    """How many records `run --dry-run` left (what `purge --dry-runs` would remove)."""
    with store.session() as session:
        return _count(session, select(TicketLog.id).where(col(TicketLog.dry_run).is_(True)))


def describe(done: Purged, *, dry_run: bool) -> list[str]:
    """What an admin reads after `deskbot purge --older-than`."""
    verb = "would" if dry_run else "did"
    when = as_utc(done.cutoff).strftime("%Y-%m-%d %H:%M UTC")
    if done.bodies_only:
        lines = [f"{verb} blank the text of {done.tickets} ticket(s) recorded before {when} (subject, body, "
                 "headers, attachment names, top terms); their decisions stay"]
    else:
        lines = [f"{verb} remove {done.tickets} ticket(s) recorded before {when}, with {done.actions} action(s), "
                 f"{done.events} event(s), {done.corrections} correction(s), {done.shadow_decisions} shadow "
                 f"decision(s) and {done.suppressions} expired suppression(s)"]
    if done.kept:
        states = ", ".join(f"{n} {status}" for status, n in sorted(done.kept.items()))
        lines.append(f"kept {sum(done.kept.values())} older ticket(s) with work left ({states}): finish them "
                     "(`deskbot retry`) or close them (`deskbot retry --give-up REF`), then purge again")
    if done.compacted:
        lines.append(done.compacted)
    return lines
