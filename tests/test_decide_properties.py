"""decide() is pure and deterministic: the same inputs give the same decision, whatever was decided in between,
and nothing it is given changes (hypothesis draws tickets, predictions and moments)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.decide import decide, evaluate, needs_model
from bot.rules.patterns import compiled, fold
from bot.models import Prediction, Ticket
from bot.rules import RuleSet, load_rules
from tests.rulebase import BASE

RULES_TEXT = BASE + """
[sla_calendar]
urgent = "24x7"

[[rules]]
name = "lawyers"
stage = "before_model"
if_keywords = ["lawyer", "anwalt"]
set_department = "legal"
stop = true

[[rules]]
name = "vip"
if_sender_domain = "vip.example.com"
min_priority = "high"
add_tags = ["vip"]

[[rules]]
name = "outage"
if_keywords = ["outage", "production down", "ausfall"]
if_business_hours = false
set_priority = "urgent"
group = "On call"

[[rules]]
name = "orders"
if_regex = ['order\\s+#?\\d{5}']
if_has_attachment = true
ack_template = "ack-order"

[[rules]]
name = "unsure"
if_confidence_below = 0.5
if_language = ["de", "en"]
review = true
no_ack = true
"""
WORDS = ["invoice", "outage", "Ausfälle", "production", "down", "download", "lawyer", "order #12345", "thanks",
         "refund", "login", "Anwalt", "help", "Rechnung"]
DEPARTMENTS = ["billing", "technical", "legal", "sales"]


def _rules(tmp: Path) -> RuleSet:
    path = tmp / "rules.toml"
    path.write_text(RULES_TEXT, encoding="utf-8")
    return load_rules(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rules")


texts = st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join)
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                       timezones=st.just(timezone.utc))
tickets = st.builds(
    lambda subject, text, domain, language, attached, received: Ticket(
        source="imap:support", key="k", ref="1", sender=f"a@{domain}", sender_name="", subject=subject, body=text,
        text=text, language=language, received_at=received,
        attachments=(("a.pdf", "application/pdf", 1),) if attached else ()),
    texts, texts, st.sampled_from(["vip.example.com", "x.vip.example.com", "example.org"]),
    st.sampled_from(["en", "de", "und"]), st.booleans(), moments)
predictions = st.builds(
    lambda department, priority, confidence: Prediction(
        department=department, priority=priority, confidence=confidence, priority_confidence=None,
        department_scores={department: confidence}, priority_scores={}, top_terms=(), language="en",
        model_version="m"),
    st.sampled_from(DEPARTMENTS), st.sampled_from(["low", "medium", "high", None]), st.floats(0, 1))


@settings(max_examples=80, deadline=None)
@given(ticket=tickets, other=tickets, prediction=predictions, delay=st.integers(0, 10_000))
def test_decide_is_pure_and_deterministic(folder: Path, ticket: Ticket, other: Ticket, prediction: Prediction,
                                          delay: int) -> None:
    rules = _rules(folder)
    now = ticket.received_at + timedelta(minutes=delay)  # type: ignore[operator]
    before = (copy.deepcopy(ticket), copy.deepcopy(prediction), rules.model_dump())
    first = decide(ticket, prediction, rules, now=now)
    decide(other, prediction, rules, now=now)  # anything decided in between leaves no trace
    again = decide(ticket, prediction, rules, now=now)
    assert first == again
    assert decide(copy.deepcopy(ticket), copy.deepcopy(prediction), _rules(folder), now=now) == first
    assert (ticket, prediction, rules.model_dump()) == before  # nothing given was changed
    assert evaluate(ticket, prediction, rules, now=now).decision == first  # every rule run, none skipped by the index
    if not needs_model(ticket, rules, now=now):
        assert decide(ticket, None, rules, now=now) == first  # the model's words cannot matter then


PATTERNS = [r"order\s+#?\d{3}", r"\bKIT-\d+", r"fail(ed|ure)", r"(?:refund)+ now", r"sıcak", r"x{2,3}y", r"stop|halt",
            r"(?i:Straße)", r"[a-c]at-\w"]
ALPHABET = "abcdefiklnorstuxyz KkIıİſßSTRAẞE#-0123 \u212a\u017f"


@settings(max_examples=300, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=st.text(alphabet=ALPHABET, max_size=40))
def test_required_literal_never_hides_a_match(pattern: str, text: str) -> None:
    regex, literal = compiled(pattern)
    if regex.search(text):
        assert literal in fold(text)


def _many_rules() -> str:
    """40 rules over the words and patterns the tickets are drawn from, one stopping half-way."""
    tables = []
    for n in range(40):
        condition = f'if_keywords = ["{WORDS[n % len(WORDS)]}", "{WORDS[(n * 3 + 1) % len(WORDS)]}"]' if n % 2 else \
            f"if_regex = ['{PATTERNS[n % len(PATTERNS)]}']"
        stop = "stop = true\nif_language = \"de\"\n" if n == 20 else ""
        tables.append(f'[[rules]]\nname = "r{n}"\n{condition}\n{stop}add_tags = ["t{n}"]\nmin_priority = '
                      f'"{("low", "medium", "high", "urgent")[n % 4]}"\n')
    return BASE + "\n" + "\n".join(tables)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    path = tmp_path_factory.mktemp("many") / "rules.toml"
    path.write_text(_many_rules(), encoding="utf-8")
    return load_rules(path)


@settings(max_examples=100, deadline=None)
@given(ticket=tickets, prediction=predictions)
def test_the_rule_index_skips_only_rules_that_cannot_fire(many: RuleSet, ticket: Ticket, prediction: Prediction) -> None:
    now = ticket.received_at
    assert decide(ticket, prediction, many, now=now) == evaluate(ticket, prediction, many, now=now).decision
