"""The acknowledgement email: rendered from the templates (bot/ack/templates.py), built as an RFC 3834 auto-reply."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from email.headerregistry import Address
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from html import escape

from bot.ack.check import check_templates
from bot.ack.context import ack_context, format_due
from bot.ack.templates import AckRenderer, one_line, shipped_templates_dir
from bot.ack.wire import ack_wire
from bot.log.records import as_utc
from bot.log.schema import TicketLog
from bot.models import Decision, Ticket
from bot.rules import RuleSet
from connectors.base import Ack


def build_ack(
    ticket: Ticket,
    decision: Decision,
    *,
    reference: str,
    message_id: str,
    rules: RuleSet,
    from_address: str,
    renderer: AckRenderer,
    now: datetime,
) -> Ack:
    """The acknowledgement for `ticket`, threaded to it and marked as an auto-reply (RFC 3834 3.1).

    `message_id` was chosen when the ticket was decided: a resend after an interruption carries the
    same one, so the receiving side can recognise the copy.
    """
    if decision.ack_template is None:
        raise ValueError("this decision sends no acknowledgement")
    choice = renderer.choose(decision.ack_template, decision.department, decision.language,
                             fallback=rules.acknowledgement.default_language)
    context = ack_context(ticket, decision, reference=reference, rules=rules, language=choice.language, now=now)
    rendered = renderer.render(choice, context)
    to = _reply_address(ticket)
    message_id = message_id or make_msgid(domain=parseaddr(from_address)[1].rpartition("@")[2] or None)
    headers = [("Subject", rendered.subject), ("Date", format_datetime(now)), ("Message-ID", message_id)]
    if ticket.message_id:
        headers += [("In-Reply-To", ticket.message_id),
                    ("References", " ".join(dict.fromkeys((*ticket.references, ticket.message_id))))]
    headers += [("Auto-Submitted", "auto-replied"),  # RFC 3834: other robots must not answer this
                ("X-Auto-Response-Suppress", "All")]  # asks Exchange/Outlook not to send OOF replies back
    # Quoted-printable parts: 7-bit safe whatever the server offers and whatever the length of a line with
    # customer data; multipart/alternative when there is HTML.
    html = html_document(rendered.html, rendered.language, rendered.subject) if rendered.html is not None else None
    wire = ack_wire(sender=from_address, to=to, headers=headers, text=rendered.text, html=html)
    return Ack(message_id=message_id, to=str(to), subject=rendered.subject, text=rendered.text, html=rendered.html,
               wire=wire)


def html_document(fragment: str, language: str, title: str) -> str:
    """An HTML template's fragment as the whole document a mail part should be (helpdesks take the fragment)."""
    return (f'<!DOCTYPE html>\n<html lang="{escape(language)}">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(title)}</title>\n</head>\n<body>\n{fragment}</body>\n</html>\n")


def decision_note(row: TicketLog, zone: tzinfo) -> str:
    """The private note agents read beside a ticket: what deskbot decided, how sure it was, and why."""
    terms = ", ".join(f"{term} ({weight:+.2f})" for term, weight in json.loads(row.top_terms)[:5])
    due = as_utc(row.sla_due).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if row.sla_due else "none"
    lines = [
        f"deskbot {row.reference or ''}".rstrip() + ": "
        f"{row.department} / {row.priority}" + (" (needs review)" if row.needs_review else ""),
        f"Confidence {row.confidence:.2f}; top terms: {terms or 'none'}" if row.confidence is not None else "",
        "Why: " + "; ".join(json.loads(row.reasons)),
        f"First answer due: {due}",
    ]
    return "\n".join(line for line in lines if line)


def _reply_address(ticket: Ticket) -> Address:
    """Reply-To when the customer set one (RFC 5322 3.6.2), else the author; a display name on one line."""
    reply_to = ticket.reply_to or ticket.header("Reply-To")
    if reply_to:
        name, address = getaddresses([reply_to])[0]
        if "@" in address:
            return _mailbox(name, address)
    return _mailbox(ticket.sender_name, ticket.sender)


def _mailbox(name: str, address: str) -> Address:
    """`Name <address>`, quoted where RFC 5322 wants it; an internationalised address (RFC 6532) is kept as it
    is, for the mailer to send with SMTPUTF8 (formataddr refuses it, which crashed the acknowledgement)."""
    local, _, domain = address.rpartition("@")
    return Address(display_name=one_line(name), username=local, domain=domain)


__all__ = ["Ack", "AckRenderer", "build_ack", "check_templates", "decision_note", "format_due", "html_document",
           "shipped_templates_dir"]
