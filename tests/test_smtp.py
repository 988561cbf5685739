"""SmtpMailer against a real aiosmtpd server on loopback; failures are injected on the server side."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from bot.config import SmtpConfig
from bot.errors import PermanentError, TransientError
from bot.loopback import SmtpSink, free_port
from connectors.smtp import SmtpMailer

FROM = "Example Support <support@deskbot.test>"


def make_config(host: str, port: int) -> SmtpConfig:
    """Plain-text SMTP to a loopback server, as the tests and the demo use it."""
    return SmtpConfig(host=host, port=port, security="none", timeout=5, **{"from": FROM})


def make_ack() -> EmailMessage:
    """An acknowledgement as deskbot sends it: threaded, marked automatic, UTF-8 body."""
    message = EmailMessage()
    message["From"] = FROM
    message["To"] = "Jörg Müller <joerg.mueller@beispiel.de>"
    message["Subject"] = "[SUP-000042] Ihre Anfrage: Rechnung für März"
    message["Message-ID"] = "<ack.42@deskbot.test>"
    message["In-Reply-To"] = "<1f3e.rechnung@beispiel.de>"
    message["References"] = "<1f3e.rechnung@beispiel.de>"
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content("Guten Tag,\n\nwir haben Ihre Anfrage erhalten (SUP-000042).\n\nIhr Support-Team\n")
    return message


def test_delivers_exact_headers_and_body(smtp_sink: SmtpSink) -> None:
    SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)).send(make_ack())
    [received] = smtp_sink.messages
    for name in ("From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
                 "X-Auto-Response-Suppress"):
        assert str(received[name]) == str(make_ack()[name]), name
    # CRLF on the wire: compare the text, not the line endings.
    assert received.get_content().replace("\r\n", "\n") == make_ack().get_content()
    assert smtp_sink.handler.envelopes == [("support@deskbot.test", ["joerg.mueller@beispiel.de"])]


def test_sends_each_message_once(smtp_sink: SmtpSink) -> None:
    mailer = SmtpMailer(make_config(smtp_sink.host, smtp_sink.port))
    first, second = make_ack(), make_ack()
    second.replace_header("Message-ID", "<ack.43@deskbot.test>")
    mailer.send(first)
    mailer.send(second)
    assert [m["Message-ID"] for m in smtp_sink.messages] == ["<ack.42@deskbot.test>", "<ack.43@deskbot.test>"]


@pytest.mark.parametrize(("reply", "error"), [
    ("451 4.3.0 busy", TransientError),
    ("421 4.7.0 try again later", TransientError),
    ("550 5.1.1 no such user", PermanentError),
    ("554 5.7.1 message refused", PermanentError),
])
def test_refusal_is_classified(smtp_sink: SmtpSink, reply: str, error: type[Exception]) -> None:
    smtp_sink.handler.refuse_with = reply
    with pytest.raises(error, match=reply.split()[0]):
        SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)).send(make_ack())
    assert smtp_sink.messages == []


def test_transient_refusal_then_success(smtp_sink: SmtpSink) -> None:
    mailer = SmtpMailer(make_config(smtp_sink.host, smtp_sink.port))
    smtp_sink.handler.refuse_with = "451 4.3.0 busy"
    with pytest.raises(TransientError):
        mailer.send(make_ack())
    smtp_sink.handler.refuse_with = None
    mailer.send(make_ack())  # the retry of the next cycle
    assert [m["Message-ID"] for m in smtp_sink.messages] == ["<ack.42@deskbot.test>"]


def test_nothing_listening_is_transient() -> None:
    port = free_port()
    with pytest.raises(TransientError, match=f"127.0.0.1:{port}"):
        SmtpMailer(make_config("127.0.0.1", port)).send(make_ack())


def test_errors_are_deskbot_errors_not_library_errors(smtp_sink: SmtpSink) -> None:
    smtp_sink.handler.refuse_with = "550 5.1.1 no such user"
    with pytest.raises(PermanentError) as caught:
        SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)).send(make_ack())
    assert "550" in str(caught.value) and smtp_sink.host in str(caught.value)
