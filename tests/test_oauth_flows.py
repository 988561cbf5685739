"""`deskbot auth` against fakes: Microsoft's device-code flow and Google's browser flow with PKCE, end to end."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from bot.config.file import load_config
from bot.errors import AuthError, ConfigError
from connectors.oauth import Account
from connectors.oauth_flows import SignIn, device_code_flow, sign_in_command, store
from tests.oauth_fakes import Device, FakeIdentityProvider, LoopbackHttp

USER = "support@example.com"


def write_config(tmp_path: Path, provider: str, token_url: str, extra: str = "") -> Path:
    path = tmp_path / "deskbot.toml"
    path.write_text(f"""
[smtp]
host = "smtp.example.com"
username = "{USER}"
from = "{USER}"
password_env = "NOT_NEEDED_HERE"
[[mailbox]]
name = "support"
host = "imap.example.com"
username = "{USER}"
auth = "oauth2"
oauth_provider = "{provider}"
oauth_client_id = "deskbot-app"
oauth_token_url = "{token_url}"
{extra}
""")
    return path


def assert_stored(path: Path, provider: FakeIdentityProvider, *texts: str) -> None:
    """The token file is 0600, holds a refresh token the provider knows, and no output shows a token."""
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    assert provider.refresh_tokens[data["refresh_token"]] == USER and data["username"] == USER
    for text in texts:
        assert data["refresh_token"] not in text and data["access_token"] not in text


def test_microsoft_device_code_flow_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    provider = FakeIdentityProvider()
    with LoopbackHttp(provider) as endpoint:
        config = write_config(tmp_path, "microsoft", f"{endpoint.url}/common/oauth2/v2.0/token")
        assert main(["auth", "microsoft", "--mailbox", "support", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "https://microsoft.com/devicelogin and enter the code ABCD-EFGH" in out
    assert f"stored in {tmp_path / 'tokens' / 'mailbox-support.json'} (mode 0600)" in out
    assert_stored(tmp_path / "tokens" / "mailbox-support.json", provider, out, err)
    assert [f["grant_type"] for f in provider.forms] == ["urn:ietf:params:oauth:grant-type:device_code"] * 3
    assert stat.S_IMODE(os.stat(tmp_path / "tokens").st_mode) == 0o700


def test_device_code_flow_waits_longer_when_told_to_slow_down(tmp_path: Path) -> None:
    provider = FakeIdentityProvider(next_device=Device(USER, pending_polls=2, slow_down_once=True))
    sleeps: list[float] = []
    config = load_config(write_config(tmp_path, "microsoft", "https://login.example.test/t/oauth2/v2.0/token"),
                         secrets=False)
    sign_in_command(config, flow="microsoft", mailbox="support", out=io.StringIO(), environ={},
                    transport=httpx.MockTransport(provider), sleep=sleeps.append)
    assert sleeps == [0, 5, 5, 5]  # RFC 8628 3.5: slow_down adds five seconds to the interval
    assert_stored(tmp_path / "tokens" / "mailbox-support.json", provider)


def sign_in(tmp_path: Path, provider: FakeIdentityProvider, clock: Callable[[], datetime] | None = None,
            sleep: Callable[[float], None] = lambda seconds: None) -> SignIn:
    return SignIn(account=Account("mailbox", "support", "microsoft"), path=tmp_path / "t.json",
                  token_url="https://login.example.test/t/oauth2/v2.0/token", client_id=provider.client_id,
                  client_secret="", scopes=("imap", "offline_access"), username=USER, out=io.StringIO(),
                  transport=httpx.MockTransport(provider), sleep=sleep,
                  clock=clock or (lambda: datetime.now(timezone.utc)))


@pytest.mark.parametrize("outcome", ["authorization_declined", "expired_token"])
def test_a_declined_or_expired_sign_in_says_so_and_stores_nothing(tmp_path: Path, outcome: str) -> None:
    provider = FakeIdentityProvider(next_device=Device(USER, outcome=outcome))
    with pytest.raises(AuthError, match=f"the sign-in was refused \\({outcome}: .*run `deskbot auth` again"):
        device_code_flow(sign_in(tmp_path, provider), device_url="https://login.example.test/t/oauth2/v2.0/devicecode")
    assert not (tmp_path / "t.json").exists()


def test_a_code_nobody_enters_expires(tmp_path: Path) -> None:
    provider = FakeIdentityProvider(next_device=Device(USER, pending_polls=10_000))
    now = [datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc)]

    def sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=max(seconds, 60))

    with pytest.raises(AuthError, match="the code expired"):
        device_code_flow(sign_in(tmp_path, provider, clock=lambda: now[0], sleep=sleep),
                         device_url="https://login.example.test/t/oauth2/v2.0/devicecode")
    assert len(provider.forms) == 15  # 900 s in minutes


def test_an_app_without_public_client_flows_is_told_what_to_change(tmp_path: Path) -> None:
    provider = FakeIdentityProvider()
    flow = sign_in(tmp_path, provider)
    provider.client_id = "another-app"  # the endpoint does not take this client's device-code request
    with pytest.raises(AuthError, match="device-code request was refused .*allow public client flows"):
        device_code_flow(flow, device_url="https://login.example.test/t/oauth2/v2.0/devicecode")


def test_an_answer_without_a_refresh_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="no refresh token: with Microsoft, add offline_access"):
        store(sign_in(tmp_path, FakeIdentityProvider()), {"access_token": "at", "expires_in": 3600})


# -- Google: the browser, a loopback redirect, PKCE --------------------------------------------------------------

class Browser:
    """The admin's browser: signs in at the fake provider, then follows the redirect to deskbot's loopback port."""

    def __init__(self, provider: FakeIdentityProvider, tamper: Callable[[str], str] = lambda url: url) -> None:
        self.provider, self.tamper = provider, tamper
        self.opened: list[str] = []
        self._threads: list[threading.Thread] = []

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        redirect = self.tamper(self.provider.authorize(url, USER))
        thread = threading.Thread(target=httpx.get, args=(redirect,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return True

    def join(self) -> None:
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def google(tmp_path: Path) -> Iterator[tuple[FakeIdentityProvider, Path]]:
    provider = FakeIdentityProvider(client_secret="desktop-secret")
    yield provider, write_config(tmp_path, "google", "https://oauth2.example.test/token",
                                 'oauth_client_secret_env = "GOOGLE_SECRET"')


def google_sign_in(config_path: Path, provider: FakeIdentityProvider, browser: Browser, out: object) -> Path:
    config = load_config(config_path, secrets=False)
    try:
        return sign_in_command(config, flow="google", mailbox="support", out=out, environ={"GOOGLE_SECRET":  # type: ignore[arg-type]
                               "desktop-secret"}, open_browser=browser, transport=httpx.MockTransport(provider))
    finally:
        browser.join()


def test_google_browser_flow_with_pkce_stores_the_refresh_token(google: tuple[FakeIdentityProvider, Path],
                                                                 tmp_path: Path) -> None:
    provider, config = google
    browser = Browser(provider)
    out = io.StringIO()
    path = google_sign_in(config, provider, browser, out)
    [url] = browser.opened
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?") and "prompt=consent" in url
    assert "scope=https%3A%2F%2Fmail.google.com%2F" in url and "login_hint=support%40example.com" in url
    [exchange] = provider.forms
    assert exchange["grant_type"] == "authorization_code" and len(exchange["code_verifier"]) == 86
    assert exchange["client_secret"] == "desktop-secret"
    printed = out.getvalue()
    assert url in printed
    assert_stored(path, provider, printed)


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda url: url.replace("state=", "state=x"), "state differs"),
    (lambda url: url.split("?")[0] + "?error=access_denied&state=" + url.split("state=")[1], "access_denied"),
])
def test_a_browser_answer_that_does_not_fit_is_refused(google: tuple[FakeIdentityProvider, Path], tmp_path: Path,
                                                       tamper: Callable[[str], str], message: str) -> None:
    provider, config = google
    with pytest.raises(AuthError, match=message):
        google_sign_in(config, provider, Browser(provider, tamper), io.StringIO())
    assert provider.forms == [] and not (tmp_path / "tokens" / "mailbox-support.json").exists()


# -- the command line -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "message"), [
    (["google", "--mailbox", "support"], 'has oauth_provider = "microsoft": run `deskbot auth microsoft`'),
    (["microsoft", "--mailbox", "sales"], "no [[mailbox]] 'sales' (mailboxes: support)"),
    (["microsoft", "--smtp"], '[smtp] has auth = "password"'),
])
def test_the_wrong_account_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    argv: list[str], message: str) -> None:
    config = write_config(tmp_path, "microsoft", "https://login.example.test/t/oauth2/v2.0/token")
    assert main(["auth", *argv, "--config", str(config)]) == 2
    assert message in capsys.readouterr().err


def test_help_says_what_it_does_and_where_the_token_goes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["auth", "--help"])
    out = capsys.readouterr().out
    assert "device-code flow" in out and "PKCE" in out and "tokens/mailbox-NAME.json" in out
    assert "Tokens are never printed" in out


def test_a_custom_provider_needs_its_authorization_endpoint(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "custom", "https://idp.example.test/token"), secrets=False)
    with pytest.raises(ConfigError, match="--authorize-url"):
        sign_in_command(config, flow="google", mailbox="support", out=io.StringIO(), environ={})
