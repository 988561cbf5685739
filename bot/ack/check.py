"""Checking a template set: render every template that can be chosen with sample data, and collect every problem.

`deskbot templates check` prints all of them; `deskbot run` and `deskbot check` stop at start on the
first error, so a typo is found before the first customer would have received a broken mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import jinja2

from bot.ack.context import ack_context
from bot.ack.templates import HTML, TEXT, AckRenderer, data_values, parse_name, render_html, render_text
from bot.errors import ConfigError
from bot.models import Decision, Ticket
from bot.rules import RuleSet

log = logging.getLogger(__name__)
FAMILY = "ack"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a template set, with the file and line to look at."""

    path: str
    line: int | None
    message: str
    error: bool = True  # False: a warning (a template that is never used)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {'error' if self.error else 'warning'}: {self.message}"


@dataclass
class TemplateReport:
    """What a check rendered (template files -> the language/department pairs they serve) and what it found."""

    directory: str
    uses: dict[tuple[str, ...], list[tuple[str, str]]] = field(default_factory=dict)  # names -> (language, department)
    problems: list[Problem] = field(default_factory=list)
    rendered: int = 0

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop deskbot (warnings do not)."""
        return [p for p in self.problems if p.error]

    def add(self, problem: Problem) -> None:
        """Record a problem once, however many samples or departments run into it."""
        if problem not in self.problems:
            self.problems.append(problem)


def inspect_templates(renderer: AckRenderer, rules: RuleSet) -> TemplateReport:
    """Render every department x language x text/HTML template the rules can choose, then every other one."""
    report = TemplateReport(str(renderer.directory))
    if not renderer.directory.is_dir():
        report.add(Problem(str(renderer.directory), None, "no such folder (see [paths] templates)"))
        return report
    families = [FAMILY, *sorted({rule.ack_template for rule in rules.rules if rule.ack_template})]  # ack_template
    for family in families:
        for language in rules.acknowledgement.languages:
            missing = [d for d in rules.departments if not _check_choice(renderer, rules, d, language, report, family)]
            if missing:
                report.add(Problem(str(renderer.directory), None, f"no template {family}.{language}.{TEXT}.j2 for "
                                   f"language {language!r} listed under [acknowledgement] languages (nor "
                                   f"{family}.<department>.{language}.{TEXT}.j2 for {', '.join(missing)})"))
    _check_unused(renderer, rules, report)
    return report


def _check_choice(renderer: AckRenderer, rules: RuleSet, department: str, language: str,
                  report: TemplateReport, family: str = FAMILY) -> bool:
    """Render the templates of a family serving one department and language; False when there are none."""
    stem = renderer.find_stem(family, department, language, fallback=language)
    if stem is None:
        return False
    names = tuple(n for n in (f"{stem}.{TEXT}.j2", f"{stem}.{HTML}.j2") if renderer.has(n))
    report.uses.setdefault(names, []).append((language, department))
    for name in names:
        _render_file(renderer, name, rules, department, language, report)
    return True


def _check_unused(renderer: AckRenderer, rules: RuleSet, report: TemplateReport) -> None:
    """Templates no configured department and language reaches: said why, and rendered for errors all the same."""
    used = {name for names in report.uses for name in names}
    for name in sorted(set(renderer.env.list_templates(extensions=["j2"])) - used):
        parsed = parse_name(name)
        if parsed is None or parsed.family != FAMILY:
            continue  # not an acknowledgement template (e.g. a part others include)
        if not renderer.has(f"{parsed.stem}.{TEXT}.j2"):
            why = f"no {parsed.stem}.{TEXT}.j2 beside it (the text part and the Subject line come from that file)"
        elif parsed.department and parsed.department not in rules.departments:
            why = f"department {parsed.department!r} is not in the rules (known: {', '.join(rules.departments)})"
        elif parsed.language not in rules.acknowledgement.languages:
            why = f"language {parsed.language!r} is not listed under [acknowledgement] languages"
        else:
            why = "the rules never choose it"
        report.add(Problem(str(renderer.directory / name), None, f"never used: {why}", error=False))
        department = parsed.department if parsed.department in rules.departments else next(iter(rules.departments))
        _render_file(renderer, name, rules, department, parsed.language, report)


def _render_file(renderer: AckRenderer, name: str, rules: RuleSet, department: str, language: str,
                 report: TemplateReport) -> None:
    """One template with each sample; every error is recorded (the same one once)."""
    try:
        template = renderer.load(name)
    except ConfigError as exc:
        report.add(_problem(exc))
        return
    render: Callable[[jinja2.Template, Mapping[str, object]], object]
    render = render_html if name.endswith(f".{HTML}.j2") else render_text
    for values in sample_contexts(rules, department, language):
        try:
            render(template, data_values(values))
            report.rendered += 1
        except ConfigError as exc:
            report.add(_problem(exc))


def sample_contexts(rules: RuleSet, department: str, language: str) -> list[dict[str, object]]:
    """Two samples through the production context: every `if` of a usual template meets both of its branches."""
    zone = ZoneInfo(rules.business_hours.timezone)
    due = datetime(2026, 11, 23, 11, 0, tzinfo=zone)
    priority = rules.default_priority
    samples = []
    for name, subject, review, sla_due in (("Alex Example", "Invoice 2026-0042 charged twice", False, due),
                                           ("", "", True, None)):
        ticket = Ticket(source="sample", key="sample", ref="1", sender="alex@example.com", sender_name=name,
                        subject=subject, body="", text="", language=language)
        decision = Decision(department=department, priority=priority, tags=(), group=None, folder=None,
                            needs_review=review, sla_hours=rules.sla_hours[priority], sla_due=sla_due,
                            language=language, ack_template=FAMILY, ack_skip_reason=None)
        samples.append(ack_context(ticket, decision, reference=f"{rules.acknowledgement.reference_prefix}-000042",
                                   rules=rules, language=language, now=due - timedelta(hours=2)))
    return samples


def check_templates(renderer: AckRenderer, rules: RuleSet) -> list[str]:
    """At start of `deskbot run` and in `deskbot check`: the first error raises ConfigError with its file and line.

    Returns what was rendered ("ack.en.txt.j2 + ack.en.html.j2 for en/billing"); warnings are logged.
    """
    if not rules.acknowledgement.enabled:
        return []
    report = inspect_templates(renderer, rules)
    errors = report.errors
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more: `deskbot templates check` lists them all)" if len(errors) > 1 else ""
        raise ConfigError(first.message + more, path=first.path, line=first.line)
    for problem in report.problems:
        log.warning("%s", problem)
    return [f"{' + '.join(names)} for {language}/{department}" for names, pairs in report.uses.items()
            for language, department in pairs]


def format_report(report: TemplateReport) -> list[str]:
    """`deskbot templates check`'s lines: each template with what it serves, each problem, and a summary."""
    lines = []
    for names, pairs in report.uses.items():
        languages = dict.fromkeys(language for language, _ in pairs)
        served = "; ".join(f"{lang} for {', '.join(d for g, d in pairs if g == lang)}" for lang in languages)
        lines.append(f"{' + '.join(names)}{'' if len(names) > 1 else ' (text only)'}: {served}")
    lines += [str(p) for p in report.problems]
    errors, warnings = len(report.errors), len(report.problems) - len(report.errors)
    counts = ", ".join(f"{n} {what}{'s' if n != 1 else ''}"
                       for n, what in ((errors, "error"), (warnings, "warning")) if n)
    lines.append(f"templates: {counts or 'ok'} ({report.rendered} renderings with sample data, {report.directory})")
    return lines


def _problem(exc: ConfigError) -> Problem:
    return Problem(exc.path, exc.line, exc.reason)
