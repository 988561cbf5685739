"""What each `deskbot` sub-command does (bot/cli.py parses the arguments)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError, DeskbotError

if TYPE_CHECKING:
    from bot.config.file import Config


def demo(args: argparse.Namespace) -> int:
    """`deskbot demo`."""
    from bot.ops.demo import default_data_dir, run_demo

    return run_demo(args.data_dir or default_data_dir(), sys.stdout)


def run(args: argparse.Namespace) -> int:
    """`deskbot run`: the daemon, or one cycle with --once; one instance per SQLite log."""
    from bot.config.file import load_config
    from bot.daemon import build_triage, run_once, serve_with_api, sources_of
    from bot.log.database import prepare
    from bot.ops.lock import InstanceLock
    from bot.ops.shutdown import Shutdown

    config = load_config(args.config)
    database = prepare(config.database_url())
    lock = InstanceLock(database) if database is not None and not args.dry_run else contextlib.nullcontext()
    with lock:
        triage = build_triage(config, dry_run=args.dry_run)
        if getattr(args, "shadow", None):
            from bot.learning.shadow import ShadowModel

            triage.shadow = ShadowModel.load(args.shadow, triage.store)
        scheduled = sources_of(config, triage)
        if args.dry_run:
            print("dry run: decisions are recorded, nothing is changed on any server, nothing is sent",
                  file=sys.stderr)
        shutdown = Shutdown(daemon=not args.once).install()
        try:
            if not args.once:
                serve_with_api(config, scheduled, triage, stop=shutdown.stop)
                return shutdown.exit_code() or 0
            reports = run_once(scheduled, triage, stop=shutdown.stop)
        finally:
            shutdown.restore()
    for report in reports:
        print(f"{report.name}: {report.summary()}")
    return shutdown.exit_code() or (1 if any(r.failed for r in reports) else 0)


def serve(args: argparse.Namespace) -> int:
    """`deskbot serve`: the HTTP API of a config's [api] table, without polling; one instance per SQLite log."""
    from bot.config.file import load_config
    from bot.daemon import build_triage, serve_with_api, sources_of
    from bot.log.database import prepare
    from bot.ops.lock import InstanceLock
    from bot.ops.shutdown import Shutdown

    config = load_config(args.config)
    if config.api is None:
        raise ConfigError("no [api] table: add one to serve the HTTP API (see README.md, HTTP API)",
                          path=str(args.config))
    database = prepare(config.database_url())
    with InstanceLock(database) if database is not None else contextlib.nullcontext():
        triage = build_triage(config)
        shutdown = Shutdown(daemon=True).install()
        try:
            serve_with_api(config, sources_of(config, triage), triage, stop=shutdown.stop, poll=False)
        finally:
            shutdown.restore()
    return shutdown.exit_code() or 0


def check(args: argparse.Namespace) -> int:
    """`deskbot check`: files first (no network), then every server unless --offline."""
    from bot.ack.message import AckRenderer, check_templates
    from bot.config.file import load_config
    from bot.rules import load_rules

    config = load_config(args.config) if args.config else None
    rules_path = args.rules or (config.resolve(config.paths.rules) if config else None)
    rules = load_rules(rules_path)
    print(f"{rules_path or 'shipped rules'}: ok ({len(rules.departments)} departments, {len(rules.rules)} rules)")
    renderer = AckRenderer(config.resolve(config.paths.templates) if config else None)
    rendered = check_templates(renderer, rules)
    print(f"templates: ok ({len(rendered)} acknowledgements rendered in "
          f"{', '.join(rules.acknowledgement.languages) if rules.acknowledgement.enabled else 'no language'})")
    if config is None:
        return 0
    from bot.daemon import check_model_departments, live_classifier, review_unreachable

    classifier = live_classifier(config).current()  # type: ignore[attr-defined]  # the models folder's CURRENT first
    check_model_departments(classifier, rules)
    print(f"model: ok (departments {', '.join(getattr(classifier, 'departments', ()))})")
    unreachable = review_unreachable(classifier, rules)
    if unreachable:
        print(f"model: WARNING: {unreachable}")
    from bot.log.database import open_engine

    open_engine(config.database_url(), reference_prefix=rules.acknowledgement.reference_prefix)
    print(f"decision log: ok ({config.database_url()})")
    if args.offline:
        return 0
    return _check_servers(config, rules)


def _check_servers(config: object, rules: object) -> int:
    """Log in to every source and the SMTP server; say per server whether it works."""
    from bot.log.store import utc_now
    from connectors.registry import Needs, build_sources
    from connectors.smtp import SmtpMailer

    failed, misconfigured = 0, False
    for item in build_sources(Needs(config=config, rules=rules, clock=utc_now)):  # type: ignore[arg-type]
        try:
            print(f"{item.source.name}: ok: {item.source.check()}")
        except DeskbotError as exc:
            failed += 1
            misconfigured = misconfigured or isinstance(exc, ConfigError)  # e.g. a group the helpdesk lacks
            print(f"{item.source.name}: FAILED: {exc}")
    smtp = getattr(config, "smtp", None)
    if smtp is not None:
        try:
            print(f"smtp: ok: {SmtpMailer(smtp).check()}")
        except DeskbotError as exc:
            failed += 1
            print(f"smtp: FAILED: {exc}")
    return 2 if misconfigured else 1 if failed else 0


def auth(args: argparse.Namespace) -> int:
    """`deskbot auth`: sign one account in once (device code or browser); tokens are stored, never printed."""
    import os
    import webbrowser

    from bot.config.file import load_config
    from connectors.oauth_flows import sign_in_command

    config = load_config(args.config, secrets=False)  # only this account's client secret is read
    path = sign_in_command(config, flow=args.provider, mailbox=args.mailbox, out=sys.stdout, environ=os.environ,
                           device_url=args.device_url or "", authorize_url=args.authorize_url or "", port=args.port,
                           open_browser=(lambda url: False) if args.no_browser else webbrowser.open)
    print(f"signed in: the refresh token is stored in {path} (mode 0600); the daemon renews access tokens from it. "
          f"Check with `deskbot check --config {args.config}`")
    return 0


def classify(args: argparse.Namespace) -> int:
    """`deskbot classify`."""
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


def open_log(args: argparse.Namespace) -> tuple[object, list[str]]:
    """The Store named by --config (no secrets read) or --db, else the demo's; and the configured sources."""
    from bot.log.store import Store

    sources: list[str] = []
    if args.config:
        from bot.config.file import load_config

        config = load_config(args.config, secrets=False)
        url = config.database_url()
        sources = [f"imap:{m.name}" for m in config.mailbox] + [f"zendesk:{z.name}" for z in config.zendesk] + \
            [f"freshdesk:{f.name}" for f in config.freshdesk]
        if config.api is not None:  # each API client that may post tickets is a source of its own
            sources += [f"api:{t.name}" for t in config.api.tokens if "tickets" in t.scopes]
    elif args.db:
        url = args.db if "://" in args.db else f"sqlite:///{Path(args.db).resolve()}"
    else:
        from bot.ops.demo import default_data_dir, demo_database

        url = f"sqlite:///{demo_database(default_data_dir())}"
    from bot.log.database import sqlite_path

    path = sqlite_path(url) if "://" in url else None
    if path is not None and not path.exists():
        raise DeskbotError(f"no decision log at {path} (run `deskbot demo` or `deskbot run` first)")
    return Store.open(url), sources


def log(args: argparse.Namespace) -> int:
    """`deskbot log`."""
    from bot.log.history import Filters, actions_of, as_json, search
    from bot.ops.table import clip, format_table

    store, _ = open_log(args)
    filters = Filters(reference=args.reference or "", sender=args.sender or "", status=args.status or "",
                      source=args.source or "", since=_date(args.since, "--since"), until=_date(args.until, "--until"))
    rows = search(store, filters, limit=args.limit)  # type: ignore[arg-type]
    if args.json:
        actions = actions_of(store, [r.id for r in rows if r.id is not None])  # type: ignore[arg-type]
        for row in rows:
            record = as_json(row, actions[row.id or 0])
            if args.reference:
                record["corrections"] = _corrections(store, row.id)
            print(json.dumps(record, ensure_ascii=False))
        return 0
    print(format_table(
        ("reference", "when (UTC)", "source", "sender", "subject", "department", "prio", "conf", "status", "note"),
        [[r.reference or f"#{r.id}", f"{r.created_at:%Y-%m-%d %H:%M}", r.source, clip(r.sender, 26),
          clip(r.subject, 30), r.department + ("*" if r.needs_review else ""), r.priority,
          f"{r.confidence:.2f}" if r.confidence is not None else "", r.status + (" (pending)" if r.pending else ""),
          clip(r.error or r.ack_skip_reason or ("ack " + r.ack_message_id if r.ack_message_id else "-"), 40)]
         for r in rows],
    ))
    for row in rows if args.reference else []:
        for found in _corrections(store, row.id):
            print(f"{found['kind']} ({found['channel']}, {found['at']}): deskbot {found['deskbot']['department']}/"
                  f"{found['deskbot']['priority'] or '-'}, team {found['team']['department'] or '?'}/"
                  f"{found['team']['priority'] or '?'}")
    return 0


def _corrections(store: object, ticket_id: int | None) -> list[dict[str, object]]:
    """A ticket's corrections and confirmations, oldest first, for `log --reference`."""
    from bot.learning.corrections import as_json, corrections_since

    found = corrections_since(store, None, ticket_id=ticket_id)  # type: ignore[arg-type]
    return [as_json(c, t) for c, t in reversed(found)]


def _date(value: str | None, option: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date: write YYYY-MM-DD or 2026-11-21T09:30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def status(args: argparse.Namespace) -> int:
    """`deskbot status`."""
    from bot.ops.status import summarize
    from bot.ops.status_view import render_status, status_json

    store, sources = open_log(args)
    summaries, instances = summarize(store, sources)  # type: ignore[arg-type]
    now = store.now()  # type: ignore[attr-defined]
    if args.json:
        print(json.dumps(status_json(summaries, instances, now), ensure_ascii=False))
    else:
        print(render_status(summaries, instances, now))
    return 0


def retry(args: argparse.Namespace) -> int:
    """`deskbot retry`: re-queue, then say what happens next."""
    from bot.log.history import retry_targets

    store, _ = open_log(args)
    targets = retry_targets(store, reference=args.ticket or "", failed=args.failed)  # type: ignore[arg-type]
    if args.ticket and not targets:
        raise DeskbotError(f"no ticket {args.ticket} in the decision log")
    done = store.requeue([t.id for t in targets if t.id is not None])  # type: ignore[attr-defined]
    for row in done:
        print(f"re-queued {row.reference or '#' + str(row.id)} ({row.source} {row.ref})")
    skipped = len(targets) - len(done)
    if skipped:
        print(f"{skipped} ticket(s) left alone: they are not failed, quarantined or pending")
    if done:
        print("they are retried at the next cycle of their source (a running daemon, or `deskbot run --once`)")
    return 0


def templates_check(args: argparse.Namespace) -> int:
    """`deskbot templates check`: every problem of every template, exit 2 when one is an error."""
    from bot.ack.check import format_report, inspect_templates
    from bot.ack.templates import AckRenderer
    from bot.rules import load_rules

    config = _config_without_secrets(args.config)
    rules = load_rules(args.rules or (config.resolve(config.paths.rules) if config else None))
    templates = args.templates or (config.resolve(config.paths.templates) if config else None)
    report = inspect_templates(AckRenderer(templates), rules)
    for line in format_report(report):
        print(line)
    return 2 if report.errors else 0


def _config_without_secrets(path: Path | None) -> Config | None:
    """The config named by --config, if any, read without its passwords (the command logs in nowhere)."""
    from bot.config.file import load_config

    return load_config(path, secrets=False) if path else None


def ack_preview(args: argparse.Namespace) -> int:
    """`deskbot ack preview`: the message on standard output, what was decided on standard error."""
    from bot.ack.preview import describe, load_setup, preview_ack, wire_text

    try:
        data = args.eml.read_bytes()
    except OSError as exc:
        raise DeskbotError(f"cannot read {args.eml}: {exc.strerror}") from None
    setup = load_setup(_config_without_secrets(args.config))
    preview = preview_ack(data, setup)
    for line in describe(preview, setup):
        print(line, file=sys.stderr)
    if preview.ack is None or preview.ack.message is None:
        print(f"no acknowledgement would be sent: {preview.reason}")
    else:
        print(wire_text(preview.ack.message), end="")
    return 0
