"""load_config(): a valid deskbot.toml loads; every mistake names the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.file import is_loopback, load_config
from bot.errors import ConfigError

CONFIGS = Path(__file__).parent / "fixtures" / "config"
TWO = (CONFIGS / "two-mailboxes.toml").read_text(encoding="utf-8")
ENV = {"BILLING_IMAP_PASSWORD": "s3cret"}


def write(tmp_path: Path, text: str) -> Path:
    """A deskbot.toml with `text` in tmp_path."""
    path = tmp_path / "deskbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def variant(old: str, new: str) -> str:
    """The two-mailbox fixture with one unique piece of text replaced."""
    assert TWO.count(old) == 1, old
    return TWO.replace(old, new)


def config_error(tmp_path: Path, text: str, environ: dict[str, str] = ENV) -> ConfigError:
    """The ConfigError that loading `text` raises."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    assert caught.value.path == str(path)
    return caught.value


def test_readme_reference_config_loads(tmp_path: Path) -> None:
    environ = {"DESKBOT_SMTP_PASSWORD": "smtp-pw", "DESKBOT_IMAP_PASSWORD": "imap-pw"}
    config = load_config(CONFIGS / "readme.toml", environ=environ)
    assert config.smtp is not None
    assert (config.smtp.host, config.smtp.port, config.smtp.security) == ("smtp.example.com", 587, "starttls")
    assert config.smtp.from_ == "Example Support <support@example.com>"
    assert config.smtp.password == "smtp-pw"
    [mailbox] = config.mailbox
    assert (mailbox.name, mailbox.port, mailbox.first_run, mailbox.password) == ("support", 993, "unseen", "imap-pw")
    assert config.resolve(config.paths.rules) == CONFIGS.resolve() / "rules.toml"
    assert config.resolve(config.paths.cache) == Path("/var/cache/deskbot")
    assert config.database_url() == f"sqlite:///{CONFIGS.resolve() / 'var' / 'deskbot.sqlite3'}"


def test_fixture_loads_with_password_from_environment(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO), environ=ENV)
    assert [m.name for m in config.mailbox] == ["support", "billing"]
    assert [m.password for m in config.mailbox] == ["", "s3cret"]
    assert "s3cret" not in repr(config.mailbox[1])  # secrets stay out of logs


def test_relative_sqlite_path_is_resolved_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "deskbot"
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # started elsewhere: the config's folder still counts
    config = load_config(write(folder, TWO), environ=ENV)
    assert config.database_url() == f"sqlite:///{folder.resolve() / 'data' / 'log.sqlite3'}"


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:////var/lib/deskbot/log.sqlite3", "sqlite:////var/lib/deskbot/log.sqlite3"),
    ("sqlite:///:memory:", "sqlite:///:memory:"),
    ("postgresql://db.example.com/deskbot", "postgresql://db.example.com/deskbot"),
])
def test_absolute_and_other_database_urls_are_kept(tmp_path: Path, url: str, expected: str) -> None:
    config = load_config(write(tmp_path, variant('"sqlite:///data/log.sqlite3"', f'"{url}"')), environ=ENV)
    assert config.database_url() == expected


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant('port = 2525', 'port = = 2525'))
    assert (error.line, error.key) == (7, "")
    assert "not valid TOML" in str(error)
    assert str(error).startswith(f"{error.path}:7: ")


def test_unknown_key_in_smtp(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant('security = "none"\nfrom', 'securty = "none"\nfrom'))
    assert (error.line, error.key) == (8, "smtp.securty")
    assert "unknown key" in error.reason and "spelling" in error.reason


def test_unknown_key_in_second_mailbox(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant('username = "billing@deskbot.test"', 'usename = "billing@deskbot.test"'))
    assert (error.line, error.key) == (23, "mailbox[1].usename")
    assert str(error) == f"{error.path}:23: mailbox[1].usename: {error.reason}"


def test_unknown_table_under_second_mailbox(tmp_path: Path) -> None:
    error = config_error(tmp_path, TWO + "\n[mailbox.tls]\nverify = false\n")
    assert (error.line, error.key) == (26, "mailbox[1].tls")


@pytest.mark.parametrize("port", ['"imaps"', "99.5", "70000", "0"])
def test_wrong_port_in_second_mailbox(tmp_path: Path, port: str) -> None:
    old = 'name = "billing"\nhost = "127.0.0.1"\nport = 1143'
    text = variant(old, old.replace("1143", port))
    error = config_error(tmp_path, text)
    assert (error.line, error.key) == (21, "mailbox[1].port")


def test_wrong_port_message_matches_the_readme(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant("port = 2525", 'port = "smtp"'))
    assert str(error).startswith(f"{error.path}:7: smtp.port: Input should be a valid integer")


def test_boolean_port_is_refused(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant("port = 2525", "port = true"))
    assert error.key == "smtp.port"


def test_missing_host(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant('name = "billing"\nhost = "127.0.0.1"\n', 'name = "billing"\n'))
    assert (error.line, error.key) == (18, "mailbox[1].host")  # the [[mailbox]] line of that mailbox
    assert error.reason == "required key is missing"


def test_missing_from_in_smtp(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant('from = "Support <support@deskbot.test>"\n', ""))
    assert (error.line, error.key) == (5, "smtp.from")


def test_no_source_at_all(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[database]\nurl = "sqlite:///x.db"\n')
    assert "[[mailbox]], [[zendesk]] or [[freshdesk]]" in error.reason


def test_mailbox_as_plain_table_is_explained(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[mailbox]\nname = "support"\nhost = "imap.example.com"\n')
    assert (error.line, error.key) == (1, "mailbox")
    assert "[[mailbox]]" in error.reason


@pytest.mark.parametrize("host", ["imap.example.com", "192.168.1.10", "10.0.0.1", "localhost.example.com"])
def test_plaintext_to_remote_host_is_refused(tmp_path: Path, host: str) -> None:
    text = variant('name = "billing"\nhost = "127.0.0.1"', f'name = "billing"\nhost = "{host}"')
    error = config_error(tmp_path, text)
    assert (error.line, error.key) == (18, "mailbox[1]")
    assert "clear text" in error.reason and repr(host) in error.reason


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_plaintext_to_loopback_is_allowed(tmp_path: Path, host: str) -> None:
    text = variant('name = "billing"\nhost = "127.0.0.1"', f'name = "billing"\nhost = "{host}"')
    assert load_config(write(tmp_path, text), environ=ENV).mailbox[1].host == host
    assert is_loopback(host)


def test_smtp_plaintext_to_remote_host_is_refused(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant('host = "127.0.0.1"\nport = 2525', 'host = "smtp.example.com"\nport = 2525'))
    assert (error.line, error.key) == (5, "smtp")


def test_missing_password_variable_is_named(tmp_path: Path) -> None:
    error = config_error(tmp_path, TWO, environ={})
    assert (error.line, error.key) == (24, "mailbox[1].password_env")
    assert "BILLING_IMAP_PASSWORD" in error.reason and "not set" in error.reason


def test_duplicate_mailbox_names(tmp_path: Path) -> None:
    error = config_error(tmp_path, variant('name = "billing"', 'name = "support"'))
    assert (error.line, error.key) == (19, "mailbox[1].name")
    assert "'support' is used twice" in error.reason


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file") as caught:
        load_config(tmp_path / "missing.toml", environ={})
    assert caught.value.path == str(tmp_path / "missing.toml")
