"""The [api] table: keys as the issue fixes them; a network address needs TLS; tokens from env or a 0600 file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config.file import load_config
from bot.errors import ConfigError

TOKEN = "webform-token-0123456789"
API_ONLY = """\
[database]
url = "sqlite:///log.sqlite3"

[api]
listen = "127.0.0.1:8080"
max_body_bytes = 1000000
[[api.tokens]]
name = "webform"
token_env = "DESKBOT_API_TOKEN_WEBFORM"
scopes = ["predict", "tickets"]
"""
ENV = {"DESKBOT_API_TOKEN_WEBFORM": TOKEN}


def load(tmp_path: Path, text: str, environ: dict[str, str] = ENV):  # noqa: ANN201
    path = tmp_path / "deskbot.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=environ)


def refusal(tmp_path: Path, text: str, environ: dict[str, str] = ENV) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return str(caught.value)


def test_a_config_with_only_api_is_enough_for_a_predict_only_service(tmp_path: Path) -> None:
    config = load(tmp_path, API_ONLY)
    assert config.api is not None and not (config.mailbox or config.zendesk or config.freshdesk)
    [token] = config.api.tokens
    assert (token.name, token.token, token.scopes, config.api.max_body_bytes) == ("webform", TOKEN,
                                                                                   ["predict", "tickets"], 1_000_000)
    assert TOKEN not in repr(config.api)


def test_without_any_source_or_api_the_config_is_refused(tmp_path: Path) -> None:
    assert "or an [api] table" in refusal(tmp_path, '[database]\nurl = "sqlite:///log.sqlite3"\n')


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "192.0.2.10:8443", "[::]:8080"])
def test_a_network_address_without_tls_is_refused_at_the_listen_line(tmp_path: Path, listen: str) -> None:
    message = refusal(tmp_path, API_ONLY.replace('"127.0.0.1:8080"', f'"{listen}"'))
    assert "deskbot.toml:5: api.listen:" in message and "tls_cert and tls_key" in message


@pytest.mark.parametrize("extra", ['behind_tls_proxy = true', 'tls_cert = "cert.pem"\ntls_key = "key.pem"'])
def test_a_network_address_with_tls_or_behind_a_tls_proxy_is_accepted(tmp_path: Path, extra: str) -> None:
    config = load(tmp_path, API_ONLY.replace('listen = "127.0.0.1:8080"', f'listen = "0.0.0.0:8080"\n{extra}'))
    assert config.api is not None and config.api.listen == "0.0.0.0:8080"
    assert not config.api.tls_cert or config.api.tls_cert == str(tmp_path.resolve() / "cert.pem")


@pytest.mark.parametrize("change, expected", [
    (('"127.0.0.1:8080"', '"localhost"'), "listen must be host:port"),
    (('scopes = ["predict", "tickets"]', 'scopes = ["admin"]'), "api.tokens[0].scopes[0]"),
    (('scopes = ["predict", "tickets"]', 'scopes = []'), "api.tokens[0].scopes"),
    (('token_env = "DESKBOT_API_TOKEN_WEBFORM"', 'token_env = "UNSET_VARIABLE"'), "UNSET_VARIABLE is not set"),
    (('token_env = "DESKBOT_API_TOKEN_WEBFORM"', ''), "token_env (an environment variable) or token_file"),
    (('max_body_bytes = 1000000', 'max_body_bytes = "1MB"'), "api.max_body_bytes"),
    (('listen = "127.0.0.1:8080"', 'tls_cert = "cert.pem"'), "tls_cert and tls_key go together"),
])
def test_mistakes_name_the_key(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    assert expected in refusal(tmp_path, API_ONLY.replace(*change))


def test_a_short_token_or_a_name_used_twice_is_refused(tmp_path: Path) -> None:
    assert "shorter than 16 characters" in refusal(tmp_path, API_ONLY, {"DESKBOT_API_TOKEN_WEBFORM": "secret"})
    twice = API_ONLY + '[[api.tokens]]\nname = "webform"\ntoken_env = "DESKBOT_API_TOKEN_WEBFORM"\nscopes = ["predict"]\n'
    assert "token name 'webform' is used twice" in refusal(tmp_path, twice)


def test_a_token_file_must_be_readable_by_its_owner_only(tmp_path: Path) -> None:
    secret = tmp_path / "webform.token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    text = API_ONLY.replace('token_env = "DESKBOT_API_TOKEN_WEBFORM"', 'token_file = "webform.token"')
    os.chmod(secret, 0o644)
    assert "chmod 600" in refusal(tmp_path, text, {})
    os.chmod(secret, 0o600)
    config = load(tmp_path, text, {})
    assert config.api is not None and config.api.tokens[0].token == TOKEN


def test_webhook_secrets_come_from_the_environment(tmp_path: Path) -> None:
    text = API_ONLY + """
[[zendesk]]
name = "acme"
url = "https://acme.zendesk.com"
email = "bot@acme.example"
token_env = "ZD_TOKEN"
webhook_secret_env = "ZD_WEBHOOK_SECRET"

[[freshdesk]]
name = "acme"
url = "https://acme.freshdesk.com"
api_key_env = "FD_KEY"
webhook_secret_env = "FD_WEBHOOK_SECRET"
"""
    environ = {**ENV, "ZD_TOKEN": "t", "FD_KEY": "k", "ZD_WEBHOOK_SECRET": "zd-signing", "FD_WEBHOOK_SECRET": "fd-shared"}
    config = load(tmp_path, text, environ)
    assert (config.zendesk[0].webhook_secret, config.freshdesk[0].webhook_secret) == ("zd-signing", "fd-shared")
    assert "zd-signing" not in repr(config.zendesk[0])
    unset = {k: v for k, v in environ.items() if k != "FD_WEBHOOK_SECRET"}
    assert "FD_WEBHOOK_SECRET is not set" in refusal(tmp_path, text, unset)
