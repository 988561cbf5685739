"""`deskbot rules check`: validate a rules file (every error at once), then say what each rule does in plain words.

Exit 0: valid, nothing to say; 1: valid, with warnings (a rule that can never fire); 2: errors.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from bot.rules import RulesContext, inspect_rules, shipped_rules_path
from bot.rules.problems import Problem
from bot.rules.wording import describe_rule


def rules_check(args: argparse.Namespace, out: TextIO) -> int:
    """Validate `--rules` (or the config's rules) and print every finding and every rule."""
    path, context = rules_source(args.config, args.rules)
    ruleset, findings = inspect_rules(path, context=context)
    shown = str(path or shipped_rules_path())
    if args.json:
        out.write(json.dumps({
            "file": shown, "ok": not findings.errors,
            "errors": [_problem(p) for p in findings.errors], "warnings": [_problem(p) for p in findings.warnings],
            "rules": [{"name": r.name, "stage": r.stage, "text": describe_rule(r)} for r in ruleset.rules]
            if ruleset else [],
        }, indent=2) + "\n")
    else:
        for problem in findings.problems:
            out.write(f"{problem}\n")
        if ruleset is not None:
            out.write(f"{shown}: ok ({len(ruleset.departments)} departments, {len(ruleset.rules)} rules, "
                      f"calendars {', '.join(ruleset.calendar_names())})\n")
            for rule in ruleset.rules:
                out.write(f"  {describe_rule(rule)}\n")
        else:
            out.write(f"{shown}: {len(findings.errors)} error(s); deskbot will not start with these rules\n")
    return 2 if findings.errors else 1 if findings.warnings else 0


def rules_source(config_path: Path | None, rules_path: Path | None) -> tuple[Path | None, RulesContext]:
    """The rules file to use (--rules, else the config's, else the shipped one) and what the config knows."""
    if config_path is None:
        return rules_path, RulesContext()
    from bot.ack.templates import shipped_templates_dir
    from bot.config.file import load_config
    from bot.daemon import rules_context

    config = load_config(config_path, secrets=False)
    templates = config.resolve(config.paths.templates) or shipped_templates_dir()
    return rules_path or config.resolve(config.paths.rules), rules_context(config, templates)


def _problem(problem: Problem) -> dict[str, object]:
    return {"file": problem.path, "line": problem.line, "where": problem.where, "key": problem.key,
            "message": problem.message, "text": str(problem)}
