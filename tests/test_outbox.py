"""Acknowledgements the mail server will not take now (greylisting, an outage) or ever (550), on Dovecot + aiosmtpd."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.daemon import build_triage
from bot.log.records import as_utc
from bot.ops.loopback import SmtpSink
from tests.conftest import Clock, Mailbox
from tests.scenario import actions, customer_mail, cycle, folder_state, make_config, rows


def test_a_greylisted_acknowledgement_waits_hours_while_the_mail_is_filed_and_fails_only_after_a_day(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(customer_mail(0), customer_mail(1))
    smtp_sink.handler.refuse_rcpt["customer0@example.org"] = "450 4.2.0 greylisted, try again later"
    smtp_sink.handler.refuse_rcpt["customer1@example.org"] = "451 4.7.1 greylisted"
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    started = clock.now

    [first] = cycle(config, triage)

    assert [o.status for o in first.outcomes] == ["outbox", "outbox"] and not first.failed
    assert folder_state(mailbox)["INBOX"] == {}, "both mails are filed at once"
    pauses, tried = [], started
    for _ in range(10):
        row = rows(config)[0]
        if row.retry_at is None:
            break
        due = as_utc(row.retry_at)
        clock.now = due - timedelta(seconds=5)
        assert row.id not in [o.ticket_id for o in cycle(config, triage)[0].outcomes], "not tried before its time"
        pauses.append(due - tried)
        tried = clock.now = due
        if len(pauses) == 2:  # the other recipient's greylisting lifts: its acknowledgement goes out, once
            del smtp_sink.handler.refuse_rcpt["customer1@example.org"]
        cycle(config, triage)

    assert pauses == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                      timedelta(hours=6), timedelta(hours=15, minutes=24)], "capped at one day after the first"
    stuck, sent = rows(config)
    assert stuck.status == "failed" and stuck.flagged and not stuck.pending and "more than a day" in stuck.error
    assert as_utc(stuck.updated_at) - started == timedelta(days=1)
    assert sent.status == "done" and [str(m["To"]) for m in smtp_sink.messages] == ["Customer 1 <customer1@example.org>"]
    [(folder, flags)] = [(f, fl) for f, msgs in folder_state(mailbox).items() for fl in msgs.values()
                         if b"\\Flagged" in fl]
    assert folder == stuck.folder != "INBOX" and b"deskbot-failed" in flags, "flagged where the mail is now"


def test_a_permanent_refusal_flags_the_mail_in_the_folder_it_was_filed_to(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(customer_mail(3))
    smtp_sink.handler.refuse_rcpt["customer3@example.org"] = "550 5.1.1 user unknown"
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)

    [report] = cycle(config, build_triage(config, clock=clock))

    assert [o.status for o in report.outcomes] == ["failed"]
    [row] = rows(config)
    assert row.flagged and "550" in row.error
    assert actions(config, row.id)["flag_failed"].detail.endswith(f"in {row.folder}")
    state = folder_state(mailbox)
    assert state["INBOX"] == {}
    [flags] = state[row.folder].values()
    assert {b"\\Flagged", b"deskbot-failed"} <= set(flags)


def test_with_the_smtp_server_down_mail_is_filed_and_acknowledged_once_it_is_back(
        mailbox: Mailbox, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(*(customer_mail(n) for n in range(3)))
    sink = SmtpSink()  # not started yet: nothing listens on its port
    config = make_config([mailbox.config], sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)

    [down] = cycle(config, triage)

    assert [o.status for o in down.outcomes] == ["outbox"] * 3 and not down.failed
    assert folder_state(mailbox)["INBOX"] == {}, "filed while the SMTP server is down"
    assert all(r.status == "outbox" and r.attempts == 0 for r in rows(config))
    with sink:
        clock.now += timedelta(minutes=1)
        [back] = cycle(config, triage)
        assert [o.status for o in back.outcomes] == ["done"] * 3
        assert cycle(config, triage)[0].outcomes == []
        assert sorted(str(m["To"]) for m in sink.messages) == [f"Customer {n} <customer{n}@example.org>"
                                                                 for n in range(3)]
