"""Running the rules of one stage over a ticket: which fired and why, and what their actions changed.

Within a stage rules run in file order; every rule whose conditions hold fires, and the first firing
rule with `stop = true` ends the stage. `decide()` runs the before-model stage, asks for the model
only when needed, then the after-model stage. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.rules.conditions import CHECKS, PREPARE, Facts, fast_check
from bot.rules.gates import Gates
from bot.rules.tables import CONDITIONS, Rule, RuleSet

Check = tuple[str, Any, Callable[[Facts], bool], Callable[..., tuple[bool, str]]]  # key, value, test, explain
# Text conditions cost most (stems, regex searches): checked last, so a cheap condition that fails saves them.
_LAST = ("if_subject_keywords", "if_keywords", "if_regex")
ORDER = tuple(k for k in CONDITIONS if k not in _LAST) + _LAST
SMALL_STAGE = 12


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome for one ticket: fired or not, and why (the failing condition when not)."""

    name: str
    stage: str
    fired: bool
    why: str


@dataclass
class State:
    """What the rules have decided so far."""

    department: str | None = None
    priority: str | None = None  # set by set_priority (or the model, after it)
    floor: str | None = None  # the highest min_priority seen before the model spoke
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    review: str = ""  # the rule that asked for review
    no_ack: str = ""  # the rule that asked for no acknowledgement
    ack_template: str | None = None
    department_by: str = ""  # the rule that set the department
    stopped: str = ""  # the rule that stopped the stage
    results: list[RuleResult] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def compiled(rules: RuleSet, stage: str) -> list[tuple[Rule, list[Check]]]:
    """The rules of a stage with their condition checks prepared once per rule set."""
    memo = rules.memo()
    key = f"stage:{stage}"
    if key not in memo:
        memo[key] = [(rule, [_check(k, getattr(rule, k)) for k in ORDER if getattr(rule, k) not in (None, [])])
                     for rule in rules.rules if rule.stage == stage]
    result: list[tuple[Rule, list[Check]]] = memo[key]
    return result


def _check(key: str, value: Any) -> Check:
    prepare = PREPARE.get(key)
    value = prepare(value) if prepare else value
    return key, value, fast_check(key, value), CHECKS[key]


def gates(rules: RuleSet, stage: str) -> Gates:
    """The index of a stage's rules, built once per rule set."""
    memo = rules.memo()
    key = f"gates:{stage}"
    if key not in memo:
        memo[key] = Gates(compiled(rules, stage))
    found: Gates = memo[key]
    return found


def run_stage(rules: RuleSet, stage: str, facts: Facts, state: State, *, trace: bool = True) -> None:
    """Run one stage's rules in order, applying each firing rule's actions to `state`; with `trace`, record
    for each rule whether it fired and why (the first condition that failed). Without it, rules that surely
    cannot fire (their keywords or regex literals are not in the text) are not even run."""
    entries = compiled(rules, stage)
    if not entries:
        return
    # A few rules cost less to run than to look up; the index pays from a dozen on.
    order = range(len(entries)) if trace or len(entries) < SMALL_STAGE else gates(rules, stage).candidates(facts)
    stopped = False
    for position in order:
        rule, checks = entries[position]
        if stopped:
            if trace:
                state.results.append(RuleResult(rule.name, stage, False, f"not run: rule {state.stopped} stopped"))
            continue
        fired = True
        for check in checks:
            if not check[2](facts):
                fired = False
                break
        if trace:
            state.results.append(RuleResult(rule.name, stage, fired, _explain(checks, facts, fired)))
        if not fired:
            continue
        apply(rule, rules, state)
        facts.department, facts.priority = state.department, state.priority or state.floor
        if rule.stop:
            state.stopped, stopped = rule.name, True


def skip_stage(rules: RuleSet, stage: str, state: State) -> None:
    """Record a stage's rules as not run: a before-model rule stopped."""
    state.results += [RuleResult(rule.name, stage, False, f"not run: rule {state.stopped} stopped")
                      for rule, _ in compiled(rules, stage)]


def _explain(checks: list[Check], facts: Facts, fired: bool) -> str:
    """Why a rule fired (every condition's fact), or the first condition that failed."""
    held = []
    for key, value, _, explain in checks:
        ok, detail = explain(value, facts)
        if not ok:
            return f"{key}: {detail}"
        held.append(detail)
    return "; ".join(held) or "no conditions: every ticket"


def apply(rule: Rule, rules: RuleSet, state: State) -> None:
    """One firing rule's actions; the decision's reasons say what changed."""
    done: list[str] = []
    if rule.set_department and rule.set_department != state.department:
        state.department, state.department_by = rule.set_department, rule.name
        done.append(f"department -> {rule.set_department}")
    if rule.set_priority and rule.set_priority != state.priority:
        state.priority = rule.set_priority
        done.append(f"priority -> {rule.set_priority}")
    if rule.min_priority:
        if state.priority is None:
            if state.floor is None or rules.rank(rule.min_priority) > rules.rank(state.floor):
                state.floor = rule.min_priority
                done.append(f"priority at least {rule.min_priority}")
        elif rules.rank(rule.min_priority) > rules.rank(state.priority):
            state.priority = rule.min_priority
            done.append(f"priority -> {rule.min_priority}")
    if rule.add_tags:
        state.tags.extend(rule.add_tags)
        done.append("tags +" + ",".join(rule.add_tags))
    if rule.group:
        state.group = rule.group
        done.append(f"group {rule.group}")
    if rule.review:
        state.review = state.review or rule.name
        done.append("human review")
    if rule.no_ack:
        state.no_ack = state.no_ack or rule.name
        done.append("no acknowledgement")
    if rule.ack_template:
        state.ack_template = rule.ack_template
        done.append(f"acknowledgement {rule.ack_template}")
    if rule.stop:
        done.append("stop")
    state.reasons.append(f"rule {rule.name}: " + ("; ".join(done) or "no change"))
