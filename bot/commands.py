"""What each `deskbot` sub-command does (bot/cli.py parses the arguments)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError, DeskbotError

if TYPE_CHECKING:
    from bot.config.file import Config

logger = logging.getLogger(__name__)


def demo(args: argparse.Namespace) -> int:
    """`deskbot demo`."""
    from bot.ops.demo import default_data_dir, run_demo

    return run_demo(args.data_dir or default_data_dir(), sys.stdout)


def run(args: argparse.Namespace) -> int:
    """`deskbot run`: the daemon, or one cycle with --once; one instance per SQLite log."""
    gc.disable()  # start-up makes long-lived objects: start_sources freezes them, then turns the collector on
    try:
        return _run(args)
    finally:
        gc.enable()  # also when the start failed before that (in-process callers go on)


def _run(args: argparse.Namespace) -> int:
    from bot.ops.loglines import use_format
    from bot.config.file import load_config
    from bot.config.where import find_config
    from bot.log.database import prepare
    from bot.ops.lock import InstanceLock
    from bot.ops.shutdown import Shutdown, StoppedStarting

    path = find_config(args.config)
    assert path is not None
    config = load_config(path)
    use_format(config.logging.format)
    logger.info("config %s, decision log %s", path, config.database_url())
    database = prepare(config.database_url())
    shutdown = Shutdown(daemon=not args.once).install(starting=True)  # a stop while loading the model is clean
    lock = InstanceLock(database) if database is not None and not args.dry_run else contextlib.nullcontext()
    try:
        with lock:
            return _run_with(config, args, shutdown)
    except StoppedStarting as stop:
        logger.warning("%s during start-up: stopped before any work was done", stop.name)
        return shutdown.exit_code() or 0
    finally:
        shutdown.restore()


def _run_with(config: Config, args: argparse.Namespace, shutdown: object) -> int:
    from bot.daemon import build_triage, live_reload, run_once, serve_with_api, sources_of

    triage = build_triage(config, dry_run=args.dry_run)
    if getattr(args, "shadow", None):
        from bot.learning.shadow import ShadowModel

        triage.shadow = ShadowModel.load(args.shadow, triage.store)
    scheduled = sources_of(config, triage)
    reload = live_reload(config, triage, scheduled)  # rules and template edits, each poll and on SIGHUP
    if shutdown.daemon:  # type: ignore[attr-defined]
        shutdown.on_hup = reload.hangup  # type: ignore[attr-defined]
    shutdown.started()  # type: ignore[attr-defined]  # from now on a signal finishes the ticket in hand
    if args.dry_run:
        print("dry run: decisions are recorded, nothing is changed on any server, nothing is sent",
              file=sys.stderr)
    stop = shutdown.stop  # type: ignore[attr-defined]
    if not args.once:
        serve_with_api(config, scheduled, triage, stop=stop, reload=reload)
        return shutdown.exit_code() or 0  # type: ignore[attr-defined, no-any-return]
    reports = run_once(scheduled, triage, stop=stop)
    for report in reports:
        print(f"{report.name}: {report.summary()}")
    return shutdown.exit_code() or (1 if any(r.failed for r in reports) else 0)  # type: ignore[attr-defined, no-any-return]


def serve(args: argparse.Namespace) -> int:
    """`deskbot serve`: the HTTP API of a config's [api] table, without polling; one instance per SQLite log."""
    from bot.ops.loglines import use_format
    from bot.config.file import load_config
    from bot.daemon import build_triage, live_reload, serve_with_api, sources_of
    from bot.log.database import prepare
    from bot.ops.lock import InstanceLock
    from bot.ops.shutdown import Shutdown

    config = load_config(args.config)
    use_format(config.logging.format)
    if config.api is None:
        raise ConfigError("no [api] table: add one to serve the HTTP API (see README.md, HTTP API)",
                          path=str(args.config))
    database = prepare(config.database_url())
    with InstanceLock(database) if database is not None else contextlib.nullcontext():
        triage = build_triage(config)
        scheduled = sources_of(config, triage)
        reload = live_reload(config, triage, scheduled)  # rules and template edits, each cycle and on SIGHUP
        shutdown = Shutdown(daemon=True, on_hup=reload.hangup).install()
        try:
            serve_with_api(config, scheduled, triage, stop=shutdown.stop, poll=False, reload=reload)
        finally:
            shutdown.restore()
    return shutdown.exit_code() or 0


def check(args: argparse.Namespace) -> int:
    """`deskbot check` (bot/ops/check.py): every error of a config at once."""
    from bot.ops.check import check as check_all

    return check_all(args)


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


def log(args: argparse.Namespace) -> int:
    """`deskbot log` (bot/ops/admin.py)."""
    from bot.ops.admin import show_log

    return show_log(args)


def why(args: argparse.Namespace) -> int:
    """`deskbot why REF` (bot/ops/admin.py)."""
    from bot.ops.admin import why as tell

    return tell(args)


def status(args: argparse.Namespace) -> int:
    """`deskbot status` (bot/ops/admin.py)."""
    from bot.ops.admin import status as show

    return show(args)


def retry(args: argparse.Namespace) -> int:
    """`deskbot retry` (bot/ops/retry.py)."""
    from bot.ops.retry import retry as requeue

    return requeue(args)


def purge(args: argparse.Namespace) -> int:
    """`deskbot purge --older-than SPAN` or `--dry-runs` (bot/ops/admin.py, bot/log/purge.py)."""
    from bot.ops.admin import purge as remove

    return remove(args)


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
    if preview.ack is None or preview.ack.wire is None:
        print(f"no acknowledgement would be sent: {preview.reason}")
    else:
        print(wire_text(preview.ack.wire), end="")
    return 0
