"""Acting on a recorded ticket: each action in flight before its side effect, verified after a crash.

The store marks an action in flight in the commit that finishes the one before it; the source
causes the effect; the store records the outcome. An action found in flight when work resumes may
or may not have happened: the source looks (`verify`) before doing it again, and where it cannot
tell, the action is done again with the same marker (an acknowledgement keeps its Message-ID, so a
receiver can drop the copy) and the log says so.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import recall
from bot.ack import build_ack, decision_note
from bot.errors import (
    AuthError,
    ConfigError,
    DeskbotError,
    GoneError,
    Impossible,
    PermanentError,
    ServiceUnavailable,
)
from bot.records import load_decision, row_ticket
from bot.schema import ActionLog, TicketLog
from connectors.base import ACKNOWLEDGE, FLAG_FAILED, QUARANTINE, Action, Source

if TYPE_CHECKING:
    from bot.pipeline import Outcome, Triage

log = logging.getLogger(__name__)
UNSURE = "the effect of an interrupted attempt could not be checked; done again with the same marker"


def act(row: TicketLog, source: Source, triage: Triage) -> Outcome:
    """Run every unfinished action of `row` in order; permanent failures flag the ticket, the rest go on."""
    from bot.pipeline import Outcome

    assert row.id is not None
    store = triage.store
    todo = [a for a in store.actions(row.id) if a.state in ("pending", "inflight")]
    todo.sort(key=lambda a: a.kind != "unflag")  # after `deskbot retry`: unflag before the mail is filed away
    failed: list[str] = []
    for index, action in enumerate(todo):
        following = todo[index + 1].id if index + 1 < len(todo) and todo[index + 1].state == "pending" else None
        state, detail = _run(action, row, source, triage)
        store.step(action.id, state, detail, then=following)
        if state == "gone":
            store.update_ticket(row.id, status="gone", pending=False, error=detail)
            log.warning("%s %s %s: %s", source.name, row.ref, row.reference or "", detail)
            return Outcome(row.ref, "gone", row.id, detail)
        if state == "failed" and action.kind not in (FLAG_FAILED, QUARANTINE):
            failed.append(f"{action.kind}: {detail}")
    if failed:
        return _fail(row, source, triage, "; ".join(failed))
    final = row.status if row.status in ("unreadable", "duplicate", "failed", "quarantined") else "done"
    store.update_ticket(row.id, status=final, pending=False)
    return Outcome(row.ref, final, row.id)


def _run(action: ActionLog, row: TicketLog, source: Source, triage: Triage) -> tuple[str, str]:
    """One action: skip, verify, perform; returns (state, detail). Systemic and transient errors propagate."""
    assert action.id is not None
    if action.kind == ACKNOWLEDGE and row.ack_template is None:
        return "skipped", row.ack_skip_reason or "no acknowledgement"
    request = build_action(action, row, triage)
    note = ""
    if action.state == "inflight":
        found = source.verify(request)
        if found:
            return "done", "found done on the server after an interruption"
        note = f" ({UNSURE})" if found is None else ""
        if found is None:
            log.warning("%s %s %s: %s: %s", source.name, row.ref, row.reference or "", action.kind, UNSURE)
    else:
        triage.store.start(action.id)
    try:
        return "done", source.perform(request) + note
    except GoneError as exc:
        return "gone", str(exc)
    except Impossible as exc:
        log.warning("%s %s %s: %s impossible: %s", source.name, row.ref, row.reference or "", action.kind, exc)
        return "skipped", f"impossible: {exc}"
    except AuthError:
        raise
    except PermanentError as exc:
        log.warning("%s %s %s: %s failed for good: %s", source.name, row.ref, row.reference or "", action.kind, exc)
        hours = triage.rules.acknowledgement.suppress_after_bounce_hours
        if action.kind == ACKNOWLEDGE and getattr(exc, "bounced", False) and row.ack_to and hours:
            recall.suppress(triage.store, row.ack_to, hours=hours, reason=f"the server refused it for good: {exc}")
        return "failed", str(exc)
    except DeskbotError as exc:
        if not exc.maybe_done:  # the server said no: nothing to check before the next try
            triage.store.step(action.id, "pending", f"not done yet: {exc}")
        raise


def build_action(action: ActionLog, row: TicketLog, triage: Triage) -> Action:
    """What the source needs to cause (or look for) one action's effect."""
    decision = load_decision(row) if row.department else None
    ticket = row_ticket(row)
    reference = row.reference or ""
    if not reference and row.follow_up_of is not None:  # a reply in a known thread is shown under its ticket
        original = triage.store.get(row.follow_up_of)
        reference = (original.reference or "") if original else ""
    marker = action.marker or (row.ack_message_id if action.kind == ACKNOWLEDGE else
                               f"deskbot:{reference or row.id}:{action.kind}")
    ack = None
    if action.kind == ACKNOWLEDGE and decision is not None:
        ack = build_ack(ticket, decision, reference=reference, message_id=row.ack_message_id, rules=triage.rules,
                        from_address=triage.from_address, renderer=triage.renderer, now=triage.store.clock())
    note = row.error if action.kind not in ("write_back", "note") else (
        decision_note(row, triage.calendar.zone) if decision else "")
    duplicate_of = ""
    if row.duplicate_of is not None:
        original = triage.store.get(row.duplicate_of)
        duplicate_of = (original.reference or str(original.id)) if original else str(row.duplicate_of)
    return Action(kind=action.kind, ticket=ticket, decision=decision, reference=reference, marker=marker,
                  note=note, ack=ack, duplicate_of=duplicate_of)


def _fail(row: TicketLog, source: Source, triage: Triage, reason: str) -> Outcome:
    """A permanent failure: recorded with the reason, logged at WARNING, flagged on the server for a person."""
    from bot.pipeline import Outcome

    assert row.id is not None
    store = triage.store
    store.update_ticket(row.id, status="failed", error=reason[:2000])
    store.add_event(source.name, f"{row.reference or row.ref}: {reason}", ticket_id=row.id)
    log.warning("%s %s %s: failed, flagged for a person: %s", source.name, row.ref, row.reference or "", reason)
    _flag(row, source, triage, FLAG_FAILED, reason)
    return Outcome(row.ref, "failed", row.id, reason)


def quarantine(row: TicketLog, source: Source, triage: Triage) -> Outcome:
    """A ticket that keeps failing: flagged and parked so it cannot block the source (`deskbot retry` re-queues it)."""
    from bot.pipeline import Outcome

    assert row.id is not None
    reason = f"quarantined after {row.attempts} failed attempts; last error: {row.error}"
    triage.store.add_event(source.name, f"{row.reference or row.ref}: {reason}", ticket_id=row.id)
    log.warning("%s %s %s: %s", source.name, row.ref, row.reference or "", reason)
    if _flag(row, source, triage, QUARANTINE, reason):
        triage.store.update_ticket(row.id, status="quarantined", pending=False)
    return Outcome(row.ref, "quarantined", row.id, reason)


def _flag(row: TicketLog, source: Source, triage: Triage, kind: str, reason: str) -> bool:
    """Perform one flagging action (recorded like any other); False when it must be tried again later."""
    assert row.id is not None
    store = triage.store
    action = next((a for a in store.actions(row.id) if a.kind == kind and a.state in ("pending", "inflight")), None)
    action = action or store.add_action(row.id, kind)
    assert action.id is not None
    try:
        state, detail = _run(action, row, source, triage)
    except (ServiceUnavailable, ConfigError, AuthError):
        raise
    except DeskbotError as exc:
        log.warning("%s %s: could not flag it yet (%s); will try again", source.name, row.ref, exc)
        return False
    store.step(action.id, state, detail, ticket_update={"id": row.id, "flagged": state == "done",
                                                         "pending": False})
    return True
