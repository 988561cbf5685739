"""SmtpMailer against a real aiosmtpd server on loopback; failures are injected on the server side."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from bot.config.file import SmtpConfig
from bot.errors import ConfigError, PermanentError, ServiceUnavailable, TransientError
from bot.ops.loopback import SmtpSink, free_port
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
    with SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)) as mailer:
        mailer.send(make_ack())
    [received] = smtp_sink.messages
    for name in ("From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
                 "X-Auto-Response-Suppress"):
        assert str(received[name]) == str(make_ack()[name]), name
    # CRLF on the wire: compare the text, not the line endings.
    assert received.get_content().replace("\r\n", "\n") == make_ack().get_content()
    assert smtp_sink.handler.envelopes == [("support@deskbot.test", ["joerg.mueller@beispiel.de"])]


def test_sends_each_message_once_over_one_connection(smtp_sink: SmtpSink) -> None:
    first, second = make_ack(), make_ack()
    second.replace_header("Message-ID", "<ack.43@deskbot.test>")
    with SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)) as mailer:
        mailer.send(first)
        mailer.send(second)
    assert len(smtp_sink.handler.sessions) == 1, "one SMTP connection per cycle"
    assert [m["Message-ID"] for m in smtp_sink.messages] == ["<ack.42@deskbot.test>", "<ack.43@deskbot.test>"]


def numbered_acks(count: int) -> list[EmailMessage]:
    """Acknowledgements to customer0 … customerN-1, each with its own Message-ID."""
    acks = []
    for n in range(count):
        ack = make_ack()
        ack.replace_header("To", f"customer{n}@example.org")
        ack.replace_header("Message-ID", f"<ack.{n}@deskbot.test>")
        acks.append(ack)
    return acks


def test_a_batch_goes_over_a_few_connections_at_once_each_message_with_its_own_answer(smtp_sink: SmtpSink) -> None:
    smtp_sink.handler.refuse_rcpt = {"customer3@example.org": "550 5.1.1 no such user",
                                     "customer5@example.org": "450 4.2.0 greylisted"}
    smtp_sink.handler.delay = 0.02  # a server that takes its time: the connections overlap
    with SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)) as mailer:
        results = mailer.send_many(numbered_acks(12), connections=4)
        again = mailer.send_many(numbered_acks(2), connections=4)
    assert isinstance(results[3], PermanentError) and isinstance(results[5], TransientError)
    assert [r for n, r in enumerate(results) if n not in (3, 5)] == [None] * 10 and again == [None, None]
    assert sorted(str(m["Message-ID"]) for m in smtp_sink.messages) == sorted(
        [f"<ack.{n}@deskbot.test>" for n in range(12) if n not in (3, 5)] + ["<ack.0@deskbot.test>", "<ack.1@deskbot.test>"])
    assert 1 < len(smtp_sink.handler.sessions) <= 4 + 2, "a few connections kept for the cycle (and one more after " \
                                                         "each refusal: a connection that failed is not reused)"


def test_a_follow_up_runs_after_each_accepted_message_and_trouble_in_it_stops_the_batch(smtp_sink: SmtpSink) -> None:
    """`then` (the copy into Sent) runs once a message is accepted; a refused one gets none; when `then` meets
    its server's trouble, no further message goes out (the restart checks the rest)."""
    smtp_sink.handler.refuse_rcpt = {"customer1@example.org": "550 5.1.1 no such user"}
    followed: list[int] = []

    def then(index: int) -> None:
        followed.append(index)
        if index == 3:
            raise ServiceUnavailable("the IMAP server went away")

    with SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)) as mailer:
        results = mailer.send_many(numbered_acks(8), connections=1, then=then)
    assert followed == [0, 2, 3] and isinstance(results[1], PermanentError) and isinstance(results[3], ServiceUnavailable)
    assert all(isinstance(r, ServiceUnavailable) and not r.maybe_done for r in results[4:])
    assert len(smtp_sink.messages) == 3


def test_a_batch_to_an_unreachable_server_tries_once_and_fails_every_message_as_not_sent() -> None:
    with SmtpMailer(make_config("127.0.0.1", free_port())) as mailer:
        results = mailer.send_many(numbered_acks(6), connections=3)
    assert all(isinstance(r, ServiceUnavailable) and not r.maybe_done for r in results)
    assert sum("not tried again" in str(r) for r in results) >= 3


@pytest.mark.parametrize(("reply", "error"), [
    ("451 4.3.0 busy", ServiceUnavailable),  # the server's trouble: the cycle stops, no ticket is blamed
    ("421 4.7.0 try again later", ServiceUnavailable),
    ("554 5.7.1 message refused", PermanentError),
])
def test_refusal_of_the_message_is_classified(smtp_sink: SmtpSink, reply: str, error: type[Exception]) -> None:
    smtp_sink.handler.refuse_with = reply
    with pytest.raises(error, match=reply.split()[0]), SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)) as m:
        m.send(make_ack())
    assert smtp_sink.messages == []


@pytest.mark.parametrize(("reply", "error"), [
    ("450 4.2.0 greylisted, try again later", TransientError),  # this recipient's: counted for this ticket
    ("550 5.1.1 no such user", PermanentError),
])
def test_refusal_of_the_recipient_is_this_tickets(smtp_sink: SmtpSink, reply: str, error: type[Exception]) -> None:
    smtp_sink.handler.refuse_rcpt["joerg.mueller@beispiel.de"] = reply
    with pytest.raises(error) as caught, SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)) as mailer:
        mailer.send(make_ack())
    assert not isinstance(caught.value, ServiceUnavailable)
    assert reply.split()[0] in str(caught.value) and "joerg.mueller@beispiel.de" in str(caught.value)


def test_busy_server_then_success(smtp_sink: SmtpSink) -> None:
    with SmtpMailer(make_config(smtp_sink.host, smtp_sink.port)) as mailer:
        smtp_sink.handler.refuse_with = "451 4.3.0 busy"
        with pytest.raises(TransientError):
            mailer.send(make_ack())
        smtp_sink.handler.refuse_with = None
        mailer.send(make_ack())  # a new connection: the failed one is never reused
    assert [m["Message-ID"] for m in smtp_sink.messages] == ["<ack.42@deskbot.test>"]


def test_nothing_listening_is_the_servers_trouble() -> None:
    port = free_port()
    with pytest.raises(ServiceUnavailable, match=f"127.0.0.1:{port}"), SmtpMailer(make_config("127.0.0.1", port)) as m:
        m.send(make_ack())


def test_sender_refused_for_good_is_a_configuration_error(smtp_sink: SmtpSink) -> None:
    smtp_sink.handler.refuse_sender = "553 5.7.1 sender not allowed"
    with pytest.raises(ConfigError, match="refuses our sender"), SmtpMailer(
            make_config(smtp_sink.host, smtp_sink.port)) as mailer:
        mailer.send(make_ack())


def test_an_unreachable_server_is_tried_once_per_cycle_not_once_per_message() -> None:
    port = free_port()
    mailer = SmtpMailer(make_config("127.0.0.1", port))
    with pytest.raises(ServiceUnavailable) as first:
        mailer.send(make_ack())
    assert not first.value.maybe_done, "nothing can have been sent"
    with pytest.raises(ServiceUnavailable, match="not tried again in this cycle"):
        mailer.send(make_ack())
    mailer.close()  # the cycle ends; the next one tries again
    with pytest.raises(ServiceUnavailable) as again:
        mailer.send(make_ack())
    assert "not tried again" not in str(again.value)
    mailer.close()
