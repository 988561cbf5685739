"""The acknowledgement email: rendered from Jinja2 templates, built as an RFC 3834 auto-reply."""

from __future__ import annotations

import importlib.resources
import json
import traceback
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, make_msgid, parseaddr
from pathlib import Path

import jinja2

from bot.errors import ConfigError
from bot.models import Decision, Ticket
from bot.records import as_utc
from bot.rules import RuleSet
from bot.schema import TicketLog
from connectors.base import Ack

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
    return Path(str(importlib.resources.files("bot.shipped.templates")))


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

    def find(self, family: str, department: str, language: str) -> tuple[str, jinja2.Template]:
        """The template that serves this department and language (the department's own first)."""
        names = [f"{family}.{department}.{language}.txt.j2", f"{family}.{language}.txt.j2"]
        try:
            template = self.env.select_template(names)
        except jinja2.TemplatesNotFound:
            raise ConfigError(f"no template {' or '.join(names)} in {self.directory} (every language listed "
                              "under [acknowledgement] languages needs one)") from None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template error: {exc.message}", path=str(exc.filename or self.directory),
                              line=exc.lineno) from None
        return str(template.name), template

    def render(self, family: str, department: str, language: str, context: dict[str, object]) -> tuple[str, str]:
        """Subject and body for one acknowledgement."""
        _, template = self.find(family, department, language)
        try:
            text = template.render(context)
        except jinja2.TemplateError as exc:
            path, line = _template_frame(exc, template)
            raise ConfigError(f"template error: {exc}", path=path, line=line) from None
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ConfigError(f"template for {language} must start with a 'Subject:' line and a blank line")
        return " ".join(head[len("Subject:"):].split()), body.strip() + "\n"


def _template_frame(exc: BaseException, template: jinja2.Template) -> tuple[str, int | None]:
    """Where in the template a render error happened: Jinja2 rewrites its traceback to template lines."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == template.filename]
    return str(template.filename), (frames[-1].lineno if frames else getattr(exc, "lineno", None))


SAMPLE_CONTEXT = {
    "customer_name": "Alex Example", "subject": "Sample subject", "reference": "SUP-000001",
    "department": "Sample team", "priority": "medium", "sla_hours": "8", "sla_due": "soon", "needs_review": False,
}


def check_templates(renderer: AckRenderer, rules: RuleSet) -> list[str]:
    """Render the acknowledgement of every department in every configured language with sample data.

    Returns what was rendered ("ack.en.txt.j2 for billing/en"); the first broken template raises
    ConfigError with its file and line, so a typo stops `deskbot check` and `deskbot run` at start.
    """
    rendered: list[str] = []
    if not rules.acknowledgement.enabled:
        return rendered
    for language in rules.acknowledgement.languages:
        for department in rules.departments:
            name, _ = renderer.find("ack", department, language)
            renderer.render("ack", department, language, SAMPLE_CONTEXT)
            rendered.append(f"{name} for {department}/{language}")
    return rendered


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
    route = rules.departments.get(decision.department)
    names = route.names if route else {}
    context = {
        "customer_name": ticket.sender_name,
        "subject": ticket.subject,
        "reference": reference,
        "department": names.get(decision.language) or (route.group if route and route.group else decision.department),
        "priority": decision.priority,
        "sla_hours": _hours(decision.sla_hours),
        # Never promise a time that has passed (a resend after an outage, an old mail): then promise nothing.
        "sla_due": format_due(decision.sla_due, decision.language) if decision.sla_due and decision.sla_due > now else "",
        "needs_review": decision.needs_review,
    }
    subject, body = renderer.render(decision.ack_template, decision.department, decision.language, context)
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = _reply_address(ticket)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id or make_msgid(domain=parseaddr(from_address)[1].rpartition("@")[2] or None)
    if ticket.message_id:
        message["In-Reply-To"] = ticket.message_id
        message["References"] = " ".join(dict.fromkeys((*ticket.references, ticket.message_id)))
    message["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer this
    message["X-Auto-Response-Suppress"] = "All"  # asks Exchange/Outlook not to send OOF replies back
    message.set_content(body)
    return Ack(message_id=str(message["Message-ID"]), to=str(message["To"]), subject=subject, text=body,
               message=message)


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


def _reply_address(ticket: Ticket) -> str:
    """Reply-To when the customer set one (RFC 5322 3.6.2), else the author."""
    reply_to = ticket.reply_to or ticket.header("Reply-To")
    if reply_to:
        name, address = getaddresses([reply_to])[0]
        if "@" in address:
            return formataddr((name, address))
    return formataddr((ticket.sender_name, ticket.sender))


def _hours(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
