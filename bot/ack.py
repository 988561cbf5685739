"""The acknowledgement email: rendered from Jinja2 templates, built as an RFC 3834 auto-reply."""

from __future__ import annotations

import importlib.resources
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, make_msgid, parseaddr
from pathlib import Path

import jinja2

from bot.errors import ConfigError
from bot.models import Decision, Ticket

_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
}
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
}


def format_due(moment: datetime, language: str) -> str:
    """A due time as a customer reads it, in the team's zone ("Monday, 23 November 2026 at 11:00 (Europe/Berlin)")."""
    lang = language if language in _WEEKDAYS else "en"
    day, month = _WEEKDAYS[lang][moment.weekday()], _MONTHS[lang][moment.month - 1]
    zone = str(moment.tzinfo)
    if lang == "de":
        return f"{day}, {moment.day}. {month} {moment.year}, {moment:%H:%M} Uhr ({zone})"
    return f"{day}, {moment.day} {month} {moment.year} at {moment:%H:%M} ({zone})"


def shipped_templates_dir() -> Path:
    """The templates that ship with deskbot."""
    return Path(str(importlib.resources.files("templates")))


class AckRenderer:
    """Finds and renders `ack.<department>.<language>.txt.j2`, else `ack.<language>.txt.j2`.

    A template starts with a `Subject:` line and a blank line; the rest is the body.
    StrictUndefined makes a misspelt variable an error instead of an empty hole in a customer mail.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or shipped_templates_dir()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text mail; nothing is rendered as HTML
            keep_trailing_newline=True,
        )

    def render(self, family: str, department: str, language: str, context: dict[str, object]) -> tuple[str, str]:
        """Subject and body for one acknowledgement."""
        names = [f"{family}.{department}.{language}.txt.j2", f"{family}.{language}.txt.j2"]
        try:
            text = self.env.select_template(names).render(context)
        except jinja2.TemplatesNotFound:
            raise ConfigError(f"no template {' or '.join(names)} in {self.directory}") from None
        except jinja2.TemplateError as exc:
            raise ConfigError(f"template error: {exc}", path=str(getattr(exc, "filename", "") or self.directory),
                              line=getattr(exc, "lineno", None)) from None
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ConfigError(f"template for {language} must start with a 'Subject:' line and a blank line")
        return " ".join(head[len("Subject:"):].split()), body.strip() + "\n"


def build_ack(
    ticket: Ticket,
    decision: Decision,
    *,
    reference: str,
    department_name: str,
    from_address: str,
    renderer: AckRenderer,
    now: datetime,
) -> EmailMessage:
    """The acknowledgement for `ticket`, threaded to it and marked as an auto-reply (RFC 3834 3.1)."""
    if decision.ack_template is None:
        raise ValueError("this decision sends no acknowledgement")
    context = {
        "customer_name": ticket.sender_name,
        "subject": ticket.subject,
        "reference": reference,
        "department": department_name,
        "priority": decision.priority,
        "sla_hours": _hours(decision.sla_hours),
        "sla_due": format_due(decision.sla_due, decision.language) if decision.sla_due else "",
        "needs_review": decision.needs_review,
    }
    subject, body = renderer.render(decision.ack_template, decision.department, decision.language, context)
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = _reply_address(ticket)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=parseaddr(from_address)[1].rpartition("@")[2] or None)
    if ticket.message_id:
        message["In-Reply-To"] = ticket.message_id
        message["References"] = " ".join(dict.fromkeys((*ticket.references, ticket.message_id)))
    message["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer this
    message["X-Auto-Response-Suppress"] = "All"  # asks Exchange/Outlook not to send OOF replies back
    message.set_content(body)
    return message


def _reply_address(ticket: Ticket) -> str:
    """Reply-To when the customer set one (RFC 5322 3.6.2), else the author."""
    reply_to = ticket.header("Reply-To")
    if reply_to:
        name, address = getaddresses([reply_to])[0]
        if "@" in address:
            return formataddr((name, address))
    return formataddr((ticket.sender_name, ticket.sender))


def _hours(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
