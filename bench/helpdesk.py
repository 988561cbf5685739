"""Helpdesk sources at scale: 2,000 new tickets in each fake at its default rate limits.

Drives ZendeskSource and FreshdeskSource through the Source protocol the way the pipeline does
(fetch, parse, plan, perform; a second cycle that must write nothing), on a simulated clock that
only moves when deskbot paces itself or a 429 makes it wait, and reports per helpdesk: our own wall
time, the simulated time it took, API reads (to pull, and per ticket) and writes per ticket, ticket
updates per simulated minute against the documented Update Ticket limit (Zendesk 100 a minute per
account, besides 30 per ticket per 10 minutes; Freshdesk Pro 160 a minute), tickets per minute against
the ceiling the documented limits allow, and 429s received.

    .venv/bin/python bench/helpdesk.py [--tickets 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config.file import FreshdeskConfig, ZendeskConfig  # noqa: E402
from bot.rules import load_rules  # noqa: E402
from connectors.freshdesk import FreshdeskSource  # noqa: E402
from connectors.helpdesk import HelpdeskSource  # noqa: E402
from connectors.zendesk import ZendeskSource  # noqa: E402
from tests.fakes.decisions import GROUPS, action, decision  # noqa: E402
from tests.fakes.freshdesk import FakeFreshdesk  # noqa: E402
from tests.fakes.limits import FakeClock  # noqa: E402
from tests.fakes.zendesk import FakeZendesk  # noqa: E402

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SUBJECTS = ["Invoice shows the wrong VAT number", "Cannot log in after password reset", "Lamp arrived broken",
            "Rechnung doppelt abgebucht", "Sync hängt seit gestern", "Need a quote for 40 licences"]


@dataclass
class Result:
    """What one run through one helpdesk measured."""

    name: str
    tickets: int
    wall: float
    simulated_minutes: float
    pull_reads: int
    other_reads: int
    writes: int
    updates: int  # PUT on the ticket (the endpoint with the documented update limit)
    throttled: int
    second_run_writes: int
    ceiling: float
    update_limit: int


def cycle(source: HelpdeskSource, cursor: str | None, recorded: set[str]) -> tuple[str | None, int]:
    """One pipeline-like cycle: new tickets are acted on, recorded ones only move the cursor."""
    acted = 0
    made = decision()
    with source:
        for item in source.fetch_new(cursor):
            ticket = source.parse(item)
            if ticket.key not in recorded:
                recorded.add(ticket.key)
                for kind in source.plan(made):
                    source.perform(action(kind, ticket, made))
                acted += 1
            cursor = item.cursor
    return cursor, acted


def measure(name: str, fake: FakeZendesk | FakeFreshdesk, source: HelpdeskSource, clock: FakeClock, count: int,
            pull_path: str, ceiling: float, update_limit: int) -> Result:
    for n in range(count):
        fake.create_ticket(f"{SUBJECTS[n % len(SUBJECTS)]} #{n}", "Hello, please help.\n\nThanks, a customer")
    clock.advance(61)  # Zendesk's export leaves out the last minute
    recorded: set[str] = set()
    started, simulated = time.perf_counter(), clock()
    cursor, acted = cycle(source, None, recorded)
    wall, minutes = time.perf_counter() - started, (clock() - simulated).total_seconds() / 60
    assert acted == count, (acted, count)
    first = list(fake.calls)
    writes_before = sum(1 for method, _ in fake.calls if method in ("PUT", "POST"))
    clock.advance(61)
    cycle(source, cursor, recorded)
    second_writes = sum(1 for method, _ in fake.calls if method in ("PUT", "POST")) - writes_before
    pulls = sum(1 for method, path in first if method == "GET" and (path == pull_path or path.startswith(pull_path + "/")
                                                                        and "incremental" in path))
    reads = sum(1 for method, _ in first if method == "GET") - pulls
    writes = sum(1 for method, _ in first if method in ("PUT", "POST"))
    updates = sum(1 for method, _ in first if method == "PUT")
    return Result(name, count, wall, minutes, pulls, reads, writes, updates, fake.throttled, second_writes, ceiling,
                  update_limit)


def zendesk(count: int) -> Result:
    clock = FakeClock()
    fake = FakeZendesk(clock)
    for group in GROUPS:
        fake.add_group(group)
    config = ZendeskConfig(name="bench", url="https://bench.zendesk.com", email=fake.email, token_env="T",
                           token=fake.token, start=START)
    source = ZendeskSource(config, rules=load_rules(), transport=httpx.MockTransport(fake), clock=clock,
                           sleep=clock.sleep)
    # Two Update Ticket calls per ticket against 100 a minute per account.
    return measure("Zendesk", fake, source, clock, count, "/api/v2/incremental", ceiling=100 / 2, update_limit=100)


def freshdesk(count: int) -> Result:
    clock = FakeClock()
    fake = FakeFreshdesk(clock)
    for group in GROUPS:
        fake.add_group(group)
    config = FreshdeskConfig(name="bench", url="https://bench.freshdesk.com", api_key_env="K", api_key=fake.api_key,
                             start=START)
    source = FreshdeskSource(config, rules=load_rules(), transport=httpx.MockTransport(fake), clock=clock,
                             sleep=clock.sleep)
    # Four calls per ticket (re-read, update, note, reply) against 400 a minute (Pro plan).
    return measure("Freshdesk", fake, source, clock, count, "/api/v2/tickets", ceiling=400 / 4, update_limit=160)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=2000)
    count = parser.parse_args().tickets
    print("| helpdesk | tickets | wall s (ours) | simulated min | pull reads/ticket | other reads/ticket "
          "| writes/ticket | updates/min | documented update limit/min | tickets/min | ceiling/min | 429s "
          "| 2nd run writes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in (zendesk(count), freshdesk(count)):
        minutes = r.simulated_minutes or float("nan")
        print(f"| {r.name} | {r.tickets} | {r.wall:.1f} | {r.simulated_minutes:.1f} | {r.pull_reads / r.tickets:.3f} "
              f"| {r.other_reads / r.tickets:.3f} | {r.writes / r.tickets:.2f} | {r.updates / minutes:.1f} "
              f"| {r.update_limit} | {r.tickets / minutes:.1f} | {r.ceiling:.0f} | {r.throttled} "
              f"| {r.second_run_writes} |")

if __name__ == "__main__":
    main()
