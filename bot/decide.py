"""The pure heart of deskbot: prediction + rules -> Decision, with every reason.

No I/O, no clock, no globals: the caller passes `now` and what the log knows of the
thread, so the same inputs always give the same decision and tests need no servers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.ack.loops import SPAM, NoAck, SpamThresholds, is_thanks_only, no_ack_reason
from bot.models import Decision, Prediction, PriorTicket, Recipient, Ticket
from bot.rules import RuleSet
from bot.rules.conditions import Facts
from bot.rules.stages import RuleResult, State, run_stage, skip_stage
from bot.sla import BusinessHours, add_business_hours, calendars_of


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision with its whole story: each rule fired or not and why, the SLA calendar, whether the model spoke."""

    decision: Decision
    rules: tuple[RuleResult, ...]
    model_asked: bool
    calendar: str  # the calendar the SLA due time was counted in ('' when no SLA applies)


def decide(ticket: Ticket, prediction: Prediction | None, rules: RuleSet, *, now: datetime,
           calendar: BusinessHours | None = None, prior: PriorTicket | None = None,
           own_addresses: frozenset[str] = frozenset(), own_message_id_domain: str = "",
           recipient: Recipient = Recipient()) -> Decision:
    """Apply the rules to one ticket (and the model's prediction): department, priority, route, SLA and acknowledgement.

    `prediction` may be None only when `needs_model()` says the before-model rules decided alone.
    `calendar` overrides the rules' "default" calendar ([business_hours]).
    """
    return _evaluate(ticket, prediction, rules, now, calendar, prior, own_addresses, own_message_id_domain, recipient,
                     False).decision


def needs_model(ticket: Ticket, rules: RuleSet, *, now: datetime, calendar: BusinessHours | None = None,
                prior: PriorTicket | None = None) -> bool:
    """False when a before-model rule sets the department and stops: the model need not be asked."""
    state = _before_model(ticket, rules, _facts(ticket, rules, now, calendar), prior)
    return not (state.stopped and state.department_by)


def evaluate(ticket: Ticket, prediction: Prediction | None, rules: RuleSet, *, now: datetime,
             calendar: BusinessHours | None = None, prior: PriorTicket | None = None,
             own_addresses: frozenset[str] = frozenset(), own_message_id_domain: str = "",
             recipient: Recipient = Recipient(), trace: bool = True) -> Verdict:
    """`decide()` with the story of how it came about (for `deskbot rules test`): each rule, fired or not and why."""
    return _evaluate(ticket, prediction, rules, now, calendar, prior, own_addresses, own_message_id_domain, recipient,
                     trace)


def _evaluate(ticket: Ticket, prediction: Prediction | None, rules: RuleSet, now: datetime,
              calendar: BusinessHours | None, prior: PriorTicket | None, own_addresses: frozenset[str],
              own_message_id_domain: str, recipient: Recipient, trace: bool) -> Verdict:
    """evaluate() with positional arguments: decide() calls it for every ticket, and keywords cost."""
    reasons: list[str] = []
    language = ticket.language if ticket.language in rules.acknowledgement.languages else \
        rules.acknowledgement.default_language
    no_ack = no_ack_reason(ticket, own_addresses=own_addresses, own_message_id_domain=own_message_id_domain,
                           spam=_spam_thresholds(rules))
    if no_ack is not None:
        if prediction is not None:
            reasons.append(f"model {prediction.model_version}: {prediction.department} ({prediction.confidence:.2f})")
        return Verdict(_filed_apart(no_ack, rules, language, reasons), (), prediction is not None, "")
    facts = _facts(ticket, rules, now, calendar)
    state = _before_model(ticket, rules, facts, prior, trace=trace)
    skip_model = bool(state.stopped and state.department_by)  # a rule set the department, not only the thread
    if skip_model:
        prediction = None  # what a model might say cannot matter: the decision is the same with or without one
    elif prediction is None:
        raise ValueError("no before-model rule decided this ticket alone: the model's prediction is needed")
    else:
        reasons.append(f"model {prediction.model_version}: {prediction.department} ({prediction.confidence:.2f})")
    review = _with_model(state, prediction, rules, reasons, prior, skip_model)
    if not state.stopped:
        facts.department, facts.priority = state.department, state.priority
        facts.confidence = prediction.confidence if prediction else None
        run_stage(rules, "after_model", facts, state, trace=trace)
    elif trace:
        skip_stage(rules, "after_model", state)
    reasons.extend(state.reasons)
    return _conclude(ticket, rules, state, review, reasons, language, prior, recipient, now=now,
                     calendar=calendar, model_asked=not skip_model)


def _facts(ticket: Ticket, rules: RuleSet, now: datetime, calendar: BusinessHours | None) -> Facts:
    received = ticket.received_at if ticket.received_at and ticket.received_at <= now else now

    def is_open(department: str, priority: str, moment: datetime) -> bool:
        return _calendar(rules, rules.calendar_for(department, priority), calendar).is_open(moment)

    return Facts(ticket, moment=received, is_open=is_open, fallback_language=rules.acknowledgement.default_language)


def _calendar(rules: RuleSet, name: str, default: BusinessHours | None) -> BusinessHours:
    if name == "default" and default is not None:
        return default
    return calendars_of(rules)[name]


def _before_model(ticket: Ticket, rules: RuleSet, facts: Facts, prior: PriorTicket | None, *,
                  trace: bool = False) -> State:
    state = State(department=prior.department if prior else None)
    facts.department = state.department
    run_stage(rules, "before_model", facts, state, trace=trace)
    return state


def _with_model(state: State, prediction: Prediction | None, rules: RuleSet, reasons: list[str],
                prior: PriorTicket | None, skip_model: bool) -> str:
    """Department and priority once the model has spoken (or was not asked); the low-confidence review reason."""
    if skip_model or prediction is None:
        state.priority = _at_least(rules, state.priority or rules.default_priority, state.floor)
        reasons.append(f"model not asked: rule {state.department_by} set department {state.department}, rule "
                       f"{state.stopped} stopped" if state.department_by != state.stopped else
                       f"model not asked: rule {state.stopped} set department {state.department} and stopped")
        return ""
    priority = state.priority or _model_priority(prediction, rules, reasons)
    state.priority = _at_least(rules, priority, state.floor)
    if prior is not None:
        if not state.department_by:
            reasons.append(f"follow-up to {prior.reference or prior.ticket_id}: stays with {prior.department}")
        return ""
    if state.department is not None:
        return ""  # a before-model rule chose the department: the model's confidence in its own does not matter
    state.department = prediction.department
    if prediction.confidence < rules.triage.review_below:
        reasons.append(f"low-confidence: {prediction.confidence:.2f} < {rules.triage.review_below:.2f}")
        return "low-confidence"
    return ""


def _model_priority(prediction: Prediction, rules: RuleSet, reasons: list[str]) -> str:
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
    return priority


def _at_least(rules: RuleSet, priority: str, floor: str | None) -> str:
    return floor if floor is not None and rules.rank(floor) > rules.rank(priority) else priority


def _conclude(ticket: Ticket, rules: RuleSet, state: State, review_reason: str, reasons: list[str], language: str,
              prior: PriorTicket | None, recipient: Recipient, *, now: datetime, calendar: BusinessHours | None,
              model_asked: bool) -> Verdict:
    """The decision from the state the rules left: route, tags, SLA due time in the ticket's calendar, acknowledgement."""
    department, priority = str(state.department), str(state.priority)
    review = bool(review_reason or state.review)
    route = rules.departments.get(department)
    if route is None:
        review = True
        reasons.append(f"no-route: department {department!r} is not in the rules")
    tags = list(state.tags)
    if review:
        tags.append(rules.triage.review_tag)
    tags.extend(route.tags if route else ())
    hours = rules.sla_hours_for(department, priority)
    name = rules.calendar_for(department, priority)
    received = ticket.received_at if ticket.received_at and ticket.received_at <= now else now
    skip = _ack_skip_reason(ticket, rules, prior, state.no_ack, recipient, now=now)
    group = state.group or (route.group if route else None)
    decision = Decision(
        department=department, priority=priority, tags=tuple(dict.fromkeys(tags)),
        group=rules.triage.review_group if review else group,
        folder=rules.triage.review_folder if review else (route.folder if route else None),
        needs_review=review, sla_hours=hours,
        sla_due=add_business_hours(received, hours, _calendar(rules, name, calendar)),
        language=language, ack_template=None if skip else (state.ack_template or "ack"), ack_skip_reason=skip,
        reasons=tuple(reasons), follow_up_of=prior.ticket_id if prior else None, ack_to=reply_address(ticket))
    return Verdict(decision, tuple(state.results), model_asked, name)


def _spam_thresholds(rules: RuleSet) -> SpamThresholds:
    memo = rules.memo()
    if "spam_thresholds" not in memo:  # built once per rule set, like its stages and calendars
        policy = rules.intake.spam
        memo["spam_thresholds"] = SpamThresholds(
            enabled=policy.enabled, scl=policy.scl, spamassassin_score=policy.spamassassin_score,
            rspamd_score=policy.rspamd_score)
    thresholds: SpamThresholds = memo["spam_thresholds"]
    return thresholds


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
