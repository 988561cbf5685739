"""Every validation message of a rules file, with its exact FILE:LINE, all at once; warnings; unsafe regexes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.rules import RulesContext, RulesError, inspect_rules, load_rules
from bot.rules.patterns import UnsafePattern, check_pattern
from tests.rulebase import BASE, rules_file, ruleset, verdict

RULE_LINE = BASE.count("\n") + 4  # BASE, a blank line, [[rules]], name: the probed key comes next


def problems(tmp_path: Path, rules: str, context: RulesContext | None = None) -> list[str]:
    """Every finding for BASE plus `rules`, with the file name cut to F."""
    path = rules_file(tmp_path, rules)
    _, findings = inspect_rules(path, context=context)
    return [str(p).replace(str(path), "F") for p in findings.problems]


# (id, the probed line, the expected message after "F:LINE: rule 'probe': ")
MESSAGES = [
    ("typo with nearest key", 'if_sender_domains = ["x"]', "unknown key 'if_sender_domains' (did you mean "
     "'if_sender_domain'?)"),
    ("unknown key, allowed listed", 'colour = "red"', "unknown key 'colour' (allowed: name, description, stage, "
     "if_sender, if_sender_domain, if_to, if_source, if_keywords, if_subject_keywords, if_regex, if_has_attachment, "
     "if_language, if_department, if_priority, if_confidence_below, if_confidence_above, if_business_hours, "
     "if_tags, if_organization, set_department, set_priority, min_priority, add_tags, group, review, no_ack, "
     "ack_template, stop)"),
    ("bool as text", 'review = "yes"', "review must be true or false (got 'yes')"),
    ("list as number", "if_keywords = 5", 'if_keywords must be a list of strings, e.g. ["a", "b"] (got 5)'),
    ("number as text", 'if_confidence_below = "low"', "if_confidence_below must be a number (got 'low')"),
    ("confidence above 1", "if_confidence_above = 1.5", "if_confidence_above: Input should be less than or equal to 1"),
    ("unknown department", 'if_department = ["finance"]',
     "if_department[0]: unknown department 'finance' (known: billing, technical, legal)"),
    ("unknown set_department", 'set_department = "finance"', "set_department: unknown department 'finance' "
     "(known: billing, technical, legal); define it under [departments]"),
    ("unknown priority", 'if_priority = ["critical"]',
     "if_priority[0]: unknown priority 'critical' (known: low, medium, high, urgent)"),
    ("unknown set_priority", 'set_priority = "p1"', "set_priority: unknown priority 'p1' (known: low, medium, high, "
     "urgent)"),
    ("unknown language", 'if_language = ["english"]',
     "if_language[0]: unknown language 'english' (known: en, de, es, fr, pt, it, nl, und)"),
    ("source not KIND:NAME", 'if_source = ["mail"]', "if_source[0]: unknown source 'mail' (a source is KIND:NAME, "
     "KIND one of imap, zendesk, freshdesk, api, e.g. imap:support or zendesk:acme)"),
    ("unknown stage", 'stage = "before"', "stage: 'before' is not allowed ('before_model' or 'after_model')"),
    ("template name", 'ack_template = "a b"', "ack_template must be a template name: letters, digits, - and _ "
     "(e.g. 'ack-vip')"),
    ("invalid regex", 'if_regex = ["(unclosed"]', 'if_regex[0]: invalid regex "(unclosed": missing ), unterminated '
     "subpattern at position 0 (Python `re` syntax)"),
    ("nested quantifier", 'if_regex = ["(a+)+$"]', 'if_regex[0]: unsafe regex "(a+)+$": a nested quantifier (a '
     "repeated group containing a repeat, like (a+)+) can backtrack catastrophically; repeat the inner part only, "
     "or make it atomic (?>...) or possessive (a++)"),
    ("overlapping alternation", 'if_regex = ["(a|ab)*c"]', 'if_regex[0]: unsafe regex "(a|ab)*c": a repeated '
     "alternation whose branches can start with the same character (like (a|ab)*) can backtrack catastrophically; "
     "make the branches start differently"),
    ("backreference", 'if_regex = ["(x)\\\\1"]', 'if_regex[0]: unsafe regex "(x)\\1": backreferences (\\1, (?P=name)) '
     "are not allowed: they can make matching take exponential time"),
    ("confidence before the model", 'stage = "before_model"\nif_confidence_below = 0.5',
     'if_confidence_below needs the model\'s confidence, which a before_model rule does not '
     'see (use stage = "after_model")'),
]


@pytest.mark.parametrize(("line", "message"), [c[1:] for c in MESSAGES], ids=[c[0] for c in MESSAGES])
def test_message(tmp_path: Path, line: str, message: str) -> None:
    at = RULE_LINE + line.count("\n")
    assert problems(tmp_path, f'[[rules]]\nname = "probe"\n{line}\nadd_tags = ["t"]\n') == \
        [f"F:{at}: rule 'probe': {message}"]


def test_every_error_at_once_in_file_order(tmp_path: Path) -> None:
    rules = ('[[rules]]\nname = "one"\nif_keyword = ["x"]\nreview = true\n\n'
             '[[rules]]\nname = "two"\nif_department = ["finance"]\nmin_priority = "critical"\n\n'
             '[[rules]]\nname = "one"\nif_language = "en"\nno_ack = true\n')
    path = rules_file(tmp_path, rules)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    first = RULE_LINE
    assert str(caught.value).splitlines() == [
        f"{path}:{first}: rule 'one': unknown key 'if_keyword' (did you mean 'if_keywords'?)",
        f"{path}:{first + 5}: rule 'two': if_department[0]: unknown department 'finance' (known: billing, technical, "
        "legal)",
        f"{path}:{first + 6}: rule 'two': min_priority: unknown priority 'critical' (known: low, medium, high, urgent)",
        f"{path}:{first + 9}: rule 'one': rule name 'one' is used twice (names must be unique)",
    ]
    assert (caught.value.line, caught.value.key) == (first, "rules[0].if_keyword")


def test_an_unknown_key_hides_none_of_its_rules_other_errors(tmp_path: Path) -> None:
    rules = ('[[rules]]\nname = "mixed"\nif_keyword = ["x"]\nif_department = ["finance"]\nif_regex = ["(a+)+$"]\n'
             'if_has_attachment = "yes"\nset_priority = "critical"\n')
    first = RULE_LINE
    assert problems(tmp_path, rules) == [  # pydantic's findings and the cross-checks', in file order
        f"F:{first}: rule 'mixed': unknown key 'if_keyword' (did you mean 'if_keywords'?)",
        f"F:{first + 1}: rule 'mixed': if_department[0]: unknown department 'finance' (known: billing, technical, "
        "legal)",
        f'F:{first + 2}: rule \'mixed\': if_regex[0]: unsafe regex "(a+)+$": a nested quantifier (a repeated group '
        "containing a repeat, like (a+)+) can backtrack catastrophically; repeat the inner part only, or make it "
        "atomic (?>...) or possessive (a++)",
        f"F:{first + 3}: rule 'mixed': if_has_attachment must be true or false (got 'yes')",
        f"F:{first + 4}: rule 'mixed': set_priority: unknown priority 'critical' (known: low, medium, high, urgent)",
    ]


def test_a_rule_whose_only_action_is_misspelt_gets_one_error(tmp_path: Path) -> None:
    assert problems(tmp_path, '[[rules]]\nname = "typo"\nif_keywords = ["x"]\nset_prority = "high"\n') == [
        f"F:{RULE_LINE + 1}: rule 'typo': unknown key 'set_prority' (did you mean 'set_priority'?)"]


def test_errors_outside_rules_and_in_rules_together(tmp_path: Path) -> None:
    base = BASE.replace("medium = 8", "medium = 0").replace('calendar = "24x7"', 'calendar = "weekends"')
    path = rules_file(tmp_path, '[[rules]]\nname = "r"\nif_priority = "p9"\nreview = true\n', base)
    _, findings = inspect_rules(path)
    lines = BASE.splitlines()
    medium, calendar = lines.index("medium = 8") + 1, lines.index('calendar = "24x7"') + 1
    assert [str(p).replace(str(path), "F") for p in findings.problems] == [
        f"F:{medium}: sla_hours.medium: SLA hours must be greater than 0",
        f"F:{calendar}: departments.technical.calendar: unknown calendar 'weekends' (known: default, 24x7)",
        f"F:{RULE_LINE}: rule 'r': if_priority[0]: unknown priority 'p9' (known: low, medium, high, urgent)",
    ]


def test_unknown_sla_calendar(tmp_path: Path) -> None:
    assert problems(tmp_path, '[sla_calendar]\nurgent = "on-call"\n') == \
        [f"F:{RULE_LINE - 1}: sla_calendar.urgent: unknown calendar 'on-call' (known: default, 24x7)"]


def test_sources_and_templates_known_to_the_config(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "ack-vip.en.txt.j2").write_text("Subject: hi\n\nhello\n", encoding="utf-8")
    context = RulesContext(sources=("imap:support", "zendesk:acme"), templates=templates)
    rules = '[[rules]]\nname = "r"\nif_source = ["imap:sales", "zendesk"]\nack_template = "ack-vip"\n'
    assert problems(tmp_path, rules, context) == [
        f"F:{RULE_LINE}: rule 'r': if_source[0]: unknown source 'imap:sales' (known: imap:support, zendesk:acme)",
        f"F:{RULE_LINE + 1}: rule 'r': ack_template: unknown template 'ack-vip': no ack-vip.<language>.txt.j2 in "
        f"{templates} for de, es, fr, pt (each language under [acknowledgement] languages needs one)",
    ]


WARNINGS = [
    ("after an unconditional stop", '[[rules]]\nname = "all"\nreview = true\nstop = true\n\n'
     '[[rules]]\nname = "never"\nif_language = "en"\nadd_tags = ["x"]\n',
     "can never fire: rule 'all' before it has no conditions and stops every ticket (move "
     "this rule above it, or give that rule a condition)"),
    ("contradicting confidences", '[[rules]]\nname = "never"\nif_confidence_below = 0.3\nif_confidence_above = 0.6\n'
     'review = true\n', "can never fire: if_confidence_below 0.3 and if_confidence_above "
     "0.6 leave no confidence between them"),
    ("sender outside the domain", '[[rules]]\nname = "never"\nif_sender = "a@x.test"\nif_sender_domain = "y.test"\n'
     'review = true\n', "can never fire: no address of if_sender is in a domain of "
     "if_sender_domain"),
]


@pytest.mark.parametrize(("rules", "message"), [c[1:] for c in WARNINGS], ids=[c[0] for c in WARNINGS])
def test_warning(tmp_path: Path, rules: str, message: str) -> None:
    path = rules_file(tmp_path, rules)
    loaded = load_rules(path)  # warnings do not stop deskbot
    assert loaded.warnings == [f"{path}:{_table_line(rules, 'never')}: warning: rule 'never': {message}"]


def _table_line(rules: str, name: str) -> int:
    """The line of the [[rules]] table holding `name` in BASE plus `rules`."""
    lines = (BASE + "\n" + rules).splitlines()
    return lines.index(f'name = "{name}"')  # the [[rules]] line is the one before: index is 0-based


def test_helpdesk_conditions_without_a_helpdesk(tmp_path: Path) -> None:
    rules = '[[rules]]\nname = "r"\nif_tags = ["vip"]\nreview = true\n'
    assert problems(tmp_path, rules, RulesContext(sources=("imap:support",))) == [
        f"F:{RULE_LINE}: warning: rule 'r': can never fire: if_tags reads helpdesk tickets and no [[zendesk]] or "
        "[[freshdesk]] source is configured (mail has none)"]
    assert problems(tmp_path, rules, RulesContext(sources=("imap:support", "freshdesk:acme"))) == []


CATASTROPHIC = r"^(\w+\s?)*$"  # against 30 letters and a "!", re takes minutes: every split of the word is tried


def test_catastrophic_regex_is_refused_and_a_safe_one_is_fast(tmp_path: Path) -> None:
    with pytest.raises(UnsafePattern, match="nested quantifier"):
        check_pattern(CATASTROPHIC)
    error = problems(tmp_path, f'[[rules]]\nname = "r"\nif_regex = [\'{CATASTROPHIC}\']\nreview = true\n')
    assert len(error) == 1 and "unsafe regex" in error[0]
    rules = ruleset(tmp_path, "[[rules]]\nname = \"r\"\nif_regex = ['^[\\w\\s]*$']\nreview = true\n")
    started = time.perf_counter()
    result = verdict(rules, {"subject": "a" * 30 + "!", "text": "b" * 5000 + "!"})
    assert time.perf_counter() - started < 1.0 and not result.rules[0].fired


@pytest.mark.parametrize("pattern", [r"order\s+#?\d{5}", r"(foo|bar)+", r"(?>a+)+b", r"a++b", r"\b(refund|rückerstattung)\b",
                                     r"x{2,5}(ab)*"])
def test_safe_patterns_pass(pattern: str) -> None:
    assert isinstance(check_pattern(pattern), re.Pattern)


def test_a_group_no_helpdesk_has_is_named_with_the_rule_when_the_helpdesk_is_reached(tmp_path: Path) -> None:
    from bot.rules import shipped_rules_path
    from tests.test_zendesk import GROUPS, FakeClock, FakeZendesk, source

    path = tmp_path / "rules.toml"
    text = shipped_rules_path().read_text(encoding="utf-8") + '\n[[rules]]\nname = "escalate"\nif_language = "en"\n' \
        'group = "Escalations"\n'
    path.write_text(text, encoding="utf-8")
    clock = FakeClock()
    fake = FakeZendesk(clock)
    for name in GROUPS:
        fake.add_group(name)
    with pytest.raises(ConfigError) as caught:
        source(fake, clock, load_rules(path)).check()
    line = text.splitlines().index('group = "Escalations"') + 1
    assert str(caught.value).startswith(f"{path}:{line}: rule 'escalate': zendesk:acme has no group named "
                                        "'Escalations'; known groups: Accounts, Billing")


# Outside [[rules]]: (id, old text of BASE, new text, the expected finding after "F:LINE: ")
TABLES = [
    ("calendar key typo", "always = true", "alway = true",
     "calendars.24x7.alway: unknown key 'alway' (did you mean 'always'?)"),
    ("department key typo", 'calendar = "24x7"', 'calender = "24x7"',
     "departments.technical.calender: unknown key 'calender' (did you mean 'calendar'?)"),
    ("department SLA for an unknown priority", "sla_hours = { urgent = 1 }", "sla_hours = { critical = 1 }",
     "departments.technical.sla_hours.critical: unknown priority 'critical'; known: low, medium, high, urgent"),
    ("holidays not a string", 'holidays = "DE"', "holidays = 5", "business_hours.holidays: holidays must be a string "
     "(got 5)"),
    ("calendar named default", "[calendars.24x7]", "[calendars.default]\nalways = true\n\n[calendars.24x7]",
     'calendars.default: the calendar named '
     '"default" is [business_hours]; give this one another name'),
]


@pytest.mark.parametrize(("old", "new", "message"), [c[1:] for c in TABLES], ids=[c[0] for c in TABLES])
def test_table_message(tmp_path: Path, old: str, new: str, message: str) -> None:
    base = BASE.replace(old, new)
    path = rules_file(tmp_path, "", base)
    _, findings = inspect_rules(path)
    line = base.splitlines().index(new.splitlines()[0]) + 1
    assert [str(p).replace(str(path), "F") for p in findings.problems] == [f"F:{line}: {message}"]
