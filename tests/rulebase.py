"""Rules files for the rules tests: a small base plus [[rules]] tables given as text, loaded from a real file."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.decide import Verdict, evaluate
from bot.models import Prediction, Ticket
from bot.rules import RuleSet, load_rules

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=BERLIN)  # a Wednesday, in business hours

BASE = """\
priorities = ["low", "medium", "high", "urgent"]
default_priority = "medium"

[sla_hours]
urgent = 2
high = 4
medium = 8
low = 24

[business_hours]
timezone = "Europe/Berlin"
days = ["mon", "tue", "wed", "thu", "fri"]
start = 09:00:00
end = 17:00:00
holidays = "DE"
holiday_subdivision = "BE"

[calendars.24x7]
always = true

[departments.billing]
group = "Billing"
folder = "Billing"
tags = ["billing"]

[departments.technical]
group = "Technical Support"
folder = "Technical"
calendar = "24x7"
sla_hours = { urgent = 1 }

[departments.legal]
group = "Legal"
"""

TICKET = Ticket(
    source="imap:support", key="<a1@example.com>", ref="17", sender="anna@shop.example.com", sender_name="Anna",
    subject="Invoice shows the wrong amount", body="Hello, my invoice for October is wrong.",
    text="Hello, my invoice for October is wrong.", language="en", received_at=NOW - timedelta(minutes=30),
    message_id="<a1@example.com>", headers=(("To", "Support <support@deskbot.test>"),),
)
PREDICTION = Prediction(
    department="billing", priority="medium", confidence=0.9, priority_confidence=0.8,
    department_scores={"billing": 0.9, "technical": 0.1}, priority_scores={"medium": 0.8, "high": 0.2},
    top_terms=(), language="en", model_version="m1",
)


def rules_file(tmp_path: Path, rules: str, base: str = BASE) -> Path:
    """Write BASE plus `rules` as rules.toml; its path."""
    path = tmp_path / "rules.toml"
    path.write_text(base + "\n" + rules, encoding="utf-8")
    return path


def ruleset(tmp_path: Path, rules: str, base: str = BASE) -> RuleSet:
    """BASE plus `rules`, loaded as deskbot loads a rules file."""
    return load_rules(rules_file(tmp_path, rules, base))


def verdict(rules: RuleSet, ticket: dict | None = None, prediction: dict | None = None, *,
            now: datetime = NOW, model: bool = True) -> Verdict:
    """evaluate() on the base ticket and prediction with some fields replaced (model=False: no prediction)."""
    return evaluate(replace(TICKET, **(ticket or {})), replace(PREDICTION, **(prediction or {})) if model else None,
                    rules, now=now)
