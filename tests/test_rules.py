"""load_rules(): the shipped rules load; every mistake names the file, line and key."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.rules import load_rules, shipped_rules_path

SMALL = (Path(__file__).parent / "fixtures" / "config" / "rules-small.toml").read_text(encoding="utf-8")


def variant(old: str, new: str) -> str:
    """The small rules fixture with one unique piece of text replaced."""
    assert SMALL.count(old) == 1, old
    return SMALL.replace(old, new)


def rules_error(tmp_path: Path, text: str) -> ConfigError:
    """The ConfigError that loading `text` as a rules file raises."""
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert caught.value.path == str(path)
    return caught.value


def test_shipped_rules_load() -> None:
    rules = load_rules()
    assert shipped_rules_path().name == "default.toml"
    assert rules.priorities == ["low", "medium", "high", "urgent"]
    assert rules.sla_hours == {"urgent": 2, "high": 4, "medium": 8, "low": 24}
    assert (rules.business_hours.timezone, rules.business_hours.holidays) == ("Europe/Berlin", "DE")
    assert (rules.business_hours.start, rules.business_hours.end) == (time(9), time(17))
    assert set(rules.departments) == {"billing", "technical", "account", "orders", "sales", "general"}
    assert [r.name for r in rules.rules] == ["vip-senders", "urgent-keywords", "legal-threats"]
    assert rules.departments["billing"].names == {"en": "Billing", "de": "Buchhaltung", "es": "Facturación",
                                                  "fr": "Facturation", "pt": "Faturas e Pagamentos"}
    assert rules.acknowledgement.reference_prefix == "SUP"
    assert rules.priority.high_as_low_cost == 5
    assert rules.triage.review_below == 0.5  # calibrated: below it the default model is more often wrong


def test_small_fixture_loads(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(SMALL, encoding="utf-8")
    rules = load_rules(path)
    assert rules.departments["technical"].folder is None
    assert rules.triage.review_below == 0.4  # defaults fill what the file leaves out
    assert rules.priority.high_as_low_cost == 1.0  # no [priority] table: the model's priority as it is
    assert rules.rank("urgent") == 3 and rules.rank("unknown") == rules.rank("medium")


# (id, old text, new text, line, key, fragment of the message)
ERRORS = [
    ("missing SLA", "low = 24\n", "", 5, "sla_hours", "no SLA for priority 'low'"),
    ("SLA for unknown priority", "low = 24\n", "low = 24\nnormal = 12\n", 10, "sla_hours.normal",
     "unknown priority 'normal'"),
    ("SLA of zero", "high = 4", "high = 0", 7, "sla_hours.high", "greater than 0"),
    ("unknown default priority", 'default_priority = "medium"', 'default_priority = "normal"', 3,
     "default_priority", "unknown priority 'normal'"),
    ("bad time zone", '"Europe/Berlin"', '"Europe/Berlim"', 12, "business_hours.timezone",
     "unknown time zone 'Europe/Berlim'"),
    ("bad time zone path", '"Europe/Berlin"', '"../../etc/passwd"', 12, "business_hours.timezone", "unknown time zone"),
    ("end before start", "end = 17:00:00", "end = 08:00:00", 11, "business_hours", "end must be later than start"),
    ("end equals start", "end = 17:00:00", "end = 09:00:00", 11, "business_hours", "end must be later than start"),
    ("unknown weekday", '"fri"]', '"fri", "fry"]', 13, "business_hours.days[5]", "'mon', 'tue'"),
    ("no days", '["mon", "tue", "wed", "thu", "fri"]', "[]", 13, "business_hours.days", "at least 1"),
    ("unknown holiday country", 'holidays = "DE"', 'holidays = "XX"', 11, "business_hours", "unknown holiday calendar"),
    ("unknown subdivision", 'holiday_subdivision = "BE"', 'holiday_subdivision = "ZZ"', 11, "business_hours",
     "unknown holiday calendar"),
    ("department key typo", 'folder = "Billing"', 'foldr = "Billing"', 21, "departments.billing.foldr", "unknown key"),
    ("cost below 1", "[[rules]]\nname = \"vip", "[priority]\nhigh_as_low_cost = 0.5\n\n[[rules]]\nname = \"vip",
     27, "priority.high_as_low_cost", "greater than or equal to 1"),
    ("cost not a number", "[[rules]]\nname = \"vip", "[priority]\nhigh_as_low_cost = \"high\"\n\n[[rules]]\nname = \"vip",
     27, "priority.high_as_low_cost", "must be a number (got 'high')"),
    ("priority key typo", "[[rules]]\nname = \"vip", "[priority]\nhigh_as_low = 2\n\n[[rules]]\nname = \"vip",
     27, "priority.high_as_low", "unknown key"),
    ("review_below above 1", "[[rules]]\nname = \"vip", "[triage]\nreview_below = 40\n\n[[rules]]\nname = \"vip", 27,
     "triage.review_below", "less than or equal to 1"),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "fragment"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_mistake_names_line_and_key(tmp_path: Path, old: str, new: str, line: int, key: str, fragment: str) -> None:
    error = rules_error(tmp_path, variant(old, new))
    assert (error.line, error.key) == (line, key)
    assert fragment in error.reason
    assert str(error).startswith(f"{error.path}:{line}: {key}: ")


# (id, old text, new text, the exact error line after the file name)
RULE_ERRORS = [
    ("unknown min_priority", 'min_priority = "high"', 'min_priority = "critical"',
     ":29: rule 'vip-senders': min_priority: unknown priority 'critical' (known: low, medium, high, urgent)"),
    ("unknown set_department", "review = true", 'review = true\nset_department = "legal"',
     ":35: rule 'legal-threats': set_department: unknown department 'legal' (known: billing, technical); "
     "define it under [departments]"),
    ("rule without action", "review = true\n", "",
     ":31: rule 'legal-threats': a rule needs at least one action (set_department, set_priority, min_priority, "
     "add_tags, group, review, no_ack, ack_template, stop)"),
    ("rule name not kebab-case", 'name = "legal-threats"', 'name = "Legal_Threats"',
     ":32: rule 'Legal_Threats': name must be kebab-case: lowercase letters and digits joined by single dashes "
     "(e.g. 'vip-senders')"),
    ("rule name with trailing dash", 'name = "legal-threats"', 'name = "legal-"',
     ":32: rule 'legal-': name must be kebab-case: lowercase letters and digits joined by single dashes "
     "(e.g. 'vip-senders')"),
    ("rule condition typo", 'if_keywords = ["lawyer"', 'if_keyword = ["lawyer"',
     ":33: rule 'legal-threats': unknown key 'if_keyword' (did you mean 'if_keywords'?)"),
]


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in RULE_ERRORS], ids=[c[0] for c in RULE_ERRORS])
def test_rule_mistake_names_file_line_and_rule(tmp_path: Path, old: str, new: str, expected: str) -> None:
    error = rules_error(tmp_path, variant(old, new))
    assert str(error) == f"{error.path}{expected}"


def test_rule_without_condition_fires_on_every_ticket(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(variant('if_sender_domain = ["vip.example.com"]\n', ""), encoding="utf-8")
    assert load_rules(path).rules[0].conditions() == []


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = rules_error(tmp_path, variant("medium = 8", "medium = 8 hours"))
    assert (error.line, error.key) == (8, "")
    assert "not valid TOML" in error.reason


def test_no_departments(tmp_path: Path) -> None:
    text = variant('[departments.billing]\ngroup = "Billing"\nfolder = "Billing"\n\n'
                   '[departments.technical]\ngroup = "Technical Support"\n', "")
    error = rules_error(tmp_path, text)
    assert error.key == "departments" and error.reason == "required key is missing"


def test_missing_sla_table(tmp_path: Path) -> None:
    text = variant("[sla_hours]\nurgent = 2\nhigh = 4\nmedium = 8\nlow = 24\n", "")
    error = rules_error(tmp_path, text)
    assert error.key == "sla_hours" and error.reason == "required key is missing"


def test_duplicate_rule_name_points_at_the_repeat(tmp_path: Path) -> None:
    error = rules_error(tmp_path, variant('name = "legal-threats"', 'name = "vip-senders"'))
    assert (error.line, error.key) == (32, "rules[1].name")
    assert str(error) == f"{error.path}:32: rule 'vip-senders': rule name 'vip-senders' is used twice " \
        "(names must be unique)"
