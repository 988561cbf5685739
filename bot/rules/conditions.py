"""The `if_*` conditions: what each one reads of a ticket, and why it held or did not.

`Facts` is one ticket as the rules see it at one point of `decide()`: the department and priority
so far (None before the model when no rule set them) and the model's confidence. Everything derived
from the text (stems) is computed once, on first use. Pure: nothing here reads a clock or a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from email.utils import getaddresses
from typing import Any, Generic, TypeVar

from bot.models import Ticket
from bot.rules.keywords import KeywordSet, Stemmed
from bot.rules.patterns import PatternSet, fold, search
from classifier.text import UNDETERMINED

RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
T = TypeVar("T")


class Lazy(Generic[T]):
    """functools.cached_property without its lock (3.11 takes it at every first read): a value computed on first
    read and kept on the instance. The Facts of one ticket are read by one thread."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute, self.name = compute, compute.__name__

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        if instance is None:
            return self  # type: ignore[return-value]  # read on the class: the descriptor itself
        value = instance.__dict__[self.name] = self.compute(instance)
        return value


class Facts:
    """What the conditions of one ticket read; department, priority and confidence change as rules fire."""

    def __init__(self, ticket: Ticket, *, moment: datetime, is_open: Callable[[str, str, datetime], bool],
                 fallback_language: str = "en") -> None:
        self.ticket = ticket
        # Keywords are stemmed in the ticket's language; a text too short to tell uses the default language's.
        self.stem_language = fallback_language if ticket.language == UNDETERMINED else ticket.language
        self.moment = moment  # when the ticket arrived (never later than now)
        self.is_open = is_open  # (department, priority, moment) -> inside that ticket's calendar
        self.department: str | None = None
        self.priority: str | None = None
        self.confidence: float | None = None
        self.searched: dict[object, bool] = {}  # compiled pattern -> whether it matches this ticket

    @Lazy
    def sender_domain(self) -> str:
        return self.ticket.sender.lower().rpartition("@")[2]

    @Lazy
    def text(self) -> Stemmed:
        return Stemmed(self.full_text, self.stem_language)

    @Lazy
    def full_text(self) -> str:
        return f"{self.ticket.subject}\n{self.ticket.text}"

    @Lazy
    def folded(self) -> str:
        return fold(self.full_text)

    @Lazy
    def subject(self) -> Stemmed:
        return Stemmed(self.ticket.subject, self.stem_language)

    @Lazy
    def recipients(self) -> frozenset[str]:
        values = [self.ticket.header(name) for name in RECIPIENT_HEADERS] + [self.ticket.meta_value("recipient")]
        return frozenset(address.lower() for _, address in getaddresses([v for v in values if v]) if address)

    @Lazy
    def tags(self) -> frozenset[str]:
        raw = self.ticket.meta_value("tags")
        return frozenset(str(t).lower() for t in json.loads(raw)) if raw else frozenset()

    @Lazy
    def organization(self) -> str:
        return self.ticket.meta_value("organization").lower()


def _one_of(values: list[str]) -> str:
    return ", ".join(values)


def _sender(values: list[str], f: Facts) -> tuple[bool, str]:
    sender = f.ticket.sender.lower()
    return sender in {v.lower() for v in values}, f"sender {sender}" + ("" if len(values) > 3 else
                                                                         f" (wanted {_one_of(values)})")


def _domain(values: list[str], f: Facts) -> tuple[bool, str]:
    domain = f.sender_domain
    ok = any(domain == d.lower() or domain.endswith("." + d.lower()) for d in values)
    return ok, f"sender's domain {domain}" + ("" if ok else f" is not {_one_of(values)} or a subdomain")


def _to(values: list[str], f: Facts) -> tuple[bool, str]:
    hit = next((a for a in f.recipients if a in {v.lower() for v in values}), "")
    return bool(hit), f"written to {hit}" if hit else f"written to {_one_of(sorted(f.recipients)) or 'nobody known'}"


def _source(values: list[str], f: Facts) -> tuple[bool, str]:
    source = f.ticket.source
    ok = source in values or source.partition(":")[0] in values
    return ok, f"source {source}"


def _keywords(values: KeywordSet, f: Facts) -> tuple[bool, str]:
    found = values.first(f.text)
    return found is not None, f"mentions {found!r}" if found else "no keyword in subject or body"


def _subject_keywords(values: KeywordSet, f: Facts) -> tuple[bool, str]:
    found = values.first(f.subject)
    return found is not None, f"subject mentions {found!r}" if found else "no keyword in the subject"


def _regex(values: PatternSet, f: Facts) -> tuple[bool, str]:
    match = next((m for p in values.patterns if (m := search(p, f.full_text, f.folded))), None)
    return match is not None, f"matches {match.group(0)[:40]!r}" if match else "no pattern matches"


def _attachment(value: bool, f: Facts) -> tuple[bool, str]:
    count = len(f.ticket.attachments)
    return (count > 0) == value, f"{count} attachment(s)"


def _language(values: list[str], f: Facts) -> tuple[bool, str]:
    return f.ticket.language in values, f"language {f.ticket.language}"


def _department(values: list[str], f: Facts) -> tuple[bool, str]:
    return f.department in values, f"department {f.department or '(not known yet)'}"


def _priority(values: list[str], f: Facts) -> tuple[bool, str]:
    return f.priority in values, f"priority {f.priority or '(not known yet)'}"


def _below(value: float, f: Facts) -> tuple[bool, str]:
    ok = f.confidence is not None and f.confidence < value
    return ok, f"confidence {_confidence(f)} {'<' if ok else 'not below'} {value:.2f}"


def _above(value: float, f: Facts) -> tuple[bool, str]:
    ok = f.confidence is not None and f.confidence > value
    return ok, f"confidence {_confidence(f)} {'>' if ok else 'not above'} {value:.2f}"


def _confidence(f: Facts) -> str:
    return "(no model)" if f.confidence is None else f"{f.confidence:.2f}"


def _business_hours(value: bool, f: Facts) -> tuple[bool, str]:
    inside = f.is_open(f.department or "", f.priority or "", f.moment)
    return inside == value, "inside business hours" if inside else "outside business hours"


def _tags(values: list[str], f: Facts) -> tuple[bool, str]:
    hit = next((v for v in values if v.lower() in f.tags), "")
    return bool(hit), f"tagged {hit}" if hit else "no such tag" + ("" if f.tags else " (no helpdesk tags)")


def _organization(values: list[str], f: Facts) -> tuple[bool, str]:
    ok = bool(f.organization) and f.organization in {v.lower() for v in values}
    return ok, f"organization {f.organization or '(none)'}"


CHECKS: dict[str, Callable[..., tuple[bool, str]]] = {
    "if_sender": _sender, "if_sender_domain": _domain, "if_to": _to, "if_source": _source,
    "if_keywords": _keywords, "if_subject_keywords": _subject_keywords, "if_regex": _regex,
    "if_has_attachment": _attachment, "if_language": _language, "if_department": _department,
    "if_priority": _priority, "if_confidence_below": _below, "if_confidence_above": _above,
    "if_business_hours": _business_hours, "if_tags": _tags, "if_organization": _organization,
}


def _in_domains(domains: tuple[str, ...]) -> Callable[[Facts], bool]:
    """The if_sender_domain test without its explanation: the domain or a subdomain, one set and one suffix test."""
    exact, subdomains = frozenset(domains), tuple("." + d for d in domains)
    return lambda f: f.sender_domain in exact or f.sender_domain.endswith(subdomains)


# The same tests answering only yes or no, for the conditions most rules use: decide() asks millions of them.
# Each takes the prepared value and returns a test of the facts alone (one call per rule and ticket).
FAST: dict[str, Callable[[Any], Callable[[Facts], bool]]] = {
    "if_keywords": lambda words: words.in_text,
    "if_subject_keywords": lambda words: words.in_subject,
    "if_regex": lambda patterns: patterns.in_text,
    "if_language": lambda values: lambda f: f.ticket.language in values,
    "if_department": lambda values: lambda f: f.department in values,
    "if_sender_domain": lambda values: _in_domains(tuple(d.lower() for d in values)),
    "if_priority": lambda values: lambda f: f.priority in values,
}
# What a condition's value becomes once per rule set (keywords stemmed per language on first use).
PREPARE: dict[str, Callable[[Any], Any]] = {"if_keywords": KeywordSet, "if_subject_keywords": KeywordSet,
                                            "if_regex": PatternSet}


def fast_check(key: str, value: Any) -> Callable[[Facts], bool]:
    """The yes/no test of a condition with its (prepared) value."""
    if key in FAST:
        return FAST[key](value)
    explain = CHECKS[key]
    return lambda facts: explain(value, facts)[0]
