"""What an acknowledgement template sees: its variables, with the due time written in the customer's language."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.models import Decision, Ticket
from bot.rules import RuleSet

# Weekdays from Monday and months from January; written as data, five languages need no locale library.
_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "pt": ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"),
}
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "pt": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"),
}
# {at} is the word before the time where it agrees with the hour: "a la 1:00" but "a las 11:00".
_FORMS = {
    "en": "{weekday}, {day} {month} {year} at {time} ({zone})",
    "de": "{weekday}, {day}. {month} {year}, {time} Uhr ({zone})",
    "es": "{weekday}, {day} de {month} de {year}, {at} {time} ({zone})",
    "fr": "{weekday} {day} {month} {year} à {time} ({zone})",
    "pt": "{weekday}, {day} de {month} de {year}, {at} {time} ({zone})",
}
_AT = {"es": ("a la", "a las"), "pt": ("à", "às")}
LANGUAGES = tuple(_FORMS)


def format_due(moment: datetime, language: str) -> str:
    """A due time as a customer reads it: "Monday, 23 November 2026 at 11:00 (Europe/Berlin, UTC+1)"."""
    lang = language if language in _FORMS else "en"
    day = "1er" if lang == "fr" and moment.day == 1 else str(moment.day)
    at = _AT.get(lang, ("", ""))[0 if moment.hour == 1 else 1]
    clock = f"{moment.hour} h {moment:%M}" if lang == "fr" else f"{moment:%H:%M}"
    return _FORMS[lang].format(weekday=_WEEKDAYS[lang][moment.weekday()], day=day, year=moment.year,
                               month=_MONTHS[lang][moment.month - 1], at=at, time=clock, zone=zone_label(moment))


def zone_label(moment: datetime) -> str:
    """The zone by name and offset, so a customer elsewhere can convert: "Europe/Berlin, UTC+1"."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    hours, rest = divmod(abs(minutes), 60)
    utc = "UTC" if minutes == 0 else f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")
    name = str(moment.tzinfo)
    return utc if name in ("UTC", utc) else f"{name}, {utc}"


def department_name(rules: RuleSet, department: str, language: str) -> str:
    """The department as customers know it in `language`: its `names`, else its group, else its key."""
    route = rules.departments.get(department)
    if route is None:
        return department
    return route.names.get(language) or route.group or department


def ack_context(ticket: Ticket, decision: Decision, *, reference: str, rules: RuleSet, language: str,
                now: datetime) -> dict[str, object]:
    """The variables of an acknowledgement template, in `language` (the one the chosen template is written in).

    `sla_due` is empty when there is no due time or it has passed (a resend long after the decision):
    an acknowledgement never promises a time in the past.
    """
    due = decision.sla_due
    zone = ZoneInfo(rules.business_hours.timezone)
    return {
        "customer_name": ticket.sender_name,
        "subject": ticket.subject,
        "reference": reference,
        "department": department_name(rules, decision.department, language),
        "priority": decision.priority,
        "sla_hours": _hours(decision.sla_hours),
        "sla_due": format_due(due.astimezone(zone), language) if due is not None and due > now else "",
        "needs_review": decision.needs_review,
        "language": language,
    }


def _hours(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
