"""Learning from agents, measured: a simulated team on the shared v3 data, and the report on 100,000 tickets.

    .venv/bin/python bench/learning.py [--data-dir ../shared/data] [--weeks 8] [--per-week 500] [--test 1000]
                                       [--report-tickets 100000] [--min-gain 0.0]

1. A fixed test set of --test v3 tickets (stratified by department and priority; CC BY-NC, read from --data-dir,
   never copied into the repo; queues mapped to the default departments as in bench/default_model.py) is set
   aside: those tickets never arrive. deskbot starts from the default model. Each week the next tickets of the
   rest of the shuffled file arrive (at most --per-week, fewer when the file runs short); deskbot predicts and
   decides each one (the shipped rules) and records it in a real SQLite decision log; agents correct every
   department or priority deskbot got wrong and solve the rest (a confirmation), both through the code the
   connectors feed (bot/learning/corrections.py); at the end of the week `deskbot retrain` runs
   (bot/learning/retrain.py: corpus plus corrections and confirmations; both models scored on the most recent
   labelled tickets the current model never saw, at most evaluate_last = 200 of them, the candidate by 4-fold
   cross-validation) and its candidate goes live when better by --min-gain, as auto_apply does.
   Printed per week: department and priority macro-F1 of that week's live model on the fixed test set (the same
   tickets every week, so weeks compare), and the share of the week's arrivals agents had to correct. At the
   end: a model trained on every label seen (corpus plus the true labels of all earlier weeks) on the same test
   set, the target the last week's model should end within 0.03 of.
2. `deskbot report` (bot/report) on a generated log of --report-tickets tickets: time to build it, and its size.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from sklearn.metrics import f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from bot.decide import decide  # noqa: E402
from bot.learning.corrections import record_observation  # noqa: E402
from bot.learning.registry import ModelRegistry  # noqa: E402
from bot.learning.retrain import Lessons, build_candidate, compare  # noqa: E402
from bot.log.feedback import CORRECTION  # noqa: E402
from bot.log.store import Store  # noqa: E402
from bot.models import Ticket  # noqa: E402
from bot.rules import load_rules  # noqa: E402
from bot.sla import BusinessHours  # noqa: E402
from classifier.dataset import read_dataset  # noqa: E402
from classifier.starter import load_default  # noqa: E402
from connectors.base import Observation  # noqa: E402

QUEUE_TO_DEPARTMENT = {  # as bench/default_model.py (issue 12); Human Resources has no default department
    "Billing and Payments": "billing", "Technical Support": "technical", "IT Support": "technical",
    "Product Support": "technical", "Service Outages and Maintenance": "technical",
    "Returns and Exchanges": "orders", "Sales and Pre-Sales": "sales", "Customer Service": "general",
    "General Inquiry": "general"}
START = datetime(2026, 9, 7, 9, tzinfo=timezone.utc)  # a Monday


Row = tuple[str, str, str]  # text, department, priority


def read_v3(data_dir: Path, seed: int) -> list[Row]:
    """(text, department, priority) of every mapped v3 ticket, shuffled."""
    path = data_dir / "tickets-multilang-v3.csv"
    if not path.exists():
        sys.exit(f"no {path.name} in {data_dir}: pass --data-dir (see /work/shared/data/README.md)")
    data = read_dataset(path, department_column="queue")
    rows = [(t, QUEUE_TO_DEPARTMENT[d], p) for t, d, p in zip(data.texts, data.departments, data.priorities or [])
            if d in QUEUE_TO_DEPARTMENT]
    random.Random(seed).shuffle(rows)
    return rows


def set_aside(rows: list[Row], size: int, seed: int) -> tuple[list[Row], list[Row]]:
    """(arrivals, test set): `size` tickets stratified by department and priority, the rest in their order."""
    index = list(range(len(rows)))
    _, test = train_test_split(index, test_size=size, random_state=seed, stratify=[f"{d}/{p}" for _, d, p in rows])
    held = set(test)
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in sorted(held)]


def macro_f1(model: object, rows: list[Row]) -> tuple[float, float]:
    """Department and priority macro-F1 of `model` on `rows`."""
    guesses = model.predict_many([t for t, _, _ in rows])  # type: ignore[attr-defined]
    return (f1_score([d for _, d, _ in rows], [g.department for g in guesses], average="macro", zero_division=0),
            f1_score([p for _, _, p in rows], [g.priority or "" for g in guesses], average="macro", zero_division=0))


class Team:
    """The simulated deployment: a decision log, the rules, and the live model."""

    def __init__(self, folder: Path, model: object) -> None:
        self.now = START
        self.store = Store.open(f"sqlite:///{folder / 'log.sqlite3'}", clock=lambda: self.now)
        self.registry = ModelRegistry(folder / "models")
        self.rules = load_rules()
        self.calendar = BusinessHours.from_spec(self.rules.business_hours)
        self.model = model
        self.seen = 0

    def week(self, tickets: list[Row]) -> float:
        """Decide, record and have agents correct or solve one week's tickets: the share they corrected."""
        predictions = self.model.predict_many([t for t, _, _ in tickets])  # type: ignore[attr-defined]
        corrected = 0
        for (text, department, priority), prediction in zip(tickets, predictions):
            self.seen += 1
            self.now = self.now + timedelta(minutes=10)
            ticket = Ticket(source="zendesk:sim", key=f"zendesk:sim:{self.seen}", ref=str(self.seen), sender="c@example.com",
                            sender_name="", subject="", body=text, text=text, language=prediction.language)
            decision = decide(ticket, prediction, self.rules, now=self.now, calendar=self.calendar)
            self.store.record_decision(ticket, prediction, decision, kinds=(), cursor=None)
            found = record_observation(self.store, Observation(
                source="zendesk:sim", key=ticket.key, departments=(("zendesk", department),), priority=priority,
                solved=True, at=self.now + timedelta(hours=4)))
            corrected += found is not None and found.kind == CORRECTION
        return corrected / len(tickets)

    def retrain(self, min_gain: float, test: list[Row]) -> str:
        """`deskbot retrain` with auto_apply: the candidate goes live when better by min_gain. A refused candidate
        is also scored on the test set, to show whether retrain's own comparison was right to refuse it."""
        candidate, verdict = compare(self.store, self.model, [], evaluate_last=200, min_gain=min_gain)
        self.registry.add(candidate)
        if verdict.better:
            self.registry.use(candidate.version)
            self.model = candidate
        low, high = verdict.interval or (float("nan"), float("nan"))
        note = (f"retrain: current {verdict.current.score:.3f}, candidate {verdict.candidate.score:.3f} on "
                f"{verdict.evaluated} tickets (gain {verdict.gain:+.3f}, 90% interval {low:+.3f} to {high:+.3f}), "
                f"{'applied' if verdict.better else 'kept the current model'}")
        if verdict.better:
            return note
        dept, prio = macro_f1(candidate, test)
        return note + f" (the refused candidate on the test set: {dept:.3f} / {prio:.3f})"


def simulate(args: argparse.Namespace, cache: Path) -> None:
    """The weekly table, then the model trained on every label seen, all on one fixed test set."""
    arrivals, test = set_aside(read_v3(args.data_dir, args.seed), args.test, args.seed)
    per_week = min(args.per_week, len(arrivals) // args.weeks)
    print(f"## A simulated team: {args.weeks} weeks of {per_week} v3 tickets; every week's model scored on the same "
          f"{len(test)} tickets set aside (stratified by department and priority; they never arrive)")
    print("| week | department macro-F1 | priority macro-F1 | corrected by agents | retraining at the end of the week |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        team = Team(Path(folder), load_default(cache))
        for week in range(args.weeks):
            started = time.perf_counter()
            dept, prio = macro_f1(team.model, test)
            corrected = team.week(arrivals[week * per_week:(week + 1) * per_week])
            note = team.retrain(args.min_gain, test) if week < args.weeks - 1 else "(last week)"
            print(f"| {week + 1} | {dept:.3f} | {prio:.3f} | {corrected:.1%} | {note} ({time.perf_counter() - started:.0f} s) |",
                  flush=True)
    seen = arrivals[:(args.weeks - 1) * per_week]
    oracle = build_candidate([], Lessons([t for t, _, _ in seen], [d for _, d, _ in seen], [p for _, _, p in seen],
                                         [START] * len(seen)))
    dept, prio = macro_f1(oracle, test)
    print(f"\nA model trained on every label seen (corpus plus all {len(seen)} earlier tickets' true labels), on the "
          f"same test set: department macro-F1 {dept:.3f}, priority macro-F1 {prio:.3f}")


def time_report(tickets: int) -> None:
    from bot.report.document import build_report
    from tests.learning_log import END, fill_log

    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'log.sqlite3'}", clock=lambda: END)
        started = time.perf_counter()
        fill_log(store, tickets, days=56, end=END)
        filled = time.perf_counter() - started
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            html = build_report(store, since=END - timedelta(days=56))
            timings.append(time.perf_counter() - started)
    print(f"\n## deskbot report on {tickets:,} logged tickets (8 weeks; log written in {filled:.1f} s)")
    print(f"build time: {min(timings):.2f} s best of 3 (runs: {', '.join(f'{t:.2f}' for t in timings)}); "
          f"target <= 10 s; file size {len(html.encode()) / 1024:.1f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".." / "shared" / "data")
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--per-week", type=int, default=500)
    parser.add_argument("--test", type=int, default=1000, help="tickets set aside to score every week on")
    parser.add_argument("--min-gain", type=float, default=0.0, help="as [learning] min_gain (default 0.0)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--report-tickets", type=int, default=100_000)
    parser.add_argument("--skip-simulation", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "deskbot-bench-cache")
    args = parser.parse_args()
    if not args.skip_simulation:
        simulate(args, args.cache)
    if args.report_tickets:
        time_report(args.report_tickets)


if __name__ == "__main__":
    main()
