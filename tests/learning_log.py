"""A generated decision log: tickets over several weeks with decisions, acknowledgements, corrections and
confirmations, written straight into the tables (fast enough for 100,000 tickets in the report bench)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from bot.log.feedback import Correction
from bot.log.schema import ActionLog, SourceState, TicketLog
from bot.log.store import Store

DEPARTMENTS = ("billing", "technical", "orders", "account", "sales")
PRIORITIES = ("low", "medium", "high")
SOURCES = ("imap:support", "zendesk:acme", "freshdesk:acme")
END = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def fill_log(store: Store, tickets: int, *, days: int = 56, seed: int = 7, end: datetime = END) -> None:
    """Write `tickets` decided tickets spread over the `days` before `end`; agents correct about one in five."""
    rng = random.Random(seed)
    t, a, c = (m.__table__ for m in (TicketLog, ActionLog, Correction))  # type: ignore[attr-defined]
    with store.engine.begin() as connection:
        first = int(connection.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.id), 0))).scalar_one()) + 1
        rows, actions, labels = [], [], []
        for i in range(tickets):
            ticket_id = first + i
            created = end - timedelta(seconds=rng.uniform(0, days * 86400))
            rows.append(_ticket(rng, ticket_id, created))
            if rows[-1]["ack_template"]:
                actions.append({"ticket_id": ticket_id, "kind": "acknowledge", "state": "done", "marker": "",
                                "detail": "sent", "attempts": 0, "updated_at": created})
            label = _label(rng, rows[-1], created, weeks_in=(created - (end - timedelta(days=days))).days // 7)
            if label:
                labels.append(label)
        connection.execute(sa.insert(t), rows)
        if actions:
            connection.execute(sa.insert(a), actions)
        if labels:
            connection.execute(sa.insert(c), labels)
        connection.execute(sa.insert(SourceState.__table__), [  # type: ignore[attr-defined]
            {"source": s, "last_error": "" if s != "freshdesk:acme" else "429 Too Many Requests", "backlog": 0,
             "reference_seeded": True, "lease_owner": ""} for s in SOURCES
            if not connection.execute(sa.select(SourceState.__table__).where(SourceState.source == s)).first()])  # type: ignore[attr-defined]


def _ticket(rng: random.Random, ticket_id: int, created: datetime) -> dict[str, object]:
    department, priority = rng.choice(DEPARTMENTS), rng.choice(PRIORITIES)
    review = rng.random() < 0.2
    acknowledged = rng.random() < 0.8
    status = rng.choices(("done", "failed", "quarantined"), (0.97, 0.02, 0.01))[0]
    reasons = [f"model v1: {department} (0.71)"] + (["low-confidence: 0.41 < 0.50"] if review else []) + \
        (["rule vip-senders: priority high"] if rng.random() < 0.1 else [])
    naive = created  # the tables' DateTime takes aware values (UTC)
    return {
        "id": ticket_id, "source": rng.choice(SOURCES), "key": f"gen:{ticket_id}", "ref": str(ticket_id),
        "reference": f"SUP-{ticket_id:06d}", "created_at": naive, "updated_at": naive + timedelta(seconds=rng.uniform(0.2, 9)),
        "dry_run": False, "status": status, "pending": False, "attempts": 0, "flagged": status != "done", "error": "",
        "message_id": f"<{ticket_id}@gen>", "ack_message_id": "", "sender": f"c{ticket_id % 997}@example.com",
        "sender_name": "", "reply_to": "", "subject": f"Ticket {ticket_id}", "language": "en", "body": "generated",
        "text": "generated", "received_at": naive, "thread_refs": "[]", "headers": "[]", "meta": "[]",
        "model_version": "v1", "predicted_department": department, "predicted_priority": priority, "confidence": 0.71,
        "department_scores": "{}", "priority_scores": "{}", "top_terms": "[]", "department": department,
        "priority": priority, "tags": "[]", "group": None, "folder": None, "needs_review": review,
        "sla_hours": {"low": 48.0, "medium": 16.0, "high": 4.0}[priority], "sla_due": naive + timedelta(hours=30),
        "ack_language": "en", "ack_template": "ack" if acknowledged else None,
        "ack_skip_reason": None if acknowledged else rng.choice(("automated: auto-reply", "rule no-ack-vendors")),
        "reasons": json.dumps(reasons), "kind": "ticket", "follow_up_of": None, "ack_to": "", "attachments": "[]",
    }


def _label(rng: random.Random, row: dict[str, object], created: datetime, *, weeks_in: int) -> dict[str, object] | None:
    """About half the tickets are solved or corrected; mistakes get rarer week by week (deskbot learns)."""
    if rng.random() > 0.5:
        return None
    wrong = rng.random() < max(0.05, 0.35 - 0.04 * weeks_in)
    team_department = rng.choice(DEPARTMENTS) if wrong else row["department"]
    team_priority = rng.choice(PRIORITIES) if wrong else row["priority"]
    corrected = (team_department, team_priority) != (row["department"], row["priority"])
    at = created + timedelta(hours=rng.uniform(1, 40))
    return {"ticket_id": row["id"], "source": row["source"], "kind": "correction" if corrected else "confirmation",
            "channel": str(row["source"]).split(":")[0], "deskbot_department": row["department"],
            "deskbot_priority": row["priority"], "team_department": team_department, "team_priority": team_priority,
            "model_version": "v1", "at": at, "recorded_at": at,
            "answered_at": at - timedelta(hours=rng.uniform(0, 40)) if rng.random() < 0.6 else None}
