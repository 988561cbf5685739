"""`deskbot rules check`, `deskbot rules test` and `deskbot simulate`, run through the CLI on real files."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.cli import main
from bot.decide import decide
from bot.log.store import Store
from bot.rules import load_rules, shipped_rules_path
from tests.rulebase import PREDICTION, TICKET

SHIPPED = shipped_rules_path().read_text(encoding="utf-8")
LEGAL = ('\n[[rules]]\nname = "lawyers"\nstage = "before_model"\nif_sender_domain = "law.example"\n'
         'set_department = "general"\nstop = true\n')
MOVE = '\n[[rules]]\nname = "invoices-to-orders"\nif_keywords = ["invoice"]\nset_department = "orders"\nreview = true\n'


@pytest.fixture
def config(tmp_path: Path, model_cache: Path) -> Path:
    """A deskbot.toml with its own rules file and a SQLite decision log path (no servers are contacted)."""
    (tmp_path / "rules.toml").write_text(SHIPPED + LEGAL, encoding="utf-8")
    path = tmp_path / "deskbot.toml"
    path.write_text(f"""
[database]
url = "sqlite:///log.sqlite3"
[smtp]
host = "127.0.0.1"
port = 2525
security = "none"
from = "Support <support@deskbot.test>"
[[mailbox]]
name = "support"
host = "127.0.0.1"
port = 1143
security = "none"
username = "support@deskbot.test"
password_env = "NOT_SET_FOR_THESE_COMMANDS"
[paths]
rules = "rules.toml"
cache = "{model_cache}"
""", encoding="utf-8")
    return path


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_check_prints_each_rule_in_plain_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check"]) == 0
    out = capsys.readouterr().out
    assert "  vip-senders: if the sender's domain is vip.example.com (or a subdomain): at least high; tag vip\n" in out
    assert "legal-threats: if the subject or body mentions \"lawyer\"" in out


def test_check_lists_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(SHIPPED + '\n[[rules]]\nname = "bad"\nif_department = ["finance"]\nmin_priority = "p1"\n',
                    encoding="utf-8")
    assert main(["rules", "check", "--rules", str(path)]) == 2
    out = capsys.readouterr().out
    line = (SHIPPED + "\n").count("\n") + 3
    assert f"{path}:{line}: rule 'bad': if_department[0]: unknown department 'finance' (known: billing, technical, " \
           "account, orders, sales, general)\n" in out
    assert f"{path}:{line + 1}: rule 'bad': min_priority: unknown priority 'p1'" in out
    assert "2 error(s); deskbot will not start with these rules" in out


def test_check_warning_exits_1_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(SHIPPED + '\n[[rules]]\nname = "odd"\nif_confidence_below = 0.2\nif_confidence_above = 0.4\n'
                    'review = true\n', encoding="utf-8")
    code, report = run_json(["rules", "check", "--rules", str(path), "--json"], capsys)
    assert code == 1 and report["ok"] is True and report["errors"] == []
    [warning] = report["warnings"]
    assert (warning["where"], warning["line"]) == ("rule 'odd'", (SHIPPED + "\n").count("\n") + 1)
    assert [r["name"] for r in report["rules"]][-1] == "odd"


def test_check_with_config_knows_its_sources(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = config.parent / "rules.toml"
    rules.write_text(SHIPPED + '\n[[rules]]\nname = "z"\nif_source = "zendesk:acme"\nreview = true\n', encoding="utf-8")
    assert main(["rules", "check", "--config", str(config)]) == 2
    assert "unknown source 'zendesk:acme' (known: imap:support)" in capsys.readouterr().out


def test_test_gives_the_whole_decision_as_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run_json(["rules", "test", "--config", str(config), "--subject", "Production down",
                             "--body", "Our shop has an outage since 9.", "--from", "cto@vip.example.com",
                             "--at", "2026-11-21T11:00:00+01:00", "--json"], capsys)  # a Saturday
    assert code == 0
    assert {"department", "priority", "group", "folder", "tags", "needs_review", "acknowledge", "ack_template",
            "sla_due", "calendar", "model_asked", "rules"} <= set(result)
    assert result["priority"] == "urgent" and result["model_asked"] is True
    assert (result["calendar"], result["sla_due"]) == ("24x7", "2026-11-21T13:00:00+01:00")
    assert {"vip", "urgent"} <= set(result["tags"]) and result["acknowledge"] is True
    fired = {r["name"]: r for r in result["rules"]}
    assert fired["vip-senders"]["fired"] and fired["urgent-keywords"]["why"] == "mentions 'outage'"
    assert fired["legal-threats"] == {"name": "legal-threats", "stage": "after_model", "fired": False,
                                      "why": "if_keywords: no keyword in subject or body"}
    assert set(result["model"]["department_scores"]) >= {"billing", "technical"}


def test_test_before_model_rule_skips_the_model(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "test", "--config", str(config), "--subject", "Contract", "--body", "See attached.",
                 "--from", "x@law.example", "--attachment", "contract.pdf"])
    out = capsys.readouterr().out
    assert code == 0
    assert "model: not asked" in out and "FIRED lawyers [before_model]" in out
    assert "no    vip-senders [after_model]: not run: rule lawyers stopped" in out
    assert "department: general" in out


def test_test_reads_an_eml(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"From: a@law.example\r\nTo: support@deskbot.test\r\nSubject: hi\r\n"
                    b"Message-ID: <1@law.example>\r\n\r\nhello\r\n")
    code, result = run_json(["rules", "test", "--config", str(config), "--eml", str(eml), "--json"], capsys)
    assert code == 0 and result["department"] == "general" and result["model_asked"] is False


def test_test_needs_body_and_sender(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", "--config", str(config), "--subject", "x"]) == 2
    assert "--subject needs --body and --from" in capsys.readouterr().err


def _record(config: Path, count: int) -> Path:
    """`count` invoice tickets decided yesterday with the config's rules, in a real SQLite decision log."""
    rules = load_rules(config.parent / "rules.toml")
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    store = Store.open(f"sqlite:///{config.parent / 'log.sqlite3'}", clock=lambda: yesterday)
    for n in range(count):
        ticket = TICKET.__class__(**{**TICKET.__dict__, "key": f"k{n}", "ref": str(n), "received_at": yesterday})
        decision = decide(ticket, PREDICTION, rules, now=yesterday)
        store.record_decision(ticket, PREDICTION, decision, kinds=(), cursor=None)
    store.engine.dispose()  # the last connection checkpoints the WAL: the file alone holds the log from here on
    return config.parent / "log.sqlite3"


def test_simulate_shows_the_moves_and_changes_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = _record(config, 4)
    digest = hashlib.sha256(database.read_bytes()).hexdigest()
    new = config.parent / "new.toml"
    new.write_text(SHIPPED + MOVE, encoding="utf-8")
    code, report = run_json(["simulate", "--config", str(config), "--since", "30d", "--rules", str(new), "--json"],
                            capsys)
    assert code == 0
    assert (report["tickets"], report["changed"]) == (4, 4)
    assert report["department_matrix"] == {"billing": {"orders": 4}}
    assert report["department_moves"] == {"billing -> orders": 4}
    assert report["review_rate"] == {"before": 0.0, "after": 1.0}
    assert len(report["examples"]["department billing -> orders"]) == 3
    assert hashlib.sha256(database.read_bytes()).hexdigest() == digest  # read-only
    wal = Path(f"{database}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # SQLite may create an empty one for a reader

    assert main(["simulate", "--config", str(config), "--since", "30d", "--rules", str(new)]) == 0
    out = capsys.readouterr().out
    assert "4 tickets recorded in the last 30d; 4 would change" in out
    assert "review rate: 0.0% -> 100.0%" in out


def test_test_a_recorded_ticket_again(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _record(config, 2)
    new = config.parent / "rules.toml"
    new.write_text(SHIPPED + MOVE, encoding="utf-8")
    code, result = run_json(["rules", "test", "--config", str(config), "--ticket", "SUP-000002", "--json"], capsys)
    assert code == 0 and result["department"] == "orders" and result["needs_review"] is True
    assert main(["rules", "test", "--config", str(config), "--ticket", "SUP-000099"]) == 1
    assert "no ticket SUP-000099 in the decision log" in capsys.readouterr().err


def test_simulate_same_rules_moves_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _record(config, 2)
    code, report = run_json(["simulate", "--config", str(config), "--since", "2d", "--json"], capsys)
    assert code == 0 and report["changed"] == 0 and report["sla_shift"]["moved"] == 0


def test_simulate_bad_period(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--config", str(config), "--since", "a month"]) == 2
    assert "give a period like 30d" in capsys.readouterr().err


def test_readme_example_is_valid_and_uses_every_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.rules import ACTIONS, CONDITIONS

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Rules file"):readme.index("### What happens to each mail")]
    example = section[section.index("```toml\n") + 8:]
    example = example[:example.index("```")]
    path = tmp_path / "rules.toml"
    path.write_text(example, encoding="utf-8")
    assert main(["rules", "check", "--rules", str(path)]) == 0, capsys.readouterr().out
    used = {key for rule in load_rules(path).rules for key in (*rule.conditions(), *rule.actions())}
    assert used == set(CONDITIONS) | set(ACTIONS)
    for key in (*CONDITIONS, *ACTIONS, "stage", "[calendars.NAME]", "[sla_calendar]", "always", "calendar"):
        assert f"`{key}" in section, key


def test_deskbot_check_says_which_rules_can_never_fire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(SHIPPED + '\n[[rules]]\nname = "all"\nreview = true\nstop = true\n\n[[rules]]\nname = "late"\n'
                    'if_language = "en"\nno_ack = true\n', encoding="utf-8")
    assert main(["check", "--rules", str(path)]) == 0
    line = (SHIPPED + '\n[[rules]]\nname = "all"\nreview = true\nstop = true\n\n').count("\n") + 1
    assert f"{path}:{line}: warning: rule 'late': can never fire: rule 'all' before it" in capsys.readouterr().out


def test_test_takes_the_ticket_one_way(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", "--config", str(config), "--body", "help", "--from", "a@law.example"]) == 0
    assert "department: general" in capsys.readouterr().out  # no subject is fine
    assert main(["rules", "test", "--config", str(config), "--ticket", "1", "--eml", str(tmp_path / "m.eml")]) == 2
    assert "give the ticket one way" in capsys.readouterr().err
    assert main(["rules", "test", "--config", str(config)]) == 2
