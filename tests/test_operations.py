"""What an admin runs: run, check, log, status and retry, in-process against real servers and a real SQLite file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.ack.message import shipped_templates_dir
from bot.cli import main
from bot.ops.lock import InstanceLock
from bot.ops.loopback import SmtpSink
from tests.conftest import Mailbox
from tests.scenario import customer_mail, write_config


@pytest.fixture
def config(tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, model_cache: Path,
           monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.config.password)
    return write_config(tmp_path, mailbox, smtp_sink, model_cache)


def test_a_second_instance_on_the_same_log_is_refused(config: Path, tmp_path: Path, mailbox: Mailbox,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    mailbox.append(customer_mail(1))
    (tmp_path / "var").mkdir()
    with InstanceLock(tmp_path / "var" / "deskbot.sqlite3"):  # the first daemon
        assert main(["run", "--config", str(config), "--once"]) == 1
    error = capsys.readouterr().err
    assert "already running" in error and "pid " in error and "deskbot.sqlite3" in error
    assert main(["run", "--config", str(config), "--once"]) == 0, "free again once the first one stops"


def test_log_needs_no_password_and_prints_real_json_with_references_and_actions(
        config: Path, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mailbox.append(customer_mail(0, sender="Ana <ana@example.org>"), customer_mail(1))
    assert main(["run", "--config", str(config), "--once"]) == 0
    capsys.readouterr()
    monkeypatch.delenv("TEST_IMAP_PASSWORD")

    assert main(["log", "--config", str(config), "--json", "--sender", "ana@"]) == 0

    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["reference"] == "SUP-000001" and record["status"] == "done"
    assert isinstance(record["decision"]["tags"], list) and isinstance(record["prediction"]["department_scores"], dict)
    assert [(a["kind"], a["state"]) for a in record["actions"]] == [
        ("write_back", "done"), ("acknowledge", "done"), ("file", "done")]
    assert main(["log", "--config", str(config), "--reference", "SUP-000002"]) == 0
    out = capsys.readouterr().out
    assert "SUP-000002" in out and "SUP-000001" not in out
    assert main(["log", "--config", str(config), "--status", "failed"]) == 0
    assert "SUP-" not in capsys.readouterr().out
    assert main(["log", "--config", str(config), "--since", "2999-01-01"]) == 0
    assert "SUP-" not in capsys.readouterr().out
    assert main(["log", "--config", str(config), "--since", "yesterday"]) == 2


def test_run_once_exits_1_on_a_failed_ticket_and_status_and_retry_show_the_way_out(
        tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, model_cache: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.config.password)
    config = write_config(tmp_path, mailbox, smtp_sink, model_cache)
    mailbox.append(customer_mail(3, sender="wrong-address@example.org"))
    smtp_sink.handler.refuse_rcpt["wrong-address@example.org"] = "550 5.1.1 no such user"

    assert main(["run", "--config", str(config), "--once"]) == 1
    assert "1 failed" in capsys.readouterr().out

    assert main(["status", "--config", str(config)]) == 0
    status = capsys.readouterr().out
    assert "imap:support" in status and "failed:            1" in status and "550 5.1.1" in status
    assert main(["status", "--config", str(config), "--json"]) == 0
    [source] = json.loads(capsys.readouterr().out)["sources"]
    assert source["tickets"]["failed"] == 1 and source["last_success_at"]

    del smtp_sink.handler.refuse_rcpt["wrong-address@example.org"]  # the person fixed the address
    assert main(["retry", "--config", str(config), "--ticket", "sup-000001"]) == 0
    assert "re-queued SUP-000001" in capsys.readouterr().out
    assert main(["run", "--config", str(config), "--once"]) == 0
    assert [str(m["To"]) for m in smtp_sink.messages] == ["wrong-address@example.org"]
    assert main(["retry", "--config", str(config), "--ticket", "SUP-000099"]) == 1


def test_a_template_typo_stops_run_at_start_with_file_and_line(
        tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, model_cache: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.config.password)
    templates = tmp_path / "templates"
    shutil.copytree(shipped_templates_dir(), templates, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (templates / "ack.de.txt.j2").read_text().splitlines()
    text[4] += " {% if needs_review %}"  # an unclosed block on line 5
    (templates / "ack.de.txt.j2").write_text("\n".join(text) + "\n")
    config = write_config(tmp_path, mailbox, smtp_sink, model_cache, extra=f'templates = "{templates}"')
    mailbox.append(customer_mail(1))

    assert main(["run", "--config", str(config), "--once"]) == 2
    error = capsys.readouterr().err
    assert f"{templates / 'ack.de.txt.j2'}:" in error and "endif" in error
    assert smtp_sink.messages == []
    client = mailbox.client()
    assert client.select_folder("INBOX")[b"EXISTS"] == 1 and client.search(["KEYWORD", "deskbot-processed"]) == []
    client.logout()


def test_check_renders_every_language_and_logs_in_everywhere(
        tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, model_cache: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.config.password)
    config = write_config(tmp_path, mailbox, smtp_sink, model_cache)

    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "templates: ok" in out and "imap:support: ok: logged in" in out and "smtp: ok" in out

    monkeypatch.setenv("TEST_IMAP_PASSWORD", "wrong")
    assert main(["check", "--config", str(config)]) == 1
    assert "imap:support: FAILED" in capsys.readouterr().out

    rules = tmp_path / "rules.toml"
    from bot.rules import shipped_rules_path
    rules.write_text(shipped_rules_path().read_text().replace('languages = ["en", "de", "es", "fr", "pt"]',
                                                              'languages = ["en", "de", "it"]'))
    assert main(["check", "--config", str(config), "--rules", str(rules), "--offline"]) == 2
    assert "no template ack.it.txt.j2" in capsys.readouterr().err


def test_check_warns_when_review_below_is_out_of_the_default_models_reach(
        tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(config), "--offline"]) == 0
    assert "WARNING" not in capsys.readouterr().out  # the shipped 0.50

    from bot.rules import shipped_rules_path
    rules = tmp_path / "rules.toml"
    rules.write_text(shipped_rules_path().read_text().replace("review_below = 0.50", "review_below = 0.90"))
    assert main(["check", "--config", str(config), "--rules", str(rules), "--offline"]) == 0  # a choice, not an error
    out = capsys.readouterr().out
    assert "model: WARNING: [triage] review_below 0.90 is at or above the highest confidence this model gives" in out
    assert "every ticket goes to review" in out


@pytest.mark.parametrize(("url", "says"), [
    ("var/deskbot.sqlite3", "is not a database URL: write sqlite:///var/deskbot.sqlite3"),
    ("mysql://db/deskbot", "database 'mysql' is not supported"),
])
def test_a_database_url_that_is_not_one_is_named_with_its_line(tmp_path: Path, url: str, says: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deskbot.toml"
    path.write_text(f'[database]\nurl = "{url}"\n[[mailbox]]\nname = "a"\nhost = "imap.example.com"\n')
    assert main(["run", "--config", str(path), "--once"]) == 2
    error = capsys.readouterr().err
    assert f"{path}:2: database.url" in error and says in error


def test_a_postgresql_url_without_its_driver_says_what_to_install(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sqlalchemy")
    try:
        import psycopg2  # noqa: F401
        pytest.skip("a PostgreSQL driver is installed here")
    except ImportError:
        pass
    path = tmp_path / "deskbot.toml"
    path.write_text('[database]\nurl = "postgresql+psycopg2://deskbot@127.0.0.1/deskbot"\n'
                    '[[mailbox]]\nname = "a"\nhost = "imap.example.com"\n')
    assert main(["log", "--config", str(path)]) == 2
    assert "pip install 'psycopg[binary]'" in capsys.readouterr().err


def test_a_database_folder_that_cannot_be_made_is_a_message(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("not a folder")
    path = tmp_path / "deskbot.toml"
    path.write_text('[database]\nurl = "sqlite:///afile/var/deskbot.sqlite3"\n'
                    '[[mailbox]]\nname = "a"\nhost = "imap.example.com"\n')
    assert main(["run", "--config", str(path), "--once"]) == 2
    error = capsys.readouterr().err
    assert "cannot create the database folder" in error and "afile/var" in error and "Traceback" not in error
