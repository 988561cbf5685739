"""Corrections from a real IMAP server: mail agents moved out of the department folder deskbot filed it in,
deskbot's keywords they changed, and mail they answered (a confirmation)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.daemon import build_triage
from bot.learning.corrections import corrections_since
from bot.log.schema import TicketLog
from bot.ops.loopback import SmtpSink
from connectors.imap_session import keyword
from tests.conftest import Clock, Mailbox
from tests.scenario import customer_mail, cycle, make_config, rows


def agent(mailbox: Mailbox, folder: str, message_id: str, do: Callable[[Any, int], object]) -> None:
    """What an agent's mail client does to one message."""
    client = mailbox.client()
    try:
        client.select_folder(folder)
        [uid] = client.search(["HEADER", "Message-ID", message_id])
        do(client, uid)
    finally:
        client.logout()


def test_moves_keyword_changes_and_answers_become_corrections_and_confirmations(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(*(customer_mail(n) for n in range(6)))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    filed = [r for r in rows(config) if r.folder and r.folder != triage.rules.triage.review_folder][:3]
    assert len(filed) == 3, "three mails filed in department folders"
    moved, rekeyed, answered = filed
    other = next(d for d in ("sales", "orders") if d != moved.department)
    target = triage.rules.departments[other].folder
    agent(mailbox, moved.folder, moved.message_id, lambda c, uid: c.move([uid], target))  # dragged to another folder
    priority = "urgent" if rekeyed.priority != "urgent" else "low"
    agent(mailbox, rekeyed.folder, rekeyed.message_id, lambda c, uid: (
        c.remove_flags([uid], [keyword("prio", rekeyed.priority).encode()]),
        c.add_flags([uid], [keyword("prio", priority).encode()])))
    agent(mailbox, answered.folder, answered.message_id, lambda c, uid: c.add_flags([uid], [b"\\Answered"]))

    cycle(config, triage)
    cycle(config, triage)  # seen again: nothing new

    found = sorted((t.id, c.kind, c.channel, c.team_department, c.team_priority)
                   for c, t in corrections_since(triage.store, None))
    assert found == sorted([
        (moved.id, "correction", "imap-folder", other, moved.priority),
        (rekeyed.id, "correction", "imap-keyword", rekeyed.department, priority),
        (answered.id, "confirmation", "imap-keyword", answered.department, answered.priority),
    ])


def test_mail_left_where_deskbot_filed_it_teaches_nothing(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(customer_mail(1), customer_mail(2))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    cycle(config, triage)
    assert corrections_since(triage.store, None) == []
    assert all(isinstance(r, TicketLog) and r.status == "done" for r in rows(config))
