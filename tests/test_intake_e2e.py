"""Real-world mail end to end on real servers: threads kept, no backscatter, no loops, old mail, odd addresses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.daemon import build_triage
from bot.ops.loopback import SmtpSink
from tests.conftest import Clock, Mailbox
from tests.scenario import actions, customer_mail, cycle, folder_state, make_config, rows


@pytest.fixture
def config(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path):
    return make_config([mailbox.config], smtp_sink, tmp_path, model_cache)


def reply(subject: str, body: str, *, sender: str = "Customer 0 <customer0@example.org>",
          in_reply_to: str = "") -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@deskbot.test", subject
    message["Date"] = format_datetime(datetime(2026, 11, 18, 8, 30, tzinfo=timezone.utc))
    message["Message-ID"] = f"<reply.{abs(hash(subject + body))}@example.org>"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    message.set_content(body)
    return message.as_bytes()


@pytest.mark.parametrize("shape", ["subject-token", "subject-prose", "quoted-ack", "in-reply-to"])
def test_a_reply_to_a_handled_ticket_joins_it_without_a_second_acknowledgement(
        config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock, shape: str) -> None:
    mailbox.append(customer_mail(0))
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    [first] = rows(config)
    [ack] = smtp_sink.messages
    ack_text = ack.get_body(("plain",)).get_content()
    new_text = "I have attached the bank statement you asked for."
    mailbox.append({
        "subject-token": reply(f"AW: [{first.reference}] {first.subject}", new_text),
        "subject-prose": reply(f"Update on {first.reference}", new_text),
        "quoted-ack": reply("Re: your request", new_text + "\n\n" + "\n".join("> " + line
                                                                                 for line in ack_text.splitlines())),
        "in-reply-to": reply("Re: something", new_text, in_reply_to=str(ack["Message-ID"])),
    }[shape])

    cycle(config, triage)

    _, follow_up = rows(config)
    assert follow_up.follow_up_of == first.id and follow_up.department == first.department
    assert follow_up.reference is None and "whose acknowledgement covers it" in follow_up.ack_skip_reason
    assert len(smtp_sink.messages) == 1
    if mailbox.kind == "dovecot":
        folder = folder_state(mailbox)[first.folder]
        assert all(first.reference.encode() in flags for flags in folder.values()), "agents can search for it"


def test_mentioning_another_ticket_in_new_text_is_a_new_request(config, mailbox: Mailbox, smtp_sink: SmtpSink,
                                                                clock: Clock) -> None:
    mailbox.append(customer_mail(0))
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    [first] = rows(config)
    mailbox.append(reply("Another problem", f"Like in {first.reference}, my second invoice is wrong too.",
                         sender="Bob <bob@example.net>"))

    cycle(config, triage)

    assert rows(config)[1].follow_up_of is None and len(smtp_sink.messages) == 2


def dsn(about: EmailMessage, recipient: str) -> bytes:
    """A Postfix-style delivery report (RFC 3464) that our acknowledgement bounced for good."""
    return f"""From: MAILER-DAEMON@mx.customer.example (Mail Delivery System)
To: support@deskbot.test
Subject: Undelivered Mail Returned to Sender
Date: Wed, 18 Nov 2026 09:05:00 +0000
Message-ID: <dsn.1@mx.customer.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1

--b1
Content-Type: text/rfc822-headers

From: {about["From"]}
To: {about["To"]}
Subject: {about["Subject"]}
Message-ID: {about["Message-ID"]}

--b1--
""".encode()


def test_a_hard_bounce_of_an_acknowledgement_silences_that_address(config, mailbox: Mailbox, smtp_sink: SmtpSink,
                                                                   clock: Clock) -> None:
    mailbox.append(customer_mail(0, sender="Gone <gone@customer.example>"))
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    [ack] = smtp_sink.messages
    mailbox.append(dsn(ack, "gone@customer.example"))
    cycle(config, triage)
    bounce = rows(config)[1]
    assert (bounce.kind, bounce.folder, bounce.reference) == ("automated", "Automated", None)

    mailbox.append(customer_mail(5, sender="Gone <gone@customer.example>"))
    clock.now += timedelta(hours=2)
    cycle(config, triage)

    assert len(smtp_sink.messages) == 1
    assert "bounced for good" in rows(config)[2].ack_skip_reason
    clock.now += timedelta(days=4)  # the suppression lapses (72 h by default)
    mailbox.append(customer_mail(6, sender="Gone <gone@customer.example>"))
    cycle(config, triage)
    assert len(smtp_sink.messages) == 2


def test_old_mail_is_filed_but_not_acknowledged_and_no_due_time_lies(config, mailbox: Mailbox,
                                                                      smtp_sink: SmtpSink, clock: Clock) -> None:
    client = mailbox.client()
    client.append("INBOX", customer_mail(1), msg_time=clock.now - timedelta(days=95))
    client.append("INBOX", customer_mail(2), msg_time=clock.now - timedelta(days=2))
    client.logout()

    cycle(config, build_triage(config, clock=clock))

    old, recent = rows(config)
    assert old.status == "done" and "received 95 days ago" in old.ack_skip_reason
    [ack] = smtp_sink.messages
    assert str(ack["In-Reply-To"]) == recent.message_id
    assert "as soon as we can" in ack.get_body(("plain",)).get_content(), "its due time has passed: no time is promised"


def test_at_most_three_acknowledgements_an_hour_to_one_address(config, mailbox: Mailbox, smtp_sink: SmtpSink,
                                                               clock: Clock) -> None:
    mailbox.append(*(customer_mail(n, sender="Loopy <loopy@example.net>") for n in range(5)))

    cycle(config, build_triage(config, clock=clock))

    assert len(smtp_sink.messages) == 3
    assert all("in the last hour" in r.ack_skip_reason for r in rows(config)[3:])


@pytest.mark.parametrize("smtputf8", [True, False])
def test_an_internationalised_address_is_answered_with_smtputf8_or_recorded_as_impossible(
        mailbox: Mailbox, tmp_path: Path, model_cache: Path, clock: Clock, smtputf8: bool) -> None:
    mailbox.append(customer_mail(3, sender="Jörg Müller <jörg@beispiel.de>"))
    with SmtpSink(smtputf8=smtputf8) as sink:
        config = make_config([mailbox.config], sink, tmp_path, model_cache)
        [report] = cycle(config, build_triage(config, clock=clock))
        sent = sink.handler.envelopes

    [row] = rows(config)
    assert [o.status for o in report.outcomes] == ["done"] and not row.flagged
    if smtputf8:
        assert [to for _, to in sent] == [["jörg@beispiel.de"]]
    else:
        assert sent == [] and "SMTPUTF8" in actions(config, row.id)["acknowledge"].detail
