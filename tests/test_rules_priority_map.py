"""[priority_map.<helpdesk>] in a rules file: optional, and every mistake names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.rules import load_rules

SMALL = (Path(__file__).parent / "fixtures" / "config" / "rules-small.toml").read_text(encoding="utf-8")


def load(tmp_path: Path, extra: str):  # noqa: ANN201 - a RuleSet
    """The small rules fixture with `extra` appended, loaded."""
    path = tmp_path / "rules.toml"
    path.write_text(SMALL + "\n" + extra, encoding="utf-8")
    return load_rules(path)


def test_no_priority_map_by_default(tmp_path: Path) -> None:
    assert load(tmp_path, "").priority_map == {}


def test_priority_map_per_helpdesk(tmp_path: Path) -> None:
    rules = load(tmp_path, '[priority_map.zendesk]\nmedium = "low"\n\n[priority_map.freshdesk]\nurgent = 3\n')
    assert rules.priority_map == {"zendesk": {"medium": "low"}, "freshdesk": {"urgent": 3}}


@pytest.mark.parametrize(("extra", "key", "fragment"), [
    ('[priority_map.jira]\nlow = "low"\n', "priority_map.jira", "unknown helpdesk 'jira'; known: zendesk, freshdesk"),
    ('[priority_map.zendesk]\ncritical = "urgent"\n', "priority_map.zendesk.critical",
     "unknown priority 'critical'; known: low, medium, high, urgent"),
    ('[priority_map.zendesk]\nmedium = "medium"\n', "priority_map.zendesk.medium",
     "zendesk has no priority 'medium'; use one of 'low', 'normal', 'high', 'urgent'"),
    ("[priority_map.zendesk]\nmedium = 2\n", "priority_map.zendesk.medium", "zendesk has no priority 2"),
    ('[priority_map.freshdesk]\nhigh = "3"\n', "priority_map.freshdesk.high",
     "freshdesk has no priority '3'; use one of 1, 2, 3, 4"),
    ("[priority_map.freshdesk]\nhigh = 5\n", "priority_map.freshdesk.high", "freshdesk has no priority 5"),
    ("[priority_map.freshdesk]\nhigh = true\n", "priority_map.freshdesk.high", "freshdesk has no priority True"),
])
def test_priority_map_mistakes_name_line_and_key(tmp_path: Path, extra: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    assert caught.value.key == key
    assert caught.value.line is not None and caught.value.line > SMALL.count("\n")
    assert fragment in caught.value.reason
