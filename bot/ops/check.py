"""`deskbot check`: every part of a config checked, and every error shown at once (not one per run).

Files first (the config, the rules, the templates, the model against the rules, the decision log),
then, unless --offline, every server: each source logs in and the folders the rules file mail into
are checked against that server's naming rules, then the SMTP server. A part that cannot be checked
because another failed says so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import ConfigError, DeskbotError


@dataclass
class Tally:
    """What went wrong so far: configuration errors (exit 2) and other failures (exit 1)."""

    config_errors: int = 0
    failures: int = 0

    def run(self, what: str, step: Callable[[], Any]) -> Any:
        """Run one check; its error is printed (to standard error) and counted, and None returned."""
        try:
            return step()
        except ConfigError as exc:
            self.config_errors += 1
            print(f"deskbot: configuration error: {what}: {exc}", file=sys.stderr)
        except DeskbotError as exc:
            self.failures += 1
            print(f"deskbot: error: {what}: {exc}", file=sys.stderr)
        return None

    def exit_code(self) -> int:
        return 2 if self.config_errors else 1 if self.failures else 0


def check(args: argparse.Namespace) -> int:
    """Check everything that can be checked; exit 2 on a configuration error, 1 on another failure."""
    from bot.ack.message import AckRenderer, check_templates
    from bot.config.file import load_config
    from bot.config.where import find_config
    from bot.rules import load_rules

    tally = Tally()
    config_path = find_config(args.config, required=not args.rules)
    config = tally.run("config", lambda: load_config(config_path)) if config_path else None
    if config_path and config is None:
        return tally.exit_code()
    if config is not None:
        print(f"config {config_path}, decision log {config.database_url()}")
    rules_path = args.rules or (config.resolve(config.paths.rules) if config else None)
    rules = tally.run("rules", lambda: load_rules(rules_path))
    if rules is not None:
        print(f"{rules_path or 'shipped rules'}: ok ({len(rules.departments)} departments, {len(rules.rules)} rules)")
        for warning in rules.warnings:  # rules that can never fire (`deskbot rules check` explains every rule)
            print(warning)
        renderer = AckRenderer(config.resolve(config.paths.templates) if config else None)
        rendered = tally.run("templates", lambda: check_templates(renderer, rules))
        if rendered is not None:
            print(f"templates: ok ({len(rendered)} acknowledgements rendered in "
                  f"{', '.join(rules.acknowledgement.languages) if rules.acknowledgement.enabled else 'no language'})")
    if config is None:
        return tally.exit_code()
    if rules is not None:
        tally.run("model", lambda: _check_model(config, rules))
    prefix = rules.acknowledgement.reference_prefix if rules is not None else "SUP"
    tally.run("decision log", lambda: _check_log(config, prefix))
    if args.offline:
        return tally.exit_code()
    if rules is None:
        print("servers: not checked: the rules must load first", file=sys.stderr)
        return tally.exit_code()
    _check_servers(config, rules, tally)
    return tally.exit_code()


def _check_model(config: Any, rules: Any) -> None:
    from bot.daemon import check_model_departments, live_classifier, review_unreachable

    classifier = live_classifier(config).current()  # type: ignore[attr-defined]  # the models folder's CURRENT first
    check_model_departments(classifier, rules)
    print(f"model: ok (departments {', '.join(getattr(classifier, 'departments', ()))})")
    unreachable = review_unreachable(classifier, rules)
    if unreachable:
        print(f"model: WARNING: {unreachable}")


def _check_log(config: Any, prefix: str) -> None:
    from bot.log.database import open_engine

    open_engine(config.database_url(), reference_prefix=prefix)
    print(f"decision log: ok ({config.database_url()})")


def _check_servers(config: Any, rules: Any, tally: Tally) -> None:
    """Log in to every source and the SMTP server; say per server whether it works and its folders can be made."""
    from bot.log.store import utc_now
    from connectors.registry import Needs, build_sources
    from connectors.smtp import SmtpMailer

    for item in build_sources(Needs(config=config, rules=rules, clock=utc_now)):
        source = item.source
        said = tally.run(source.name, source.check)
        if said is None:
            print(f"{source.name}: FAILED (see above)")
            continue
        print(f"{source.name}: ok: {said}")
        folders = getattr(source, "check_folders", None)
        if folders is not None:
            for problem in tally.run(f"{source.name} folders", folders) or []:
                tally.config_errors += 1
                print(f"deskbot: configuration error: {source.name}: {problem}", file=sys.stderr)
                print(f"{source.name}: FAILED: {problem}")
    if config.smtp is not None:
        said = tally.run("smtp", SmtpMailer(config.smtp).check)
        print(f"smtp: ok: {said}" if said is not None else "smtp: FAILED (see above)")
