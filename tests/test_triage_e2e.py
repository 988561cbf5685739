"""End to end on real servers: IMAP (Dovecot, else pymap) -> triage -> SQLite -> IMAP + SMTP."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config.file import Config, MailboxConfig
from bot.daemon import build_triage
from bot.log.schema import ActionLog
from bot.ops.demo import sample_mails
from bot.ops.loopback import SmtpSink
from tests.conftest import Clock, Mailbox
from tests.scenario import actions, cycle, folder_state, make_config, rows

EXPECTED = {  # the demo mails' departments, as written by their author (bot/ops/demo/mail/README.md)
    "01": "technical", "02": "billing", "03": "account", "04": "orders", "06": "sales", "08": "sales",
    "09": "technical", "10": "account", "12": "general", "13": "billing", "14": "technical", "15": "account",
}
NO_ACK = {"05": "List", "07": "Auto-Submitted", "11": "follow-up"}
GARBAGE = b"\x89PNG\r\n\x1a\n this is not a mail at all \xff\xfe"


@pytest.fixture
def loaded(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock):
    """The demo mails plus one unreadable message in INBOX, and a config for them."""
    mails = dict(sample_mails())
    mailbox.append(*mails.values(), GARBAGE)
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    return config, mails


def test_one_cycle_triages_records_tags_and_acknowledges(loaded, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock):
    config, mails = loaded
    [report] = cycle(config, build_triage(config, clock=clock))

    assert report.error == ""
    assert len(report.outcomes) == len(mails) + 1
    records = rows(config)
    by_subject = {r.subject: r for r in records if r.department}
    names = {name[:2]: name for name in mails}
    subjects = {key: _subject(mails[name]) for key, name in names.items()}
    right = [key for key, department in EXPECTED.items() if by_subject[subjects[key]].department == department]
    assert len(right) >= 10, f"only {right} routed as expected"
    for record in by_subject.values():
        assert record.status == "done"
        assert 0.0 <= record.confidence <= 1.0
        assert json.loads(record.top_terms), "every decision names the words behind it"
        assert json.loads(record.reasons)[0].startswith("model ")
        assert (record.sla_due is not None) is (record.kind == "ticket"), "robots stay out of the SLA figures"
    assert {r.kind for r in by_subject.values() if r.folder == "Automated"} == {"automated"}
    assert [r.subject for r in by_subject.values() if r.kind == "automated"] == [subjects["05"], subjects["07"]]

    # The unreadable message: recorded with its reason, flagged on the server, nothing sent.
    [skipped] = [r for r in records if r.status == "unreadable"]
    assert "no mail headers" in skipped.error
    state = folder_state(mailbox)
    [garbage_flags] = [f for mid, f in state["INBOX"].items() if mid == b""]
    assert b"\\Flagged" in garbage_flags

    # Acknowledgements: one per customer mail, none to the list, the auto-reply or the follow-up.
    sent = smtp_sink.messages
    acked = {str(m["In-Reply-To"]) for m in sent}
    assert len(sent) == len(mails) - len(NO_ACK)
    for key, why in NO_ACK.items():
        record = by_subject[subjects[key]]
        assert record.message_id not in acked
        assert why.lower() in (record.ack_skip_reason or "").lower()
    for message in sent:
        record = next(r for r in by_subject.values() if r.message_id == str(message["In-Reply-To"]))
        assert message["Auto-Submitted"] == "auto-replied"
        assert message["X-Auto-Response-Suppress"] == "All"
        assert record.message_id in str(message["References"])
        assert str(message["Message-ID"]).endswith("@deskbot.deskbot.test>"), "a domain only deskbot uses"
        assert record.sender in str(message["To"])
        assert f"[{record.reference}]" in str(message["Subject"])
        assert record.ack_message_id == str(message["Message-ID"])

    # On the server: moved to the department's folder, keywords set, still unread.
    checkout = by_subject[subjects["01"]]
    moved = state["Technical"] if checkout.department == "technical" else state[checkout.folder]
    flags = moved[f"Message-ID: {checkout.message_id}".encode()]
    assert b"\\Seen" not in flags
    if mailbox.kind == "dovecot":
        assert {b"deskbot-processed", f"deskbot-dept-{checkout.department}".encode(),
                f"deskbot-prio-{checkout.priority}".encode()} <= set(flags)
    else:  # pymap keeps no custom keywords: the log says so instead of pretending
        action = _action(config, checkout.id, "write_back")
        assert action.state == "done" and "no custom keywords" in action.detail


def test_second_cycle_changes_nothing(loaded, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock):
    config, _ = loaded
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    before_rows, before_state, before_sent = len(rows(config)), folder_state(mailbox), len(smtp_sink.messages)

    [report] = cycle(config, triage)

    assert report.outcomes == []
    assert len(rows(config)) == before_rows
    assert folder_state(mailbox) == before_state
    assert len(smtp_sink.messages) == before_sent


def test_dry_run_changes_nothing_then_real_run_acts(loaded, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock):
    config, mails = loaded
    before = folder_state(mailbox)

    [report] = cycle(config, build_triage(config, clock=clock, dry_run=True))

    assert {o.status for o in report.outcomes} == {"dry-run"}
    assert folder_state(mailbox) == before
    assert smtp_sink.messages == []
    assert all(r.dry_run for r in rows(config))
    [report] = cycle(config, build_triage(config, clock=clock))
    assert len([o for o in report.outcomes if o.status == "done"]) == len(mails)
    assert len(smtp_sink.messages) == len(mails) - len(NO_ACK)


def test_an_smtp_outage_does_not_stop_triage_and_the_outbox_goes_out_once_when_it_is_back(
        loaded, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock):
    config, mails = loaded
    triage = build_triage(config, clock=clock)
    smtp_sink.handler.refuse_with = "451 4.3.0 mail system busy, try later"

    [first] = cycle(config, triage)

    assert not first.error and "outbox" in first.summary()
    assert smtp_sink.messages == []
    waiting = [r for r in rows(config) if r.status == "outbox"]
    assert len(waiting) == len(mails) - len(NO_ACK), "every acknowledgement waits in the outbox"
    assert all(r.attempts == 0 and r.pending for r in waiting), "no ticket is blamed for the server's trouble"
    assert set(folder_state(mailbox)["INBOX"]) == {b""}, "all filed but the unreadable one: the outage holds up no mail"
    assert all(actions(config, r.id)["file"].state == "done" and actions(config, r.id)["write_back"].state == "done"
               for r in waiting)
    smtp_sink.handler.refuse_with = None
    clock.now += timedelta(days=3)  # the promised first answer times have passed meanwhile
    cycle(config, triage)
    cycle(config, triage)
    sent = smtp_sink.messages
    assert len(sent) == len(mails) - len(NO_ACK)
    assert len({str(m["In-Reply-To"]) for m in sent}) == len(sent), "nobody is acknowledged twice"
    assert all(r.status in ("done", "unreadable") and not r.pending for r in rows(config))
    english = [m for m in sent if "We have received" in str(m["Subject"])]
    assert english and all("as soon as we can" in m.get_body(("plain",)).get_content() for m in english), \
        "a due time that has passed is never promised"


def test_unreachable_mailbox_does_not_stop_the_others(loaded, mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path,
                                                      model_cache: Path, clock: Clock):
    config, mails = loaded
    dead = MailboxConfig(name="dead", host="127.0.0.1", port=_closed_port(), security="none",
                         username="x", password="y", timeout=2)
    config = make_config([dead, mailbox.config], smtp_sink, tmp_path, model_cache)

    broken, working = cycle(config, build_triage(config, clock=clock))

    assert "connect" in broken.error and broken.outcomes == []
    assert len(working.outcomes) == len(mails) + 1


def _closed_port() -> int:
    from bot.ops.loopback import free_port

    return free_port()


def _subject(raw: bytes) -> str:
    from email import message_from_bytes, policy

    return " ".join(str(message_from_bytes(raw, policy=policy.default)["Subject"]).split())


def _action(config: Config, ticket_id: int, kind: str) -> ActionLog:
    from bot.log.store import Store

    return next(a for a in Store.open(config.database_url()).actions(ticket_id) if a.kind == kind)


def test_uidvalidity_change_handles_nothing_twice(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path,
                                                  model_cache: Path, clock: Clock):
    mails = [data for _, data in sample_mails()[:4]]
    client = mailbox.client()
    client.create_folder("Support")
    client.logout()
    mailbox.append(*mails, folder="Support")
    support = mailbox.config.model_copy(update={"folder": "Support"})
    config = make_config([support], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    sent = len(smtp_sink.messages)
    client = mailbox.client()  # the folder is rebuilt: the server hands out a new UIDVALIDITY
    client.select_folder("INBOX")
    client.delete_folder("Support")
    client.create_folder("Support")
    client.logout()
    mailbox.append(*mails, folder="Support")

    [report] = cycle(config, triage)

    assert [o.status for o in report.outcomes] == ["already-recorded"] * len(mails)
    assert len(smtp_sink.messages) == sent
    assert len(rows(config)) == len(mails)


def test_oversized_mail_is_set_aside_unread(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path,
                                             model_cache: Path, clock: Clock):
    [(_, big)] = sample_mails()[:1]
    mailbox.append(big)
    small_limit = mailbox.config.model_copy(update={"max_message_bytes": 200})
    config = make_config([small_limit], smtp_sink, tmp_path, model_cache)

    [report] = cycle(config, build_triage(config, clock=clock))

    assert [o.status for o in report.outcomes] == ["unreadable"]
    [record] = rows(config)
    assert "over max_message_bytes (200)" in record.error
    [flags] = folder_state(mailbox)["INBOX"].values()
    assert b"\\Flagged" in flags and b"\\Seen" not in flags
    assert smtp_sink.messages == []
