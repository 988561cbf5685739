"""Rules that can never fire: after a stop that catches every ticket, with conditions that contradict each
other, or reading helpdesk fields where no helpdesk is configured. Warnings: deskbot runs, but says so."""

from __future__ import annotations

from bot.rules.problems import Findings
from bot.rules.references import RulesContext
from bot.rules.tables import Rule, RuleSet

HELPDESK_KINDS = ("zendesk", "freshdesk")


def check_reach(rs: RuleSet, out: Findings, context: RulesContext) -> None:
    """Add a warning for every rule that can never fire, saying why."""
    stopper = {"before_model": "", "after_model": ""}
    for index, rule in enumerate(rs.rules):
        at = ("rules", index)
        blocked = stopper[rule.stage] or (stopper["before_model"] if rule.stage == "after_model" else "")
        if blocked:
            out.add(at, f"can never fire: rule {blocked!r} before it has no conditions and stops every ticket "
                    "(move this rule above it, or give that rule a condition)", warning=True)
        contradiction = _contradiction(rule)
        if contradiction:
            out.add(at, f"can never fire: {contradiction}", warning=True)
        helpdesk_only = [k for k in ("if_tags", "if_organization") if getattr(rule, k)]
        if helpdesk_only and context.sources is not None and \
                not any(s.partition(":")[0] in HELPDESK_KINDS for s in context.sources):
            out.add((*at, helpdesk_only[0]), f"can never fire: {helpdesk_only[0]} reads helpdesk tickets and no "
                    "[[zendesk]] or [[freshdesk]] source is configured (mail has none)", warning=True)
        if rule.stop and not rule.conditions() and not stopper[rule.stage]:
            stopper[rule.stage] = rule.name


def _contradiction(rule: Rule) -> str:
    """Why the conditions of one rule cannot all hold at once, or ''."""
    below, above = rule.if_confidence_below, rule.if_confidence_above
    if below is not None and above is not None and below <= above:
        return f"if_confidence_below {below:g} and if_confidence_above {above:g} leave no confidence between them"
    if rule.if_sender and rule.if_sender_domain:
        domains = [d.lower() for d in rule.if_sender_domain]
        inside = [s for s in rule.if_sender
                  if any((dom := s.lower().rpartition("@")[2]) == d or dom.endswith("." + d) for d in domains)]
        if not inside:
            return "no address of if_sender is in a domain of if_sender_domain"
    if rule.if_source and (rule.if_tags or rule.if_organization) and \
            all(s.partition(":")[0] not in HELPDESK_KINDS for s in rule.if_source):
        return "if_tags and if_organization are never true for mail, and if_source names only mail sources"
    return ""
