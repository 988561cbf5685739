"""The `deskbot rules check|test` and `deskbot simulate` sub-commands: their arguments and help."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXITS = "Exit 0 ok, 1 a finding, 2 a configuration error."


def add_rules_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `rules` (check, test) and `simulate`."""
    rules = sub.add_parser("rules", help="check, explain and try the routing rules",
                           description="Check, explain and try the routing rules file. " + EXITS)
    actions = rules.add_subparsers(title="commands", required=True, metavar="COMMAND")
    check = actions.add_parser("check", help="validate the rules and print every rule in plain words",
                               description="Validate a rules file and list every error at once "
                               "(FILE:LINE: rule 'NAME': what is wrong (what is allowed)), warnings for rules that "
                               "can never fire, then each rule in plain words. With --config, sources and templates "
                               "named by the rules are checked against the config. Exit 0 valid, 1 warnings, "
                               "2 errors.")
    which = check.add_mutually_exclusive_group()
    which.add_argument("--config", type=Path, help="deskbot.toml: its rules file, sources and templates")
    which.add_argument("--rules", type=Path, help="a rules file on its own (default: the shipped one)")
    check.add_argument("--json", action="store_true", help="print JSON: ok, errors, warnings, rules")
    check.set_defaults(handler=_check)

    test = actions.add_parser("test", help="the whole decision for one ticket, changing nothing",
                              description="Decide one ticket as `deskbot run` would, changing and sending nothing: "
                              "the model's scores, each rule with fired or not and why, the final department, "
                              "priority, group, folder, tags, review, acknowledgement and SLA due time with its "
                              "calendar. " + EXITS)
    test.add_argument("--config", type=Path, required=True, help="deskbot.toml (no secrets are read)")
    test.add_argument("--rules", type=Path, help="try this rules file instead of the config's")
    test.add_argument("--subject", help="the ticket's subject (with --body and --from)")
    test.add_argument("--eml", type=Path, help="a mail as an RFC 5322 .eml file (instead of --subject/--body/--from)")
    test.add_argument("--ticket", metavar="REF", help="a recorded ticket, by reference (SUP-000042) or id")
    test.add_argument("--body", help="the ticket's body")
    test.add_argument("--from", dest="from_", metavar="ADDR", help="the sender's address")
    test.add_argument("--to", metavar="ADDR", help="the address the customer wrote to")
    test.add_argument("--source", metavar="NAME", help="e.g. imap:support or zendesk:acme (default: the first mailbox)")
    test.add_argument("--at", metavar="ISO-TIME", help="when it arrives (default: now; UTC unless an offset is given)")
    test.add_argument("--attachment", metavar="NAME", action="append", help="an attached file's name (repeatable)")
    test.add_argument("--json", action="store_true", help="print JSON")
    test.set_defaults(handler=_test)

    simulate = sub.add_parser("simulate", help="re-decide recorded tickets with new rules or a new model",
                              description="Re-decide the tickets recorded in a period with new rules and/or a new "
                              "model and print what would change: department and priority moves as matrices, review "
                              "and no-acknowledgement rates before and after, SLA due-time shifts, and examples per "
                              "move. Reads the decision log read-only; touches nothing, sends nothing. Exit 0 ok, "
                              "1 some tickets could not be re-decided, 2 a configuration error.")
    simulate.add_argument("--config", type=Path, required=True, help="deskbot.toml: its decision log, rules and model")
    simulate.add_argument("--since", required=True, help="the period: 30d, 12h or 2w")
    simulate.add_argument("--rules", type=Path, help="the new rules file (default: the config's)")
    simulate.add_argument("--model", type=Path, help="a new model directory (default: the recorded predictions)")
    simulate.add_argument("--json", action="store_true", help="print JSON")
    simulate.set_defaults(handler=_simulate)


def _check(args: argparse.Namespace) -> int:
    from bot.ops.inspection import rules_check

    return rules_check(args, sys.stdout)


def _test(args: argparse.Namespace) -> int:
    from bot.errors import ConfigError
    from bot.ops.trial import rules_test

    typed = args.subject is not None or args.body is not None or args.from_ is not None
    if typed + (args.eml is not None) + (args.ticket is not None) != 1:
        raise ConfigError("give the ticket one way: --subject S --body B --from ADDR, or --eml FILE, or --ticket REF")
    if typed and (args.body is None or args.from_ is None):
        raise ConfigError("--subject needs --body and --from (or give --eml FILE or --ticket REF)")
    return rules_test(args, sys.stdout)


def _simulate(args: argparse.Namespace) -> int:
    from bot.ops.simulation import simulate

    return simulate(args, sys.stdout)
