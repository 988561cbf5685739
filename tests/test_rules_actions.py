"""Every action, both stages, stopping, and the SLA calendar a ticket's due time is counted in."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.rulebase import BERLIN, NOW, ruleset, verdict

# (id, the rule's actions, expected (field, value) pairs of the decision)
ACTIONS = [
    ("set_department", 'set_department = "technical"', {"department": "technical", "group": "Technical Support",
                                                         "folder": "Technical"}),
    ("set_priority down", 'set_priority = "low"', {"priority": "low", "sla_hours": 24}),
    ("set_priority up", 'set_priority = "urgent"', {"priority": "urgent", "sla_hours": 2}),
    ("min_priority raises", 'min_priority = "high"', {"priority": "high"}),
    ("min_priority never lowers", 'min_priority = "low"', {"priority": "medium"}),
    ("add_tags", 'add_tags = ["vip", "key-account"]', {"tags": ("vip", "key-account", "billing")}),
    ("group overrides the department's", 'group = "Escalations"', {"group": "Escalations", "folder": "Billing"}),
    ("review", "review = true", {"needs_review": True, "group": "triage", "tags": ("needs-review", "billing")}),
    ("no_ack", "no_ack = true", {"ack_template": None, "ack_skip_reason": "rule act"}),
    ("ack_template", 'ack_template = "ack-vip"', {"ack_template": "ack-vip"}),
    ("stop alone", "stop = true", {"department": "billing"}),
]


@pytest.mark.parametrize(("actions", "expected"), [c[1:] for c in ACTIONS], ids=[c[0] for c in ACTIONS])
def test_action(tmp_path: Path, actions: str, expected: dict) -> None:
    rules = ruleset(tmp_path, f'[[rules]]\nname = "act"\nif_language = "en"\n{actions}\n')
    decision = verdict(rules).decision
    assert {key: getattr(decision, key) for key in expected} == expected
    assert any(r.startswith("rule act: ") for r in decision.reasons)


def test_later_rules_see_what_earlier_ones_did(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, '[[rules]]\nname = "move"\nif_language = "en"\nset_department = "technical"\n\n'
                    '[[rules]]\nname = "then"\nif_department = "technical"\nmin_priority = "high"\n')
    result = verdict(rules)
    assert [r.fired for r in result.rules] == [True, True]
    assert (result.decision.department, result.decision.priority) == ("technical", "high")


def test_stop_ends_the_stage(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, '[[rules]]\nname = "first"\nif_language = "en"\nadd_tags = ["a"]\nstop = true\n\n'
                    '[[rules]]\nname = "second"\nif_language = "en"\nadd_tags = ["b"]\n')
    result = verdict(rules)
    assert [(r.name, r.fired, r.why) for r in result.rules] == [
        ("first", True, "language en"), ("second", False, "not run: rule first stopped")]
    assert result.decision.tags == ("a", "billing")


def test_a_rule_that_does_not_fire_does_not_stop(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, '[[rules]]\nname = "first"\nif_language = "de"\nstop = true\n\n'
                    '[[rules]]\nname = "second"\nif_language = "en"\nadd_tags = ["b"]\n')
    assert [r.fired for r in verdict(rules).rules] == [False, True]


BEFORE = ('[[rules]]\nname = "lawyers"\nstage = "before_model"\nif_sender_domain = "law.example"\n'
          'set_department = "legal"\n{stop}\n\n[[rules]]\nname = "after"\nif_department = ["billing", "legal"]\n'
          'add_tags = ["after"]\n')


def test_before_model_stop_with_department_skips_the_model_and_the_after_rules(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, BEFORE.format(stop="stop = true"))
    result = verdict(rules, {"sender": "x@law.example"}, model=False)
    assert not result.model_asked
    assert (result.decision.department, result.decision.priority, result.decision.group) == ("legal", "medium", "Legal")
    assert [(r.name, r.fired) for r in result.rules] == [("lawyers", True), ("after", False)]
    assert "model not asked: rule lawyers set department legal and stopped" in result.decision.reasons


def test_before_model_department_without_stop_asks_the_model_and_keeps_the_department(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, BEFORE.format(stop=""))
    result = verdict(rules, {"sender": "x@law.example"}, {"confidence": 0.1})
    assert result.model_asked
    assert result.decision.department == "legal" and not result.decision.needs_review  # not the model's department
    assert [(r.name, r.fired) for r in result.rules] == [("lawyers", True), ("after", True)]


def test_before_model_rules_run_first_whatever_the_file_order(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, '[[rules]]\nname = "late"\nif_department = "legal"\nadd_tags = ["seen-legal"]\n\n'
                    '[[rules]]\nname = "early"\nstage = "before_model"\nif_keywords = ["lawyer"]\n'
                    'set_department = "legal"\n')
    result = verdict(rules, {"text": "my lawyer will call"})
    assert [r.name for r in result.rules] == ["early", "late"]
    assert "seen-legal" in result.decision.tags


def test_the_model_is_needed_when_no_before_rule_decides(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, BEFORE.format(stop="stop = true"))
    with pytest.raises(ValueError, match="prediction is needed"):
        verdict(rules, model=False)


# Calendars: (id, department, priority-setting action, received (Berlin), expected due (Berlin), calendar)
SATURDAY = datetime(2026, 11, 21, 11, 0, tzinfo=BERLIN)
CALENDARS = [
    ("urgent on Saturday, business hours: Monday", "billing", "urgent", SATURDAY,
     datetime(2026, 11, 23, 11, 0, tzinfo=BERLIN), "default"),
    ("urgent on Saturday under 24/7 by priority", "billing", "urgent-247", SATURDAY,
     datetime(2026, 11, 21, 13, 0, tzinfo=BERLIN), "24x7"),
    ("department 24/7 calendar and its own hours", "technical", "urgent", SATURDAY,
     datetime(2026, 11, 21, 12, 0, tzinfo=BERLIN), "24x7"),
    ("department beats priority", "technical", "high-247", SATURDAY,
     datetime(2026, 11, 21, 15, 0, tzinfo=BERLIN), "24x7"),
    ("holiday: Christmas Eve afternoon to Monday", "billing", "high", datetime(2026, 12, 24, 16, 0, tzinfo=BERLIN),
     datetime(2026, 12, 28, 12, 0, tzinfo=BERLIN), "default"),
    ("DST ends in the night: 24/7 counts elapsed hours", "billing", "urgent-247",
     datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN), datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN).replace(fold=1),
     "24x7"),
]


@pytest.mark.parametrize(("department", "priority", "received", "due", "calendar"), [c[1:] for c in CALENDARS],
                         ids=[c[0] for c in CALENDARS])
def test_sla_calendar(tmp_path: Path, department: str, priority: str, received: datetime, due: datetime,
                      calendar: str) -> None:
    name, _, clock = priority.partition("-")
    extra = f'[sla_calendar]\n{name} = "24x7"\n' if clock else ""
    rules = ruleset(tmp_path, f'{extra}\n[[rules]]\nname = "set"\nset_priority = "{name}"\n'
                    f'set_department = "{department}"\n')
    result = verdict(rules, {"received_at": received}, now=max(received, NOW))
    assert result.calendar == calendar
    assert result.decision.sla_due.astimezone(timezone.utc) == due.astimezone(timezone.utc)
    assert result.decision.sla_due.utcoffset() == due.utcoffset()  # shown in the team's zone, DST included


def test_a_follow_up_stopped_before_the_model_without_a_department_still_asks_it(tmp_path: Path) -> None:
    from bot.decide import needs_model
    from bot.models import PriorTicket
    from tests.rulebase import TICKET

    rules = ruleset(tmp_path, '[[rules]]\nname = "quiet"\nstage = "before_model"\nif_language = "en"\nno_ack = true\n'
                    'stop = true\n')
    prior = PriorTicket(ticket_id=7, department="technical", reference="SUP-000007", acknowledged=True)
    assert needs_model(TICKET, rules, now=NOW, prior=prior)  # the thread's department is no rule's decision
