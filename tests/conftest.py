"""Fixtures: real IMAP (Dovecot, else pymap) and SMTP (aiosmtpd) servers, a built model, a clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import imapclient
import pytest

from bot.config.file import MailboxConfig
from bot.ops.loopback import SmtpSink
from tests.servers import DovecotServer, PymapPool, dovecot_usable

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def imap_server() -> Iterator[DovecotServer | PymapPool]:
    """One Dovecot for the whole run (or a pymap pool where Dovecot cannot run)."""
    server: DovecotServer | PymapPool = DovecotServer() if dovecot_usable() else PymapPool()
    with server:
        yield server


@dataclass
class Mailbox:
    """A fresh IMAP account for one test, with its config."""

    config: MailboxConfig
    kind: str

    def client(self) -> imapclient.IMAPClient:
        """A logged-in client to look at the server's state."""
        client = imapclient.IMAPClient(self.config.host, port=self.config.port, ssl=False)
        client.login(self.config.username, self.config.password)
        return client

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Deliver raw messages."""
        client = self.client()
        for message in messages:
            client.append(folder, message)
        client.logout()


def new_mailbox(imap_server: DovecotServer | PymapPool, name: str = "support") -> Mailbox:
    """A fresh, empty account on the real IMAP server, configured as `[[mailbox]] name = NAME`."""
    user, password = imap_server.new_user()
    config = MailboxConfig(name=name, host=imap_server.host, port=imap_server.port, security="none",
                           username=user, password=password, first_run="all")
    return Mailbox(config, imap_server.kind)


@pytest.fixture
def mailbox(imap_server: DovecotServer | PymapPool) -> Mailbox:
    """An empty mailbox on the real IMAP server."""
    return new_mailbox(imap_server)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd server recording what it receives."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of the default model for the whole run (built once from the shipped corpus), named as
    $XDG_CACHE_HOME/deskbot so that runs through the CLI find the same model (XDG_CACHE_HOME = its parent)."""
    return tmp_path_factory.mktemp("xdg-cache") / "deskbot"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """Wednesday 18 November 2026, 10:00 in Berlin (a working day)."""
    return Clock(datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc))
