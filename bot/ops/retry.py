"""`deskbot retry`: after a person fixed the cause, failed tickets are decided again with today's rules and
model (both decisions kept), then re-queued for the daemon; or a ticket that can never succeed is given up.

Re-deciding is the default because the usual cause is in the rules (a folder the server refuses): replaying
the recorded decision would fail the same way. `--keep-decision` replays it as recorded.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bot.errors import DeskbotError
from bot.log.schema import TicketLog
from bot.ops.admin import LogPlace, open_log


def retry(args: argparse.Namespace) -> int:
    """Re-decide (unless --keep-decision) and re-queue, or give up; then say what happens next."""
    from bot.log.history import retry_targets

    place = open_log(args, read_only=False)
    reference = args.give_up or args.ticket or ""
    targets = retry_targets(place.store, reference=reference, failed=args.failed)
    if reference and not targets:
        raise DeskbotError(f"no ticket {reference} in the decision log")
    if args.give_up:
        return _give_up(place, targets[0], args.reason)
    open_ones = [t for t in targets if t.status in ("failed", "quarantined", "received", "decided", "outbox")]
    if not args.keep_decision and open_ones:
        _redecide(place, [t for t in open_ones if t.department and t.status in ("failed", "quarantined")])
    done = place.store.requeue([t.id for t in open_ones if t.id is not None])
    for row in done:
        print(f"re-queued {row.reference or '#' + str(row.id)} ({row.source} {row.ref})")
    skipped = len(targets) - len(done)
    if skipped:
        print(f"{skipped} ticket(s) left alone: they are not failed, quarantined or pending")
    if done:
        print("they are retried at the next cycle of their source (a running daemon, or `deskbot run --once`)")
    return 0


def _redecide(place: LogPlace, rows: Sequence[TicketLog]) -> None:
    """Judge each ticket again with the rules and model the config names today, and record the new decision."""
    from bot.config.file import load_config
    from bot.daemon import build_triage
    from bot.judge import judge
    from bot.log.amend import redecide
    from bot.log.records import row_ticket

    if place.config_path is None:
        raise DeskbotError("re-deciding needs the config's rules and model: name it with --config (or use "
                           "--keep-decision to replay the recorded decisions)")
    if not rows:
        return
    triage = build_triage(load_config(place.config_path, secrets=False))
    triage.store = place.store
    for row in rows:
        assert row.id is not None
        prediction, decision = judge(row_ticket(row), triage)
        was, now = redecide(place.store, row.id, prediction, decision)
        name = row.reference or f"#{row.id}"
        print(f"{name}: decided again with today's rules: {now}" + ("" if now != was else " (unchanged)")
              + (f"; was {was}" if now != was else ""))


def _give_up(place: LogPlace, row: TicketLog, reason: str) -> int:
    from bot.log.amend import give_up

    assert row.id is not None
    done = give_up(place.store, row.id, why=reason)
    if done is None:
        raise DeskbotError(f"{row.reference or row.id} is a dry-run record: nothing to give up")
    print(f"gave up {row.reference or '#' + str(row.id)} ({row.source} {row.ref}): nothing more is tried; "
          "`deskbot status` no longer counts it; the mail stays where it is, flagged if it was")
    return 0
