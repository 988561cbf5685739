"""decide(): the shipped rules applied to hand-built tickets and predictions; no servers, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.decide import decide
from bot.models import Decision, Prediction, PriorTicket, Recipient, Ticket
from bot.rules import PriorityGuard, RuleSet, load_rules
from bot.sla import BusinessHours

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=BERLIN)  # a Wednesday
RULES = load_rules()
CALENDAR = BusinessHours.from_spec(RULES.business_hours)

TICKET = Ticket(
    source="imap:support", key="<a1@example.com>", ref="17", sender="anna@example.com", sender_name="Anna",
    subject="Invoice shows the wrong amount", body="Hello, my invoice for October is wrong.",
    text="Hello, my invoice for October is wrong.", language="en", received_at=NOW - timedelta(minutes=30),
    message_id="<a1@example.com>",
)
PREDICTION = Prediction(
    department="billing", priority="medium", confidence=0.9, priority_confidence=0.8,
    department_scores={"billing": 0.9}, priority_scores={"medium": 0.8}, top_terms=(), language="en",
    model_version="m1",
)


def run(ticket: dict | None = None, prediction: dict | None = None, rules: RuleSet = RULES, **options) -> Decision:
    """decide() on the base ticket and prediction with some fields replaced."""
    return decide(replace(TICKET, **(ticket or {})), replace(PREDICTION, **(prediction or {})), rules,
                  now=options.pop("now", NOW), calendar=CALENDAR, **options)


def fired(decision: Decision) -> list[str]:
    """Names of the rules the decision says fired."""
    return [r.split(":")[0].removeprefix("rule ") for r in decision.reasons if r.startswith("rule ")]


def test_confident_prediction_routes_to_the_department() -> None:
    d = run()
    assert (d.department, d.priority, d.group, d.folder) == ("billing", "medium", "Billing", "Billing")
    assert d.tags == ("billing",)
    assert not d.needs_review
    assert d.ack_template == "ack" and d.ack_skip_reason is None
    assert d.reasons == ("model m1: billing (0.90)",)


@pytest.mark.parametrize("confidence", [0.0, 0.2, 0.499])
def test_low_confidence_goes_to_review(confidence: float) -> None:
    d = run(prediction={"confidence": confidence})
    assert d.needs_review
    assert (d.group, d.folder) == ("triage", "Triage")
    assert d.tags == ("needs-review", "billing")
    assert any(r.startswith("low-confidence:") for r in d.reasons)
    assert d.ack_template == "ack"  # the customer is still told we have it


def test_confidence_at_threshold_is_not_reviewed() -> None:
    assert not run(prediction={"confidence": 0.50}).needs_review


PRIORITY_CASES = [
    # (sender, subject, text, predicted priority, expected priority, rules that fire)
    ("cto@vip.example.com", "Question", "How do I export?", "low", "high", ["vip-senders"]),
    ("cto@eu.vip.example.com", "Question", "How do I export?", "medium", "high", ["vip-senders"]),
    ("CTO@VIP.EXAMPLE.COM", "Question", "How do I export?", "low", "high", ["vip-senders"]),
    ("cto@vip.example.com", "Question", "How do I export?", "urgent", "urgent", ["vip-senders"]),
    ("cto@notvip.example.com", "Question", "How do I export?", "low", "low", []),
    ("a@example.com", "Total outage", "Nothing loads.", "low", "urgent", ["urgent-keywords"]),
    ("a@example.com", "Hilfe", "Seit heute früh Totalausfall bei uns.", "medium", "urgent", ["urgent-keywords"]),
    ("a@example.com", "SICHERHEITSVORFALL", "Bitte melden.", "low", "urgent", ["urgent-keywords"]),
    ("a@example.com", "Site", "It is down for everyone here.", "high", "urgent", ["urgent-keywords"]),
    ("cto@vip.example.com", "Outage", "Everything is down.", "low", "urgent", ["vip-senders", "urgent-keywords"]),
    ("a@example.com", "Question", "Nothing urgent.", "medium", "medium", []),
]


@pytest.mark.parametrize(("sender", "subject", "text", "predicted", "expected", "rules"), PRIORITY_CASES)
def test_priority_rules(sender: str, subject: str, text: str, predicted: str, expected: str, rules: list[str]) -> None:
    d = run(ticket={"sender": sender, "subject": subject, "text": text}, prediction={"priority": predicted})
    assert d.priority == expected
    assert d.sla_hours == RULES.sla_hours[expected]
    assert fired(d) == rules


def test_vip_tag_and_reason() -> None:
    d = run(ticket={"sender": "cto@vip.example.com"}, prediction={"priority": "low"})
    assert "vip" in d.tags
    assert "rule vip-senders: priority -> high; tags +vip" in d.reasons


def test_vip_already_high_notes_only_the_tag() -> None:
    d = run(ticket={"sender": "cto@vip.example.com"}, prediction={"priority": "urgent"})
    assert "rule vip-senders: tags +vip" in d.reasons


def test_keywords_in_the_quoted_part_do_not_count() -> None:
    # `text` is the new part of the mail; the outage was in the quoted earlier mail (`body` only).
    d = run(ticket={"body": "Thanks!\n> outage yesterday", "text": "Thanks!"}, prediction={"priority": "low"})
    assert d.priority == "low"


@pytest.mark.parametrize("text", ["My lawyer will call you.", "Ich schalte meinen Anwalt ein.",
                                  "Wir prüfen rechtliche Schritte.", "We are considering LEGAL ACTION."])
def test_legal_keywords_go_to_review(text: str) -> None:
    d = run(ticket={"text": text})
    assert d.needs_review
    assert (d.group, d.folder) == ("triage", "Triage")
    assert set(d.tags) == {"legal", "needs-review", "billing"}
    assert d.department == "billing"  # routed later by the person, but the guess is kept
    assert fired(d) == ["legal-threats"]


def test_unknown_department_goes_to_review_with_no_route() -> None:
    d = run(prediction={"department": "hr"})
    assert d.needs_review
    assert d.department == "hr"
    assert (d.group, d.folder) == ("triage", "Triage")
    assert d.tags == ("needs-review",)
    assert "no-route: department 'hr' is not in the rules" in d.reasons


def test_follow_up_keeps_prior_department_and_skips_ack() -> None:
    prior = PriorTicket(ticket_id=42, department="orders", reference="SUP-000042", acknowledged=True)
    d = run(prediction={"department": "technical", "confidence": 0.1}, prior=prior)
    assert (d.department, d.group, d.folder) == ("orders", "Orders and Returns", "Orders")
    assert not d.needs_review  # the thread was already triaged
    assert "follow-up to SUP-000042: stays with orders" in d.reasons
    assert d.ack_template is None
    assert d.ack_skip_reason == "follow-up to SUP-000042, whose acknowledgement covers it"


def test_follow_up_without_earlier_ack_is_acknowledged() -> None:
    prior = PriorTicket(ticket_id=7, department="orders", reference="SUP-000007", acknowledged=False)
    d = run(prediction={"department": "technical"}, prior=prior)
    assert d.department == "orders"
    assert d.ack_template == "ack"


def test_mail_from_own_address_gets_no_ack() -> None:
    d = run(ticket={"sender": "support@deskbot.test"}, own_addresses=frozenset({"support@deskbot.test"}))
    assert d.ack_template is None
    assert d.ack_skip_reason == "mail from our own address (would loop)"


@pytest.mark.parametrize(("headers", "reason_part"), [
    ((("Auto-Submitted", "auto-replied"),), "Auto-Submitted: auto-replied"),
    ((("Precedence", "bulk"),), "Precedence: bulk"),
    ((("List-Id", "<news.example.com>"),), "List-Id"),
])
def test_automated_mail_gets_no_ack_and_is_filed_apart_out_of_the_queues(headers: tuple, reason_part: str) -> None:
    d = run(ticket={"headers": headers})
    assert d.ack_template is None
    assert reason_part in (d.ack_skip_reason or "")
    assert (d.kind, d.department, d.folder, d.tags) == ("automated", "automated", "Automated", ("automated",))
    assert (d.group, d.sla_due, d.priority) == (None, None, ""), "no queue, no SLA figure"
    assert any(r.startswith("automated: ") for r in d.reasons)


@pytest.mark.parametrize("headers", [(("X-Spam-Flag", "YES"),), (("X-MS-Exchange-Organization-SCL", "6"),)])
def test_a_spam_verdict_of_our_mail_server_means_no_backscatter(headers: tuple) -> None:
    d = run(ticket={"headers": headers})
    assert (d.kind, d.folder, d.ack_template) == ("spam", "Spam", None)
    off = RuleSet.model_validate({**RULES.model_dump(), "intake": {"spam": {"enabled": False}}})
    assert run(ticket={"headers": headers}, rules=off).kind == "ticket"


def test_old_mail_is_triaged_but_not_acknowledged() -> None:
    d = run(ticket={"received_at": NOW - timedelta(days=40)})
    assert d.department == "billing" and d.kind == "ticket"
    assert d.ack_template is None and "received 40 days ago" in (d.ack_skip_reason or "")
    assert run(ticket={"received_at": NOW - timedelta(days=6)}).ack_template == "ack"


@pytest.mark.parametrize(("text", "acknowledged"), [("Thank you so much!", False), ("Vielen Dank!", False),
                                                   ("Thanks, but the invoice is still wrong.", True)])
def test_a_message_that_only_says_thanks_gets_no_acknowledgement(text: str, acknowledged: bool) -> None:
    d = run(ticket={"subject": "Re: your request", "text": text, "body": text})
    assert (d.ack_template == "ack") is acknowledged


def test_per_address_backstops_and_suppression_after_a_bounce() -> None:
    assert run(recipient=Recipient(acks_last_hour=2, acks_last_day=9)).ack_template == "ack"
    assert "3 acknowledgements to this address in the last hour" in run(
        recipient=Recipient(acks_last_hour=3)).ack_skip_reason
    assert "in the last day" in run(recipient=Recipient(acks_last_day=10)).ack_skip_reason
    assert run(recipient=Recipient(suppressed="hard bounce of SUP-000001 until ...")).ack_skip_reason.startswith(
        "hard bounce")


def test_the_acknowledgement_goes_to_reply_to_and_a_follow_up_points_at_its_ticket() -> None:
    assert run(ticket={"reply_to": "Team <Team@Example.com>"}).ack_to == "team@example.com"
    assert run().ack_to == "anna@example.com"
    prior = PriorTicket(ticket_id=42, department="orders", reference="SUP-000042", acknowledged=True)
    assert run(prior=prior).follow_up_of == 42


def test_no_ack_rule_and_disabled_acks() -> None:
    rules = RuleSet.model_validate({**RULES.model_dump(), "rules": [
        {"name": "partner-portal", "if_sender_domain": ["partner.example.com"], "no_ack": True,
         "add_tags": ["partner"]},
    ]})
    d = run(ticket={"sender": "bob@partner.example.com"}, rules=rules)
    assert (d.ack_template, d.ack_skip_reason) == (None, "rule partner-portal")
    assert d.tags == ("partner", "billing")
    off = RuleSet.model_validate({**RULES.model_dump(), "acknowledgement": {"enabled": False}})
    assert run(rules=off).ack_skip_reason == "acknowledgements are disabled in the rules"


def test_reasons_name_every_rule_that_fired() -> None:
    d = run(ticket={"sender": "cto@vip.example.com", "subject": "Outage",
                    "text": "Total outage. Our lawyer is informed."},
            prediction={"priority": "low", "confidence": 0.2})
    assert fired(d) == ["vip-senders", "urgent-keywords", "legal-threats"]
    assert d.reasons[0] == "model m1: billing (0.20)"
    assert any(r.startswith("low-confidence") for r in d.reasons)
    assert d.priority == "urgent" and d.needs_review
    assert d.tags == ("vip", "urgent", "legal", "needs-review", "billing")


def test_rule_conditions_all_must_hold() -> None:
    rules = RuleSet.model_validate({**RULES.model_dump(), "rules": [
        {"name": "de-billing", "if_department": ["billing"], "if_language": ["de"], "set_department": "account"},
    ]})
    assert run(ticket={"language": "en"}, rules=rules).department == "billing"
    d = run(ticket={"language": "de"}, rules=rules)
    assert (d.department, d.group) == ("account", "Accounts")
    assert "rule de-billing: department -> account" in d.reasons


SLA_CASES = [
    # (received_at, now, priority, due): medium = 8 business hours, urgent = 2
    ("received 30 min ago", NOW - timedelta(minutes=30), NOW, "medium", datetime(2026, 11, 19, 9, 30, tzinfo=BERLIN)),
    # the shipped rules count urgent tickets on the 24x7 calendar, the others in business hours
    ("urgent received Saturday: 24x7", datetime(2026, 11, 21, 11, tzinfo=BERLIN), datetime(2026, 11, 23, 8, tzinfo=BERLIN),
     "urgent", datetime(2026, 11, 21, 13, tzinfo=BERLIN)),
    ("high received Saturday: Monday", datetime(2026, 11, 21, 11, tzinfo=BERLIN), datetime(2026, 11, 23, 8, tzinfo=BERLIN),
     "high", datetime(2026, 11, 23, 13, tzinfo=BERLIN)),
    ("missing received_at: now", None, NOW, "urgent", datetime(2026, 11, 18, 12, tzinfo=BERLIN)),
    ("received_at in the future: now", NOW + timedelta(days=2), NOW, "urgent",
     datetime(2026, 11, 18, 12, tzinfo=BERLIN)),
]


@pytest.mark.parametrize(("received", "now", "priority", "due"), [c[1:] for c in SLA_CASES],
                         ids=[c[0] for c in SLA_CASES])
def test_sla_due(received: datetime | None, now: datetime, priority: str, due: datetime) -> None:
    d = run(ticket={"received_at": received}, prediction={"priority": priority}, now=now)
    assert d.sla_due == due


def test_missing_priority_uses_default() -> None:
    d = run(prediction={"priority": None})
    assert (d.priority, d.sla_hours) == ("medium", 8)


@pytest.mark.parametrize(("language", "expected"), [("de", "de"), ("en", "en"), ("fr", "fr"), ("it", "en"), ("und", "en")])
def test_ack_language_falls_back_to_default(language: str, expected: str) -> None:
    assert run(ticket={"language": language}).language == expected


def test_decide_is_repeatable() -> None:
    assert run() == run()


GUARDED = {"low": 0.45, "medium": 0.30, "high": 0.25}  # low by argmax, but high is not unlikely


@pytest.mark.parametrize(("cost", "scores", "expected"), [
    (3.0, GUARDED, "medium"),  # 0.45 - 2 * 0.25 < 0.30: the likeliest other priority
    (3.0, {"low": 0.45, "medium": 0.20, "high": 0.35}, "high"),
    (1.5, GUARDED, "low"),  # 0.45 - 0.5 * 0.25 > 0.30: low is worth it
    (1.0, GUARDED, "low"),  # the model as it is
    (3.0, {"low": 0.80, "medium": 0.15, "high": 0.05}, "low"),  # a clear low stays low
    (3.0, {"medium": 0.8}, "low"),  # no scores to weigh: nothing to change
])
def test_priority_guard_keeps_likely_high_tickets_out_of_low(cost: float, scores: dict[str, float],
                                                            expected: str) -> None:
    rules = RULES.model_copy(update={"priority": PriorityGuard(high_as_low_cost=cost)})
    d = run(prediction={"priority": "low", "priority_scores": scores}, rules=rules)
    assert d.priority == expected
    assert d.sla_hours == RULES.sla_hours[expected]
    guard = [r for r in d.reasons if r.startswith("priority-guard:")]
    assert guard == ([] if expected == "low" else
                     [f"priority-guard: low ({scores['low']:.2f}) is not worth the risk of a high ticket "
                      f"({scores['high']:.2f}, cost {cost:g}): {expected}"])


def test_priority_guard_only_ever_raises_low() -> None:
    for predicted in ("medium", "high"):
        d = run(prediction={"priority": predicted, "priority_scores": {"low": 0.5, "medium": 0.2, "high": 0.3}})
        assert d.priority == predicted
        assert not any(r.startswith("priority-guard:") for r in d.reasons)


def test_rules_raise_the_guarded_priority_further() -> None:
    d = run(ticket={"sender": "cto@vip.example.com"}, prediction={"priority": "low", "priority_scores": GUARDED})
    assert d.priority == "high"
    assert [r.split(":")[0] for r in d.reasons[1:]] == ["priority-guard", "rule vip-senders"]
