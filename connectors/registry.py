"""Which constructor builds a source from which config table: a new kind of source is one module plus one line."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.config.file import Config
from bot.rules import RuleSet
from connectors.base import Source

if TYPE_CHECKING:
    import httpx  # imported by the helpdesk sources themselves: a mail-only daemon starts without it


@dataclass(frozen=True)
class Needs:
    """What a source may need besides its own table: passed in, never looked up globally."""

    config: Config
    rules: RuleSet
    clock: Callable[[], datetime]
    transport: httpx.BaseTransport | None = None  # tests and benchmarks plug helpdesk fakes in here


def _imap(table: Any, needs: Needs) -> Source:
    from connectors.imap import ImapSource
    from connectors.smtp import SmtpMailer

    mailer = SmtpMailer(needs.config.smtp) if needs.config.smtp else None
    return ImapSource(table, rules=needs.rules, mailer=mailer)


def _helpdesk(module: str, cls: str) -> Callable[[Any, Needs], Source]:
    def build(table: Any, needs: Needs) -> Source:
        source_class = getattr(importlib.import_module(module), cls)
        return source_class(table, rules=needs.rules, transport=needs.transport, clock=needs.clock)  # type: ignore[no-any-return]
    return build


# config table name -> constructor (the table name is also the config key: [[mailbox]], [[zendesk]], …)
BUILDERS: dict[str, Callable[[Any, Needs], Source]] = {
    "mailbox": _imap,
    "zendesk": _helpdesk("connectors.zendesk", "ZendeskSource"),
    "freshdesk": _helpdesk("connectors.freshdesk", "FreshdeskSource"),
}


@dataclass(frozen=True)
class Scheduled:
    """A source and how often it is polled."""

    source: Source
    poll_seconds: int


def build_sources(needs: Needs) -> list[Scheduled]:
    """Every source of the config, in the order of its tables."""
    out = []
    for kind, build in BUILDERS.items():
        for table in getattr(needs.config, kind):
            out.append(Scheduled(build(table, needs), table.poll_seconds))
    return out
