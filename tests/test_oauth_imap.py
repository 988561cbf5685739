"""XOAUTH2 against a real Dovecot whose oauth2 passdb asks our fake provider (on loopback) about each token;
a mailbox whose refresh token was revoked fails alone while the other keeps working through a cycle."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.file import MailboxConfig
from bot.daemon import build_triage
from bot.errors import AuthError
from bot.ops.loopback import SmtpSink
from bot.rules import load_rules
from connectors.imap import ImapSource
from connectors.oauth import account_of, write_token_file
from tests.conftest import Clock, Mailbox
from tests.oauth_fakes import FakeIdentityProvider, LoopbackHttp
from tests.scenario import customer_mail, cycle, make_config, rows
from tests.servers import DovecotServer, dovecot_usable

pytestmark = pytest.mark.skipif(not dovecot_usable(), reason="needs Dovecot (installed, run as root)")


@pytest.fixture(scope="module")
def provider() -> FakeIdentityProvider:
    return FakeIdentityProvider()


@pytest.fixture(scope="module")
def endpoint(provider: FakeIdentityProvider) -> Iterator[LoopbackHttp]:
    with LoopbackHttp(provider) as http:
        yield http


@pytest.fixture(scope="module")
def dovecot(endpoint: LoopbackHttp) -> Iterator[DovecotServer]:
    with DovecotServer(oauth2_introspection=f"{endpoint.url}/introspect") as server:
        yield server


def oauth_mailbox(dovecot: DovecotServer, provider: FakeIdentityProvider, endpoint: LoopbackHttp, tmp_path: Path,
                  name: str = "support") -> Mailbox:
    """A fresh Dovecot account with auth = "oauth2", signed in once: its token file holds a refresh token."""
    user, password = dovecot.new_user()
    config = MailboxConfig(name=name, host=dovecot.host, port=dovecot.port, security="none", username=user,
                           auth="oauth2", oauth_provider="custom", oauth_client_id=provider.client_id,
                           oauth_token_url=f"{endpoint.url}/token", oauth_token_file=str(tmp_path / f"{name}.json"),
                           first_run="all")
    write_token_file(Path(config.oauth_token_file), {"refresh_token": provider.sign_in(user)}, account_of(config))
    # the test looks at the server with the account's password (Dovecot keeps the passwd file too)
    return Mailbox(config.model_copy(update={"password": password}), "dovecot")


def test_a_token_dovecot_accepts_logs_in(dovecot: DovecotServer, provider: FakeIdentityProvider,
                                         endpoint: LoopbackHttp, tmp_path: Path) -> None:
    mailbox = oauth_mailbox(dovecot, provider, endpoint, tmp_path)
    assert ImapSource(mailbox.config, rules=load_rules()).check().startswith("logged in; INBOX has 0 messages")
    assert ImapSource(mailbox.config, rules=load_rules()).check().startswith("logged in")
    assert [f["grant_type"] for f in provider.forms[-1:]] == ["refresh_token"]


def test_a_cached_token_dovecot_refuses_is_renewed_once(dovecot: DovecotServer, provider: FakeIdentityProvider,
                                                        endpoint: LoopbackHttp, tmp_path: Path) -> None:
    mailbox = oauth_mailbox(dovecot, provider, endpoint, tmp_path)
    path = Path(mailbox.config.oauth_token_file)
    record = {"refresh_token": provider.sign_in(mailbox.config.username), "access_token": "at-revoked-early",
              "expires_at": 4102444800.0}  # valid until 2100 as far as deskbot knows; Dovecot's provider says no
    write_token_file(path, record, account_of(mailbox.config))
    assert ImapSource(mailbox.config, rules=load_rules()).check().startswith("logged in")
    assert provider.is_valid(str(json.loads(path.read_text())["access_token"]), mailbox.config.username)


def test_a_revoked_refresh_token_is_an_auth_error_saying_what_to_run(
        dovecot: DovecotServer, provider: FakeIdentityProvider, endpoint: LoopbackHttp, tmp_path: Path) -> None:
    mailbox = oauth_mailbox(dovecot, provider, endpoint, tmp_path)
    provider.revoke(mailbox.config.username)
    with pytest.raises(AuthError, match="invalid_grant.*" + re.escape("`deskbot auth microsoft|google --mailbox support")):
        ImapSource(mailbox.config, rules=load_rules()).check()


def test_a_token_of_another_account_is_refused_by_dovecot(dovecot: DovecotServer, provider: FakeIdentityProvider,
                                                          endpoint: LoopbackHttp, tmp_path: Path) -> None:
    mailbox = oauth_mailbox(dovecot, provider, endpoint, tmp_path)
    other = mailbox.config.model_copy(update={"username": dovecot.new_user()[0]})  # signed in as someone else
    with pytest.raises(AuthError) as caught:
        ImapSource(other, rules=load_rules()).check()
    message = str(caught.value)
    assert "AUTHENTICATIONFAILED" in message and "refused a fresh OAuth2 access token of mailbox support" in message
    assert "check that username is the account that signed in" in message


def test_a_revoked_mailbox_fails_alone_and_the_other_works_through_a_cycle(
        dovecot: DovecotServer, provider: FakeIdentityProvider, endpoint: LoopbackHttp, tmp_path: Path,
        smtp_sink: SmtpSink, model_cache: Path, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    support = oauth_mailbox(dovecot, provider, endpoint, tmp_path)
    sales = oauth_mailbox(dovecot, provider, endpoint, tmp_path, "sales")
    support.append(customer_mail(1))
    sales.append(customer_mail(2))
    provider.revoke(sales.config.username)
    config = make_config([support.config, sales.config], smtp_sink, tmp_path, model_cache)

    with caplog.at_level(logging.ERROR):
        first, second = cycle(config, build_triage(config, clock=clock))

    assert [o.status for o in first.outcomes] == ["done"] and not first.error
    assert second.outcomes == [] and "invalid_grant" in second.error
    assert [r.source for r in rows(config)] == ["imap:support"]
    assert len(smtp_sink.messages) == 1
    [line] = [r.getMessage() for r in caplog.records if r.name in ("bot.pipeline", "bot.daemon")]
    assert line.startswith("imap:sales: mailbox sales: the stored OAuth2 refresh token was refused")
    assert line.endswith("run `deskbot auth microsoft|google --mailbox sales --config FILE` to sign in again")
