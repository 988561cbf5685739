"""An admin's second day, on Dovecot and aiosmtpd through the real command line: fixing failures, asking why,
restoring a backup, giving a ticket up, and every command finding its config."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.daemon import build_triage
from bot.ops.loopback import SmtpSink
from bot.rules import shipped_rules_path
from tests.conftest import Clock, Mailbox
from tests.scenario import customer_mail, cycle, make_config, rows, write_config

SALES = 4  # customer_mail(4) asks for a quote: the sales department


def _rules(tmp_path: Path, sales_folder: str) -> Path:
    path = tmp_path / "rules.toml"
    text = shipped_rules_path().read_text(encoding="utf-8")
    path.write_text(text.replace('group = "Sales"\nfolder = "Sales"', f'group = "Sales"\nfolder = "{sales_folder}"'),
                    encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, model_cache: Path,
           monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.config.password)
    monkeypatch.delenv("DESKBOT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    _rules(tmp_path, "Sales/Leads")
    return write_config(tmp_path, mailbox, smtp_sink, model_cache, extra='rules = "rules.toml"')


def test_retry_decides_again_with_todays_rules_and_keeps_both_decisions(
        config: Path, tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, capsys: pytest.CaptureFixture[str]) -> None:
    if mailbox.kind != "dovecot":
        pytest.skip("needs Dovecot, which refuses '/' in a folder name")
    mailbox.append(customer_mail(SALES))
    assert main(["run", "--config", str(config), "--once"]) == 1
    assert main(["retry", "--config", str(config), "--failed", "--keep-decision"]) == 0
    assert main(["run", "--config", str(config), "--once"]) == 1, "the recorded decision fails the same way"
    _rules(tmp_path, "Sales.Leads")  # the admin fixes the rules
    capsys.readouterr()

    assert main(["retry", "--config", str(config), "--failed"]) == 0
    assert "decided again with today's rules: sales / medium -> Sales.Leads" in capsys.readouterr().out
    assert main(["run", "--config", str(config), "--once"]) == 0

    client = mailbox.client()
    assert len(client.select_folder("Sales.Leads")[b"EXISTS"] and client.search("ALL")) == 1
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()
    assert len(smtp_sink.messages) == 1, "the acknowledgement went out once, at the first run"
    assert main(["why", "SUP-000001", "--config", str(config)]) == 0
    story = capsys.readouterr().out
    assert "folder Sales.Leads" in story and "Replaced:" in story and "folder Sales/Leads" in story
    assert "re-decided by `deskbot retry`" in story and "customer4@example.org" in story


def test_why_tells_the_whole_story_and_log_json_names_the_thread(
        config: Path, mailbox: Mailbox, capsys: pytest.CaptureFixture[str]) -> None:
    mailbox.append(customer_mail(0, message_id="<first@example.org>"))
    assert main(["run", "--config", str(config), "--once"]) == 0
    reply = customer_mail(0, message_id="<second@example.org>").replace(
        b"Message-ID: <second@example.org>", b"Message-ID: <second@example.org>\nIn-Reply-To: <first@example.org>")
    mailbox.append(reply)
    assert main(["run", "--config", str(config), "--once"]) == 0
    capsys.readouterr()

    assert main(["log", "--reference", "SUP-000001", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    story = captured.out
    for expected in ("SUP-000001: done", "from Customer 0 <customer0@example.org>", "Invoice 1000 charged twice",
                     "received 20", "Model:", "Top terms:", "Decision:", "billing",
                     "write_back", "acknowledge", "file", "Follow-up:"):
        assert expected in story, expected
    assert f"config {config}" in captured.err and "decision log sqlite:///" in captured.err
    assert main(["log", "--json", "--limit", "1", "--config", str(config)]) == 0
    import json
    record = json.loads(capsys.readouterr().out)
    assert record["follow_up_of"] == 1


def test_log_and_status_read_a_copy_they_may_not_write(config: Path, tmp_path: Path, mailbox: Mailbox,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anything")
    mailbox.append(customer_mail(1))
    assert main(["run", "--config", str(config), "--once"]) == 0
    var = tmp_path / "var"
    for path in var.iterdir():
        path.chmod(0o444)
    var.chmod(0o555)
    try:
        assert main(["status", "--config", str(config)]) == 0
        assert main(["log", "--config", str(config)]) == 0
        assert "SUP-000001" in capsys.readouterr().out
    finally:
        var.chmod(0o755)


def test_log_and_status_read_only_a_read_only_log(config: Path, tmp_path: Path, mailbox: Mailbox,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    mailbox.append(customer_mail(1))
    assert main(["run", "--config", str(config), "--once"]) == 0
    database = tmp_path / "var" / "deskbot.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = database.read_bytes()
    backup = tmp_path / "backup.sqlite3"
    backup.write_bytes(before)
    backup.chmod(0o444)
    assert main(["status", "--config", str(config)]) == 0
    assert main(["log", "--db", str(backup)]) == 0
    assert "SUP-000001" in capsys.readouterr().out
    assert database.read_bytes() == before, "reading wrote nothing"
    from bot.errors import ServiceUnavailable
    from bot.log.store import Store

    reader = Store.open(f"sqlite:///{backup}", read_only=True)  # what log, why and status use
    with pytest.raises(ServiceUnavailable, match="readonly"):
        reader.add_event("imap:support", "a write through a reader")
    assert stat.S_IMODE(database.stat().st_mode) == 0o600, "customers' mail is for this user only"


def test_no_config_anywhere_is_an_error_that_says_how_to_name_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DESKBOT_CONFIG", raising=False)
    for command in (["status"], ["log"], ["retry", "--failed"], ["check"], ["run", "--once"]):
        assert main(command) == 2, command
        error = capsys.readouterr().err
        assert "no config file found" in error and "--config" in error and "DESKBOT_CONFIG" in error


def test_the_config_is_found_in_the_environment_then_here_then_in_the_users_folder(
        config: Path, tmp_path: Path, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    mailbox.append(customer_mail(1))
    assert main(["run", "--config", str(config), "--once"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    users = tmp_path / "xdg" / "deskbot"
    users.mkdir(parents=True)
    (users / "deskbot.toml").write_text(config.read_text().replace("sqlite:///var/", f"sqlite:///{tmp_path}/var/"))
    capsys.readouterr()
    assert main(["status"]) == 0
    assert f"config {users / 'deskbot.toml'}" in capsys.readouterr().err
    monkeypatch.setenv("DESKBOT_CONFIG", str(config))
    assert main(["log"]) == 0
    captured = capsys.readouterr()
    assert f"config {config}" in captured.err and "SUP-000001" in captured.out


def test_give_up_closes_a_ticket_status_stops_counting_and_purge_removes_dry_runs(
        config: Path, mailbox: Mailbox, smtp_sink: SmtpSink, capsys: pytest.CaptureFixture[str]) -> None:
    mailbox.append(customer_mail(2, sender="nobody@example.org"))
    smtp_sink.handler.refuse_rcpt["nobody@example.org"] = "550 5.1.1 user unknown"
    assert main(["run", "--config", str(config), "--once"]) == 1
    mailbox.append(customer_mail(3))
    assert main(["run", "--config", str(config), "--once", "--dry-run"]) == 0
    assert main(["log", "--config", str(config)]) == 0
    assert "dry-run" in capsys.readouterr().out

    assert main(["retry", "--config", str(config), "--give-up", "SUP-000001", "--reason", "no such address"]) == 0
    assert main(["status", "--config", str(config), "--json"]) == 0
    import json
    [source] = json.loads(capsys.readouterr().out.splitlines()[-1])["sources"]
    assert "failed" not in source["tickets"] and source["tickets"]["given-up"] == 1
    assert main(["run", "--config", str(config), "--once"]) == 0, "a given-up ticket fails no run"
    assert main(["why", "SUP-000001", "--config", str(config)]) == 0
    assert "given up by a person" in capsys.readouterr().out
    assert main(["purge", "--dry-runs", "--config", str(config)]) == 0
    assert "removed 1 dry-run record" in capsys.readouterr().out
    assert main(["log", "--config", str(config), "--status", "dry-run"]) == 0
    assert "customer3" not in capsys.readouterr().out


def test_a_restored_older_log_never_gives_a_reference_out_twice(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(customer_mail(0))
    config = make_config([mailbox.config.model_copy(update={"sent_folder": "Sent"})], smtp_sink, tmp_path,
                         model_cache)
    cycle(config, build_triage(config, clock=clock))
    database = Path(config.database_url().removeprefix("sqlite:///"))
    with sqlite3.connect(database) as live, sqlite3.connect(tmp_path / "backup.sqlite3") as copy:
        live.backup(copy)  # last night's backup
    mailbox.append(customer_mail(1))
    cycle(config, build_triage(config, clock=clock))
    with sqlite3.connect(tmp_path / "backup.sqlite3") as copy, sqlite3.connect(database) as live:
        copy.backup(live)  # the disk died; the backup is restored
    mailbox.append(customer_mail(2))

    cycle(config, build_triage(config, clock=clock))  # deskbot starts again

    assert [r.reference for r in rows(config)] == ["SUP-000001", "SUP-000003"]


def test_status_of_a_killed_daemon_and_status_piped_into_head(config: Path, tmp_path: Path, mailbox: Mailbox) -> None:
    mailbox.append(customer_mail(1))
    env = {**os.environ, "TEST_IMAP_PASSWORD": mailbox.config.password}
    daemon = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            status = subprocess.run([sys.executable, "-m", "bot", "status", "--config", str(config)], env=env,
                                    capture_output=True, text=True)
            if "daemon: running" in status.stdout:
                break
    finally:
        daemon.kill()
        daemon.wait()
    assert "daemon: running" in status.stdout
    after = subprocess.run([sys.executable, "-m", "bot", "status", "--config", str(config)], env=env,
                           capture_output=True, text=True)
    assert "daemon: not running" in after.stdout, "killed is not running, at once"
    piped = subprocess.run(f"{sys.executable} -m bot status --config {config} | head -1", shell=True, env=env,
                           capture_output=True, text=True)
    assert piped.stdout.startswith("daemon:") and "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


def test_a_wrong_password_is_tried_with_a_growing_pause_said_once_and_shown_in_status(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import timedelta

    from bot.pipeline import run_source
    from bot.daemon import sources_of

    mailbox.append(customer_mail(1))
    wrong = mailbox.config.model_copy(update={"password": "not-it", "password_env": "TEST_IMAP_PASSWORD"})
    config = make_config([wrong], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    [item] = sources_of(config, triage)

    with caplog.at_level("DEBUG"):
        tries = []
        for seconds in (0, 20, 40, 30, 60):  # polls every 20-60 s; the pauses are 1 min, then 5 min
            clock.now += timedelta(seconds=seconds)
            error = run_source(item.source, triage).error
            assert "$TEST_IMAP_PASSWORD" in error
            tries.append("not tried again before" not in error)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "$TEST_IMAP_PASSWORD" in errors[0], "said once, naming the variable to fix"
    assert tries == [True, False, True, False, False], "tried at 0 s and after a minute, not at every poll"
    database = config.database_url().removeprefix("sqlite:///")
    assert main(["status", "--db", database]) == 0
    assert "LOGIN REFUSED:     2 time(s) in a row" in capsys.readouterr().out

    item.source.config = mailbox.config  # the admin fixed the password
    clock.now += timedelta(minutes=5)
    assert run_source(item.source, triage).error == "" and rows(config)[0].status == "done"


def test_check_names_a_folder_the_server_would_refuse(config: Path, mailbox: Mailbox,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    if mailbox.kind != "dovecot":
        pytest.skip("the naming rules are Dovecot's")
    assert main(["check", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert "[departments.sales] folder 'Sales/Leads' cannot be created" in captured.err
    assert "write 'Sales.Leads'" in captured.err
    assert "smtp: ok" in captured.out, "the other checks still ran"


def test_check_shows_every_error_of_a_config_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "deskbot.toml"
    config.write_text('[[mailbox]]\nname = "a"\nhost = "imap.example.com"\nport = "x"\n'
                      '[smtp]\nhost = "smtp.example.com"\nfrom = "a@example.com"\nsecurty = "ssl"\n')
    assert main(["check", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert f"{config}:4: mailbox[0].port" in error and f"{config}:8: smtp.securty" in error
    config.write_text('[[mailbox]]\nname = "a"\nhost = "imap.example.com"\npassword_env = "NOPE_A"\n'
                      '[smtp]\nhost = "smtp.example.com"\nfrom = "a@example.com"\npassword_env = "NOPE_B"\n')
    monkeypatch.delenv("NOPE_A", raising=False)
    monkeypatch.delenv("NOPE_B", raising=False)
    assert main(["check", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "NOPE_A" in error and "NOPE_B" in error


def test_the_shipped_rules_file_lists_every_setting() -> None:
    from pydantic import BaseModel

    from bot.rules import RuleSet

    text = shipped_rules_path().read_text(encoding="utf-8")
    missing = []

    def walk(model: type[BaseModel], table: str) -> None:
        for name, info in model.model_fields.items():
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                if f"[{table}{name}]" not in text:
                    missing.append(f"[{table}{name}]")
                walk(kind, f"{table}{name}.")
            elif name not in ("rules", "departments", "description") and f"{name} =" not in text \
                    and f"[{table}{name}" not in text:
                missing.append(f"{table}{name}")

    walk(RuleSet, "")
    assert missing == []


def test_a_full_disk_is_said_as_such_not_as_a_configuration_error(
        config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    from sqlalchemy.exc import OperationalError

    from bot.log.database import is_disk_full

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "ftruncate", full)  # writing the instance lock file, at start
    assert main(["run", "--config", str(config), "--once"]) == 1
    error = capsys.readouterr().err
    assert "disk is full" in error and "configuration error" not in error
    assert is_disk_full(OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")))
