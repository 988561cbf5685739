"""Routing rules: the admin-edited policy that `decide()` applies to each ticket.

Rules are data, not code: every condition and action is a named key of a known kind (bot/rules/tables.py),
validated when the file is loaded: every mistake at once, each with its file, line and rule, so a typo
stops the daemon at start-up instead of silently never matching. Parts:

    tables.py      the keys and their types          problems.py   findings with FILE:LINE, RulesError
    references.py  names used must be names defined  reach.py      rules that can never fire (warnings)
    keywords.py    words and stems                   patterns.py   safe regexes
    conditions.py  what each if_* reads              stages.py     running a stage, applying actions
    gates.py       which rules can fire at all       wording.py    a rule in plain words
"""

from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path

import pydantic

from bot.config.tomlfile import TomlFile
from bot.rules.problems import Findings, Problem, RulesError
from bot.rules.reach import check_reach
from bot.rules.references import RulesContext, check_references
from bot.rules.tables import (
    ACTIONS,
    CONDITIONS,
    WEEKDAYS,
    Acknowledgement,
    BusinessHoursSpec,
    Intake,
    PriorityGuard,
    Route,
    Rule,
    RuleSet,
    SpamPolicy,
    Triage,
)

log = logging.getLogger(__name__)


def shipped_rules_path() -> Path:
    """The rules file that ships with deskbot."""
    return Path(str(importlib.resources.files("bot.shipped.rules") / "default.toml"))


def load_rules(path: Path | None = None, *, context: RulesContext | None = None) -> RuleSet:
    """Read and validate a rules file: every error at once in a RulesError; warnings are kept on the rule set.

    `context` adds what only a config knows (its sources, its templates folder).
    """
    ruleset, findings = inspect_rules(path, context=context)
    if findings.errors or ruleset is None:
        raise RulesError(findings.errors)
    return ruleset


def inspect_rules(path: Path | None = None, *, context: RulesContext | None = None) -> tuple[RuleSet | None, Findings]:
    """The rule set (None when it has errors) and every finding; a file that is not TOML raises ConfigError."""
    toml = TomlFile.read(path or shipped_rules_path())
    findings = Findings(toml)
    ruleset, indexed = _validate(toml, findings)
    if ruleset is None:
        findings.problems.sort(key=_file_order)
        return None, findings
    check_references(ruleset, indexed, findings, context or RulesContext())
    if not findings.errors:
        check_reach(ruleset, findings, context or RulesContext())
    findings.problems.sort(key=_file_order)
    ruleset._file = toml
    ruleset._warnings = [str(p) for p in findings.warnings]
    return (None if findings.errors else ruleset), findings


def _validate(toml: TomlFile, findings: Findings) -> tuple[RuleSet | None, list[tuple[int, Rule]]]:
    """Types of every table, each [[rules]] table on its own so that one bad rule hides no other error."""
    data = dict(toml.data)
    tables = data.pop("rules", [])
    if not isinstance(tables, list):
        findings.add(("rules",), "rules must be [[rules]] tables")
        tables = []
    rules: list[tuple[int, Rule]] = []
    for index, table in enumerate(tables):
        try:
            rules.append((index, Rule.model_validate(table)))
        except pydantic.ValidationError as exc:
            findings.add_validation(exc, Rule, ("rules", index))
            salvaged = _salvage(table, exc)
            if salvaged is not None:  # its other keys are checked too, so one pass shows all of a rule's errors
                rules.append((index, salvaged))
    try:
        ruleset = RuleSet.model_validate(data)
    except pydantic.ValidationError as exc:
        findings.add_validation(exc, RuleSet, ())
        return None, rules
    return ruleset.model_copy(update={"rules": [rule for _, rule in rules]}), rules


def _file_order(problem: Problem) -> tuple[bool, int]:
    """Errors, then warnings, each top to bottom as the admin fixes them (one without a line first)."""
    return problem.warning, problem.line or 0


def _salvage(table: object, error: pydantic.ValidationError) -> Rule | None:
    """The rule without the keys pydantic refused (unknown keys, wrong types), for the checks that look at the
    values of the others (departments, priorities, regexes); None when even that is no valid rule. The file
    has errors already, so a salvaged rule never runs."""
    if not isinstance(table, dict):
        return None
    refused = {item["loc"][0] for item in error.errors() if item["loc"]}
    if not refused & table.keys():
        return None
    try:
        return Rule.model_validate({key: value for key, value in table.items() if key not in refused})
    except pydantic.ValidationError:
        return None  # e.g. its only action was the misspelt key: the error said so already


def log_warnings(rules: RuleSet) -> None:
    """Say once, at WARNING, what in the rules can never take effect."""
    for warning in rules.warnings:
        log.warning("%s", warning)


__all__ = ["ACTIONS", "CONDITIONS", "WEEKDAYS", "Acknowledgement", "BusinessHoursSpec", "Findings", "Intake",
           "PriorityGuard", "Problem", "Route", "Rule", "RuleSet", "RulesContext", "RulesError", "SpamPolicy",
           "Triage", "inspect_rules", "load_rules", "log_warnings", "shipped_rules_path"]
