"""A rule in plain words, for `deskbot rules check`: what an admin reads to know what the file does.

    vip-senders: if the sender's domain is vip.example.com (or a subdomain): at least high; tag vip
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.rules.tables import CONDITIONS, Rule


def _any(values: list[str], quote: bool = False) -> str:
    shown = [f'"{v}"' if quote else v for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


CONDITION_WORDS: dict[str, Callable[[Any], str]] = {
    "if_sender": lambda v: f"the sender is {_any(v)}",
    "if_sender_domain": lambda v: f"the sender's domain is {_any(v)} (or a subdomain)",
    "if_to": lambda v: f"it was written to {_any(v)}",
    "if_source": lambda v: f"it came from {_any(v)}",
    "if_keywords": lambda v: f"the subject or body mentions {_any(v, True)}",
    "if_subject_keywords": lambda v: f"the subject mentions {_any(v, True)}",
    "if_regex": lambda v: f"subject or body matches /{'/ or /'.join(v)}/",
    "if_has_attachment": lambda v: "it has an attachment" if v else "it has no attachment",
    "if_language": lambda v: f"it is written in {_any(v)}",
    "if_department": lambda v: f"the department is {_any(v)}",
    "if_priority": lambda v: f"the priority is {_any(v)}",
    "if_confidence_below": lambda v: f"the model's confidence is below {v:g}",
    "if_confidence_above": lambda v: f"the model's confidence is above {v:g}",
    "if_business_hours": lambda v: "it arrives in business hours" if v else "it arrives outside business hours",
    "if_tags": lambda v: f"the helpdesk ticket is tagged {_any(v)}",
    "if_organization": lambda v: f"the helpdesk ticket's organization is {_any(v)}",
}


def describe_rule(rule: Rule) -> str:
    """`name: if <conditions>: <actions>` (before the model: said first)."""
    conditions = [CONDITION_WORDS[key](getattr(rule, key)) for key in CONDITIONS if key in rule.conditions()]
    when = f"if {' and '.join(conditions)}" if conditions else "always"
    stage = " (before the model)" if rule.stage == "before_model" else ""
    return f"{rule.name}{stage}: {when}: {'; '.join(action_words(rule))}"


def action_words(rule: Rule) -> list[str]:
    """Each action of a rule as a short phrase."""
    words = []
    if rule.set_department:
        words.append(f"department {rule.set_department}")
    if rule.set_priority:
        words.append(f"priority {rule.set_priority}")
    if rule.min_priority:
        words.append(f"at least {rule.min_priority}")
    if rule.add_tags:
        words.append(f"tag {', '.join(rule.add_tags)}")
    if rule.group:
        words.append(f"helpdesk group {rule.group}")
    if rule.review:
        words.append("a person reviews it")
    if rule.no_ack:
        words.append("no acknowledgement")
    if rule.ack_template:
        words.append(f"acknowledge with template {rule.ack_template}")
    if rule.stop:
        words.append("stop (no later rule runs)" + (": the model is not asked" if rule.stage == "before_model"
                                                     and rule.set_department else ""))
    return words
