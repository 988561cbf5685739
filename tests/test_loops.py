"""auto_reply_reason(): which mail must never get an automatic answer, and the reason logged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.loops import auto_reply_reason
from bot.models import Ticket

CUSTOMER = Ticket(
    source="imap:support", key="<c1@example.com>", ref="1", sender="anna@example.com", sender_name="Anna",
    subject="Cannot log in since this morning", body="Hi, the login page says my password is wrong.",
    text="Hi, the login page says my password is wrong.", language="en",
    headers=(("From", "Anna <anna@example.com>"), ("To", "support@deskbot.test"),
             ("Subject", "Cannot log in since this morning"), ("Content-Type", "text/plain; charset=utf-8"),
             ("Return-Path", "<anna@example.com>"), ("Auto-Submitted", "no")),
)

HEADER_CASES = [
    # (id, extra headers, fragment of the reason)
    ("auto-replied", [("Auto-Submitted", "auto-replied")], "Auto-Submitted: auto-replied"),
    ("auto-generated", [("Auto-Submitted", "auto-generated")], "Auto-Submitted: auto-generated"),
    ("auto-notified with params", [("auto-submitted", "Auto-Notified; owner-email=x@example.com")], "auto-notified"),
    ("X-Autoreply", [("X-Autoreply", "yes")], "X-Autoreply header"),
    ("X-Autorespond", [("X-Autorespond", "Urlaub")], "X-Autorespond header"),
    ("suppress OOF", [("X-Auto-Response-Suppress", "OOF")], "X-Auto-Response-Suppress: oof"),
    ("suppress All", [("X-Auto-Response-Suppress", "All")], "X-Auto-Response-Suppress: all"),
    ("suppress list", [("X-Auto-Response-Suppress", "DR, OOF, AutoReply")], "X-Auto-Response-Suppress"),
    ("precedence bulk", [("Precedence", "bulk")], "Precedence: bulk"),
    ("precedence list", [("Precedence", "List")], "Precedence: list"),
    ("precedence junk", [("Precedence", " junk ")], "Precedence: junk"),
    ("List-Id", [("List-Id", "Product news <news.example.com>")], "List-Id header"),
    ("List-Unsubscribe", [("List-Unsubscribe", "<mailto:unsub@example.com>")], "List-Unsubscribe header"),
    ("delivery report", [("Content-Type", 'multipart/report; report-type=delivery-status; boundary="b"')],
     "multipart/report"),
    ("read receipt", [("Content-Type", "Multipart/Report; report-type=disposition-notification")], "multipart/report"),
    ("empty Return-Path", [("Return-Path", "<>")], "empty Return-Path"),
]


def with_headers(extra: list[tuple[str, str]]) -> Ticket:
    """The customer mail with `extra` headers placed before the ordinary ones (first value wins)."""
    return replace(CUSTOMER, headers=tuple(extra) + CUSTOMER.headers)


@pytest.mark.parametrize(("extra", "fragment"), [c[1:] for c in HEADER_CASES], ids=[c[0] for c in HEADER_CASES])
def test_header_marks_automatic_mail(extra: list[tuple[str, str]], fragment: str) -> None:
    reason = auto_reply_reason(with_headers(extra))
    assert reason is not None
    assert fragment.lower() in reason.lower()


@pytest.mark.parametrize("extra", [
    [],
    [("Auto-Submitted", "no")],
    [("Auto-Submitted", "No (human)")],
    [("X-Auto-Response-Suppress", "DR, RN, NRN")],  # only delivery and read receipts suppressed
    [("Precedence", "first-class")],
    [("Content-Type", 'multipart/mixed; boundary="x"')],
    [("Return-Path", "<anna@example.com>")],
], ids=["plain", "auto-submitted-no", "auto-submitted-no-comment", "suppress-receipts", "precedence-other",
        "multipart-mixed", "return-path"])
def test_customer_mail_may_be_answered(extra: list[tuple[str, str]]) -> None:
    assert auto_reply_reason(with_headers(extra)) is None


@pytest.mark.parametrize("sender", [
    "MAILER-DAEMON@mx.example.com", "mailer-daemon@example.com", "postmaster@example.com", "noreply@shop.example.com",
    "no-reply@example.com", "do-not-reply@example.com", "donotreply@example.com", "bounce@lists.example.com",
    "bounces@example.com", "noreply-billing@example.com",
])
def test_automated_sender_addresses(sender: str) -> None:
    reason = auto_reply_reason(replace(CUSTOMER, sender=sender.lower()))
    assert reason == f"automated sender address ({sender.lower()})"


@pytest.mark.parametrize("sender", ["noreen@example.com", "replyall@example.com", "daemon.fan@example.com",
                                    "anna.noreply@example.com"])
def test_people_with_similar_addresses_are_answered(sender: str) -> None:
    assert auto_reply_reason(replace(CUSTOMER, sender=sender)) is None


@pytest.mark.parametrize("subject", [
    "Automatic reply: Your order 1234", "Auto-Reply: Ticket received", "Autoreply: out until Monday",
    "Out of Office: back on 23 November", "Out of the office", "OUT OF OFFICE", "Abwesenheitsnotiz: Ihre Anfrage",
    "Abwesenheitnotiz", "Automatische Antwort: Rechnung", "Undeliverable: Your invoice",
    "Undelivered Mail Returned to Sender", "Delivery Status Notification (Failure)",
    "Mail delivery failed: returning message to sender", "Returned mail: see transcript for details",
    "  Automatic reply: leading spaces",
])
def test_automatic_subjects(subject: str) -> None:
    assert auto_reply_reason(replace(CUSTOMER, subject=subject)) == "subject of an automatic reply or bounce"


@pytest.mark.parametrize("subject", [
    "Re: Cannot log in", "My automatic replies stopped working", "Question about delivery status",
    "Please reply to my last message", "Outlook shows me offline", "Automation question",
    "Out of office hours support?", "Returned mail never arrived at the warehouse",
])
def test_ordinary_subjects(subject: str) -> None:
    assert auto_reply_reason(replace(CUSTOMER, subject=subject)) is None


def test_own_address_would_loop() -> None:
    own = frozenset({"support@deskbot.test", "help@deskbot.test"})
    ticket = replace(CUSTOMER, sender="help@deskbot.test")
    assert auto_reply_reason(ticket, own_addresses=own) == "mail from our own address (would loop)"
    assert auto_reply_reason(CUSTOMER, own_addresses=own) is None


def test_no_sender_address() -> None:
    assert auto_reply_reason(replace(CUSTOMER, sender="")) == "no sender address to answer"


def test_header_names_are_case_insensitive() -> None:
    assert auto_reply_reason(with_headers([("LIST-ID", "<x.example.com>")])) == "mailing-list mail (List-Id header)"
