"""Decisions and actions as the pipeline hands them to a helpdesk source, for the tests and the bench."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.models import Decision, Ticket
from connectors.base import Ack, Action

GROUPS = ("Billing", "Technical Support", "Accounts", "Orders and Returns", "Sales", "General", "triage")


def decision(department: str = "billing", priority: str = "high", *, group: str | None = "Billing",
             tags: tuple[str, ...] = ("billing",), ack: bool = True) -> Decision:
    """A decision as decide() makes them."""
    return Decision(department=department, priority=priority, tags=tags, group=group, folder=None,
                    needs_review=False, sla_hours=4.0, sla_due=datetime(2026, 11, 2, 13, tzinfo=timezone.utc),
                    language="en", ack_template="ack" if ack else None,
                    ack_skip_reason=None if ack else "automated sender", reasons=("model test: billing (0.90)",))


def action(kind: str, ticket: Ticket, made: Decision | None = None, *, reference: str = "SUP-000042") -> Action:
    """One action with the note and acknowledgement texts the pipeline renders."""
    made = made or decision()
    note = (f"deskbot: {made.department} / {made.priority}; confidence 0.90; rules fired: none; "
            f"SLA due {made.sla_due:%Y-%m-%d %H:%M} UTC [{reference}]")
    ack = Ack(message_id=f"<{reference}@deskbot>", to=ticket.sender, subject=f"[{reference}] {ticket.subject}",
              text=f"Hello,\n\nthank you for your message. Your reference is {reference}; our Billing team "
                   f"answers by {made.sla_due:%A %H:%M}.\n\nYour support team")
    return Action(kind=kind, ticket=ticket, decision=made, reference=reference, marker=f"{reference}:{kind}",
                  note=note, ack=ack)
