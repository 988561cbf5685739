"""The commands an admin runs on the decision log: `log`, `why`, `status`, `retry`, `purge`.

Each finds its config the same way (bot/config/where.py) and says which file and which log it uses;
`log`, `why` and `status` only read (a read-only copy is enough), `retry` and `purge` write.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, DeskbotError
from bot.log.schema import TicketLog
from bot.log.store import Store


@dataclass
class LogPlace:
    """The decision log a command works on, the config naming it (if any) and its sources."""

    store: Store
    config_path: Path | None = None
    sources: list[str] = field(default_factory=list)


def open_log(args: argparse.Namespace, *, read_only: bool = True) -> LogPlace:
    """The log of --db, else of the config found (--config, $DESKBOT_CONFIG, ./deskbot.toml, the user's)."""
    from bot.config.file import load_config
    from bot.config.where import find_config

    if getattr(args, "db", None):
        url = args.db if "://" in args.db else f"sqlite:///{Path(args.db).resolve()}"
        print(f"deskbot: decision log {url}", file=sys.stderr)
        return LogPlace(Store.open(url, read_only=read_only))
    path = find_config(args.config)
    assert path is not None
    config = load_config(path, secrets=False)
    url = config.database_url()
    print(f"deskbot: config {path}, decision log {url}", file=sys.stderr)
    sources = [f"imap:{m.name}" for m in config.mailbox] + [f"zendesk:{z.name}" for z in config.zendesk] + \
        [f"freshdesk:{f.name}" for f in config.freshdesk]
    if config.api is not None:  # each API client that may post tickets is a source of its own
        sources += [f"api:{t.name}" for t in config.api.tokens if "tickets" in t.scopes]
    return LogPlace(Store.open(url, read_only=read_only), path, sources)


def show_log(args: argparse.Namespace) -> int:
    """`deskbot log`: a table of decisions, one JSON object per line, or (--reference) one ticket's story."""
    from bot.log.history import Filters, actions_of, as_json, search
    from bot.ops.table import clip, format_table

    place = open_log(args)
    store = place.store
    filters = Filters(reference=args.reference or "", sender=args.sender or "", status=args.status or "",
                      source=args.source or "", since=_date(args.since, "--since"), until=_date(args.until, "--until"))
    rows = search(store, filters, limit=args.limit)
    if args.reference and not rows:
        raise DeskbotError(f"no ticket {args.reference} in the decision log")
    if args.json:
        actions = actions_of(store, [r.id for r in rows if r.id is not None])
        for row in rows:
            record = as_json(row, actions[row.id or 0])
            if args.reference:
                record["corrections"] = _corrections(store, row.id)
                record["today"], why_not = _today(place, row)
                if why_not:
                    record["today_not_asked"] = why_not
            print(json.dumps(record, ensure_ascii=False))
        return 0
    if args.reference:
        return _tell(place, rows[0])
    print(format_table(
        ("reference", "when (UTC)", "source", "sender", "subject", "department", "prio", "conf", "status", "note"),
        [[r.reference or f"#{r.id}", f"{r.created_at:%Y-%m-%d %H:%M}", r.source, clip(r.sender, 26),
          clip(r.subject, 30), r.department + ("*" if r.needs_review else ""), r.priority,
          f"{r.confidence:.2f}" if r.confidence is not None else "",
          r.status + (" (pending)" if r.pending else "") + (" (dry run)" if r.dry_run and r.status != "dry-run" else ""),
          clip(r.error or r.ack_skip_reason or ("ack " + r.ack_message_id if r.ack_message_id else "-"), 40)]
         for r in rows],
    ))
    return 0


def why(args: argparse.Namespace) -> int:
    """`deskbot why REF`: the story of one ticket."""
    from bot.log.history import Filters, search

    place = open_log(args)
    rows = search(place.store, Filters(reference=args.ref), limit=1)
    if not rows:
        raise DeskbotError(f"no ticket {args.ref} in the decision log")
    return _tell(place, rows[0])


def _tell(place: LogPlace, row: TicketLog) -> int:
    from bot.log.story import tell, today_lines

    store = place.store
    print("\n".join(tell(store, row)))
    for found in _corrections(store, row.id):
        print(f"{found['kind']} ({found['channel']}, {found['at']}): deskbot {found['deskbot']['department']}/"  # type: ignore[index]
              f"{found['deskbot']['priority'] or '-'}, team {found['team']['department'] or '?'}/"  # type: ignore[index]
              f"{found['team']['priority'] or '?'}")  # type: ignore[index]
    for line in today_lines(*_today(place, row)):
        print(line)
    return 0


def _today(place: LogPlace, row: TicketLog) -> tuple[dict[str, Any] | None, str]:
    """What the config's rules would decide today (bot/ops/hindsight.py), or why that is not said."""
    from bot.ops.hindsight import hindsight

    if place.config_path is None:
        return None, "no config: --db names only the log, not the rules"
    try:
        found = hindsight(place.store, row, place.config_path)
    except DeskbotError as exc:  # a rules file broken since: the story is still worth telling
        return None, f"the rules cannot be used: {exc}"
    if found is None:
        return None, f"the log recorded no decision to compare with (status {row.status})"
    return found.as_json(), ""


def _corrections(store: Store, ticket_id: int | None) -> list[dict[str, object]]:
    """A ticket's corrections and confirmations by the team (bot/learning), oldest first."""
    from bot.learning.corrections import as_json, corrections_since

    found = corrections_since(store, None, ticket_id=ticket_id)
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

    place = open_log(args)
    summaries, instances = summarize(place.store, place.sources)
    now = place.store.now()
    if args.json:
        print(json.dumps(status_json(summaries, instances, now), ensure_ascii=False))
    else:
        print(render_status(summaries, instances, now))
    return 0


def purge(args: argparse.Namespace) -> int:
    """`deskbot purge --older-than SPAN [--bodies-only]` (bot/log/purge.py) or `--dry-runs`."""
    from bot.log.amend import purge_dry_runs
    from bot.log.purge import count_dry_runs, describe, purge_older

    if args.bodies_only and not args.older_than:
        raise DeskbotError("--bodies-only goes with --older-than SPAN (dry-run records are removed whole)")
    store = open_log(args, read_only=args.dry_run).store  # a dry run works on a read-only copy too
    if args.older_than:
        done = purge_older(store, args.older_than, bodies_only=args.bodies_only, dry_run=args.dry_run)
        print("\n".join(describe(done, dry_run=args.dry_run)))
        return 0
    if args.dry_run:
        print(f"would remove {count_dry_runs(store)} dry-run record(s); real tickets are untouched")
        return 0
    removed = purge_dry_runs(store)
    print(f"removed {removed} dry-run record(s); real tickets are untouched")
    return 0
