"""What the report shows, read from the decision log in a few column-only queries (100,000 tickets in seconds)."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from bot.learning.accuracy import Decided, Label, week_of, weekly
from bot.log.feedback import CONFIRMATION, Correction, ShadowDecision
from bot.log.records import as_utc
from bot.log.schema import ActionLog, SourceState, TicketLog
from bot.log.store import Store

SLA_BUCKETS = (4, 8, 16, 24, 48)  # business hours; the last bucket is "over 48"
_RULE = re.compile(r'"(?:rule ([^:"]+)|(low-confidence|priority-guard|no-route|unknown-priority|follow-up)[^"]*?):')


@dataclass
class Facts:
    """Everything the report draws, for tickets decided from `since` to `until`."""

    since: datetime
    until: datetime
    weeks: list[date] = field(default_factory=list)
    volume_by_department: dict[str, Counter[date]] = field(default_factory=lambda: defaultdict(Counter))
    volume_by_priority: dict[str, Counter[date]] = field(default_factory=lambda: defaultdict(Counter))
    accuracy: list[dict[str, Any]] = field(default_factory=list)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    corrections: int = 0
    confirmations: int = 0
    sla_buckets: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)  # in time | late | not known
    rules: Counter[str] = field(default_factory=Counter)
    acks_sent: int = 0
    acks_suppressed: Counter[str] = field(default_factory=Counter)
    sources: list[dict[str, Any]] = field(default_factory=list)
    tickets: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    shadows: list[dict[str, Any]] = field(default_factory=list)  # per shadow model: beside live, against agents


def gather(store: Store, since: datetime, until: datetime) -> Facts:
    """Read the log once per table and aggregate in memory."""
    facts = Facts(since=since, until=until)
    t = TicketLog.__table__  # type: ignore[attr-defined]
    query = sa.select(t.c.id, _raw(t.c.created_at), _raw(t.c.updated_at), t.c.source, t.c.status, t.c.kind,
                      t.c.department, t.c.priority, t.c.needs_review, t.c.sla_hours, _raw(t.c.sla_due),
                      t.c.ack_skip_reason, t.c.reasons) \
        .where(t.c.dry_run == sa.false(), t.c.duplicate_of.is_(None), t.c.created_at >= since, t.c.created_at < until)
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
        labels, answered = _labels(connection, since, until, facts)
        sent, failures = _actions(connection, since, until)
        states = {s.source: s for s in connection.execute(sa.select(SourceState.__table__)).all()}  # type: ignore[attr-defined]
        facts.shadows = _shadows(connection, since, until, labels)
    decided = _tickets(rows, facts, answered)
    facts.accuracy = weekly(decided, labels)
    facts.weeks = sorted({d.week for d in decided} | {date.fromisoformat(w["week"]) for w in facts.accuracy})
    facts.acks_sent = sent
    facts.sources = _sources(rows, failures, states)
    return facts


def _raw(column: Any) -> Any:
    """A time column as the database hands it over (SQLite: ISO text): parsing 100,000 of them with
    datetime.fromisoformat is several times faster than the ORM type's per-value conversion."""
    return sa.type_coerce(column, sa.String).label(column.name)


def _moment(value: object) -> datetime:
    """A raw time value (ISO text, or a datetime from a database that has a time type) in UTC."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


def _tickets(rows: list[Any], facts: Facts, answered: dict[int, datetime]) -> list[Decided]:
    decided = []
    weeks: dict[str, date] = {}
    buckets: dict[float | None, str] = {}
    for row in rows:
        facts.tickets += 1
        facts.kinds[row.kind] += 1
        if row.kind != "ticket" or not row.department:
            continue
        day = str(row.created_at)[:10]  # the UTC day, for text and time values alike
        week = weeks.get(day) or weeks.setdefault(day, week_of(date.fromisoformat(day)))
        decided.append(Decided(row.id, week, row.department, row.priority, bool(row.needs_review)))
        facts.volume_by_department[row.department][week] += 1
        facts.volume_by_priority[row.priority or "(none)"][week] += 1
        bucket = buckets.get(row.sla_hours) or buckets.setdefault(row.sla_hours, _bucket(row.sla_hours))
        facts.sla_buckets[bucket] += 1
        first = answered.get(row.id)
        if row.sla_due is not None:
            facts.answered["not known" if first is None else "in time" if first <= _moment(row.sla_due) else "late"] += 1
        if row.ack_skip_reason:
            facts.acks_suppressed[row.ack_skip_reason.split(":")[0].split(" (")[0][:60]] += 1
        for rule, builtin in _RULE.findall(row.reasons or ""):
            facts.rules[rule or builtin] += 1
    return decided


def _bucket(hours: float | None) -> str:
    if hours is None or hours <= 0:
        return "none"
    for edge in SLA_BUCKETS:
        if hours <= edge:
            return f"≤ {edge} h"
    return f"> {SLA_BUCKETS[-1]} h"


def _labels(connection: sa.Connection, since: datetime, until: datetime,
            facts: Facts) -> tuple[dict[int, Label], dict[int, datetime]]:
    """Each ticket's latest correction or confirmation, the department confusion, first answers."""
    c, t = Correction.__table__, TicketLog.__table__  # type: ignore[attr-defined]
    query = sa.select(c.c.ticket_id, c.c.kind, c.c.deskbot_department, c.c.team_department, c.c.team_priority,
                      _raw(c.c.answered_at)).join(t, t.c.id == c.c.ticket_id) \
        .where(t.c.created_at >= since, t.c.created_at < until).order_by(c.c.id)
    latest = {row.ticket_id: row for row in connection.execute(query)}
    answered = {}
    for row in latest.values():
        if row.kind == CONFIRMATION:
            facts.confirmations += 1
        else:
            facts.corrections += 1
        if row.team_department:
            facts.confusion[(row.deskbot_department, row.team_department)] += 1
        if row.answered_at is not None:
            answered[row.ticket_id] = _moment(row.answered_at)
    return {k: Label(r.team_department, r.team_priority) for k, r in latest.items()}, answered


def _shadows(connection: sa.Connection, since: datetime, until: datetime,
             labels: dict[int, Label]) -> list[dict[str, Any]]:
    """Each shadow model (`run --shadow`): how often it decided as the live model did, and, on tickets agents
    corrected or confirmed, how often each of the two agreed with them."""
    h, t = ShadowDecision.__table__, TicketLog.__table__  # type: ignore[attr-defined]
    query = sa.select(h.c.model_version, h.c.department, t.c.id, t.c.department.label("live")) \
        .join(t, t.c.key == h.c.key).where(t.c.dry_run == sa.false(), t.c.duplicate_of.is_(None),
                                          t.c.created_at >= since, t.c.created_at < until)
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for row in connection.execute(query):
        counts = seen[row.model_version]
        counts["tickets"] += 1
        counts["same"] += row.department == row.live
        label = labels.get(row.id)
        if label is not None and label.team_department:
            counts["labelled"] += 1
            counts["shadow_right"] += row.department == label.team_department
            counts["live_right"] += row.live == label.team_department
    return [{"model_version": version, "tickets": c["tickets"], "same_as_live": c["same"] / c["tickets"],
             "labelled": c["labelled"], "shadow_agreement": c["shadow_right"] / c["labelled"] if c["labelled"] else None,
             "live_agreement": c["live_right"] / c["labelled"] if c["labelled"] else None}
            for version, c in sorted(seen.items())]


def _actions(connection: sa.Connection, since: datetime, until: datetime) -> tuple[int, Counter[str]]:
    """Acknowledgements sent, and failed actions per source."""
    a, t = ActionLog.__table__, TicketLog.__table__  # type: ignore[attr-defined]
    scope = (t.c.created_at >= since, t.c.created_at < until, t.c.dry_run == sa.false())
    sent = connection.execute(sa.select(sa.func.count()).select_from(a.join(t, t.c.id == a.c.ticket_id))
                              .where(a.c.kind == "acknowledge", a.c.state == "done", *scope)).scalar_one()
    failed = connection.execute(sa.select(t.c.source, sa.func.count()).select_from(a.join(t, t.c.id == a.c.ticket_id))
                                .where(a.c.state == "failed", *scope).group_by(t.c.source)).all()
    return int(sent), Counter({source: int(n) for source, n in failed})


def _sources(rows: list[Any], failures: Counter[str], states: dict[str, Any]) -> list[dict[str, Any]]:
    """Per source: tickets, failed and quarantined, failed actions, time to done (median, 95th percentile)."""
    seconds: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[row.source][row.status] += 1
        if row.status == "done" and row.updated_at is not None:
            seconds[row.source].append((_moment(row.updated_at) - _moment(row.created_at)).total_seconds())
    out = []
    for source in sorted(counts):
        spans = sorted(seconds[source])
        state = states.get(source)
        out.append({"source": source, "tickets": sum(counts[source].values()),
                    "failed": counts[source]["failed"], "quarantined": counts[source]["quarantined"],
                    "failed_actions": failures[source],
                    "median_seconds": statistics.median(spans) if spans else None,
                    "p95_seconds": spans[int(0.95 * (len(spans) - 1))] if spans else None,
                    "last_error": state.last_error if state is not None else ""})
    return sorted(out, key=lambda s: (-(s["failed"] + s["quarantined"] + s["failed_actions"]),
                                      -(s["p95_seconds"] or 0)))
