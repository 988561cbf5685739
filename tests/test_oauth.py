"""OAuth2 config keys and access tokens against a fake token endpoint: refresh, cache, rotation, the token file."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.config.file import MailboxConfig, SmtpConfig, load_config
from bot.errors import AuthError, ConfigError, ServiceUnavailable
from connectors.oauth import AccessTokens, Account, account_of, scopes_of, token_url, tokens_for, write_token_file
from tests.conftest import Clock
from tests.oauth_fakes import FakeIdentityProvider

USER = "support@example.com"
ACCOUNT = Account("mailbox", "support", "microsoft")
URL = "https://login.example.test/contoso/oauth2/v2.0/token"


def stored(path: Path) -> dict[str, object]:
    return json.loads(path.read_text())


def make_tokens(tmp_path: Path, provider: FakeIdentityProvider, clock: Clock, **options: object) -> AccessTokens:
    """Tokens of mailbox support, its file holding a refresh token the provider issued."""
    path = tmp_path / "tokens" / "mailbox-support.json"
    write_token_file(path, {"refresh_token": provider.sign_in(USER)}, ACCOUNT)
    return AccessTokens(path=path, token_url=URL, client_id="deskbot-app", scopes=("imap", "offline_access"),
                        account=ACCOUNT, transport=httpx.MockTransport(provider), clock=clock, **options)  # type: ignore[arg-type]


@pytest.fixture
def provider(clock: Clock) -> FakeIdentityProvider:
    return FakeIdentityProvider(clock=lambda: clock.now.timestamp())


def test_an_access_token_is_fetched_cached_and_renewed_shortly_before_it_expires(
        tmp_path: Path, provider: FakeIdentityProvider, clock: Clock) -> None:
    tokens = make_tokens(tmp_path, provider, clock)
    first = tokens.access_token()
    assert provider.is_valid(first, USER) and not tokens.from_cache
    clock.now += timedelta(minutes=50)
    assert tokens.access_token() == first and tokens.from_cache
    assert len(provider.forms) == 1
    clock.now += timedelta(minutes=6)  # 4 minutes left: inside the 5-minute margin
    second = tokens.access_token()
    assert second != first and provider.is_valid(second, USER)
    assert [f["grant_type"] for f in provider.forms] == ["refresh_token"] * 2
    assert provider.forms[0]["scope"] == "imap offline_access" and "client_secret" not in provider.forms[0]


def test_the_rotated_refresh_token_is_saved_every_time_with_mode_0600(
        tmp_path: Path, provider: FakeIdentityProvider, clock: Clock) -> None:
    tokens = make_tokens(tmp_path, provider, clock)
    for _ in range(3):  # strict rotation: an unsaved refresh token would make the next renewal fail
        token = tokens.access_token(renew=True)
        data = stored(tokens.path)
        assert data["refresh_token"] in provider.refresh_tokens and data["access_token"] == token
        assert stat.S_IMODE(os.stat(tokens.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tokens.path.parent).st_mode) == 0o700
    assert [p.name for p in tokens.path.parent.iterdir() if p.suffix == ".tmp"] == []


def test_a_fresh_instance_uses_the_token_another_one_saved(
        tmp_path: Path, provider: FakeIdentityProvider, clock: Clock) -> None:
    tokens = make_tokens(tmp_path, provider, clock)
    token = tokens.access_token()
    again = AccessTokens(path=tokens.path, token_url=URL, client_id="deskbot-app", scopes=("imap",), account=ACCOUNT,
                         transport=httpx.MockTransport(provider), clock=clock)
    assert again.access_token() == token and again.from_cache
    assert len(provider.forms) == 1


def test_threads_sharing_a_token_file_renew_it_once(tmp_path: Path, provider: FakeIdentityProvider,
                                                   clock: Clock) -> None:
    path = make_tokens(tmp_path, provider, clock).path
    results: list[str] = []

    def work() -> None:
        results.append(AccessTokens(path=path, token_url=URL, client_id="deskbot-app", scopes=("imap",),
                                    account=ACCOUNT, transport=httpx.MockTransport(provider),
                                    clock=clock).access_token())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(provider.forms) == 1


def test_without_rotation_the_old_refresh_token_is_kept(tmp_path: Path, clock: Clock) -> None:
    provider = FakeIdentityProvider(rotate=False, clock=lambda: clock.now.timestamp())
    tokens = make_tokens(tmp_path, provider, clock, send_scope=False)
    refresh = stored(tokens.path)["refresh_token"]
    tokens.access_token()
    assert stored(tokens.path)["refresh_token"] == refresh
    assert "scope" not in provider.forms[0]  # Google's refresh takes no scope


def test_a_revoked_refresh_token_is_an_auth_error_that_says_what_to_do(
        tmp_path: Path, provider: FakeIdentityProvider, clock: Clock) -> None:
    tokens = make_tokens(tmp_path, provider, clock)
    provider.revoke(USER)
    with pytest.raises(AuthError) as caught:
        tokens.access_token()
    message = str(caught.value)
    assert message.startswith("mailbox support: the stored OAuth2 refresh token was refused (invalid_grant: AADSTS70008")
    assert "run `deskbot auth microsoft --mailbox support --config FILE` to sign in again" in message
    assert stored(tokens.path)["refresh_token"] not in message


def test_a_wrong_client_secret_points_at_the_app_registration(tmp_path: Path, clock: Clock) -> None:
    provider = FakeIdentityProvider(client_secret="right", clock=lambda: clock.now.timestamp())
    tokens = make_tokens(tmp_path, provider, clock, client_secret="wrong")
    with pytest.raises(AuthError, match="refuses the app .invalid_client.*oauth_client_secret_env"):
        tokens.access_token()


@pytest.mark.parametrize("failure", ["down", "unreachable"])
def test_an_unavailable_token_endpoint_is_the_servers_trouble(tmp_path: Path, provider: FakeIdentityProvider,
                                                              clock: Clock, failure: str) -> None:
    tokens = make_tokens(tmp_path, provider, clock)
    if failure == "down":
        provider.down = True
    else:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)
        tokens._transport = httpx.MockTransport(refuse)
    with pytest.raises(ServiceUnavailable, match="login.example.test.*trying again next cycle"):
        tokens.access_token()


def test_no_token_file_yet_says_how_to_make_one(tmp_path: Path) -> None:
    tokens = AccessTokens(path=tmp_path / "none" / "smtp.json", token_url=URL, client_id="x", scopes=(),
                          account=Account("smtp", "smtp", "google"))
    with pytest.raises(AuthError, match=r"the SMTP account: no OAuth2 token yet .*deskbot auth google --smtp"):
        tokens.access_token()


def test_a_token_file_other_users_may_read_is_refused(tmp_path: Path, provider: FakeIdentityProvider,
                                                     clock: Clock) -> None:
    tokens = make_tokens(tmp_path, provider, clock)
    os.chmod(tokens.path, 0o644)
    with pytest.raises(ConfigError, match=r"open to other users \(mode 0644\).*chmod 600"):
        tokens.access_token()
    assert provider.forms == []


def test_a_damaged_token_file_asks_for_a_new_sign_in(tmp_path: Path, provider: FakeIdentityProvider,
                                                    clock: Clock) -> None:
    tokens = make_tokens(tmp_path, provider, clock)
    tokens.path.write_text("{not json")
    with pytest.raises(AuthError, match="is damaged: run `deskbot auth microsoft --mailbox support"):
        tokens.access_token()


def test_repr_shows_no_token(tmp_path: Path, provider: FakeIdentityProvider, clock: Clock) -> None:
    tokens = make_tokens(tmp_path, provider, clock)
    token = tokens.access_token()
    assert token not in repr(tokens) and stored(tokens.path)["refresh_token"] not in repr(tokens)


# -- configuration --------------------------------------------------------------------------------------------

def write(tmp_path: Path, mailbox: str, smtp: str = "") -> Path:
    path = tmp_path / "deskbot.toml"
    path.write_text(f'{smtp}\n[[mailbox]]\nname = "support"\nhost = "outlook.office365.com"\n'
                    f'username = "{USER}"\n{mailbox}\n')
    return path


OAUTH = 'auth = "oauth2"\noauth_provider = "microsoft"\noauth_client_id = "app-id"\n'


def test_oauth2_keys_with_defaults_and_paths_relative_to_the_config_file(tmp_path: Path) -> None:
    smtp = ('[smtp]\nhost = "smtp.gmail.com"\nusername = "support@example.com"\nfrom = "support@example.com"\n'
            'auth = "oauth2"\noauth_provider = "google"\noauth_client_id = "g-id"\n'
            'oauth_client_secret_env = "G_SECRET"\noauth_token_file = "secrets/smtp.json"\n')
    config = load_config(write(tmp_path, OAUTH + 'oauth_tenant = "contoso.onmicrosoft.com"', smtp),
                         environ={"G_SECRET": "s3cret"})
    [mailbox] = config.mailbox
    assert mailbox.oauth_token_file == str(tmp_path / "tokens" / "mailbox-support.json")
    assert token_url(mailbox) == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert scopes_of(mailbox) == ("https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access")
    assert config.smtp is not None and config.smtp.oauth_client_secret == "s3cret"
    assert "s3cret" not in repr(config.smtp)
    assert config.smtp.oauth_token_file == str(tmp_path / "secrets" / "smtp.json")
    assert scopes_of(config.smtp) == ("https://mail.google.com/",)
    assert tokens_for(config.smtp).token_url == "https://oauth2.googleapis.com/token"
    assert account_of(config.smtp).fix() == "run `deskbot auth google --smtp --config FILE`"


@pytest.mark.parametrize(("keys", "message"), [
    ('oauth_client_id = "x"', 'oauth_client_id needs auth = "oauth2"'),
    ('auth = "oauth2"\noauth_client_id = "x"', "needs oauth_provider"),
    ('auth = "oauth2"\noauth_provider = "google"', "needs oauth_client_id"),
    (OAUTH + 'password_env = "X"', "uses no password: remove password_env"),
    ('auth = "oauth2"\noauth_provider = "custom"\noauth_client_id = "x"', "needs oauth_token_url"),
    (OAUTH + 'oauth_token_url = "http://login.example.com/token"', "must use https"),
    ('auth = "oauth"', "'password' or 'oauth2'"),
])
def test_oauth2_mistakes_name_file_line_and_what_to_do(tmp_path: Path, keys: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(write(tmp_path, keys), environ={"X": "x"})
    assert caught.value.line in (2, 6) and caught.value.path.endswith("deskbot.toml")  # the table, or the key


def test_a_missing_client_secret_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable APP_SECRET is not set") as caught:
        load_config(write(tmp_path, OAUTH + 'oauth_client_secret_env = "APP_SECRET"'), environ={})
    assert caught.value.key == "mailbox[0].oauth_client_secret_env" and caught.value.line == 9


def test_oauth2_needs_a_username() -> None:
    with pytest.raises(ValueError, match="needs username"):
        MailboxConfig(name="x", host="h", security="ssl", auth="oauth2", oauth_provider="google", oauth_client_id="c")
    assert SmtpConfig(host="h", **{"from": "a@b.c"}).auth == "password"


def test_an_unset_token_file_outside_load_config_is_a_config_error() -> None:
    server = MailboxConfig(name="x", host="h", security="ssl", username="u", auth="oauth2", oauth_provider="google",
                           oauth_client_id="c")
    with pytest.raises(ConfigError, match="oauth_token_file is not set"):
        tokens_for(server)
