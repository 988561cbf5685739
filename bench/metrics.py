"""What metrics cost: the hooks per ticket, and one scrape of /metrics and /healthz over a large decision log.

    .venv/bin/python bench/metrics.py                          # 100,000 tickets through the hooks, 100,000 in the log
    .venv/bin/python bench/metrics.py --tickets 5000 --log 5000  # quick

Per ticket the pipeline makes one count_decision, one count_action per action (four: write_back, acknowledge,
file, and one more for a flag in some) and one classification timing; per cycle one count_cycle. The scrape
reads backlog and outbox from the decision log (two grouped queries over `ticket`, one over `source_state`)
and /healthz reads `source_state`: both are timed on a SQLite log of --log tickets over three sources.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import generate_latest  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.log.schema import SourceState, TicketLog  # noqa: E402
from bot.log.store import Store  # noqa: E402
from bot.models import Decision  # noqa: E402
from bot.ops import metrics  # noqa: E402
from bot.ops.health import Health  # noqa: E402
from bot.triage import Outcome, SourceReport  # noqa: E402

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=timezone.utc)
SOURCES = ("imap:support", "zendesk:acme", "freshdesk:shop")
DEPARTMENTS = ("billing", "technical", "account", "orders", "sales")
PRIORITIES = ("low", "normal", "high", "urgent")
KINDS = ("write_back", "acknowledge", "file", "note")


def hooks(tickets: int) -> float:
    """Microseconds per ticket spent in the metric hooks (no I/O: the counters only)."""
    store = SimpleNamespace(now=lambda: NOW)
    model = SimpleNamespace(predict=lambda text: None)
    triage = SimpleNamespace(metrics=metrics.Metrics(), dry_run=False, store=store, classifier=model)
    rng = random.Random(7)
    decisions = [Decision(department=d, priority=p, tags=(), group=None, folder=None, needs_review=r,
                          sla_hours=8.0, sla_due=None, language="en", ack_template=None if r else "ack",
                          ack_skip_reason="rule vip" if r else None, reasons=())
                 for d in DEPARTMENTS for p in PRIORITIES for r in (False, True)]
    row = SimpleNamespace(received_at=NOW - timedelta(seconds=3))
    started = time.perf_counter()
    for index in range(tickets):
        source = SOURCES[index % len(SOURCES)]
        metrics.predict(triage, "text")  # type: ignore[arg-type]
        metrics.count_decision(triage, source, rng.choice(decisions))  # type: ignore[arg-type]
        for kind in KINDS:
            metrics.count_action(triage, source, kind, "done", row)  # type: ignore[arg-type]
        if index % 50 == 0:
            report = SourceReport(source, [Outcome("1", "done")] * 49 + [Outcome("2", "retry")])
            metrics.count_cycle(triage, report, 0.2)  # type: ignore[arg-type]
    return (time.perf_counter() - started) / tickets * 1e6


def fill_log(store: Store, tickets: int) -> None:
    """`tickets` rows over three sources: most done, some pending, some waiting in the outbox."""
    rng = random.Random(11)
    statuses = ["done"] * 90 + ["outbox"] * 3 + ["decided"] * 5 + ["failed"] * 2
    with Session(store.engine) as session:
        for index in range(tickets):
            state = rng.choice(statuses)
            session.add(TicketLog(source=SOURCES[index % 3], key=f"k{index}", ref=str(index), created_at=NOW,
                                  status=state, pending=state in ("outbox", "decided")))
            if index % 5000 == 4999:
                session.commit()
        for source in SOURCES:
            session.add(SourceState(source=source, last_error="", lease_owner="", backlog=rng.randint(0, 40),
                                    last_success_at=NOW - timedelta(minutes=1)))
        session.commit()


def scrape(store: Store, rounds: int) -> tuple[float, float, int]:
    """Milliseconds per /metrics text and per /healthz answer; bytes of one scrape."""
    numbers = metrics.Metrics()
    numbers.watch(store, SimpleNamespace(version="bench"), SOURCES)
    started = time.perf_counter()
    for _ in range(rounds):
        text = generate_latest(numbers.registry)
    per_scrape = (time.perf_counter() - started) / rounds * 1000
    health = Health(store, SOURCES, timedelta(minutes=15), NOW)
    started = time.perf_counter()
    for _ in range(rounds):
        assert health.answer()[0] == 200
    return per_scrape, (time.perf_counter() - started) / rounds * 1000, len(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets through the hooks")
    parser.add_argument("--log", type=int, default=100_000, help="tickets in the decision log that is scraped")
    parser.add_argument("--rounds", type=int, default=20, help="scrapes to average")
    args = parser.parse_args()
    print(f"hooks: {hooks(args.tickets):.1f} us per ticket (1 decision, {len(KINDS)} actions, 1 prediction timed)")
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{folder}/log.sqlite3", clock=lambda: NOW)
        fill_log(store, args.log)
        per_scrape, per_health, size = scrape(store, args.rounds)
    print(f"scrape over {args.log:,} logged tickets: /metrics {per_scrape:.1f} ms ({size:,} bytes), "
          f"/healthz {per_health:.2f} ms")


if __name__ == "__main__":
    main()
