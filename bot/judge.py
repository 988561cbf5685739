"""Judging one ticket: the model's prediction, what the decision log knows of its thread and its
recipient, and the rules applied by the pure decide(); plus the few facts about our own mail
(the acknowledgement's Message-ID) that decide() and the loop checks must agree on.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from email.utils import make_msgid

from bot.decide import decide, needs_model, reply_address
from bot.log import recall
from bot.models import Decision, Prediction, Ticket
from bot.ops import metrics
from bot.thread import reference_tokens
from bot.triage import Triage
from classifier.text import ticket_text
from connectors.base import ACKNOWLEDGE, Source

log = logging.getLogger(__name__)
NOT_ASKED = "none: a before_model rule decided"


def judge(ticket: Ticket, triage: Triage) -> tuple[Prediction, Decision]:
    """Gather what the log knows (the thread, the recipient), predict unless a before-model rule decided alone,
    then apply the rules (pure); a shadow model, when one runs, decides beside the live one and is recorded."""
    store, rules, now = triage.store, triage.rules, triage.store.clock()  # one rule set for the whole ticket
    tokens, memory = reference_tokens(ticket, rules.acknowledgement.reference_prefix), triage.memory
    prior = memory.find_prior(ticket.references, tokens) if memory else recall.find_prior(store, ticket.references, tokens)
    asked = needs_model(ticket, rules, now=now, calendar=triage.calendar, prior=prior)
    text = ticket_text(ticket.subject, ticket.text)
    prediction = metrics.predict(triage, text) if asked else None
    address = reply_address(ticket)
    recipient = memory.recipient(address) if memory else recall.recipient(store, address)

    def decide_with(given: Prediction | None) -> Decision:
        return decide(ticket, given, rules, now=now, calendar=triage.calendar, prior=prior,
                      own_addresses=triage.own_addresses, own_message_id_domain=ack_domain(triage.from_address),
                      recipient=recipient)

    decision = decide_with(prediction)
    if triage.shadow is not None and prediction is not None:  # no model asked: nothing for a shadow to differ on
        triage.shadow.record(ticket, text, prediction, decide_with)
    return prediction or not_asked(ticket), decision


def not_asked(ticket: Ticket) -> Prediction:
    """What the decision log records as the prediction when the rules decided without the model."""
    return Prediction(department="", priority=None, confidence=0.0, priority_confidence=None, department_scores={},
                      priority_scores={}, top_terms=(), language=ticket.language, model_version=NOT_ASKED)


def ack_domain(from_address: str) -> str:
    """The right side of our acknowledgements' Message-IDs: a name only deskbot uses, so our own mail
    coming back is recognised without mistaking a colleague's mail from the same domain for ours."""
    domain = from_address.rpartition("@")[2].strip("> ").lower()
    return f"deskbot.{domain}" if domain else "deskbot.invalid"


def note_bounce(ticket: Ticket, decision: Decision, triage: Triage) -> None:
    """A delivery report that one of our acknowledgements failed for good silences that address for a while."""
    failed = ticket.meta_value("failed_recipients").split()
    if decision.kind != "automated" or not failed:
        return
    hours = triage.rules.acknowledgement.suppress_after_bounce_hours
    for row in recall.acknowledged_by(triage.store, ticket.meta_value("reported_message_ids").split()):
        if row.ack_to and row.ack_to in failed and hours:
            recall.suppress(triage.store, row.ack_to, hours=hours,
                            reason=f"the acknowledgement of {row.reference or row.id} bounced for good")
            log.warning("%s: acknowledgements to %s suppressed for %g h: %s bounced", ticket.source, row.ack_to,
                        hours, row.reference or row.id)


def for_source(decision: Decision, source: Source, ticket: Ticket | None = None) -> Decision:
    """A decision that wants an acknowledgement, on a source that has no way to send one, or for a ticket
    its customer did not write (a helpdesk ticket an agent opened: meta `no_reply`), records why not."""
    no_reply = ticket.meta_value("no_reply") if ticket is not None else ""
    if decision.ack_template is not None and no_reply:
        return replace(decision, ack_template=None, ack_skip_reason=no_reply)
    if decision.ack_template is None or ACKNOWLEDGE in source.plan(decision):
        return decision
    return replace(decision, ack_template=None,
                   ack_skip_reason=f"{source.name} sends no acknowledgements (no [smtp] server, or acknowledge = \"none\")")


def new_ack_id(triage: Triage) -> str:
    """The acknowledgement's Message-ID, chosen before anything is sent so a resend carries the same one."""
    return make_msgid(domain=ack_domain(triage.from_address))
