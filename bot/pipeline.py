"""One triage cycle: for each new item, parse -> predict -> decide -> record -> act.

Errors are caught here and only here, once per ticket (like Mailman's runner): unreadable
input is recorded and set aside, a transient failure leaves the item to be resumed next
cycle, a permanent one is recorded for a person, and the loop always goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.ack import AckRenderer, build_ack
from bot.decide import decide
from bot.errors import BadInputError, PermanentError, TransientError
from bot.models import Decision, Prediction, Ticket
from bot.rules import RuleSet
from bot.sla import BusinessHours
from bot.store import Store, TicketLog, load_decision
from connectors.base import Mailer, RawItem, Source
from classifier.text import ticket_text
from connectors.mail import raw_key

log = logging.getLogger(__name__)


class Classifier(Protocol):
    """Anything that predicts department and priority from text."""

    def predict(self, text: str) -> Prediction:
        """Predict one text."""
        ...


@dataclass
class Triage:
    """Everything one cycle needs, passed in (no globals): rules, model, store, mailer, clock."""

    classifier: Classifier
    rules: RuleSet
    calendar: BusinessHours
    store: Store
    renderer: AckRenderer
    clock: Callable[[], datetime]
    mailer: Mailer | None = None
    from_address: str = ""
    dry_run: bool = False
    own_addresses: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Outcome:
    """What happened to one item in one cycle."""

    ref: str
    status: str  # done | already-processed | skipped | retry | failed | dry-run
    ticket_id: int | None = None
    detail: str = ""


def run_cycle(source: Source, triage: Triage) -> list[Outcome]:
    """Handle every new item of `source`; save the cursor only past finished items."""
    outcomes = []
    blocked = False
    for item in source.fetch_new(triage.store.get_cursor(source.name)):
        outcome = process_item(item, source, triage)
        outcomes.append(outcome)
        blocked = blocked or outcome.status == "retry"
        if not blocked and not triage.dry_run:
            triage.store.set_cursor(source.name, item.cursor, now=triage.clock())
    return outcomes


def process_item(item: RawItem, source: Source, triage: Triage) -> Outcome:
    """The per-ticket error boundary."""
    try:
        return _process(item, source, triage)
    except TransientError as exc:
        log.warning("%s %s: will retry: %s", source.name, item.ref, exc)
        return Outcome(item.ref, "retry", detail=str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken ticket must never stop the others
        log.exception("%s %s: failed", source.name, item.ref)
        return _set_aside(item, source, triage, f"internal error: {type(exc).__name__}: {exc}", status="failed")


def _process(item: RawItem, source: Source, triage: Triage) -> Outcome:
    store = triage.store
    try:
        ticket = source.parse(item)
    except BadInputError as exc:
        return _set_aside(item, source, triage, str(exc))
    row = store.find(source.name, ticket.key)
    if row is not None and row.status != "decided":
        return Outcome(item.ref, "already-processed", row.id, f"recorded as {row.status}")
    if row is not None:
        decision = load_decision(row)  # resume: the recorded decision, not a new one
    else:
        prediction = triage.classifier.predict(ticket_text(ticket.subject, ticket.text))
        decision = decide(
            ticket, prediction, triage.rules, now=triage.clock(), calendar=triage.calendar,
            prior=store.find_prior(ticket.references), own_addresses=triage.own_addresses,
        )
        row = store.record_decision(ticket, prediction, decision, now=triage.clock(), dry_run=triage.dry_run)
        log.info("%s %s -> %s/%s review=%s ack=%s; %s", source.name, item.ref, decision.department,
                 decision.priority, decision.needs_review, decision.ack_skip_reason or "yes", "; ".join(decision.reasons))
    if triage.dry_run:
        return Outcome(item.ref, "dry-run", row.id)
    return _act(row, ticket, decision, source, triage)


def _act(row: TicketLog, ticket: Ticket, decision: Decision, source: Source, triage: Triage) -> Outcome:
    """Run each action not yet done, in order; stop at the first transient failure."""
    assert row.id is not None
    failed = []
    for action in triage.store.actions(row.id):
        if action.state in ("done", "skipped", "failed"):
            continue
        assert action.id is not None
        try:
            state, detail = _run_action(action.kind, row, ticket, decision, source, triage)
        except TransientError as exc:
            triage.store.set_action(action.id, "retry", str(exc), now=triage.clock())
            raise
        except PermanentError as exc:
            state, detail = "failed", str(exc)
            failed.append(f"{action.kind}: {exc}")
        triage.store.set_action(action.id, state, detail, now=triage.clock())
    status = "failed" if failed else "done"
    triage.store.update_ticket(row.id, status=status, error="; ".join(failed))
    return Outcome(ticket.ref, status, row.id, "; ".join(failed))


def _run_action(kind: str, row: TicketLog, ticket: Ticket, decision: Decision, source: Source,
                triage: Triage) -> tuple[str, str]:
    if kind == "write_back":
        return "done", source.write_back(ticket, decision)
    if kind == "mark_processed":
        return "done", source.mark_processed(ticket, decision)
    if kind == "acknowledge":
        return _acknowledge(row, ticket, decision, triage)
    raise PermanentError(f"unknown action {kind!r}")


def _acknowledge(row: TicketLog, ticket: Ticket, decision: Decision, triage: Triage) -> tuple[str, str]:
    if decision.ack_template is None:
        return "skipped", decision.ack_skip_reason or "no acknowledgement"
    if triage.mailer is None:
        return "skipped", "no [smtp] server configured"
    assert row.id is not None
    route = triage.rules.departments.get(decision.department)
    names = route.names if route else {}
    message = build_ack(
        ticket, decision,
        reference=triage.rules.reference(row.id),
        department_name=names.get(decision.language) or (route.group if route and route.group else decision.department),
        from_address=triage.from_address, renderer=triage.renderer, now=triage.clock(),
    )
    triage.mailer.send(message)
    triage.store.update_ticket(row.id, ack_message_id=str(message["Message-ID"]))
    return "done", f"sent {message['Message-ID']} to {message['To']}"


def _set_aside(item: RawItem, source: Source, triage: Triage, reason: str, status: str = "skipped") -> Outcome:
    """Record input deskbot cannot handle, with the reason, and flag it on the server for a person."""
    key = raw_key(item.data) if item.data else f"ref:{item.ref}:{item.cursor}"
    store = triage.store
    row = store.find(source.name, key)
    if row is None:
        log.warning("%s %s: cannot be read, set aside: %s", source.name, item.ref, reason)
        row = store.record_skipped(source.name, key, item.ref, reason, now=triage.clock(), dry_run=triage.dry_run,
                                   status=status)
    assert row.id is not None
    if triage.dry_run:
        return Outcome(item.ref, "dry-run", row.id, reason)
    for action in store.actions(row.id):
        if action.state not in ("done", "skipped") and action.id is not None:
            try:
                store.set_action(action.id, "done", source.set_aside(item.ref, reason), now=triage.clock())
            except PermanentError as exc:
                store.set_action(action.id, "failed", str(exc), now=triage.clock())
    return Outcome(item.ref, status, row.id, reason)


