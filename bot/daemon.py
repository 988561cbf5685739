"""Builds a Triage from the config and runs it: once, or on an APScheduler interval per mailbox."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parseaddr
from pathlib import Path

from bot.ack import AckRenderer
from bot.config import Config, MailboxConfig
from bot.errors import DeskbotError
from bot.pipeline import Outcome, Triage, run_cycle
from bot.rules import load_rules
from bot.sla import BusinessHours
from bot.store import Store
from connectors.imap import ImapSource
from connectors.smtp import SmtpMailer

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(timezone.utc)


def default_cache_dir() -> Path:
    """Where built models are cached: $XDG_CACHE_HOME/deskbot."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deskbot"


def load_classifier(model_dir: Path | None, cache_dir: Path | None) -> object:
    """A trained model from `model_dir`, else the default one (built from the shipped corpus once)."""
    from classifier.model import load, load_default  # heavy import (scikit-learn): only when needed

    if model_dir is not None:
        return load(model_dir)
    return load_default(cache_dir or default_cache_dir())


def build_triage(config: Config, *, dry_run: bool = False, clock: Callable[[], datetime] = utc_now) -> Triage:
    """Load rules, model, templates and the database named in the config."""
    rules = load_rules(config.resolve(config.paths.rules))
    from_address = config.smtp.from_ if config.smtp else ""
    own = {parseaddr(from_address)[1].lower()} | {m.username.lower() for m in config.mailbox if "@" in m.username}
    return Triage(
        classifier=load_classifier(config.resolve(config.paths.model), config.resolve(config.paths.cache)),  # type: ignore[arg-type]
        rules=rules,
        calendar=BusinessHours.from_spec(rules.business_hours),
        store=Store.open(config.database_url()),
        renderer=AckRenderer(config.resolve(config.paths.templates)),
        clock=clock,
        mailer=SmtpMailer(config.smtp) if config.smtp else None,
        from_address=from_address,
        dry_run=dry_run,
        own_addresses=frozenset(own - {""}),
    )


@dataclass
class MailboxReport:
    """One mailbox's cycle: what happened to each item, or why the mailbox could not be read."""

    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""

    def summary(self) -> str:
        """One line: the error, or how many items ended in each status ("3 done, 1 skipped")."""
        if self.error:
            return f"ERROR {self.error}"
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing new"


def run_mailbox(mailbox: MailboxConfig, triage: Triage) -> MailboxReport:
    """One cycle on one mailbox; its failure is reported, never raised to the other mailboxes."""
    report = MailboxReport(mailbox.name)
    try:
        with ImapSource(mailbox) as source:
            report.outcomes = run_cycle(source, triage)
    except DeskbotError as exc:
        report.error = str(exc)
        log.error("mailbox %s: %s", mailbox.name, exc)
    except Exception as exc:  # noqa: BLE001 - a bug in one mailbox's cycle must not stop the daemon
        report.error = f"{type(exc).__name__}: {exc}"
        log.exception("mailbox %s: unexpected error", mailbox.name)
    log.info("mailbox %s: %s", mailbox.name, report.summary())
    return report


def run_once(config: Config, triage: Triage) -> list[MailboxReport]:
    """One cycle over every mailbox, one after the other."""
    return [run_mailbox(mailbox, triage) for mailbox in config.mailbox]


def serve(config: Config, triage: Triage) -> None:
    """Run until SIGTERM/SIGINT: one interval job per mailbox, never two at once for the same mailbox."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=timezone.utc)
    for mailbox in config.mailbox:
        scheduler.add_job(
            run_mailbox, "interval", args=(mailbox, triage), seconds=mailbox.poll_seconds, id=mailbox.name,
            next_run_time=triage.clock(), max_instances=1, coalesce=True, misfire_grace_time=mailbox.poll_seconds,
        )

    def stop(signum: int, frame: object) -> None:
        log.info("signal %s: stopping after the running cycles", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    log.info("deskbot running: %d mailbox(es); Ctrl-C or SIGTERM stops", len(config.mailbox))
    try:
        scheduler.start()
    except KeyboardInterrupt:
        pass
