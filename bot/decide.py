"""The pure heart of deskbot: prediction + rules -> Decision, with every reason.

No I/O, no clock, no globals: the caller passes `now` and what the log knows of the
thread, so the same inputs always give the same decision and tests need no servers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.ack.loops import SPAM, NoAck, SpamThresholds, is_thanks_only, no_ack_reason
from bot.models import Decision, Prediction, PriorTicket, Recipient, Ticket
from bot.rules import Rule, RuleSet
from bot.sla import BusinessHours, add_business_hours


def decide(
    ticket: Ticket,
    prediction: Prediction,
    rules: RuleSet,
    *,
    now: datetime,
    calendar: BusinessHours,
    prior: PriorTicket | None = None,
    own_addresses: frozenset[str] = frozenset(),
    own_message_id_domain: str = "",
    recipient: Recipient = Recipient(),
) -> Decision:
    """Apply the rules to one prediction: department, priority, route, SLA and acknowledgement."""
    reasons = [f"model {prediction.model_version}: {prediction.department} ({prediction.confidence:.2f})"]
    language = ticket.language if ticket.language in rules.acknowledgement.languages else \
        rules.acknowledgement.default_language
    no_ack = no_ack_reason(ticket, own_addresses=own_addresses, own_message_id_domain=own_message_id_domain,
                           spam=_spam_thresholds(rules))
    if no_ack is not None:
        return _filed_apart(no_ack, rules, language, reasons)
    department = prediction.department
    priority = prediction.priority or rules.default_priority
    guarded = rules.priority.guard(priority, prediction.priority_scores)
    if guarded != priority:
        scores = prediction.priority_scores
        reasons.append(f"priority-guard: low ({scores['low']:.2f}) is not worth the risk of a high ticket "
                       f"({scores['high']:.2f}, cost {rules.priority.high_as_low_cost:g}): {guarded}")
        priority = guarded
    if priority not in rules.priorities:
        reasons.append(f"unknown-priority: model said {priority!r}, using {rules.default_priority}")
        priority = rules.default_priority
    review = False
    if prior is not None:
        department = prior.department
        reasons.append(f"follow-up to {prior.reference or prior.ticket_id}: stays with {department}")
    elif prediction.confidence < rules.triage.review_below:
        review = True
        reasons.append(f"low-confidence: {prediction.confidence:.2f} < {rules.triage.review_below:.2f}")
    tags: list[str] = []
    no_ack_rule = ""
    for rule in rules.rules:
        if not _matches(rule, ticket, department):
            continue
        department, priority = _apply(rule, rules, department, priority, reasons)
        tags.extend(rule.add_tags)
        review = review or rule.review
        no_ack_rule = no_ack_rule or (rule.name if rule.no_ack else "")
    route = rules.departments.get(department)
    if route is None:
        review = True
        reasons.append(f"no-route: department {department!r} is not in the rules")
    if review:
        tags.append(rules.triage.review_tag)
    tags.extend(route.tags if route else ())
    hours = rules.sla_hours[priority]
    received = ticket.received_at if ticket.received_at and ticket.received_at <= now else now
    skip = _ack_skip_reason(ticket, rules, prior, no_ack_rule, recipient, now=now)
    return Decision(
        department=department,
        priority=priority,
        tags=tuple(dict.fromkeys(tags)),
        group=rules.triage.review_group if review else (route.group if route else None),
        folder=rules.triage.review_folder if review else (route.folder if route else None),
        needs_review=review,
        sla_hours=hours,
        sla_due=add_business_hours(received, hours, calendar),
        language=language,
        ack_template=None if skip else "ack",
        ack_skip_reason=skip,
        reasons=tuple(reasons),
        follow_up_of=prior.ticket_id if prior else None,
        ack_to=reply_address(ticket),
    )


def _spam_thresholds(rules: RuleSet) -> SpamThresholds:
    policy = rules.intake.spam
    return SpamThresholds(enabled=policy.enabled, scl=policy.scl, spamassassin_score=policy.spamassassin_score,
                          rspamd_score=policy.rspamd_score)


def _filed_apart(no_ack: NoAck, rules: RuleSet, language: str, reasons: list[str]) -> Decision:
    """Automated mail and spam: recorded with the reason, filed apart, out of the queues and the SLA figures."""
    spam = no_ack.category == SPAM
    folder = rules.intake.spam_folder if spam else rules.intake.automated_folder
    tag = rules.intake.spam_tag if spam else rules.intake.automated_tag
    reasons.append(f"{no_ack.category}: {no_ack.reason}; filed apart" + (f" in {folder}" if folder else ""))
    return Decision(department=no_ack.category, priority="", tags=(tag,), group=None, folder=folder,
                    needs_review=False, sla_hours=0.0, sla_due=None, language=language, ack_template=None,
                    ack_skip_reason=no_ack.reason, reasons=tuple(reasons), kind=no_ack.category)


def reply_address(ticket: Ticket) -> str:
    """Where an answer goes: Reply-To when the customer set one (RFC 5322 3.6.2), else the author."""
    address = ticket.reply_to.rpartition("<")[2].rstrip(">").strip() if ticket.reply_to else ""
    return (address if "@" in address else ticket.sender).lower()


def _matches(rule: Rule, ticket: Ticket, department: str) -> bool:
    """All given conditions hold; within one condition any listed value is enough."""
    sender = ticket.sender.lower()
    domain = sender.rsplit("@", 1)[-1]
    haystack = f"{ticket.subject}\n{ticket.text}".lower()
    checks = (
        (rule.if_sender, lambda: sender in {s.lower() for s in rule.if_sender}),
        (rule.if_sender_domain, lambda: any(domain == d.lower() or domain.endswith("." + d.lower()) for d in rule.if_sender_domain)),
        (rule.if_keywords, lambda: any(k.lower() in haystack for k in rule.if_keywords)),
        (rule.if_department, lambda: department in rule.if_department),
        (rule.if_language, lambda: ticket.language in rule.if_language),
    )
    return all(check() for values, check in checks if values)


def _apply(rule: Rule, rules: RuleSet, department: str, priority: str, reasons: list[str]) -> tuple[str, str]:
    """Apply one firing rule's department and priority actions; note what changed."""
    done: list[str] = []
    if rule.set_department and rule.set_department != department:
        department = rule.set_department
        done.append(f"department -> {department}")
    if rule.min_priority and rules.rank(rule.min_priority) > rules.rank(priority):
        priority = rule.min_priority
        done.append(f"priority -> {priority}")
    if rule.add_tags:
        done.append("tags +" + ",".join(rule.add_tags))
    if rule.review:
        done.append("human review")
    if rule.no_ack:
        done.append("no acknowledgement")
    reasons.append(f"rule {rule.name}: " + ("; ".join(done) or "no change"))
    return department, priority


def _ack_skip_reason(ticket: Ticket, rules: RuleSet, prior: PriorTicket | None, no_ack_rule: str,
                     recipient: Recipient, *, now: datetime) -> str | None:
    """Why no acknowledgement goes out to a person's mail, or None when one should."""
    ack = rules.acknowledgement
    if not ack.enabled:
        return "acknowledgements are disabled in the rules"
    if prior is not None and prior.acknowledged:
        return f"follow-up to {prior.reference or prior.ticket_id}, whose acknowledgement covers it"
    if no_ack_rule:
        return f"rule {no_ack_rule}"
    if ticket.received_at and now - ticket.received_at > timedelta(days=ack.max_age_days):
        days = (now - ticket.received_at).days
        return f"received {days} days ago, older than max_age_days ({ack.max_age_days:g}): too late to acknowledge"
    if ack.skip_thanks_only and is_thanks_only(ticket):
        return "the message only says thanks"
    if recipient.suppressed:
        return recipient.suppressed
    if recipient.acks_last_hour >= ack.max_per_address_per_hour:
        return f"already {recipient.acks_last_hour} acknowledgements to this address in the last hour"
    if recipient.acks_last_day >= ack.max_per_address_per_day:
        return f"already {recipient.acks_last_day} acknowledgements to this address in the last day"
    return None
