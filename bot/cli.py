"""The `deskbot` command line: the parser and the exit codes; bot/commands.py does the work."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

from bot.config.where import CONFIG_HELP, database_options
from bot.errors import ConfigError, DeskbotError

DESCRIPTION = """\
deskbot triages support tickets: it reads new mail from IMAP mailboxes (and tickets from
Zendesk and Freshdesk), predicts department and priority, applies the routing rules, files
and tags them, acknowledges the customer with an SLA estimate, and logs every decision.

Start with `deskbot demo` (no set-up needed), then write a deskbot.toml (see README.md),
check it with `deskbot check --config deskbot.toml`, try it with `deskbot run --once --dry-run`.

Exit codes: 0 ok, 1 a source or ticket failed (or another error), 2 a configuration error,
130 stopped by Ctrl-C."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `deskbot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = logging.INFO if getattr(args, "daemon_logging", False) else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if args.verbose > 1 else logging.INFO if args.verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "apscheduler"):  # one line per job run would drown the decisions
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:  # `deskbot status | head`: the reader has all it wanted
        _silence_stdout()
        return 0
    except ConfigError as exc:
        print(f"deskbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except DeskbotError as exc:
        print(f"deskbot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deskbot: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print(f"deskbot: error: the disk is full ({exc.filename or 'writing'}): free space, then start again; "
              "nothing recorded was lost", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so Python's own flush at exit does not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def version() -> str:
    """The installed deskbot's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("deskbot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """All sub-commands with their help."""
    from bot import commands

    parser = argparse.ArgumentParser(prog="deskbot", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"deskbot {version()}")
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="triage bundled sample mail on local servers and print the result",
                          description="Start a local IMAP server (pymap) and SMTP sink (aiosmtpd), append sample "
                          "mails, run one triage cycle through the production code and print a table. The "
                          "decision log stays in --data-dir; a second run handles nothing twice.")
    demo.add_argument("--data-dir", type=Path, default=None, help="where the demo keeps its SQLite log "
                      "(default: $XDG_DATA_HOME/deskbot/demo)")
    demo.set_defaults(handler=commands.demo)

    run = sub.add_parser("run", help="run the daemon on the sources of a config file",
                         description="Poll every source of the config ([[mailbox]], [[zendesk]], [[freshdesk]]) "
                         "on its own schedule until stopped. SIGTERM and SIGINT (Ctrl-C) finish the ticket "
                         "in hand and exit within 10 s; work resumes exactly there at the next start. An edited rules "
                         "file or templates folder is taken within a poll (at once on SIGHUP) once valid. Only one "
                         "daemon may use a SQLite decision log at a time. With an [api] table it serves the HTTP API beside "
                         "the scheduler (see `deskbot serve`). With a [metrics] table it serves Prometheus "
                         "/metrics and /healthz on that table's listen address.")
    run.add_argument("--config", type=Path, help=CONFIG_HELP)
    run.add_argument("--once", action="store_true", help="run one cycle over every source and exit (exit 1 when "
                     "a source or a ticket failed)")
    run.add_argument("--dry-run", action="store_true", help="decide and record, but change nothing on any "
                     "server, send nothing and give out no reference")
    run.add_argument("--shadow", type=Path, metavar="MODEL_DIR", help="also decide with this model and record its "
                     "decisions beside the live ones (never acted on); compare before switching")
    run.set_defaults(handler=commands.run, daemon_logging=True)  # a daemon logs one line per decision

    _add_serve(sub, commands)
    check = sub.add_parser("check", help="validate the config, rules, templates and model, and log in to every server",
                           description="Validate the config and rules files, render every acknowledgement template "
                           "for every configured language, check that the model's departments exist in the rules, "
                           "and log in to every source and the SMTP server. Exit 0 when all is well.")
    check.add_argument("--config", type=Path, help=CONFIG_HELP + "; with only --rules and no config found, "
                       "the rules file alone is checked")
    check.add_argument("--rules", type=Path, help="a rules file to check (default: the config's)")
    check.add_argument("--offline", action="store_true", help="do not connect to any server")
    check.set_defaults(handler=commands.check)

    classify = sub.add_parser("classify", help="predict department and priority of a text",
                              description="Classify TEXT (or standard input) with the default or a trained model.")
    classify.add_argument("text", nargs="?", help="the ticket text (default: read standard input)")
    classify.add_argument("--model", type=Path, help="a model directory from `deskbot train`")
    classify.add_argument("--json", action="store_true", help="print JSON")
    classify.set_defaults(handler=commands.classify)

    _add_log(sub, commands)
    _add_templates(sub, commands)
    _add_ack(sub, commands)
    _add_auth(sub, commands)
    status = sub.add_parser("status", help="per source: last poll, backlog, pending, failed and quarantined tickets",
                            description="Show what the decision log knows of each source and of the running daemon. "
                            "Reads only the database: no server password is needed.")
    database_options(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=commands.status)

    _add_retry(sub, commands)
    _add_why(sub, commands)

    from bot.ops.rulebook import add_rules_commands

    add_rules_commands(sub)

    from bot.ops.service import add_service_command

    add_service_command(sub)

    from bot.learning.cli import add_commands as add_learning
    from bot.report.cli import add_command as add_report
    from classifier.cli import add_commands

    add_commands(sub)
    add_learning(sub)
    add_report(sub)
    return parser


def _add_serve(sub: argparse._SubParsersAction, commands: object) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser("serve", help="serve the HTTP API of the config's [api] table (no polling)",
                           description="Serve the HTTP API ([api] in the config): POST /v1/predict, "
                           "/v1/predict/batch, /v1/tickets, GET /v1/tickets/{id}, helpdesk webhooks under "
                           "/v1/webhooks/, GET /healthz; OpenAPI docs at /docs. Nothing is polled: `deskbot run` "
                           "serves the same API beside its scheduler when the config has [api]. Listens on "
                           "loopback unless [api] listen says otherwise (then with TLS, or behind a TLS proxy). "
                           "SIGTERM and Ctrl-C stop it within 10 s. With a [metrics] table it also serves Prometheus /metrics and "
                           "/healthz on that table's listen address.")
    serve.add_argument("--config", type=Path, required=True, help="deskbot.toml, with an [api] table")
    serve.set_defaults(handler=commands.serve, daemon_logging=True)  # type: ignore[attr-defined]


RETRY_DESCRIPTION = """After fixing the cause of failures (a folder the server refuses, a rule, a template), give failed
or quarantined tickets their unfinished actions back; the next cycle of their source (a running
daemon, or `deskbot run --once`) does them. Each ticket is first decided again with today's rules
and model: both decisions are kept (`deskbot why REF` shows them). --keep-decision replays the
recorded decision instead. An acknowledgement already sent is never sent again.

A ticket that can never succeed (the customer's address does not exist, the mail was deleted) is
closed with --give-up REF: nothing more is tried and `deskbot status` stops counting it.

  deskbot retry --failed                  # every failed and quarantined ticket
  deskbot retry --ticket SUP-000042 --keep-decision
  deskbot retry --give-up SUP-000042 --reason "the address does not exist"
"""


def _add_retry(sub: argparse._SubParsersAction, commands: object) -> None:  # type: ignore[type-arg]
    retry = sub.add_parser("retry", help="decide failed tickets again and re-queue them, or give one up",
                           description=RETRY_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_options(retry)
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--ticket", metavar="REF", help="one ticket, by reference (SUP-000042) or id")
    which.add_argument("--failed", action="store_true", help="every failed and quarantined ticket")
    which.add_argument("--give-up", metavar="REF", help="close this ticket for good: nothing more is tried")
    retry.add_argument("--keep-decision", action="store_true", help="replay the recorded decision instead of "
                       "deciding again with today's rules and model")
    retry.add_argument("--reason", default="closed by a person", help="with --give-up: why, kept in the log")
    retry.set_defaults(handler=commands.retry)  # type: ignore[attr-defined]
    purge = sub.add_parser("purge", help="remove old tickets (data protection) or dry-run records from the log",
                           description=PURGE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_options(purge)
    what = purge.add_mutually_exclusive_group(required=True)
    what.add_argument("--older-than", metavar="SPAN", type=_span, help="tickets recorded longer ago than SPAN (365d, 52w, 720h)")
    what.add_argument("--dry-runs", action="store_true", help="every record of `run --dry-run` (never acted on)")
    purge.add_argument("--bodies-only", action="store_true", help="with --older-than: keep the decisions, blank "
                       "only what the customer wrote (subject, body, headers, attachment names, top terms)")
    purge.add_argument("--dry-run", action="store_true", help="print what would go, change nothing")
    purge.set_defaults(handler=commands.purge)  # type: ignore[attr-defined]


def _span(value: str) -> timedelta:
    """A duration argument (bot/config/duration.py), or argparse's usage error saying which forms work."""
    from bot.config.duration import parse_duration

    try:
        return parse_duration(value, what="--older-than")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


PURGE_DESCRIPTION = """\
Remove what customers wrote from the decision log once it is older than you keep it (data protection).

--older-than SPAN removes each ticket recorded before now - SPAN with everything hanging off it: its
actions, events, corrections and shadow decisions; bounced-address suppressions expired before then go
too. --bodies-only keeps the ticket rows (department, priority, tags, SLA, times, sender, Message-IDs:
the statistics and threads) and blanks only what the customer wrote: subject, body and text, headers,
attachment names (type and size stay) and the model's top terms.

A ticket with work left (pending, in the outbox, failed or quarantined awaiting `deskbot retry`) is
never touched; how many were kept, and why, is printed. On SQLite the file is rewritten (VACUUM) so the
bytes leave the disk; on PostgreSQL a plain VACUUM runs. Backups keep what they hold: age them out too.

  deskbot purge --older-than 365d --dry-run      # what would go
  deskbot purge --older-than 365d                # remove tickets older than a year
  deskbot purge --older-than 90d --bodies-only   # keep the statistics, drop the text after 90 days
  deskbot purge --dry-runs                       # records of `run --dry-run`"""


def _add_why(sub: argparse._SubParsersAction, commands: object) -> None:  # type: ignore[type-arg]
    why = sub.add_parser("why", help="tell one ticket's whole story: the mail, the model, the rules, every action",
                         description="Explain one ticket from the decision log alone: the mail (sender, subject, "
                         "received), the model's scores and top terms, each rule that fired, the decision, every "
                         "action with its outcome and time, its thread, retries and earlier decisions. The same "
                         "as `deskbot log --reference REF`.")
    why.add_argument("ref", metavar="REF", help="a reference (SUP-000042) or a record id")
    database_options(why)
    why.set_defaults(handler=commands.why)  # type: ignore[attr-defined]


LOG_STATES = ("done", "failed", "quarantined", "outbox", "unreadable", "duplicate", "decided", "received", "gone",
              "given-up", "dry-run")


def _add_log(sub: argparse._SubParsersAction, commands: object) -> None:  # type: ignore[type-arg]
    log = sub.add_parser("log", help="list decisions from the decision log, with filters",
                         description="List recorded tickets, newest first. Reads only the database: no server "
                         "password is needed. Dates are YYYY-MM-DD or ISO 8601 times (UTC unless given).")
    database_options(log)
    log.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    log.add_argument("--reference", help="one ticket, by reference (SUP-000042) or id: its whole story "
                     "(as `deskbot why`)")
    log.add_argument("--sender", help="tickets whose sender address contains this")
    log.add_argument("--status", choices=LOG_STATES, metavar="STATUS", help="one of: " + ", ".join(LOG_STATES))
    log.add_argument("--source", help="e.g. imap:support or zendesk:acme")
    log.add_argument("--since", help="recorded at or after this date/time")
    log.add_argument("--until", help="recorded before this date/time")
    log.add_argument("--json", action="store_true", help="print one JSON object per line, with actions and states")
    log.set_defaults(handler=commands.log)  # type: ignore[attr-defined]


def _add_templates(sub: argparse._SubParsersAction, commands: object) -> None:  # type: ignore[type-arg]
    templates = sub.add_parser("templates", help="work with the acknowledgement templates",
                               description="Work with the acknowledgement templates.")
    actions = templates.add_subparsers(title="commands", required=True, metavar="COMMAND")
    check = actions.add_parser("check", help="render every template with sample data and list every error",
                               description="Render every acknowledgement template the rules can choose (each "
                               "department in each language, text and HTML) and every other one in the folder, with "
                               "sample data, and list every error with its file and line. Exit 2 on errors.")
    check.add_argument("--config", type=Path, help="deskbot.toml: its [paths] rules and templates")
    check.add_argument("--templates", type=Path, help="a templates folder (default: the config's, else the shipped)")
    check.add_argument("--rules", type=Path, help="a rules file (default: the config's, else the shipped one)")
    check.set_defaults(handler=commands.templates_check)  # type: ignore[attr-defined]


def _add_ack(sub: argparse._SubParsersAction, commands: object) -> None:  # type: ignore[type-arg]
    ack = sub.add_parser("ack", help="work with acknowledgements", description="Work with acknowledgements.")
    actions = ack.add_subparsers(title="commands", required=True, metavar="COMMAND")
    preview = actions.add_parser("preview", help="print the acknowledgement a mail would get, sending nothing",
                                 description="Parse a mail, classify it and apply the rules as `deskbot run` would, "
                                 "and print the exact message that would be sent (headers and every part), or why "
                                 "none would be. No server is contacted and nothing is recorded; what was decided "
                                 "and assumed goes to standard error.")
    preview.add_argument("--eml", type=Path, required=True, help="the mail, as an RFC 5322 .eml file")
    preview.add_argument("--config", type=Path, help="deskbot.toml (default: the shipped rules and templates)")
    preview.set_defaults(handler=commands.ack_preview)  # type: ignore[attr-defined]


AUTH_DESCRIPTION = """\
Sign a mailbox (or the SMTP account) in with OAuth2 once, for Microsoft 365 and Google Workspace, whose
servers refuse passwords. The refresh token is stored in the table's oauth_token_file (default:
tokens/mailbox-NAME.json or tokens/smtp.json beside the config file, mode 0600); the daemon renews access
tokens from it by itself. Run this again when deskbot says the refresh token was refused.

The table needs auth = "oauth2", oauth_provider and oauth_client_id (README.md: "Microsoft 365 and Google
Workspace"). Tokens are never printed.

  deskbot auth microsoft --mailbox support --config deskbot.toml   # a code to enter at Microsoft's page
  deskbot auth google --smtp --config deskbot.toml                 # a sign-in in this machine's browser"""


def _add_auth(sub: argparse._SubParsersAction, commands: object) -> None:  # type: ignore[type-arg]
    auth = sub.add_parser("auth", help="sign a mailbox or the SMTP account in to Microsoft 365 or Google once (OAuth2)",
                          description=AUTH_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    auth.add_argument("provider", choices=("microsoft", "google"), help="microsoft: the device-code flow (enter a "
                      "code at Microsoft's page, on any device); google: a browser sign-in that redirects to this "
                      "machine (authorization code with PKCE)")
    which = auth.add_mutually_exclusive_group(required=True)
    which.add_argument("--mailbox", metavar="NAME", help="the [[mailbox]] of this name")
    which.add_argument("--smtp", action="store_true", help="the [smtp] account")
    auth.add_argument("--config", type=Path, required=True, help="deskbot.toml")
    auth.add_argument("--no-browser", action="store_true", help="google: only print the sign-in address")
    auth.add_argument("--port", type=int, default=0, help="google: the redirect's port on 127.0.0.1 (default: a "
                      "free one); fix it to forward it with `ssh -L PORT:127.0.0.1:PORT` from a desktop")
    auth.add_argument("--device-url", help="microsoft flow, custom provider: the device-code endpoint "
                      "(default: beside oauth_token_url)")
    auth.add_argument("--authorize-url", help="google flow, custom provider: the authorization endpoint")
    auth.set_defaults(handler=commands.auth)  # type: ignore[attr-defined]
