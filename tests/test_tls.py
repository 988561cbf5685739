"""TLS against a real Dovecot with a test certificate: verified by default, a named CA trusted, failures said plainly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config.file import MailboxConfig
from bot.errors import PermanentError
from bot.rules import load_rules
from connectors.imap import ImapSource
from tests.servers import DovecotServer, dovecot_usable

pytestmark = pytest.mark.skipif(not dovecot_usable(), reason="needs Dovecot (installed, run as root)")


@pytest.fixture(scope="module")
def tls_server() -> Iterator[DovecotServer]:
    with DovecotServer(tls=True) as server:
        yield server


def config(server: DovecotServer, security: str, **extra: str) -> MailboxConfig:
    user, password = server.new_user()
    port = server.imaps_port if security == "ssl" else server.port
    return MailboxConfig(name="tls", host="127.0.0.1", port=port, security=security, username=user,  # type: ignore[arg-type]
                         password=password, **extra)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_an_untrusted_certificate_is_refused_with_a_message_not_a_traceback(tls_server: DovecotServer,
                                                                            security: str) -> None:
    source = ImapSource(config(tls_server, security), rules=load_rules())
    with pytest.raises(PermanentError) as caught:
        source.check()
    message = str(caught.value)
    assert "TLS certificate is not trusted" in message and "ca_file" in message
    assert "Bad file descriptor" not in message


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_certificate_signed_by_the_named_ca_file_is_trusted(tls_server: DovecotServer, security: str) -> None:
    source = ImapSource(config(tls_server, security, ca_file=str(tls_server.cert)), rules=load_rules())
    assert source.check().startswith("logged in")
