"""Acting on a recorded ticket: each action in flight before its side effect, verified after a crash.

The store marks an action in flight in the commit that finishes the one before it; the source
causes the effect; the store records the outcome. An action found in flight when work resumes may
or may not have happened: the source looks (`verify`) before doing it again, and where it cannot
tell, the action is done again with the same marker (an acknowledgement keeps its Message-ID, so a
receiver can drop the copy) and the log says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.ack.message import build_ack, decision_note
from bot.errors import (
    SYSTEMIC,
    AuthError,
    DeskbotError,
    GoneError,
    Impossible,
    PermanentError,
    SendLater,
)
from bot.log import recall
from bot.log.records import as_utc, load_decision, row_ticket
from bot.log.schema import ActionLog, TicketLog
from bot.models import Decision, Ticket
from bot.ops.metrics import count_action
from bot.outbox import Waiting, wait
from bot.triage import Outcome, Triage
from connectors.base import ACKNOWLEDGE, FLAG_FAILED, QUARANTINE, UNFLAG, Action, Source

log = logging.getLogger(__name__)
UNSURE = "the effect of an interrupted attempt could not be checked; done again with the same marker"


def act(row: TicketLog, source: Source, triage: Triage) -> Outcome:
    """Run every unfinished action of `row` in order; permanent failures flag the ticket, the rest go on.

    An acknowledgement the mail server cannot take now waits in the outbox (the ticket's `retry_at`) while
    the mail is still written back and filed.
    """
    assert row.id is not None
    store = triage.store
    todo = [a for a in store.actions(row.id) if a.state in ("pending", "inflight", "outbox")]
    todo.sort(key=lambda a: a.kind != UNFLAG)  # after `deskbot retry`: unflag before the mail is filed away
    subject = subject_of(row, triage)
    final = row.status if row.status in ("unreadable", "duplicate", "failed", "quarantined") else "done"
    failed: list[str] = []
    waiting: Waiting | None = None
    marked = False  # the commit that finished the previous action already marked this one in flight
    for index, action in enumerate(todo):
        after = todo[index + 1] if index + 1 < len(todo) else None
        following = after.id if after is not None and after.state == "pending" else None
        state, detail, extra, late = attempt(action, row, subject, source, triage, marked=marked)
        waiting = late or waiting
        counted = state == "failed" and action.kind not in (FLAG_FAILED, QUARANTINE)
        closing = after is None and state not in ("gone", "outbox") and not counted and not failed and not waiting
        store.step(action.id, state, detail, then=following, action_update=extra,
                   ticket_update={"id": row.id, "status": final, "pending": False, "retry_at": None}
                   if closing else None)
        count_action(triage, source.name, action.kind, state, row)
        marked = following is not None
        if state == "gone":
            store.update_ticket(row.id, status="gone", pending=False, error=detail)
            log.warning("%s %s: %s", source.name, describe(row), detail)
            return Outcome(row.ref, "gone", row.id, detail)
        if counted:
            failed.append(f"{action.kind}: {detail}")
    if not todo:
        store.update_ticket(row.id, status=final, pending=False)
    return conclude(row, subject, source, triage, failed=failed, waiting=waiting, final=final)


def conclude(row: TicketLog, subject: Subject, source: Source, triage: Triage, *, failed: list[str],
             waiting: Waiting | None, final: str) -> Outcome:
    """After the last action: flag a permanent failure for a person, park an acknowledgement in the outbox."""
    assert row.id is not None
    if failed:
        outcome = _fail(row, subject, source, triage, "; ".join(failed))
        if waiting is not None:  # the acknowledgement still goes out once the server takes it
            triage.store.update_ticket(row.id, pending=True, retry_at=waiting.retry_at)
        return outcome
    if waiting is not None:
        status = row.status if row.status in ("failed", "duplicate") else "outbox"
        triage.store.update_ticket(row.id, status=status, pending=True, retry_at=waiting.retry_at)
        return Outcome(row.ref, "outbox", row.id, waiting.detail)
    return Outcome(row.ref, final, row.id)


def attempt(action: ActionLog, row: TicketLog, subject: Subject, source: Source, triage: Triage, *,
            marked: bool = False, request: Action | None = None,
            perform: Callable[[Action], str] | None = None) -> tuple[str, str, dict[str, object], Waiting | None]:
    """One action run (see `_run`), an acknowledgement the mail server cannot take now turned into its outbox
    state: (state, detail, fields of the action to set, the wait when it went to the outbox)."""
    try:
        state, detail = _run(action, row, subject, source, triage, marked=marked, request=request, perform=perform)
    except SendLater as exc:
        late = wait(str(exc), outage=exc.outage, now=triage.store.now(), refusals=action.attempts + 1,
                    refused_since=as_utc(action.refused_since) if action.refused_since else None)
        log.log(logging.INFO if exc.outage else logging.WARNING, "%s %s: acknowledgement %s", source.name,
                describe(row), late.detail)
        return late.state, late.detail, {"refused_since": late.refused_since}, late if late.state == "outbox" else None
    return state, detail, {}, None


def describe(row: TicketLog) -> str:
    """A ticket as a log line names it: its reference, sender and subject, and where it came from."""
    who = f"{row.reference or '-'} from {row.sender or '?'}"
    return f"{row.ref} {who} {row.subject[:60]!r}" if row.subject else f"{row.ref} {who}"


def _run(action: ActionLog, row: TicketLog, subject: Subject, source: Source, triage: Triage, *,
         marked: bool = False, request: Action | None = None,
         perform: Callable[[Action], str] | None = None) -> tuple[str, str]:
    """One action: skip, verify, perform; returns (state, detail). Systemic and transient errors propagate.

    `marked`: this action was put in flight a moment ago by this very run (not found so after a crash), so
    there is nothing to check first and nothing more to record before its side effect. A batch passes the
    `request` it built and, where it already caused the effect for many tickets at once, `perform` that
    returns (or raises) this ticket's share of it.
    """
    assert action.id is not None
    if action.kind == ACKNOWLEDGE and row.ack_template is None:
        return "skipped", row.ack_skip_reason or "no acknowledgement"
    request = request or build_action(action, row, subject, triage)
    note = ""
    if action.state == "inflight" and not marked:
        found = source.verify(request)
        if found:
            return "done", "found done on the server after an interruption"
        note = f" ({UNSURE})" if found is None else ""
        if found is None:
            log.warning("%s %s: %s: %s", source.name, describe(row), action.kind, UNSURE)
    elif not marked:
        triage.store.start(action.id)
    try:
        return "done", (perform or source.perform)(request) + note
    except GoneError as exc:
        return "gone", str(exc)
    except Impossible as exc:
        log.warning("%s %s: %s impossible: %s", source.name, describe(row), action.kind, exc)
        return "skipped", f"impossible: {exc}"
    except (AuthError, SendLater):
        raise
    except PermanentError as exc:
        log.warning("%s %s: %s failed for good: %s", source.name, describe(row), action.kind, exc)
        hours = triage.rules.acknowledgement.suppress_after_bounce_hours
        if action.kind == ACKNOWLEDGE and getattr(exc, "bounced", False) and row.ack_to and hours:
            recall.suppress(triage.store, row.ack_to, hours=hours, reason=f"the server refused it for good: {exc}")
        return "failed", str(exc)
    except DeskbotError as exc:
        if not exc.maybe_done:  # the server said no: nothing to check before the next try
            triage.store.step(action.id, "pending", f"not done yet: {exc}")
        raise


@dataclass(frozen=True)
class Subject:
    """What every action of one ticket is about, read from its row once per `act()`."""

    ticket: Ticket
    decision: Decision | None
    reference: str  # its own, or for a reply in a known thread the reference of that thread's ticket
    duplicate_of: str  # for a second copy: the reference (or id) of the ticket it copies


def subject_of(row: TicketLog, triage: Triage) -> Subject:
    """Rebuild the ticket and its decision from the row, and look up the tickets it points at."""
    reference = row.reference or ""
    if not reference and row.follow_up_of is not None:  # a reply in a known thread is shown under its ticket
        original = triage.store.get(row.follow_up_of)
        reference = (original.reference or "") if original else ""
    duplicate_of = ""
    if row.duplicate_of is not None:
        original = triage.store.get(row.duplicate_of)
        duplicate_of = (original.reference or str(original.id)) if original else str(row.duplicate_of)
    return Subject(row_ticket(row), load_decision(row) if row.department else None, reference, duplicate_of)


def build_action(action: ActionLog, row: TicketLog, subject: Subject, triage: Triage) -> Action:
    """What the source needs to cause (or look for) one action's effect."""
    decision, reference = subject.decision, subject.reference
    marker = action.marker or (row.ack_message_id if action.kind == ACKNOWLEDGE else
                               f"deskbot:{reference or row.id}:{action.kind}")
    ack = None
    if action.kind == ACKNOWLEDGE and decision is not None:
        ack = build_ack(subject.ticket, decision, reference=reference, message_id=row.ack_message_id,
                        rules=triage.rules, from_address=triage.from_address, renderer=triage.renderer,
                        now=triage.store.clock())
    note = row.error if action.kind not in ("write_back", "note") else (
        decision_note(row, triage.calendar.zone) if decision else "")
    return Action(kind=action.kind, ticket=subject.ticket, decision=decision, reference=reference, marker=marker,
                  note=note, ack=ack, duplicate_of=subject.duplicate_of)


def _fail(row: TicketLog, subject: Subject, source: Source, triage: Triage, reason: str) -> Outcome:
    """A permanent failure: recorded with the reason, logged at WARNING, flagged on the server for a person."""
    assert row.id is not None
    store = triage.store
    store.update_ticket(row.id, status="failed", error=reason[:2000], retry_at=None)
    store.add_event(source.name, f"{row.reference or row.ref}: {reason}", ticket_id=row.id)
    log.warning("%s %s: failed, flagged for a person: %s", source.name, describe(row), reason)
    _flag(row, subject, source, triage, FLAG_FAILED)
    return Outcome(row.ref, "failed", row.id, reason)


def quarantine(row: TicketLog, source: Source, triage: Triage) -> Outcome:
    """A ticket that keeps failing: flagged and parked so it cannot block the source (`deskbot retry` re-queues it)."""
    assert row.id is not None
    reason = f"quarantined after {row.attempts} failed attempts; last error: {row.error}"
    triage.store.add_event(source.name, f"{row.reference or row.ref}: {reason}", ticket_id=row.id)
    log.warning("%s %s: %s", source.name, describe(row), reason)
    if _flag(row, subject_of(row, triage), source, triage, QUARANTINE):
        triage.store.update_ticket(row.id, status="quarantined", pending=False)
    return Outcome(row.ref, "quarantined", row.id, reason)


def _flag(row: TicketLog, subject: Subject, source: Source, triage: Triage, kind: str) -> bool:
    """Perform one flagging action (recorded like any other); False when it must be tried again later."""
    assert row.id is not None
    store = triage.store
    action = next((a for a in store.actions(row.id) if a.kind == kind and a.state in ("pending", "inflight")), None)
    action = action or store.add_action(row.id, kind)
    assert action.id is not None
    try:
        state, detail = _run(action, row, subject, source, triage)
    except SYSTEMIC:
        raise
    except DeskbotError as exc:
        log.warning("%s %s: could not flag it yet (%s); will try again", source.name, describe(row), exc)
        return False
    store.step(action.id, state, detail, ticket_update={"id": row.id, "flagged": state == "done",
                                                         "pending": False})
    count_action(triage, source.name, action.kind, state, row)
    return True
