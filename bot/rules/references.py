"""Names used must be names defined: priorities, departments, calendars, languages, sources, templates, regexes.

pydantic checks each key's type; these checks need the whole file (a rule names a department defined
further up) or the config around it (its sources, its templates folder). Every finding is collected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.rules.patterns import UnsafePattern, check_pattern
from bot.rules.problems import Findings
from bot.rules.tables import MODEL_CONDITIONS, Rule, RuleSet
from classifier.text import LANGUAGES, UNDETERMINED

SOURCE_KINDS = ("imap", "zendesk", "freshdesk", "api")
_SOURCE = re.compile(r"^(%s)(:[A-Za-z0-9_.@-]+)?$" % "|".join(SOURCE_KINDS))
# The priorities each helpdesk accepts: Zendesk names them, Freshdesk numbers them 1 (low) to 4 (urgent).
HELPDESK_PRIORITIES: dict[str, tuple[str | int, ...]] = {
    "zendesk": ("low", "normal", "high", "urgent"),
    "freshdesk": (1, 2, 3, 4),
}


@dataclass(frozen=True)
class RulesContext:
    """What the config around a rules file knows; None: not known (a rules file checked on its own)."""

    sources: tuple[str, ...] | None = None  # "imap:support", "zendesk:acme", ...
    templates: Path | None = None  # the acknowledgement templates folder


def check_references(rs: RuleSet, indexed: list[tuple[int, Rule]], out: Findings, context: RulesContext) -> None:
    """Every cross-reference of the file, each mistake added to `out`."""
    _check_priorities(rs, out)
    _check_calendars(rs, out)
    if rs.acknowledgement.default_language not in rs.acknowledgement.languages:
        out.add(("acknowledgement", "default_language"), "default_language must be one of languages")
    tables = out.toml.data.get("rules")
    names = [t.get("name") if isinstance(t, dict) else None for t in tables] if isinstance(tables, list) else []
    checked = dict(indexed)
    for index, name in enumerate(names):
        if isinstance(name, str) and name in names[:index]:
            out.add(("rules", index, "name"), f"rule name {name!r} is used twice (names must be unique)")
        if index in checked:
            _check_rule(rs, index, checked[index], out, context)
    _check_priority_map(rs, out)


def _known(kind: str, value: str, known: list[str] | tuple[str, ...]) -> str:
    return f"unknown {kind} {value!r} (known: {', '.join(map(str, known)) or 'none'})"


def _check_priorities(rs: RuleSet, out: Findings) -> None:
    known = ", ".join(rs.priorities)
    if rs.default_priority not in rs.priorities:
        out.add(("default_priority",), f"unknown priority {rs.default_priority!r}; known: {known}")
    for priority in rs.priorities:
        if priority not in rs.sla_hours:
            out.add(("sla_hours",), f"no SLA for priority {priority!r}; add `{priority} = <hours>`")
    for priority, hours in rs.sla_hours.items():
        if priority not in rs.priorities:
            out.add(("sla_hours", priority), f"unknown priority {priority!r}; known: {known}")
        elif hours <= 0:
            out.add(("sla_hours", priority), "SLA hours must be greater than 0")
    for name, route in rs.departments.items():
        for priority, hours in route.sla_hours.items():
            if priority not in rs.priorities:
                out.add(("departments", name, "sla_hours", priority), f"unknown priority {priority!r}; known: {known}")
            elif hours <= 0:
                out.add(("departments", name, "sla_hours", priority), "SLA hours must be greater than 0")


def _check_calendars(rs: RuleSet, out: Findings) -> None:
    names = rs.calendar_names()
    if "default" in rs.calendars:
        out.add(("calendars", "default"), "the calendar named \"default\" is [business_hours]; give this one "
                "another name")
    for name, route in rs.departments.items():
        if route.calendar and route.calendar not in names:
            out.add(("departments", name, "calendar"), _known("calendar", route.calendar, names))
    for priority, name in rs.sla_calendar.items():
        if priority not in rs.priorities:
            out.add(("sla_calendar", priority), _known("priority", priority, rs.priorities))
        if name not in names:
            out.add(("sla_calendar", priority), _known("calendar", name, names))


def _check_rule(rs: RuleSet, index: int, rule: Rule, out: Findings, context: RulesContext) -> None:
    """The names one rule uses, its regexes and its stage."""
    at = ("rules", index)
    departments = list(rs.departments)
    for key in ("set_department",):
        value = getattr(rule, key)
        if value and value not in departments:
            out.add((*at, key), _known("department", value, departments) + "; define it under [departments]")
    for item, value in enumerate(rule.if_department):
        if value not in departments:
            out.add((*at, "if_department", item), _known("department", value, departments))
    for key in ("set_priority", "min_priority"):
        value = getattr(rule, key)
        if value and value not in rs.priorities:
            out.add((*at, key), _known("priority", value, rs.priorities))
    for item, value in enumerate(rule.if_priority):
        if value not in rs.priorities:
            out.add((*at, "if_priority", item), _known("priority", value, rs.priorities))
    languages = (*LANGUAGES, UNDETERMINED)
    for item, value in enumerate(rule.if_language):
        if value not in languages:
            out.add((*at, "if_language", item), _known("language", value, languages))
    _check_sources(rule, at, out, context)
    _check_patterns(rule, at, out)
    for key in MODEL_CONDITIONS:
        if rule.stage == "before_model" and getattr(rule, key) is not None:
            out.add((*at, key), f"{key} needs the model's confidence, which a before_model rule does not see "
                    "(use stage = \"after_model\")")
    if rule.ack_template and context.templates is not None:
        _check_template(rs, rule, at, out, context.templates)


def _check_sources(rule: Rule, at: tuple[str | int, ...], out: Findings, context: RulesContext) -> None:
    for item, value in enumerate(rule.if_source):
        if context.sources is not None:
            if value not in context.sources and value not in {s.partition(":")[0] for s in context.sources}:
                out.add((*at, "if_source", item), _known("source", value, context.sources))
        elif not _SOURCE.match(value):
            out.add((*at, "if_source", item), f"unknown source {value!r} (a source is KIND:NAME, KIND one of "
                    f"{', '.join(SOURCE_KINDS)}, e.g. imap:support or zendesk:acme)")


def _check_patterns(rule: Rule, at: tuple[str | int, ...], out: Findings) -> None:
    for item, pattern in enumerate(rule.if_regex):
        try:
            check_pattern(pattern)
        except re.error as exc:
            out.add((*at, "if_regex", item), f"invalid regex \"{pattern}\": {exc} (Python `re` syntax)")
        except UnsafePattern as exc:
            out.add((*at, "if_regex", item), f"unsafe regex \"{pattern}\": {exc}")


def _check_template(rs: RuleSet, rule: Rule, at: tuple[str | int, ...], out: Findings, folder: Path) -> None:
    """ack_template names a template family that exists for every acknowledgement language."""
    family = rule.ack_template
    missing = [lang for lang in rs.acknowledgement.languages
               if not (folder / f"{family}.{lang}.txt.j2").is_file()
               and not any(folder.glob(f"{family}.*.{lang}.txt.j2"))]
    if missing:
        out.add((*at, "ack_template"), f"unknown template {family!r}: no {family}.<language>.txt.j2 in {folder} for "
                f"{', '.join(missing)} (each language under [acknowledgement] languages needs one)")


def _check_priority_map(rs: RuleSet, out: Findings) -> None:
    """[priority_map.<helpdesk>]: known helpdesks, known priorities, values that helpdesk accepts."""
    for helpdesk, mapping in rs.priority_map.items():
        if helpdesk not in HELPDESK_PRIORITIES:
            out.add(("priority_map", helpdesk), f"unknown helpdesk {helpdesk!r}; known: {', '.join(HELPDESK_PRIORITIES)}")
            continue
        allowed = HELPDESK_PRIORITIES[helpdesk]
        for priority, value in mapping.items():
            if priority not in rs.priorities:
                out.add(("priority_map", helpdesk, priority),
                        f"unknown priority {priority!r}; known: {', '.join(rs.priorities)}")
            if value not in allowed or type(value) is not type(allowed[0]):
                shown = ", ".join(repr(v) for v in allowed)
                out.add(("priority_map", helpdesk, priority), f"{helpdesk} has no priority {value!r}; use one of {shown}")
