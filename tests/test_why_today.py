"""`deskbot why REF` and `deskbot log --reference REF` say what today's rules would decide (issue 18),
on a real SQLite decision log and a rules file edited after the tickets were decided."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.cli import main
from bot.decide import decide
from bot.judge import not_asked
from bot.log.store import Store
from bot.rules import load_rules
from tests.rulebase import PREDICTION, TICKET
from tests.test_rules_commands import LEGAL, MOVE, SHIPPED, config  # noqa: F401 - the fixture

LAWYER = replace(TICKET, key="k-law", ref="law", sender="counsel@law.example", message_id="<law@law.example>")


def _record(config: Path) -> Path:  # noqa: F811 - the fixture's value
    """SUP-000001 (the model said billing) and SUP-000002 (a before_model rule decided alone), decided yesterday."""
    rules = load_rules(config.parent / "rules.toml")
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    store = Store.open(f"sqlite:///{config.parent / 'log.sqlite3'}", clock=lambda: yesterday)
    mail, lawyer = replace(TICKET, received_at=yesterday), replace(LAWYER, received_at=yesterday)
    store.record_decision(mail, PREDICTION, decide(mail, PREDICTION, rules, now=yesterday), kinds=(), cursor=None)
    store.record_decision(lawyer, not_asked(lawyer), decide(lawyer, None, rules, now=yesterday), kinds=(), cursor=None)
    store.engine.dispose()
    return config.parent / "log.sqlite3"


def _why(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def _today(config: Path, ref: str, capsys: pytest.CaptureFixture[str]) -> dict:  # noqa: F811
    assert main(["log", "--config", str(config), "--reference", ref, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["today"]


def test_unchanged_rules_decide_the_same(config: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _record(config)
    out = _why(["why", "SUP-000001", "--config", str(config)], capsys)
    assert "today's rules would decide: billing / medium, no review, acknowledgement" in out
    assert "prediction: the one recorded with the ticket (the model was not asked again)" in out
    assert "the same as the recorded decision" in out
    today = _today(config, "SUP-000001", capsys)
    assert (today["department"], today["priority"], today["needs_review"], today["acknowledge"]) == \
        ("billing", "medium", False, True)
    assert (today["prediction"], today["same"], today["differences"]) == ("recorded", True, [])


def test_an_edited_rules_file_shows_the_difference_and_writes_nothing(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    database = _record(config)
    digest = hashlib.sha256(database.read_bytes()).hexdigest()
    (config.parent / "rules.toml").write_text(SHIPPED + LEGAL + MOVE, encoding="utf-8")
    out = _why(["why", "SUP-000001", "--config", str(config)], capsys)
    assert "Decision:  billing / medium" in out  # the recorded decision is told as it was
    assert "today's rules would decide: orders / medium, needs review, acknowledgement" in out
    assert "differs from the recorded decision in department, review" in out
    story = _why(["log", "--config", str(config), "--reference", "SUP-000001"], capsys)
    assert "differs from the recorded decision in department, review" in story
    today = _today(config, "SUP-000001", capsys)
    assert (today["department"], today["needs_review"], today["same"]) == ("orders", True, False)
    assert today["differences"] == ["department", "needs_review"]
    assert any("invoices-to-orders" in reason for reason in today["reasons"])
    assert hashlib.sha256(database.read_bytes()).hexdigest() == digest


def test_a_ticket_decided_without_the_model_asks_it_when_todays_rules_need_it(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _record(config)
    assert _today(config, "SUP-000002", capsys)["prediction"] == "none"  # the before_model rule still decides
    (config.parent / "rules.toml").write_text(SHIPPED, encoding="utf-8")  # the lawyers' rule is gone
    today = _today(config, "SUP-000002", capsys)
    assert today["prediction"] == "model" and today["same"] is (today["department"] == "general")
    out = _why(["why", "SUP-000002", "--config", str(config)], capsys)
    assert "prediction: the model's, asked now (none was recorded" in out


def test_without_a_config_or_with_broken_rules_the_story_is_still_told(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    database = _record(config)
    out = _why(["why", "SUP-000001", "--db", str(database)], capsys)
    assert "Decision:  billing / medium" in out and "not asked (no config" in out
    assert main(["log", "--db", str(database), "--reference", "SUP-000001", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["today"] is None and record["today_not_asked"].startswith("no config")
    (config.parent / "rules.toml").write_text(SHIPPED + '\n[[rules]]\nname = "x"\nset_department = 3\n',
                                              encoding="utf-8")
    out = _why(["why", "SUP-000001", "--config", str(config)], capsys)
    assert "Decision:  billing / medium" in out and "the rules cannot be used: " in out and "rules.toml" in out
