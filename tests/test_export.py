"""`deskbot train --from`: solved helpdesk tickets become a training set that `deskbot train` learns from."""

from __future__ import annotations

import argparse
import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from bot.config.file import FreshdeskConfig, ZendeskConfig
from bot.errors import ConfigError
from bot.rules import load_rules
from classifier.cli import add_commands
from classifier.dataset import DatasetError
from connectors.export import export_source, open_source, parse_since
from connectors.freshdesk import FreshdeskSource
from connectors.zendesk import ZendeskSource
from tests.fakes.decisions import GROUPS
from tests.fakes.freshdesk import FakeFreshdesk
from tests.fakes.limits import FakeClock
from tests.fakes.zendesk import FakeZendesk

SMALL = Path(__file__).parent / "fixtures" / "tickets-small.csv"
GROUP_OF = {"billing": "Billing", "technical": "Technical Support", "account": "Accounts"}
PRIORITY = {"low": "low", "medium": "normal", "high": "high", "urgent": "urgent"}


def run(*argv: object) -> int:
    parser = argparse.ArgumentParser(prog="deskbot")
    add_commands(parser.add_subparsers(required=True))
    args = parser.parse_args([str(a) for a in argv])
    return int(args.handler(args))


def solved_zendesk(clock: FakeClock) -> FakeZendesk:
    fake = FakeZendesk(clock)
    for name in (*GROUPS, "Presales"):
        fake.add_group(name)
    with SMALL.open(encoding="utf-8") as stream:
        for n, row in enumerate(csv.DictReader(stream)):
            group = GROUP_OF.get(row["department"], "Presales")
            fake.create_ticket(row["subject"], row["body"] + "\n\n> On Monday we wrote:\n> old text",
                               status="solved" if n % 10 else "open", group=group,
                               priority=PRIORITY[row["priority"]], created_at=clock() - timedelta(days=20))
    return fake


def test_zendesk_export_labels_by_the_rules_departments_and_trains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    fake = solved_zendesk(clock)
    clock.advance(120)
    config = ZendeskConfig(name="acme", url="https://acme.zendesk.com", email="triage-bot@acme.example",
                           token_env="T", token="zd-token")
    source = ZendeskSource(config, rules=load_rules(), transport=httpx.MockTransport(fake), clock=clock,
                           sleep=clock.sleep)
    (path,) = export_source("zendesk:acme", config_path=None, since="30d", out=tmp_path / "model", now=clock(),
                            source=source)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == sum(1 for t in fake.tickets.values() if t.status == "solved")  # open ones left out
    assert {r["department"] for r in rows} <= {"billing", "technical", "account", "Presales"}
    assert "Presales" in {r["department"] for r in rows}
    assert all("old text" not in r["body"] for r in rows) and {r["priority"] for r in rows} <= {"low", "medium", "high"}
    printed = capsys.readouterr().out
    assert f"zendesk:acme: {len(rows)} solved tickets exported" in printed
    assert '[departments.Presales]\ngroup = "Presales"' in printed
    assert run("train", path, "--out", tmp_path / "model") == 0
    assert "departments Presales, account, billing, technical" in capsys.readouterr().out


def test_freshdesk_export_reads_resolved_and_closed_tickets(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = FakeFreshdesk(clock)
    for name in GROUPS:
        fake.add_group(name)
    for n, status in enumerate((2, 4, 5, 5)):
        tid = fake.create_ticket(f"Refund {n}", "Please refund my invoice", status=status)
        fake.agent_edit(tid, group="Orders and Returns", priority=3)
    config = FreshdeskConfig(name="acme", url="https://acme.freshdesk.com", api_key_env="K", api_key="fd-key")
    source = FreshdeskSource(config, rules=load_rules(), transport=httpx.MockTransport(fake), clock=clock,
                             sleep=clock.sleep)
    (path,) = export_source("freshdesk:acme", config_path=None, since="2026-10-01", out=tmp_path, source=source)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["subject"], r["department"], r["priority"]) for r in rows] == [
        ("Refund 1", "orders", "high"), ("Refund 2", "orders", "high"), ("Refund 3", "orders", "high")]


def test_train_needs_data_or_a_source(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="name the labelled DATA files, or a helpdesk with --from"):
        run("train", "--out", tmp_path)


def test_from_needs_a_config_table_of_that_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "deskbot.toml"
    config.write_text('[[zendesk]]\nname = "acme"\nurl = "https://acme.zendesk.com"\nemail = "bot@acme.example"\n'
                      'token_env = "DESKBOT_ZENDESK_TOKEN"\n', encoding="utf-8")
    monkeypatch.setenv("DESKBOT_ZENDESK_TOKEN", "zd-token")
    assert open_source("zendesk:acme", config).name == "zendesk:acme"
    with pytest.raises(ConfigError, match="no \\[\\[zendesk\\]\\] table named 'other' \\(known: zendesk:acme\\)"):
        open_source("zendesk:other", config)
    with pytest.raises(ConfigError, match="use zendesk:NAME or freshdesk:NAME"):
        open_source("jira:acme", config)
    with pytest.raises(ConfigError, match="--from needs --config"):
        run("train", "--from", "zendesk:acme", "--out", tmp_path / "m")


def test_since_accepts_days_weeks_and_dates() -> None:
    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    assert parse_since("180d", now=now) == now - timedelta(days=180)
    assert parse_since("2w", now=now) == now - timedelta(days=14)
    assert parse_since("2026-05-01", now=now) == datetime(2026, 5, 1, tzinfo=timezone.utc)
    with pytest.raises(DatasetError, match="--since 'soon'"):
        parse_since("soon", now=now)


def test_tickets_without_priority_train_departments_only_each_ticket_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    fake = FakeZendesk(clock)
    for name in GROUPS:
        fake.add_group(name)
    created = clock() - timedelta(days=5)
    for n in range(4):
        fake.create_ticket(f"Refund {n}", "Please refund my invoice", status="solved", group="Billing",
                           priority="high" if n % 2 else None, created_at=created)
        fake.create_ticket(f"Login {n}", "I cannot log in", status="solved", group="Technical Support",
                           priority="low" if n % 2 else None, created_at=created)
    edited = fake.create_ticket("Edited", "Where is my parcel", status="open", group="Orders and Returns",
                                created_at=created)
    clock.advance(30)
    fake.agent_edit(edited, status="solved")  # listed twice by the export: counts once
    fake.create_ticket("Loose", "no group yet", status="solved", created_at=created)
    clock.advance(120)
    config = ZendeskConfig(name="acme", url="https://acme.zendesk.com", email="triage-bot@acme.example",
                           token_env="T", token="zd-token")
    source = ZendeskSource(config, rules=load_rules(), transport=httpx.MockTransport(fake), clock=clock,
                           sleep=clock.sleep)
    rated, unrated = export_source("zendesk:acme", config_path=None, since="30d", out=tmp_path, now=clock(),
                                   source=source)
    with_priority = [json.loads(line) for line in rated.read_text(encoding="utf-8").splitlines()]
    without = [json.loads(line) for line in unrated.read_text(encoding="utf-8").splitlines()]
    assert {r["priority"] for r in with_priority} == {"high", "low"}  # never "medium" for a null priority
    assert len(with_priority) == 4 and len(without) == 5 and all("priority" not in r for r in without)
    assert [r["subject"] for r in with_priority + without].count("Edited") == 1
    printed = capsys.readouterr().out
    assert "  billing: 4" in printed and "  (none): 5" in printed and "train the department model only" in printed
    assert "dropped: 1 no group" in printed
