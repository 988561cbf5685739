"""The `deskbot` command line, run in-process against real servers and files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.ops.demo import sample_mails
from bot.ops.loopback import SmtpSink
from tests.conftest import Mailbox
from tests.scenario import write_config


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, model_cache: Path, tmp_path: Path) -> Path:
    """The default-model cache shared by the run; demo data in tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(model_cache.parent))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DESKBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_demo_twice_handles_nothing_twice(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mails = sample_mails()

    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert main(["demo"]) == 0
    second = capsys.readouterr().out

    assert f"{len(mails)} sample mails appended" in first
    assert "12 acknowledgements sent" in first
    assert first.count(" sent\n") == 12
    assert "0 acknowledgements sent" in second
    assert second.count("already processed in an earlier run") == len(mails)
    assert (env / "data" / "deskbot" / "demo" / "deskbot-demo.sqlite3").exists()
    assert "WARNING" not in second.splitlines()[-1] and "WARNING" not in capsys.readouterr().err
    database = env / "data" / "deskbot" / "demo" / "deskbot-demo.sqlite3"
    assert f"deskbot log --db {database}" in second
    assert main(["log", "--limit", "3"]) == 2, "never the demo's log without being asked"
    assert "--config" in capsys.readouterr().err
    assert main(["log", "--limit", "3", "--db", str(database)]) == 0
    assert "imap:demo" in capsys.readouterr().out


def test_run_once_with_a_config_file_and_dry_run(env: Path, mailbox: Mailbox, smtp_sink: SmtpSink, model_cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    mailbox.append(*(data for _, data in sample_mails()[:3]))
    config = write_config(env, mailbox, smtp_sink, model_cache)
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.config.password)

    assert main(["run", "--config", str(config), "--once", "--dry-run"]) == 0
    assert "support: 3 dry-run" in capsys.readouterr().out
    assert smtp_sink.messages == []
    assert main(["run", "--config", str(config), "--once"]) == 0
    assert "support: 3 done" in capsys.readouterr().out
    assert len(smtp_sink.messages) == 3
    assert (env / "var" / "deskbot.sqlite3").exists(), "relative database paths follow the config file"
    assert main(["log", "--config", str(config)]) == 0
    assert capsys.readouterr().out.count("dry-run") == 3


def test_bad_config_exits_2_naming_file_line_and_key(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = env / "deskbot.toml"
    config.write_text('[[mailbox]]\nname = "support"\nhost = "imap.example.com"\nport = "nine-nine-three"\n')

    assert main(["check", "--config", str(config)]) == 2

    error = capsys.readouterr().err
    assert f"{config}:4: mailbox[0].port" in error


def test_missing_password_variable_is_named(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = env / "deskbot.toml"
    config.write_text('[[mailbox]]\nname = "a"\nhost = "imap.example.com"\npassword_env = "NOPE_NOT_SET_X"\n')

    assert main(["run", "--config", str(config), "--once"]) == 2
    assert "NOPE_NOT_SET_X is not set" in capsys.readouterr().err


def test_classify_prints_department_priority_and_terms(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", "Meine Rechnung wurde doppelt abgebucht, bitte erstatten Sie den Betrag"]) == 0
    out = capsys.readouterr().out
    assert "department: billing" in out
    assert "language:   de" in out
    assert "top terms:" in out


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "run", "check", "classify", "log", "train", "evaluate"):
        assert command in out
