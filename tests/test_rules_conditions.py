"""Every if_* condition, fired and not, with the reason `deskbot rules test` shows; keywords on words and stems."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.rulebase import BERLIN, ruleset, verdict

# (id, the rule's condition line, ticket fields, prediction fields, fires?, fragment of why)
CASES = [
    ("sender", 'if_sender = ["Anna@shop.example.com"]', {}, {}, True, "sender anna@shop.example.com"),
    ("sender other", 'if_sender = ["bob@shop.example.com"]', {}, {}, False, "if_sender: sender anna@"),
    ("sender one value without list", 'if_sender = "anna@shop.example.com"', {}, {}, True, "sender"),
    ("domain exact", 'if_sender_domain = ["shop.example.com"]', {}, {}, True, "domain shop.example.com"),
    ("domain parent, any case", 'if_sender_domain = ["EXAMPLE.com"]', {}, {}, True, "shop.example.com"),
    ("domain lookalike", 'if_sender_domain = ["ample.com"]', {}, {}, False, "is not ample.com or a subdomain"),
    ("to header", 'if_to = ["support@deskbot.test"]', {}, {}, True, "written to support@deskbot.test"),
    ("to cc", 'if_to = ["sales@deskbot.test"]', {"headers": (("Cc", "sales@deskbot.test"),)}, {}, True, "sales@"),
    ("to other", 'if_to = ["sales@deskbot.test"]', {}, {}, False, "if_to: written to support@deskbot.test"),
    ("to helpdesk recipient", 'if_to = ["help@acme.test"]', {"meta": (("recipient", "help@acme.test"),)}, {},
     True, "help@acme.test"),
    ("source exact", 'if_source = ["imap:support"]', {}, {}, True, "source imap:support"),
    ("source kind", 'if_source = ["imap"]', {}, {}, True, "source imap:support"),
    ("source other", 'if_source = ["zendesk:acme"]', {}, {}, False, "if_source: source imap:support"),
    ("keyword word", 'if_keywords = ["invoice"]', {}, {}, True, "mentions 'invoice'"),
    ("keyword stem", 'if_keywords = ["invoices"]', {}, {}, True, "mentions 'invoices'"),
    ("keyword in subject", 'if_keywords = ["amount"]', {}, {}, True, "'amount'"),
    ("keyword not a word part", 'if_keywords = ["down"]', {"text": "the download fails"}, {}, False,
     "no keyword in subject or body"),
    ("keyword down as a word", 'if_keywords = ["down"]', {"text": "the shop is down"}, {}, True, "'down'"),
    ("keyword German stem", 'if_keywords = ["ausfall"]',
     {"language": "de", "subject": "Ausfälle", "text": "Seit heute früh gibt es Ausfälle."}, {}, True, "'ausfall'"),
    ("undetermined language: default language's stems", 'if_keywords = ["outage"]',
     {"language": "und", "subject": "Outages!", "text": ""}, {}, True, "'outage'"),
    ("phrase as a phrase", 'if_keywords = ["production down"]', {"text": "our production is down"}, {}, False,
     "no keyword"),
    ("phrase found", 'if_keywords = ["production down"]', {"text": "Production down since 9!"}, {}, True,
     "'production down'"),
    ("subject keyword", 'if_subject_keywords = ["invoice"]', {}, {}, True, "subject mentions 'invoice'"),
    ("subject keyword only in body", 'if_subject_keywords = ["october"]', {}, {}, False, "no keyword in the subject"),
    ("regex", 'if_regex = ["order\\\\s+#?\\\\d{5}"]', {"text": "about ORDER #12345 please"}, {}, True,
     "matches 'ORDER #12345'"),
    ("regex no match", 'if_regex = ["order\\\\s+#?\\\\d{5}"]', {}, {}, False, "no pattern matches"),
    ("attachment yes", "if_has_attachment = true", {"attachments": (("a.pdf", "application/pdf", 10),)}, {}, True,
     "1 attachment"),
    ("attachment no", "if_has_attachment = true", {}, {}, False, "0 attachment"),
    ("no attachment wanted", "if_has_attachment = false", {}, {}, True, "0 attachment"),
    ("language", 'if_language = ["en", "de"]', {}, {}, True, "language en"),
    ("language other", 'if_language = "de"', {}, {}, False, "if_language: language en"),
    ("department", 'if_department = ["billing"]', {}, {}, True, "department billing"),
    ("department other", 'if_department = ["technical"]', {}, {}, False, "department billing"),
    ("priority", 'if_priority = ["medium"]', {}, {}, True, "priority medium"),
    ("priority other", 'if_priority = ["urgent"]', {}, {}, False, "priority medium"),
    ("confidence below", "if_confidence_below = 0.95", {}, {}, True, "confidence 0.90 < 0.95"),
    ("confidence not below", "if_confidence_below = 0.5", {}, {}, False, "confidence 0.90 not below 0.50"),
    ("confidence above", "if_confidence_above = 0.8", {}, {}, True, "confidence 0.90 > 0.80"),
    ("confidence not above", "if_confidence_above = 0.9", {}, {}, False, "not above"),
    ("business hours", "if_business_hours = true", {}, {}, True, "inside business hours"),
    ("business hours at night", "if_business_hours = true",
     {"received_at": datetime(2026, 11, 17, 22, 0, tzinfo=BERLIN)}, {}, False, "outside business hours"),
    ("outside business hours", "if_business_hours = false",
     {"received_at": datetime(2026, 11, 15, 12, 0, tzinfo=BERLIN)}, {}, True, "outside"),
    ("24x7 department is always open", "if_business_hours = true",
     {"received_at": datetime(2026, 11, 15, 12, 0, tzinfo=BERLIN)}, {"department": "technical"}, True, "inside"),
    ("helpdesk tags", 'if_tags = ["VIP"]', {"meta": (("tags", json.dumps(["vip", "x"])),)}, {}, True, "tagged VIP"),
    ("tags never on mail", 'if_tags = ["vip"]', {}, {}, False, "no helpdesk tags"),
    ("organization", 'if_organization = ["Acme"]', {"meta": (("organization", "acme"),)}, {}, True,
     "organization acme"),
    ("organization never on mail", 'if_organization = ["Acme"]', {}, {}, False, "organization (none)"),
]


@pytest.mark.parametrize(("condition", "ticket", "prediction", "fires", "why"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_condition(tmp_path: Path, condition: str, ticket: dict, prediction: dict, fires: bool, why: str) -> None:
    rules = ruleset(tmp_path, f'[[rules]]\nname = "probe"\n{condition}\nadd_tags = ["probed"]\n')
    result = verdict(rules, ticket, prediction)
    [outcome] = result.rules
    assert (outcome.name, outcome.fired) == ("probe", fires)
    assert why in outcome.why
    assert ("probed" in result.decision.tags) == fires


def test_all_conditions_must_hold(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, '[[rules]]\nname = "both"\nif_language = "en"\nif_keywords = ["refund"]\nreview = true\n')
    [outcome] = verdict(rules).rules
    assert not outcome.fired and outcome.why == "if_keywords: no keyword in subject or body"
    [outcome] = verdict(rules, {"text": "I want a refund"}).rules
    assert outcome.fired and outcome.why == "language en; mentions 'refund'"


def test_rule_without_conditions_fires_on_every_ticket(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, '[[rules]]\nname = "everyone"\nadd_tags = ["seen"]\n')
    [outcome] = verdict(rules).rules
    assert outcome.fired and outcome.why == "no conditions: every ticket"
