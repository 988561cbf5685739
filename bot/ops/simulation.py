"""`deskbot simulate`: re-decide the recorded tickets of a period with new rules and/or a new model, and say
what would change. Read-only: the decision log is opened read-only, nothing is sent or changed anywhere.

Without `--model` the recorded prediction of each ticket is reused (the model is asked only for a ticket
whose old decision did not ask it and whose new one needs it), so ten thousand tickets take seconds.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from sqlalchemy import create_engine
from sqlmodel import Session, col, select

from bot.decide import decide, needs_model
from bot.errors import ConfigError, DeskbotError
from bot.log.records import as_utc, row_ticket
from bot.log.schema import TicketLog
from bot.models import Prediction, PriorTicket
from bot.ops.inspection import rules_source
from bot.ops.shift import Change, Summary, summary_lines
from bot.rules import RuleSet, load_rules
from classifier.text import ticket_text

_PERIOD = re.compile(r"^(\d+)([dhw])$")


def simulate(args: argparse.Namespace, out: TextIO) -> int:
    """Re-decide the period's tickets; print the moves (or --json). Exit 1 when a ticket could not be re-decided."""
    from bot.config.file import load_config

    config = load_config(args.config, secrets=False)
    path, context = rules_source(args.config, args.rules)
    rules = load_rules(path, context=context)
    since = datetime.now(timezone.utc) - period(args.since)
    model = _model(config, args.model) if args.model else None
    rows = recorded(open_readonly(config), since)
    summary = resimulate(rows, rules, model=model, fallback=functools.cache(lambda: _model(config, None)))
    if args.json:
        out.write(json.dumps(summary.as_json(args.since), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write("\n".join(summary_lines(summary, args.since)) + "\n")
    return 1 if summary.errors else 0


def period(value: str) -> timedelta:
    """'30d', '12h', '2w' as a timedelta."""
    match = _PERIOD.match(value.strip())
    if not match:
        raise ConfigError(f"--since {value!r}: give a period like 30d, 12h or 2w")
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(days=number) if unit == "d" else timedelta(hours=number) if unit == "h" else timedelta(weeks=number)


def open_readonly(config: Any) -> Session:
    """A session on the config's decision log that cannot write (SQLite opened with mode=ro)."""
    from bot.log.database import sqlite_path

    url = config.database_url()
    path = sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise DeskbotError(f"no decision log at {path} (nothing recorded yet)")
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    return Session(create_engine(url))


def recorded(session: Session, since: datetime) -> list[TicketLog]:
    """The tickets recorded since then that were decided (not automated mail, duplicates, dry runs or unreadable)."""
    query = select(TicketLog).where(col(TicketLog.created_at) >= since,
                                    col(TicketLog.kind) == "ticket", col(TicketLog.duplicate_of).is_(None),
                                    col(TicketLog.dry_run).is_(False), col(TicketLog.department) != "")
    return list(session.exec(query.order_by(col(TicketLog.id))))


def resimulate(rows: list[TicketLog], rules: RuleSet, *, model: Any = None, fallback: Any = None) -> Summary:
    """Each row decided again; the summary of what moved."""
    by_id = {row.id: row for row in rows}
    predictions = _predict_all(rows, model) if model is not None else {}
    summary = Summary(len(rows))
    for row in rows:
        ticket = row_ticket(row)
        now = as_utc(row.created_at)
        prior = _prior(row, by_id)
        prediction = predictions.get(row.id) or recorded_prediction(row)
        try:
            if prediction is None and needs_model(ticket, rules, now=now, prior=prior):
                fallback_model = fallback()
                prediction = fallback_model.predict(ticket_text(ticket.subject, ticket.text))
            new = decide(ticket, prediction, rules, now=now, prior=prior)
        except Exception as exc:  # noqa: BLE001 - one ticket that cannot be re-decided is reported, not fatal
            summary.errors.append(f"{row.reference or row.id}: {type(exc).__name__}: {exc}")
            continue
        summary.add(Change.of(row, new))
    return summary


def recorded_prediction(row: TicketLog) -> Prediction | None:
    """The prediction recorded with the row (None when the model was not asked)."""
    if not row.predicted_department:
        return None
    return Prediction(department=row.predicted_department, priority=row.predicted_priority or None,
                      confidence=row.confidence or 0.0, priority_confidence=None,
                      department_scores=json.loads(row.department_scores or "{}"),
                      priority_scores=json.loads(row.priority_scores or "{}"), top_terms=(), language=row.language,
                      model_version=row.model_version)


def _prior(row: TicketLog, by_id: dict[int | None, TicketLog]) -> PriorTicket | None:
    original = by_id.get(row.follow_up_of) if row.follow_up_of else None
    if original is None or original.id is None:
        return None
    return PriorTicket(ticket_id=original.id, department=original.department, reference=original.reference or "",
                       acknowledged=original.ack_template is not None)


def _predict_all(rows: list[TicketLog], model: Any) -> dict[int | None, Prediction]:
    texts = [ticket_text(row.subject, row.text) for row in rows]
    return dict(zip((row.id for row in rows), model.predict_many(texts), strict=True))


def _model(config: Any, directory: Any) -> Any:
    from bot.daemon import load_classifier

    return load_classifier(directory or config.resolve(config.paths.model), config.resolve(config.paths.cache))


__all__ = ["open_readonly", "period", "recorded", "resimulate", "simulate"]
