"""Bad days on real servers (Dovecot, aiosmtpd): failures, interruptions, copies, typos. Nothing lost, nothing twice."""

from __future__ import annotations

import logging
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bot.ack.message import shipped_templates_dir
from bot.config.file import Config
from bot.daemon import build_triage
from bot.ops.loopback import SmtpSink
from bot.rules import shipped_rules_path
from tests.conftest import Clock, Mailbox, new_mailbox
from tests.scenario import actions, copies, customer_mail, cycle, folder_state, make_config, rows, set_inflight


@pytest.fixture
def setup(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path):
    """Three customer mails in INBOX and a config that keeps a copy of each acknowledgement in Sent."""
    mailbox.append(*(customer_mail(n) for n in range(3)))
    config = make_config([mailbox.config.model_copy(update={"sent_folder": "Sent"})], smtp_sink, tmp_path, model_cache)
    return config


def test_actions_found_done_after_a_crash_are_not_repeated(setup: Config, mailbox: Mailbox, smtp_sink: SmtpSink,
                                                           clock: Clock) -> None:
    triage = build_triage(setup, clock=clock)
    cycle(setup, triage)
    first = rows(setup)[0]
    before, sent = copies(mailbox), len(smtp_sink.messages)
    set_inflight(setup, first.id, "acknowledge", "file")  # killed after both effects, before recording them

    [report] = cycle(setup, triage)

    assert [o.status for o in report.outcomes] == ["done"]
    assert len(smtp_sink.messages) == sent, "the copy in Sent proves the acknowledgement went out"
    assert copies(mailbox) == before, "the message already left INBOX: not moved again"
    for kind in ("acknowledge", "file"):
        assert actions(setup, first.id)[kind].detail == "found done on the server after an interruption"


def test_acknowledgement_in_flight_but_not_sent_goes_out_once_with_its_message_id(
        setup: Config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock) -> None:
    triage = build_triage(setup, clock=clock)
    cycle(setup, triage)
    first = rows(setup)[0]
    client = mailbox.client()  # as if killed after marking it in flight, before the SMTP server took it
    client.select_folder("Sent")
    client.delete_messages(client.search(["HEADER", "Message-ID", first.ack_message_id]))
    client.expunge()
    client.logout()
    smtp_sink.clear()
    set_inflight(setup, first.id, "acknowledge")

    cycle(setup, triage)

    assert [str(m["Message-ID"]) for m in smtp_sink.messages] == [first.ack_message_id]
    assert first.reference in str(smtp_sink.messages[0]["Subject"])


def test_without_a_sent_folder_an_unknown_acknowledgement_is_resent_with_the_same_id_and_said(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(customer_mail(1))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    [row] = rows(config)
    set_inflight(config, row.id, "acknowledge")

    cycle(config, triage)

    assert [str(m["Message-ID"]) for m in smtp_sink.messages] == [row.ack_message_id] * 2
    assert "could not be checked" in actions(config, row.id)["acknowledge"].detail


def test_one_mail_in_two_mailboxes_is_one_ticket_and_the_copy_is_filed_as_a_duplicate(
        imap_server, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    support, sales = new_mailbox(imap_server), new_mailbox(imap_server, "sales")
    mail = customer_mail(0)  # To support@, Cc sales@: delivered to both, with their own delivery headers
    support.append(b"Delivered-To: support@deskbot.test\n" + mail)
    sales.append(b"Delivered-To: sales@deskbot.test\nReceived: from mx2.example.net; Tue, 17 Nov 2026\n" + mail)
    config = make_config([support.config, sales.config], smtp_sink, tmp_path, model_cache)

    first, second = cycle(config, build_triage(config, clock=clock))

    assert [o.status for o in first.outcomes] == ["done"]
    assert [o.status for o in second.outcomes] == ["duplicate"]
    assert len(smtp_sink.messages) == 1
    original, duplicate = rows(config)
    assert duplicate.duplicate_of == original.id and duplicate.reference is None
    if imap_server.kind == "dovecot":
        [(folder, flags)] = [(f, fl) for f, msgs in folder_state(sales).items() for fl in msgs.values()]
        assert folder == original.folder
        assert {b"deskbot-duplicate", original.reference.encode()} <= set(flags)


def test_two_different_mails_sharing_a_message_id_are_two_tickets(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(customer_mail(0, message_id="<reused@example.org>"),
                   customer_mail(1, message_id="<reused@example.org>"))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)

    [report] = cycle(config, build_triage(config, clock=clock))

    assert [o.status for o in report.outcomes] == ["done", "done"]
    assert len({r.reference for r in rows(config)}) == 2
    assert len(smtp_sink.messages) == 2


def _rules_with_folders(tmp_path: Path, folder: str) -> Path:
    path = tmp_path / "rules.toml"
    text = shipped_rules_path().read_text(encoding="utf-8")
    path.write_text(re.sub(r'^folder = ".*"$', f'folder = "{folder}"', text, flags=re.M), encoding="utf-8")
    return path


def test_a_permanent_failure_is_flagged_logged_with_its_reason_and_fails_the_run(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    if mailbox.kind != "dovecot":
        pytest.skip("needs a server that refuses a folder name (Dovecot refuses names starting with '~')")
    mailbox.append(customer_mail(0))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache,
                         rules=str(_rules_with_folders(tmp_path, "~Unfileable")))

    with caplog.at_level(logging.WARNING):
        [report] = cycle(config, build_triage(config, clock=clock))

    assert report.failed and [o.status for o in report.outcomes] == ["failed"]
    [row] = rows(config)
    assert row.status == "failed" and not row.pending and row.flagged
    assert "move to ~Unfileable" in row.error and "Begins with '~'" in row.error
    assert any(r.levelno == logging.WARNING and "~Unfileable" in r.getMessage() for r in caplog.records)
    [flags] = folder_state(mailbox)["INBOX"].values()
    assert {b"\\Flagged", b"deskbot-failed", b"deskbot-processed"} <= set(flags)
    assert len(smtp_sink.messages) == 1, "the acknowledgement does not depend on filing"
    [again] = cycle(config, build_triage(config, clock=clock))
    assert again.outcomes == [] and len(smtp_sink.messages) == 1


class _Fussy:
    """A model that cannot read one customer's mail (a bug of its own), and every other one as the real model."""

    def __init__(self, model: object, word: str) -> None:
        self.model, self.word, self.broken = model, word, True

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)

    def predict(self, text: str) -> object:
        if self.broken and self.word in text:
            raise ValueError("the model chokes on this text")
        return self.model.predict(text)  # type: ignore[attr-defined]


def test_a_ticket_failing_on_its_own_is_quarantined_after_three_attempts_then_retried(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(customer_mail(7), customer_mail(8))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    triage.classifier = fussy = _Fussy(triage.classifier, "E-1007")

    statuses = []
    for minutes in (0, 2, 7, 40, 120):  # the pauses between attempts grow: 1, 5, 30 minutes
        clock.now += timedelta(minutes=minutes)
        [report] = cycle(config, triage)
        statuses.append([o.status for o in report.outcomes])

    assert statuses == [["retry", "done"], ["retry"], ["quarantined"], [], []]
    stuck = rows(config)[0]
    assert stuck.status == "quarantined" and stuck.attempts == 3 and "chokes" in stuck.error
    inbox = folder_state(mailbox)["INBOX"]
    assert len(inbox) == 1 and {b"\\Flagged", b"deskbot-quarantined"} <= set(next(iter(inbox.values())))

    fussy.broken = False
    [requeued] = triage.store.requeue([stuck.id])
    [report] = cycle(config, triage)

    assert [o.status for o in report.outcomes] == ["done"]
    assert sorted(str(m["To"]) for m in smtp_sink.messages) == ["Customer 7 <customer7@example.org>",
                                                                 "Customer 8 <customer8@example.org>"]
    assert "INBOX" not in {f for f, msgs in folder_state(mailbox).items() if msgs}, "filed after the retry"
    flags = {fl for msgs in folder_state(mailbox).values() for f in msgs.values() for fl in f}
    assert b"deskbot-quarantined" not in flags and b"\\Flagged" not in flags


def test_a_template_typo_made_while_running_does_not_stop_acting(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    """Issue 18: a broken edit must not block the mailbox; the templates checked at start keep serving until a valid
    set replaces them (bot/ops/reload.py, tested live in test_rules_reload.py)."""
    templates = tmp_path / "templates"
    shutil.copytree(shipped_templates_dir(), templates, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    mailbox.append(*(customer_mail(n) for n in range(3)))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache, templates=str(templates))
    triage = build_triage(config, clock=clock)  # the templates are fine at start
    good = (templates / "ack.en.txt.j2").read_text()
    (templates / "ack.en.txt.j2").write_text(good.replace("{{ reference }}", "{{ refrence }}", 1))

    [report] = cycle(config, triage)

    assert not report.failed
    assert len(smtp_sink.messages) == 3 and all(r.status == "done" for r in rows(config))
    assert all(r.reference and r.reference in m.as_string() for r, m in zip(rows(config), smtp_sink.messages))


def test_references_never_repeat_after_a_dry_run_or_a_new_database(
        setup: Config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock) -> None:
    cycle(setup, build_triage(setup, clock=clock, dry_run=True))
    assert all(r.reference is None for r in rows(setup)), "a dry run gives out no reference"
    cycle(setup, build_triage(setup, clock=clock))
    assert sorted(r.reference for r in rows(setup) if not r.dry_run) == ["SUP-000001", "SUP-000002", "SUP-000003"]

    database = Path(setup.database_url().removeprefix("sqlite:///"))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):  # the database is lost
        path.unlink(missing_ok=True)
    mailbox.append(customer_mail(10))
    cycle(setup, build_triage(setup, clock=clock))

    [new] = [r for r in rows(setup) if r.reference]
    assert new.reference == "SUP-000004", "seeded from the references in the Sent folder"


def test_a_new_decision_log_starts_at_the_configured_reference(mailbox: Mailbox, smtp_sink: SmtpSink,
                                                               tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(shipped_rules_path().read_text().replace("reference_start = 1", "reference_start = 5000"))
    mailbox.append(customer_mail(1))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache, rules=str(rules))

    cycle(config, build_triage(config, clock=clock))

    assert [r.reference for r in rows(config)] == ["SUP-005000"]
