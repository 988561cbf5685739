"""The `deskbot` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bot.errors import ConfigError, DeskbotError

DESCRIPTION = """\
deskbot triages support mail: it reads new tickets from IMAP mailboxes, predicts their
department and priority, applies the routing rules, tags/moves the mail, sends an
acknowledgement with an SLA estimate, and logs every decision to SQLite.

Start with `deskbot demo` (no set-up needed), then write a deskbot.toml (see README.md)
and check it with `deskbot check --config deskbot.toml`."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `deskbot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = logging.INFO if getattr(args, "daemon_logging", False) else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if args.verbose > 1 else logging.INFO if args.verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"deskbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except DeskbotError as exc:
        print(f"deskbot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """All sub-commands with their help."""
    parser = argparse.ArgumentParser(prog="deskbot", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="triage bundled sample mail on local servers and print the result",
                          description="Start a local IMAP server (pymap) and SMTP sink (aiosmtpd), append sample "
                          "mails, run one triage cycle through the production code and print a table. The "
                          "decision log stays in --data-dir; a second run handles nothing twice.")
    demo.add_argument("--data-dir", type=Path, default=None, help="where the demo keeps its SQLite log "
                      "(default: $XDG_DATA_HOME/deskbot/demo)")
    demo.set_defaults(handler=_demo)

    run = sub.add_parser("run", help="run the daemon on the mailboxes of a config file",
                         description="Poll every [[mailbox]] of the config on its own schedule until stopped.")
    run.add_argument("--config", type=Path, required=True, help="deskbot.toml")
    run.add_argument("--once", action="store_true", help="run one cycle over every mailbox and exit")
    run.add_argument("--dry-run", action="store_true", help="decide and record, but change nothing on any "
                     "server and send nothing")
    run.set_defaults(handler=_run, daemon_logging=True)  # a daemon logs one line per decision by default

    check = sub.add_parser("check", help="validate a config file and its rules file, then exit")
    check.add_argument("--config", type=Path, help="deskbot.toml (default: only the rules file)")
    check.add_argument("--rules", type=Path, help="a rules file to check (default: the config's)")
    check.set_defaults(handler=_check)

    classify = sub.add_parser("classify", help="predict department and priority of a text",
                              description="Classify TEXT (or standard input) with the default or a trained model.")
    classify.add_argument("text", nargs="?", help="the ticket text (default: read standard input)")
    classify.add_argument("--model", type=Path, help="a model directory from `deskbot train`")
    classify.add_argument("--json", action="store_true", help="print JSON")
    classify.set_defaults(handler=_classify)

    log = sub.add_parser("log", help="list recent decisions from the decision log")
    where = log.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="use the database of this deskbot.toml")
    where.add_argument("--db", help="a database URL or SQLite file (default: the demo's)")
    log.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    log.add_argument("--json", action="store_true", help="print JSON lines with every recorded field")
    log.set_defaults(handler=_log)

    from classifier.cli import add_commands

    add_commands(sub)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import default_data_dir, run_demo

    return run_demo(args.data_dir or default_data_dir(), sys.stdout)


def _run(args: argparse.Namespace) -> int:
    from bot.config import load_config
    from bot.daemon import build_triage, run_once, serve

    config = load_config(args.config)
    triage = build_triage(config, dry_run=args.dry_run)
    if args.dry_run:
        print("dry run: decisions are recorded, nothing is changed on any server, nothing is sent", file=sys.stderr)
    if not args.once:
        serve(config, triage)
        return 0
    reports = run_once(config, triage)
    for report in reports:
        print(f"{report.name}: {report.summary()}")
    return 1 if any(r.error for r in reports) else 0


def _check(args: argparse.Namespace) -> int:
    from bot.config import load_config
    from bot.rules import load_rules

    rules_path = args.rules
    if args.config:
        config = load_config(args.config)
        print(f"{args.config}: ok ({len(config.mailbox)} mailbox(es))")
        rules_path = rules_path or config.resolve(config.paths.rules)
    rules = load_rules(rules_path)
    print(f"{rules_path or 'shipped rules'}: ok ({len(rules.departments)} departments, {len(rules.rules)} rules)")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from bot.daemon import load_classifier

    text = args.text if args.text is not None else sys.stdin.read()
    model = load_classifier(args.model, None)
    prediction = model.predict(text)  # type: ignore[attr-defined]
    if args.json:
        print(json.dumps({
            "department": prediction.department, "priority": prediction.priority,
            "confidence": round(prediction.confidence, 4), "language": prediction.language,
            "department_scores": prediction.department_scores, "priority_scores": prediction.priority_scores,
            "top_terms": [[t.term, t.weight] for t in prediction.top_terms], "model_version": prediction.model_version,
        }, ensure_ascii=False))
        return 0
    priority = f"{prediction.priority} ({prediction.priority_confidence:.2f})" if prediction.priority else "-"
    print(f"department: {prediction.department} ({prediction.confidence:.2f})")
    print(f"priority:   {priority}")
    print(f"language:   {prediction.language}")
    print("top terms:  " + ", ".join(f"{t.term} ({t.weight:+.2f})" for t in prediction.top_terms))
    return 0


def _log(args: argparse.Namespace) -> int:
    from bot.store import Store
    from bot.table import clip, format_table

    if args.config:
        from bot.config import load_config

        url = load_config(args.config).database_url()
    elif args.db:
        url = args.db if "://" in args.db else f"sqlite:///{Path(args.db).resolve()}"
    else:
        from bot.demo import default_data_dir, demo_database

        url = f"sqlite:///{demo_database(default_data_dir())}"
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise DeskbotError(f"no decision log at {url[len('sqlite:///'):]} (run `deskbot demo` or `deskbot run` first)")
    rows = Store.open(url).recent(args.limit)
    if args.json:
        for row in rows:
            print(row.model_dump_json())
        return 0
    print(format_table(
        ("id", "when (UTC)", "source", "sender", "subject", "department", "prio", "conf", "status", "ack"),
        [[r.id, f"{r.created_at:%Y-%m-%d %H:%M}", r.source, clip(r.sender, 26), clip(r.subject, 30),
          r.department + ("*" if r.needs_review else ""), r.priority,
          f"{r.confidence:.2f}" if r.confidence is not None else "", r.status + (" (dry)" if r.dry_run else ""),
          "sent" if r.ack_message_id else clip(r.ack_skip_reason or r.error or "-", 30)] for r in rows],
    ))
    return 0
