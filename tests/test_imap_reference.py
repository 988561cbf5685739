"""The ticket's reference as an IMAP keyword, set in the folder its mail is filed to (connectors/imap_reference.py).

A reference is new to a folder for every ticket, and a server's work for a new keyword grows with the folder's
list: set in the INBOX, every reference ever handled would be defined there. These tests look at a real
Dovecot's folders: where each reference ends up, what the INBOX defines, a crash between the MOVE and the
reference, and a server without UIDPLUS (no COPYUID: the reference goes with the other keywords, as before).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.file import Config
from bot.daemon import build_triage, sources_of
from bot.ops.loopback import SmtpSink
from bot.pipeline import run_source
from bot.rules import load_rules
from connectors import imap
from connectors.imap import ImapSource
from connectors.imap_reference import expand
from tests.conftest import Clock, Mailbox, new_mailbox
from tests.scenario import actions, customer_mail, cycle, folder_state, make_config, one_by_one, rows, set_inflight
from tests.servers import DovecotServer, dovecot_usable

needs_dovecot = pytest.mark.skipif(not dovecot_usable(), reason="the capability list is set in Dovecot's config")

# Dovecot 2.3's own list after login, less UIDPLUS: a server whose MOVE says nothing of the new UIDs.
WITHOUT_UIDPLUS = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT "
                   "CHILDREN NAMESPACE LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN "
                   "CONTEXT=SEARCH LIST-STATUS BINARY MOVE LITERAL+")


@pytest.fixture(scope="module")
def plain_dovecot() -> Iterator[DovecotServer]:
    """A Dovecot that offers MOVE but not UIDPLUS."""
    if not dovecot_usable():
        pytest.skip("the capability list is set in Dovecot's config")
    with DovecotServer(capability=WITHOUT_UIDPLUS) as server:
        yield server


def defined(mailbox: Mailbox, folder: str) -> set[bytes]:
    """The keywords `folder` defines (its FLAGS response, RFC 3501 7.2.6)."""
    client = mailbox.client()
    try:
        return {f for f in client.select_folder(folder, readonly=True)[b"FLAGS"] if not f.startswith(b"\\")}
    finally:
        client.logout()


def where(mailbox: Mailbox) -> dict[str, tuple[str, set[bytes]]]:
    """Message-ID -> (folder, keywords) of every message on the server."""
    return {mid.decode().split(":", 1)[1].strip(): (folder, set(flags))
            for folder, msgs in folder_state(mailbox).items() for mid, flags in msgs.items()}


def run(way: str, config: Config, clock: Clock) -> None:
    """One cycle, batched as `deskbot run` does, or ticket by ticket as the API and webhooks do."""
    triage = build_triage(config, clock=clock)
    if way == "batch":
        [scheduled] = sources_of(config, triage)
        assert not run_source(scheduled.source, triage).error
    else:
        one_by_one(config, triage)


@pytest.mark.parametrize("way", ["batch", "one-by-one"])
def test_each_reference_is_set_in_the_folder_its_mail_went_to_and_the_inbox_defines_none(
        way: str, mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(*(customer_mail(n) for n in range(5)))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)

    run(way, config, clock)

    found, tickets = where(mailbox), rows(config)
    assert len(tickets) == 5 and all(t.reference for t in tickets)
    for ticket in tickets:
        folder, keywords = found[ticket.message_id]
        assert folder != "INBOX" and ticket.reference.encode() in keywords, (ticket.reference, folder, keywords)
        assert b"deskbot-processed" in keywords and any(k.startswith(b"deskbot-dept-") for k in keywords)
        assert f"keyword {ticket.reference} there" in actions(config, ticket.id)["file"].detail
        assert ticket.reference.encode() in defined(mailbox, folder)
    assert not [k for k in defined(mailbox, "INBOX") if k.startswith(b"SUP-")], "no reference defined in INBOX"


def test_a_crash_between_the_move_and_the_reference_is_finished_by_the_restart(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(*(customer_mail(n) for n in range(2)))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    cycle(config, triage)
    first = rows(config)[0]
    folder, _ = where(mailbox)[first.message_id]
    client = mailbox.client()  # the state a kill right after the MOVE leaves: filed, without its reference
    client.select_folder(folder)
    client.remove_flags(client.search(["KEYWORD", first.reference]), [first.reference.encode()])
    client.logout()
    set_inflight(config, first.id, "file")
    sent = len(smtp_sink.messages)

    [report] = cycle(config, triage)

    assert [o.status for o in report.outcomes] == ["done"]
    assert where(mailbox)[first.message_id][0] == folder, "not moved again"
    assert first.reference.encode() in where(mailbox)[first.message_id][1], "the restart set the reference"
    assert actions(config, first.id)["file"].detail == "found done on the server after an interruption"
    assert len(smtp_sink.messages) == sent


@pytest.mark.parametrize("way", ["batch", "one-by-one"])
def test_without_uidplus_the_reference_goes_with_the_other_keywords_and_travels_with_the_move(
        way: str, plain_dovecot: DovecotServer, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path,
        clock: Clock) -> None:
    mailbox = new_mailbox(plain_dovecot)
    mailbox.append(*(customer_mail(n) for n in range(3)))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)

    run(way, config, clock)

    found = where(mailbox)
    for ticket in rows(config):
        folder, keywords = found[ticket.message_id]
        assert folder != "INBOX" and ticket.reference.encode() in keywords
        assert ticket.reference in actions(config, ticket.id)["write_back"].detail
    assert len([k for k in defined(mailbox, "INBOX") if k.startswith(b"SUP-")]) == 3


def test_check_warns_of_an_inbox_that_references_make_slow_only_where_they_are_set_there(
        plain_dovecot: DovecotServer, imap_server: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "MANY_KEYWORDS", 5)  # a real folder needs a thousand; six make the point here
    rules = load_rules()
    for server, warned in ((plain_dovecot, True), (imap_server, False)):
        mailbox = new_mailbox(server)  # type: ignore[arg-type]
        mailbox.append(customer_mail(1))
        client = mailbox.client()
        client.select_folder("INBOX")
        client.add_flags(client.search(["ALL"]), [f"SUP-{n:06d}".encode() for n in range(6)])
        client.logout()
        said = ImapSource(mailbox.config, rules=rules).check()
        warning = "keywords defined in INBOX, and each ticket's reference adds one: reference_keyword = false"
        assert (warning in said) == warned, said
        quiet = mailbox.config.model_copy(update={"reference_keyword": False})
        assert "keywords defined" not in ImapSource(quiet, rules=rules).check()


def test_check_warns_of_a_department_folder_whose_references_made_it_slow(
        mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "MANY_KEYWORDS", 5)
    rules = load_rules()
    billing = rules.departments["billing"].folder
    mailbox.append(customer_mail(1), folder="INBOX")
    client = mailbox.client()
    client.create_folder(billing)
    client.append(billing, customer_mail(2))
    client.select_folder(billing)
    client.add_flags(client.search(["ALL"]), [f"SUP-{n:06d}".encode() for n in range(6)])
    client.logout()

    said = ImapSource(mailbox.config, rules=rules).check()

    assert f"6 keywords defined in {billing}, and each ticket's reference filed there adds one" in said, said
    assert "keywords defined in INBOX" not in said and "INBOX has 1 messages" in said
    quiet = mailbox.config.model_copy(update={"reference_keyword": False})
    assert "keywords defined" not in ImapSource(quiet, rules=rules).check()


@pytest.mark.parametrize(("text", "uids"), [("5", [5]), ("7,3:5", [7, 3, 4, 5]), ("9:7", [9, 8, 7]),
                                            ("1:2,10", [1, 2, 10])])
def test_a_copyuid_set_keeps_its_order(text: str, uids: list[int]) -> None:
    assert expand(text) == uids  # RFC 4315 3: the n-th source UID became the n-th destination UID
