"""What an IMAP cycle keeps while it works through a backlog, on a real Dovecot: one command's unsolicited
responses at most: imaplib keeps every untagged response nobody asked for, and a STORE that brings a new
keyword makes the server repeat the folder's whole keyword list."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.config.file import Config
from bot.daemon import build_triage, sources_of
from bot.ops.loopback import SmtpSink
from bot.pipeline import run_source
from connectors import imap as imap_module
from connectors.imap import ImapSource
from connectors.imap_session import close_quietly, connect
from tests.conftest import Clock, Mailbox
from tests.scenario import customer_mail, make_config


def held(source: ImapSource) -> dict[str, int]:
    """How many untagged responses of each kind the source's connection keeps (looked at without a command)."""
    return {name: len(data) for name, data in source._client._imap.untagged_responses.items()}  # noqa: SLF001


@pytest.fixture
def backlog_config(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path) -> Config:
    """Twelve customer mails waiting."""
    if mailbox.kind != "dovecot":
        pytest.skip("keywords and MOVE need Dovecot (pymap keeps no custom keywords)")
    mailbox.append(*(customer_mail(n) for n in range(12)))
    return make_config([mailbox.config], smtp_sink, tmp_path, model_cache)


def test_keywords_and_moves_leave_no_pile_of_unsolicited_responses(backlog_config: Config, clock: Clock) -> None:
    triage = build_triage(backlog_config, clock=clock)
    [scheduled] = sources_of(backlog_config, triage)
    with scheduled.source as source:
        source.client.create_folder("Elsewhere")
        for n, uid in enumerate(source.client.search(["ALL"])):  # each a keyword new to the folder, as references are
            source.client.add_flags([uid], [f"SUP-{n:06d}".encode()], silent=True)
            source.client.move([uid], "Elsewhere")
        source.client.noop()
        kept = held(source)
    assert kept.get("FLAGS", 0) <= 1 and kept.get("PERMANENTFLAGS", 0) <= 1, kept
    assert kept.get("EXPUNGE", 0) <= 1 and kept.get("COPYUID", 0) <= 1, kept


class Watching:
    """The real mailer; at each acknowledgement it notes what the source's connection keeps meanwhile."""

    def __init__(self, source: ImapSource) -> None:
        self.source, self.mailer, self.seen = source, source.mailer, []

    def send(self, message: EmailMessage) -> None:
        self.seen.append(held(self.source))
        self.mailer.send(message)  # type: ignore[union-attr]

    def close(self) -> None:
        self.mailer.close()  # type: ignore[union-attr]


def test_a_cycle_over_a_backlog_keeps_one_commands_responses_not_all(
        backlog_config: Config, smtp_sink: SmtpSink, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap_module, "_BATCH", 5)  # three fetch batches of the twelve mails (5, then 4 and 3)
    monkeypatch.setattr(imap_module, "_SMALLEST", 3)
    triage = build_triage(backlog_config, clock=clock)
    [scheduled] = sources_of(backlog_config, triage)
    watching = Watching(scheduled.source)
    scheduled.source.mailer = watching  # type: ignore[assignment]

    report = run_source(scheduled.source, triage)

    assert not report.error and [o.status for o in report.outcomes] == ["done"] * 12
    assert len(watching.seen) == 12 == len(smtp_sink.messages)
    assert max(kept.get("FLAGS", 0) for kept in watching.seen) <= 1, watching.seen
    assert max(kept.get("EXPUNGE", 0) for kept in watching.seen) <= 1, watching.seen



@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_the_protocol_trace_is_only_made_for_a_log_that_keeps_it(
        mailbox: Mailbox, caplog: pytest.LogCaptureFixture, level: int) -> None:
    """imaplib formats every response line (a mail's whole body, a folder's whole keyword list) for its trace:
    work thrown away unless debug logging is on, and then the trace must still be there."""
    mailbox.append(customer_mail(1))
    caplog.set_level(level, logger="imapclient.imaplib")
    client = connect(mailbox.config)
    try:
        client.select_folder("INBOX")
        client.fetch(client.search(["ALL"]), ["RFC822"])
    finally:
        close_quietly(client)
    traced = [r for r in caplog.records if r.name == "imapclient.imaplib"]
    if level == logging.DEBUG:
        assert any("FETCH" in r.getMessage() for r in traced)
    else:
        assert client._imap.debug == 0 and not traced  # noqa: SLF001
