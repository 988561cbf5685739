"""One cycle of one source: resume unfinished tickets, then read, judge, record and act on new items.

Errors are caught here, once per ticket (Mailman's runner), and kept apart all the way:
- input that cannot be parsed is recorded as unreadable and flagged on the server (bad input);
- an error of this ticket's own while judging or acting (a bug, a 5xx on its update, an SMTP 4xx
  for its recipient) leaves it pending and counts an attempt; at `max_attempts` it is quarantined;
- a permanent failure of an action fails that action, flags the ticket for a person, and the other
  actions still run;
- trouble of the server or of our configuration (ServiceUnavailable, AuthError, ConfigError) stops
  the source's cycle without blaming any ticket: the next cycle resumes exactly where this one stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from time import monotonic

from bot.acting import act, describe, quarantine
from bot.acting_batch import STOPPED, act_batch
from bot.batch import Chunk, foreseeing, judge_fresh, predictions, read_ahead
from bot.errors import (
    SYSTEMIC,
    AuthError,
    BadInputError,
    ConfigError,
    DeskbotError,
    ModelError,
    ServiceUnavailable,
    TransientError,
)
from bot.judge import for_source, judge, new_ack_id, note_bounce
from bot.log.batch import Decided, record_decisions
from bot.log.records import as_utc, load_decision, row_ticket
from bot.log.schema import TicketLog
from bot.log.store import KeyTaken
from bot.models import Ticket
from bot.ops import login, metrics, status
from bot.triage import Outcome, SourceReport, Triage
from connectors.base import DUPLICATE, SET_ASIDE, RawItem, Source
from connectors.mail import raw_key
from connectors.meanwhile import Meanwhile

log = logging.getLogger(__name__)
# A ticket that failed on its own (a helpdesk's 5xx on its update, a bug) waits before its next try, so the
# default three attempts span about half an hour before it is quarantined. A temporary SMTP refusal is not
# counted here: the acknowledgement waits in the outbox on its own schedule (bot/outbox.py).
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))


NEVER = threading.Event()  # a stop flag nobody sets


def error_kind(exc: BaseException) -> str:
    """The metrics' name for what failed a cycle: an alert on a refused login wants other hands than a
    server that is down for a minute."""
    kinds: tuple[tuple[type[BaseException], str], ...] = (
        (AuthError, "auth"), (TransientError, "unavailable"), (ConfigError, "config"), (ModelError, "model"),
        (DeskbotError, "refused"))
    return next((kind for cls, kind in kinds if isinstance(exc, cls)), "internal")


def run_source(source: Source, triage: Triage, *, stop: threading.Event = NEVER,
               next_run: datetime | None = None) -> SourceReport:
    """One cycle of one source; its failure is reported, never raised to the other sources."""
    report, started = SourceReport(source.name), monotonic()
    holder = status.claim(triage.store, source.name, triage.owner) if triage.owner else ""
    if holder:
        report.error = f"skipped: instance {holder} works on this source (its lease lapses after 5 minutes)"
        log.warning("%s: %s", source.name, report.error)
        return report
    backlog, said = None, False
    refused = "" if triage.dry_run else login.waiting(triage.store, source.name)
    if refused:  # a refused login is not tried at every poll: servers lock such accounts
        report.error, report.error_kind = refused, "auth"
        log.debug("%s: %s", source.name, report.error)
        metrics.count_cycle(triage, report, None)  # still an error each poll: the source is not being read
        return report
    try:
        with source:
            if not triage.dry_run:
                seed_references(source, triage)
                _resume(source, triage, report, stop)
            if not report.stopped:
                batched = getattr(source, "fetch_batches", None) and not triage.dry_run
                (_read_batches if batched else _read_new)(source, triage, report, stop)
            backlog = getattr(source, "backlog", None)
        if not triage.dry_run:
            login.accepted(triage.store, source.name)
    except AuthError as exc:  # said once per change, not at every try
        report.error, new = login.refused(triage.store, source, str(exc)) if not triage.dry_run else (str(exc), True)
        report.error_kind = error_kind(exc)
        if new:
            log.error("%s: %s", source.name, report.error)
        said = True
    except DeskbotError as exc:
        report.error, report.error_kind = str(exc), error_kind(exc)
        log.error("%s: %s", source.name, exc)
    except Exception as exc:  # noqa: BLE001 - a bug in one source's cycle must not stop the daemon
        report.error, report.error_kind = f"{type(exc).__name__}: {exc}", error_kind(exc)
        log.exception("%s: unexpected error", source.name)
    if not triage.dry_run:
        remaining = None if backlog is None else max(backlog - report.read, 0)
        status.poll_finished(triage.store, source.name, error=report.error, backlog=remaining, next_run=next_run)
    metrics.count_cycle(triage, report, monotonic() - started)
    if report.outcomes or (report.error and not said):  # quiet when idle: a poll that found nothing says so only at DEBUG
        waiting = any(o.status == "outbox" for o in report.outcomes)  # the mail server is down or says "later"
        log.log(logging.WARNING if report.error or waiting else logging.INFO, "%s: %s", source.name, report.summary())
    else:
        log.debug("%s: nothing new", source.name)
    return report


def seed_references(source: Source, triage: Triage) -> None:
    """Once per start of deskbot (the source entered), raise the reference sequence above every reference the
    server already shows, and to the rules' reference_start: a decision log restored from an older copy
    never gives a reference out twice."""
    if source.name in triage.seeded:
        return
    find = getattr(source, "highest_reference", None)
    highest = find(triage.rules.acknowledgement.reference_prefix) if find else 0
    status.seed_references(triage.store, source.name, highest,
                           start=triage.rules.acknowledgement.reference_start)
    triage.seeded.add(source.name)
    if highest:
        log.info("%s: references continue after %s-%06d found on the server", source.name,
                 triage.rules.acknowledgement.reference_prefix, highest)


def _resume(source: Source, triage: Triage, report: SourceReport, stop: threading.Event) -> None:
    """Finish what earlier cycles left: pending actions, in-flight ones, tickets not yet decided."""
    renewed, now = monotonic(), triage.store.now()
    for row in triage.store.unfinished(source.name):
        if stop.is_set():
            report.stopped = True
            return
        if not is_due(row, now):
            continue
        renewed = _renew_lease(source, triage, renewed)
        report.outcomes.append(_guarded(row, source, triage, lambda r=row: _resume_one(r, source, triage)))


def is_due(row: TicketLog, now: datetime) -> bool:
    """A ticket that failed on its own is retried after a pause that grows with its attempts; one whose
    acknowledgement waits in the outbox, at its `retry_at`."""
    if row.retry_at is not None:
        return now >= as_utc(row.retry_at)
    if row.attempts == 0 or row.updated_at is None:
        return True
    return now >= as_utc(row.updated_at) + RETRY_AFTER[min(row.attempts, len(RETRY_AFTER)) - 1]


def _resume_one(row: TicketLog, source: Source, triage: Triage) -> Outcome:
    assert row.id is not None
    if row.attempts >= triage.max_attempts:
        return quarantine(row, source, triage)
    if row.status == "received":  # the model or the rules failed on it before: decide now
        prediction, decision = judge(row_ticket(row), triage)
        decision = for_source(decision, source, row_ticket(row))
        row = triage.store.record_late_decision(row.id, prediction, decision, kinds=source.plan(decision),
                                                ack_message_id=new_ack_id(triage))
        metrics.count_decision(triage, source.name, decision)
    return act(row, source, triage)


def _read_new(source: Source, triage: Triage, report: SourceReport, stop: threading.Event) -> None:
    """New items after the cursor; each is recorded (with the cursor) before the next is read."""
    store, seen = triage.store, None
    renewed = monotonic()
    for item in source.fetch_new(store.get_cursor(source.name)):
        if stop.is_set():
            report.stopped = True
            break
        renewed = _renew_lease(source, triage, renewed)
        outcome = handle_item(item, source, triage)
        report.outcomes.append(outcome)
        report.read += 1
        seen = item.cursor if outcome.status == "already-recorded" else None
    if seen is not None and not triage.dry_run:
        store.save_cursor(source.name, seen)
    # Issue 17: a helpdesk poll that read only out-of-scope tickets still moves the saved cursor on.
    read_to = getattr(source, "read_to", None)
    if not report.read and not report.stopped and read_to and not triage.dry_run:
        store.save_cursor(source.name, read_to)


def _read_batches(source: Source, triage: Triage, report: SourceReport, stop: threading.Event) -> None:
    """New items a batch at a time: judged one by one, recorded together, acted on together (bot/batch.py).

    An item the batch cannot take (unreadable, a known key, a model that fails on it) is handled on its own
    at once, without its cursor: the chunk's commit saves the cursor past everything before it."""
    meanwhile: Meanwhile | None = getattr(source, "meanwhile", None)
    try:
        seen = _judge_batches(source, triage, report, stop, meanwhile)
    finally:
        if meanwhile is not None:
            meanwhile.clear()  # a batch fetched ahead is read again by the next cycle
    if seen is not None:
        triage.store.save_cursor(source.name, seen)


def _judge_batches(source: Source, triage: Triage, report: SourceReport, stop: threading.Event,
                   meanwhile: Meanwhile | None) -> str | None:
    """`_read_batches`' loop; the cursor of items read past the last chunk recorded (None: nothing to save)."""
    renewed, seen = monotonic(), None
    batches = source.fetch_batches(triage.store.get_cursor(source.name))  # type: ignore[attr-defined]
    for items, tickets, foreseen in read_ahead(source, batches, meanwhile, partial(predictions, triage)):
        renewed = _renew_lease(source, triage, renewed)
        chunk = Chunk()
        ahead = foreseeing(triage, tickets, foreseen)
        for item, ticket in zip(items, tickets):
            if stop.is_set():
                report.stopped = True
                break
            if ticket is not None and chunk.depends(ticket):
                chunk = _flush(chunk, source, triage, report, stop)
            decided = judge_fresh(ticket, source, ahead) if ticket is not None else None
            if decided is not None:
                chunk.add(item, decided)
            else:
                outcome = handle_item(replace(item, cursor=None) if len(chunk) else item, source, triage)
                report.outcomes.append(outcome)
                report.read += 1
            seen = chunk.cursor = item.cursor
        if len(chunk):
            _flush(chunk, source, triage, report, stop)
            seen = None
        if report.stopped:
            break
    return seen


def _flush(chunk: Chunk, source: Source, triage: Triage, report: SourceReport, stop: threading.Event) -> Chunk:
    """Record a chunk in one transaction (its cursor with it) and act on it as a batch; a new, empty chunk."""
    if not len(chunk):
        return chunk
    try:
        rows = record_decisions(triage.store, chunk.decided, cursor=chunk.cursor)
    except KeyTaken:  # another job recorded a copy meanwhile: each ticket on its own, each with its answer
        for item, decided in zip(chunk.items, chunk.decided):
            report.outcomes.append(_record_one(item, decided, source, triage))
        report.read += len(chunk)
        return Chunk()
    for item, row, decided in zip(chunk.items, rows, chunk.decided):
        metrics.count_decision(triage, source.name, decided.decision)
        _log_decided(item, row, decided, source, triage)
    report.read += len(chunk)
    try:
        results = act_batch(rows, source, triage, stop=stop)
    except SYSTEMIC:
        raise
    except Exception:  # noqa: BLE001 - a bug in the batch: every ticket gets the per-ticket path instead
        log.exception("%s: acting on a batch failed; acting per ticket", source.name)
        results = [None] * len(rows)
    for row, result in zip(rows, results):
        if result is STOPPED:
            report.stopped = True
        elif isinstance(result, Outcome):
            report.outcomes.append(result)
        else:
            work = (lambda r=row: act(r, source, triage)) if result is None else _raiser(result)
            report.outcomes.append(_guarded(row, source, triage, work))
    return Chunk()


def _raiser(exc: Exception) -> Callable[[], Outcome]:
    """Work that fails with this ticket's own error, for `_guarded` to count."""
    def work() -> Outcome:
        raise exc
    return work


def _renew_lease(source: Source, triage: Triage, renewed: float) -> float:
    if not triage.owner or monotonic() - renewed < 60:
        return renewed
    holder = status.claim(triage.store, source.name, triage.owner)
    if holder:
        raise ServiceUnavailable(f"lost the lease of {source.name} to {holder}")
    return monotonic()


def handle_item(item: RawItem, source: Source, triage: Triage) -> Outcome:
    """Parse, deduplicate, judge and record one new item, then act on it.

    The unit every entry point shares: a source's cycle, and an HTTP request or webhook that brings
    one ticket at once. The source must be entered (`with source:`); systemic errors propagate.
    """
    store = triage.store
    try:
        ticket = source.parse(item)
    except BadInputError as exc:
        return _unreadable(item, source, triage, str(exc))
    except Exception as exc:  # noqa: BLE001 - a parser that crashes could not read it: set it aside, with why
        log.exception("%s %s: parser failed", source.name, item.ref)
        return _unreadable(item, source, triage, f"parser error: {type(exc).__name__}: {exc}")
    original = store.find_key(ticket.key)
    if original is not None:
        return _known(item, ticket, original, source, triage)
    try:
        prediction, decision = judge(ticket, triage)
    except SYSTEMIC:
        raise
    except Exception as exc:  # noqa: BLE001 - the model or rules failed on this ticket: keep it, decide later
        log.warning("%s %s from %s %r: cannot decide yet, will retry: %s: %s", source.name, item.ref, ticket.sender,
                    ticket.subject[:60], type(exc).__name__, exc)
        row = store.record_received(ticket, f"{type(exc).__name__}: {exc}", cursor=item.cursor)
        return Outcome(item.ref, "retry", row.id, str(exc))
    decision = for_source(decision, source, ticket)
    return _record_one(item, Decided(ticket, prediction, decision, source.plan(decision), new_ack_id(triage)),
                       source, triage)


def _record_one(item: RawItem, decided: Decided, source: Source, triage: Triage) -> Outcome:
    """Record one judged ticket (with its cursor) and act on it."""
    ticket, decision = decided.ticket, decided.decision
    try:
        row = triage.store.record_decision(ticket, decided.prediction, decision, kinds=decided.kinds,
                                           cursor=item.cursor, dry_run=triage.dry_run,
                                           ack_message_id=decided.ack_message_id)
    except KeyTaken:  # a copy in another mailbox was recorded a moment ago by another job
        return _known(item, ticket, triage.store.find_key(ticket.key), source, triage)
    metrics.count_decision(triage, source.name, decision)
    _log_decided(item, row, decided, source, triage)
    if triage.dry_run:
        return Outcome(item.ref, "dry-run", row.id)
    note_bounce(ticket, decision, triage)
    return _guarded(row, source, triage, lambda: act(row, source, triage))


def _log_decided(item: RawItem, row: TicketLog, decided: Decided, source: Source, triage: Triage) -> None:
    """One line per decision, with its reasons."""
    ticket, decision = decided.ticket, decided.decision
    log.info("%s %s %s from %s %r -> %s/%s review=%s ack=%s; %s%s", source.name, item.ref,
             row.reference or ("(dry run)" if triage.dry_run else "-"), ticket.sender, ticket.subject[:60],
             decision.department, decision.priority or "-",
             decision.needs_review, decision.ack_skip_reason or "yes", "; ".join(decision.reasons),
             f"; {len(ticket.attachments)} attachment(s)" if ticket.attachments else "")


def _known(item: RawItem, ticket: Ticket, original: TicketLog | None, source: Source, triage: Triage) -> Outcome:
    """An item whose key is recorded: the same item read again, or another copy of the same mail."""
    if original is None or (original.source == source.name and _same_ref(original.ref, ticket.ref)):
        return Outcome(item.ref, "already-recorded", original.id if original else None)
    kinds = () if triage.dry_run else (DUPLICATE,)
    row = triage.store.record_duplicate(ticket, original, kinds=kinds, cursor=item.cursor)
    log.info("%s %s from %s %r: duplicate of %s (%s %s)", source.name, item.ref, ticket.sender, ticket.subject[:60],
             original.reference or original.id, original.source, original.ref)
    if triage.dry_run:
        return Outcome(item.ref, "dry-run", row.id, "duplicate")
    return _guarded(row, source, triage, lambda: act(row, source, triage))


def _same_ref(recorded: str, current: str) -> bool:
    """Is this the recorded item read again, rather than a second copy in the same place?

    IMAP refs are UIDVALIDITY:UID: only a different UID under the *same* UIDVALIDITY is surely another
    copy; after a UIDVALIDITY change (or against a 0.1 record, a bare UID) the same content is the same mail.
    """
    old_validity, _, old_uid = recorded.rpartition(":")
    new_validity, _, new_uid = current.rpartition(":")
    if old_validity and new_validity and old_validity == new_validity:
        return old_uid == new_uid
    return True


def _unreadable(item: RawItem, source: Source, triage: Triage, reason: str) -> Outcome:
    """Record input deskbot cannot read, with the reason, and flag it on the server for a person."""
    key = item.key or (raw_key(item.data) if item.data else f"{source.name}:{item.ref}:{item.cursor}")
    store = triage.store
    if store.find_key(key) is not None:
        return Outcome(item.ref, "already-recorded")
    if triage.dry_run:
        return Outcome(item.ref, "dry-run", None, f"unreadable: {reason}")
    log.warning("%s %s: cannot be read, set aside: %s", source.name, item.ref, reason)
    try:
        row = store.record_unreadable(source.name, key, item.ref, reason, cursor=item.cursor, kinds=(SET_ASIDE,))
    except KeyTaken:
        return Outcome(item.ref, "already-recorded")
    return _guarded(row, source, triage, lambda: act(row, source, triage))


def _guarded(row: TicketLog, source: Source, triage: Triage, work: Callable[[], Outcome]) -> Outcome:
    """The per-ticket boundary: systemic trouble stops the cycle, this ticket's own failure is counted."""
    try:
        return work()
    except SYSTEMIC:
        raise
    except Exception as exc:  # noqa: BLE001 - TransientError or a bug: this ticket's own failure
        assert row.id is not None
        error = f"{type(exc).__name__}: {exc}"
        attempts = triage.store.count_failure(row.id, error)
        if not isinstance(exc, DeskbotError):
            log.exception("%s %s: failed (attempt %d of %d)", source.name, describe(row), attempts,
                          triage.max_attempts)
        else:
            log.warning("%s %s: will retry (attempt %d of %d): %s", source.name, describe(row), attempts,
                        triage.max_attempts, exc)
        if attempts >= triage.max_attempts:
            fresh = triage.store.get(row.id)
            assert fresh is not None
            return quarantine(fresh, source, triage)
        return Outcome(row.ref, "retry", row.id, error)


__all__ = ["Outcome", "SourceReport", "Triage", "handle_item", "judge", "load_decision", "run_source",
           "seed_references"]
