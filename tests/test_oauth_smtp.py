"""SMTP AUTH XOAUTH2 against aiosmtpd whose authenticator checks the bearer token with the fake provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.config.file import SmtpConfig
from bot.errors import AuthError
from connectors.oauth import account_of, tokens_for, write_token_file
from connectors.smtp import SmtpMailer
from tests.oauth_fakes import FakeIdentityProvider, XOAuth2SmtpServer
from tests.test_smtp import make_ack

USER = "support@example.com"


@pytest.fixture
def provider() -> FakeIdentityProvider:
    return FakeIdentityProvider()


@pytest.fixture
def server(provider: FakeIdentityProvider) -> Iterator[XOAuth2SmtpServer]:
    with XOAuth2SmtpServer(provider) as smtp:
        yield smtp


def mailer(server: XOAuth2SmtpServer, provider: FakeIdentityProvider, tmp_path: Path,
           record: dict[str, object] | None = None) -> SmtpMailer:
    """An SmtpMailer with auth = "oauth2" whose token file holds a refresh token for USER."""
    config = SmtpConfig(host=server.host, port=server.port, security="none", username=USER, timeout=5,
                        auth="oauth2", oauth_provider="microsoft", oauth_client_id=provider.client_id,
                        oauth_token_url="https://login.example.test/common/oauth2/v2.0/token",
                        oauth_token_file=str(tmp_path / "smtp.json"), **{"from": f"Support <{USER}>"})
    write_token_file(tmp_path / "smtp.json", record or {"refresh_token": provider.sign_in(USER)}, account_of(config))
    return SmtpMailer(config, tokens=tokens_for(config, transport=httpx.MockTransport(provider)))


def test_sends_after_auth_xoauth2_with_a_fresh_token(server: XOAuth2SmtpServer, provider: FakeIdentityProvider,
                                                     tmp_path: Path) -> None:
    with mailer(server, provider, tmp_path) as smtp:
        smtp.send(make_ack())
        smtp.send(make_ack())
    assert [m["Message-ID"] for m in server.handler.messages] == ["<ack.42@deskbot.test>"] * 2
    assert server.handler.logins == [(USER, True)], "one login per connection"
    assert provider.forms[0]["scope"] == "https://outlook.office.com/SMTP.Send offline_access"


def test_check_says_oauth2(server: XOAuth2SmtpServer, provider: FakeIdentityProvider, tmp_path: Path) -> None:
    assert mailer(server, provider, tmp_path).check() == f"logged in to {server.host}:{server.port} with OAuth2"


def test_a_cached_token_the_server_refuses_is_renewed_once(server: XOAuth2SmtpServer, provider: FakeIdentityProvider,
                                                           tmp_path: Path) -> None:
    record = {"refresh_token": provider.sign_in(USER), "access_token": "at-revoked", "expires_at": 4102444800.0}
    with mailer(server, provider, tmp_path, record) as smtp:
        smtp.send(make_ack())
    assert server.handler.logins == [(USER, False), (USER, True)]
    assert len(server.handler.messages) == 1
    assert json.loads((tmp_path / "smtp.json").read_text())["access_token"] != "at-revoked"


def test_a_refused_fresh_token_is_an_auth_error_with_what_to_check(
        server: XOAuth2SmtpServer, provider: FakeIdentityProvider, tmp_path: Path) -> None:
    smtp = mailer(server, provider, tmp_path)
    provider.access_tokens.clear()  # the server's side no longer knows any token: every one is refused
    provider.lifetime = -1
    with pytest.raises(AuthError) as caught, smtp:
        smtp.send(make_ack())
    message = str(caught.value)
    assert message.startswith(f"SMTP login refused by {server.host}:{server.port}: 535 5.7.8")
    assert "SMTP.Send granted to the app" in message and "deskbot auth microsoft --smtp --config FILE" in message
    assert server.handler.messages == [] and server.handler.logins == [(USER, False)]


def test_a_revoked_refresh_token_stops_before_connecting(server: XOAuth2SmtpServer, provider: FakeIdentityProvider,
                                                         tmp_path: Path) -> None:
    smtp = mailer(server, provider, tmp_path)
    provider.revoke(USER)
    with pytest.raises(AuthError, match="the SMTP account: the stored OAuth2 refresh token was refused"), smtp:
        smtp.send(make_ack())
    assert server.handler.logins == []
