"""Which mail must never get an acknowledgement (automated, spam, thanks only), and the reason logged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.ack.loops import (
    AUTOMATED,
    SPAM,
    NoAck,
    SpamThresholds,
    auto_reply_reason,
    automated_reason,
    is_thanks_only,
    no_ack_reason,
)
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


# --- no_ack_reason(): categories, every marker the issue lists, spam verdicts ---------------------------------

OWN = frozenset({"support@deskbot.test"})


def no_ack(ticket: Ticket, **options) -> NoAck | None:
    """no_ack_reason with our address and Message-ID domain, as the pipeline passes them."""
    return no_ack_reason(ticket, own_addresses=OWN, own_message_id_domain="ack.deskbot.test", **options)


@pytest.mark.parametrize(("extra", "fragment"), [
    ([("X-Loop", "support@customer.example")], "X-Loop"),
    ([("X-Autoresponder", "vacation")], "X-Autoresponder"),
    ([("X-MS-Exchange-Inbox-Rules-Loop", "anna@example.com")], "X-MS-Exchange-Inbox-Rules-Loop"),
    ([("Precedence", "auto_reply")], "Precedence: auto_reply"),
    ([("X-Precedence", "bulk")], "Precedence: bulk"),
    ([("List-Post", "<mailto:dev@lists.example.org>")], "List-Post"),
    ([("List-Help", "<mailto:dev-request@lists.example.org?subject=help>")], "List-Help"),
    ([("Mailing-List", "list dev@lists.example.org; contact dev-owner@lists.example.org")], "Mailing-List"),
    ([("Return-Path", "<<>>")], "empty Return-Path"),
], ids=["x-loop", "x-autoresponder", "exchange-rules-loop", "precedence-auto-reply", "x-precedence", "list-post",
        "list-help", "mailing-list", "double-bracket-return-path"])
def test_more_automated_headers(extra: list[tuple[str, str]], fragment: str) -> None:
    assert no_ack(with_headers(extra)) == NoAck(AUTOMATED, no_ack(with_headers(extra)).reason)  # type: ignore[union-attr]
    assert fragment.lower() in no_ack(with_headers(extra)).reason.lower()  # type: ignore[union-attr]


@pytest.mark.parametrize(("types", "subject", "fragment"), [
    (("multipart/report;report-type=delivery-status", "text/plain", "message/delivery-status", "message/rfc822",
      ">text/plain"), "Undelivered Mail Returned to Sender", "delivery report"),
    (("multipart/report;report-type=disposition-notification", "text/plain", "message/disposition-notification"),
     "Read: Invoice", "read receipt"),
    (("multipart/report;report-type=feedback-report", "text/plain", "message/feedback-report", "message/rfc822",
      ">text/plain"), "Abuse report", "ARF"),
    # a gateway wrapped the report in multipart/mixed (a disclaimer, a scan notice): still a report
    (("multipart/mixed", "text/plain", "multipart/report;report-type=delivery-status", "text/plain",
      "message/delivery-status"), "Warning", "delivery report"),
    # a feedback loop forwarding the ARF report as an attached message
    (("multipart/mixed", "text/plain", "message/rfc822", ">multipart/report;report-type=feedback-report",
      ">text/plain", ">message/feedback-report"), "Complaint about your mail", "ARF"),
    (("multipart/mixed", "text/plain", "message/feedback-report"), "Complaint", "ARF"),
])
def test_reports_at_any_depth_are_automated(types: tuple[str, ...], subject: str, fragment: str) -> None:
    result = no_ack(replace(CUSTOMER, content_types=types, subject=subject))
    assert result is not None and result.category == AUTOMATED
    assert fragment in result.reason


@pytest.mark.parametrize(("types", "subject"), [
    (("multipart/mixed", "text/plain", "message/rfc822", ">multipart/report;report-type=delivery-status",
      ">text/plain", ">message/delivery-status", ">message/rfc822", ">>text/plain"), "Fwd: Returned mail"),
    (("multipart/mixed", "text/plain", "message/rfc822", ">multipart/report;report-type=delivery-status"),
     "Why did my mail bounce?"),
    (("multipart/mixed", "text/plain", "message/rfc822", ">multipart/report;report-type=feedback-report"),
     "Fwd: abuse complaint we got"),
    (("multipart/mixed", "text/plain", "message/delivery-status"), "WG: Unzustellbar"),  # Apple Mail flattens
])
def test_a_person_forwarding_a_report_is_answered(types: tuple[str, ...], subject: str) -> None:
    assert no_ack(replace(CUSTOMER, content_types=types, subject=subject)) is None


@pytest.mark.parametrize("sender", [
    "post_master@sms.example.net", "post.master@example.com", "dev-request@lists.example.org",
    "dev-owner@lists.example.org", "owner-dev@lists.example.org", "dev-admin@lists.example.org",
    "dev-bounces+anna=example.com@lists.example.org", "listserv@lists.example.edu", "majordomo@example.org",
    "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example", "no_reply@example.com",
    "noreply+billing@example.com", "gmail-noreply@google.example", "calendar_noreply@example.com",
])
def test_robots_and_list_managers(sender: str) -> None:
    assert no_ack(replace(CUSTOMER, sender=sender)) == NoAck(AUTOMATED, f"automated sender address ({sender})")


def test_local_sender_without_domain() -> None:
    assert no_ack(replace(CUSTOMER, sender="root")).reason == "local system sender without a domain (root)"  # type: ignore[union-attr]


@pytest.mark.parametrize("subject", ["Loop Alert: message to dev@lists.example.org", "You are not member of list dev",
                                     "failure notice", "Réponse automatique : absent", "Respuesta automática: Re: hola",
                                     "Unzustellbar: Rechnung", "complaint about message from 192.0.2.222"])
def test_list_manager_errors_and_foreign_auto_subjects(subject: str) -> None:
    assert no_ack(replace(CUSTOMER, subject=subject)).category == AUTOMATED  # type: ignore[union-attr]


def test_our_own_mail_coming_back() -> None:
    ours = replace(CUSTOMER, message_id="<1779.42.77@ack.deskbot.test>")
    assert no_ack(ours).reason == "our own message came back (Message-ID <1779.42.77@ack.deskbot.test>)"  # type: ignore[union-attr]
    sent_for_us = with_headers([("Sender", "support@deskbot.test")])
    assert no_ack(sent_for_us).reason == "mail from our own address (would loop)"  # type: ignore[union-attr]
    # a customer's reply to our acknowledgement is a person's mail: threading links it, loops do not drop it
    reply = replace(CUSTOMER, references=("<1779.42.77@ack.deskbot.test>",), subject="Re: [SUP-000042] We received")
    assert no_ack(reply) is None


def test_our_own_group_address_is_no_mailing_list() -> None:
    via_group = with_headers([("List-Id", "<support.deskbot.test>"), ("Precedence", "list"),
                              ("Mailing-List", "list support@deskbot.test")])
    assert no_ack(via_group) is None
    assert no_ack(with_headers([("List-Id", "<news.example.org>")])).category == AUTOMATED  # type: ignore[union-attr]


SPAM_CASES = [
    ([("X-Spam-Flag", "YES")], "X-Spam-Flag: YES"),
    ([("X-Spam-Status", "Yes, score=7.9 required=5.0 tests=BAYES_99,HTML_MESSAGE autolearn=no")], "X-Spam-Status: Yes"),
    ([("X-Spam", "Yes")], "X-Spam: yes"),
    ([("X-Spam-Action", "add header")], "X-Spam-Action: add header"),
    ([("Deliver-To", "Junk")], "Deliver-To: Junk"),
    ([("X-Rspamd-Action", "rewrite_subject")], "X-Rspamd-Action: rewrite subject"),
    ([("X-Spamd-Result", "default: True [16.20 / 15.00]; BAYES_SPAM(5.10)[99.9%]")], "default: True"),
    ([("X-MS-Exchange-Organization-SCL", "5")], "X-MS-Exchange-Organization-SCL 5 >= 5"),
    ([("X-Forefront-Antispam-Report", "CIP:203.0.113.9;CTRY:;LANG:en;SCL:9;SRV:;IPV:NLI;SFV:SPM;H:mx;PTR:;CAT:SPM;")],
     "SCL 9 >= 5"),
    ([("X-Forefront-Antispam-Report", "CIP:203.0.113.9;CTRY:;SCL:1;SRV:;SFV:SKS;H:mx;")], "SFV:SKS"),
]


@pytest.mark.parametrize(("extra", "fragment"), SPAM_CASES, ids=[c[1] for c in SPAM_CASES])
def test_spam_verdicts(extra: list[tuple[str, str]], fragment: str) -> None:
    result = no_ack(with_headers(extra))
    assert result is not None and result.category == SPAM
    assert fragment in result.reason and result.reason.startswith("spam verdict of the receiving server")


@pytest.mark.parametrize("extra", [
    [("X-Spam-Flag", "NO"), ("X-Spam-Status", "No, score=1.2 required=5.0")],
    [("X-Spam-Action", "no action"), ("X-Spamd-Result", "default: False [2.10 / 15.00]")],
    [("X-Spam-Action", "greylist")],
    [("X-MS-Exchange-Organization-SCL", "-1")],
    [("X-MS-Exchange-Organization-SCL", "4")],
    [("X-Forefront-Antispam-Report", "CIP:198.51.100.7;CTRY:DE;LANG:de;SCL:1;SRV:;IPV:NLI;SFV:NSPM;H:mx;")],
    [("X-Spam-Flag", "NO"), ("X-Spam-Flag", "YES")],  # only the topmost header is our server's
], ids=["sa-no", "rspamd-no-action", "greylist", "scl-trusted", "scl-4", "forefront-clean", "forged-lower-header"])
def test_clean_verdicts(extra: list[tuple[str, str]]) -> None:
    assert no_ack(with_headers(extra)) is None


def test_spam_thresholds_are_configurable() -> None:
    scl6 = with_headers([("X-MS-Exchange-Organization-SCL", "6")])
    assert no_ack(scl6, spam=SpamThresholds(scl=7)) is None
    assert no_ack(scl6).category == SPAM  # type: ignore[union-attr]
    assert no_ack(with_headers([("X-Spam-Flag", "YES")]), spam=SpamThresholds(enabled=False)) is None
    status = with_headers([("X-Spam-Status", "No, score=4.2 required=5.0")])
    assert no_ack(status) is None
    assert "score 4.2 >= 4" in no_ack(status, spam=SpamThresholds(spamassassin_score=4)).reason  # type: ignore[union-attr]
    rspamd = with_headers([("X-Spamd-Result", "default: False [8.50 / 15.00]")])
    assert no_ack(rspamd) is None
    assert no_ack(rspamd, spam=SpamThresholds(rspamd_score=6)).category == SPAM  # type: ignore[union-attr]
    assert no_ack(with_headers([("X-Rspamd-Score", "12.3")]), spam=SpamThresholds(rspamd_score=6)) is not None
    soft = with_headers([("X-Spam-Action", "soft reject")])
    assert no_ack(soft) is None
    assert no_ack(soft, spam=SpamThresholds(rspamd_actions=frozenset({"soft reject"}))) is not None


def test_automated_wins_over_spam() -> None:
    both = with_headers([("Auto-Submitted", "auto-replied"), ("X-Spam-Flag", "YES")])
    assert no_ack(both).category == AUTOMATED  # type: ignore[union-attr]


def test_auto_reply_reason_is_the_automated_part() -> None:
    assert auto_reply_reason(with_headers([("X-Spam-Flag", "YES")])) is None
    assert auto_reply_reason(with_headers([("X-Loop", "x")])) == automated_reason(with_headers([("X-Loop", "x")]))


# --- is_thanks_only() -----------------------------------------------------------------------------------------

THANKS = [
    ("Thank you!", True), ("Thanks a lot, it works now!\n\nBest,\nAnna", True),
    ("Hi Sarah,\n\nthank you so much, that solved it!\n\nKind regards,\nAnna Lee\nHead of Operations | Acme GmbH", True),
    ("Thanks!\n\nAnna Lee\nAcme GmbH\nPhone +49 30 1234567", True),
    ("Danke!", True), ("Vielen herzlichen Dank für die schnelle Hilfe!\n\nViele Grüße\nLukas", True),
    ("Sehr geehrte Frau Weber,\nvielen Dank, jetzt klappt alles wieder.\nMit freundlichen Grüßen\nJörg Müller", True),
    ("¡Gracias!", True), ("Muchas gracias por su ayuda.\n\nUn saludo,\nMaría", True),
    ("Merci beaucoup", True), ("Bonjour,\nmerci pour votre réponse rapide.\nCordialement,\nPierre", True),
    ("Obrigado", True), ("Muito obrigada pela ajuda!\n\nAtenciosamente,\nAna Souza", True),
    ("Thanks\n\nSent from my iPhone", True), ("Thank you 🙏", True), ("Thanks for the info, got it.", True),
    ("Je vous remercie pour l'information.", True), ("Valeu!", True), ("Danke für die Infos!", True),
    ("Thanks, got an error again", False),
    ("Thanks, but it still fails after the update.", False), ("Thank you. When will the refund arrive?", False),
    ("Thanks for the quick reply, I have a problem with the export too", False),
    ("Thanks,\nthe export still fails", False), ("Please cancel my order. Thanks!", False),
    ("Danke, aber es geht immer noch nicht.", False), ("Gracias, pero sigue sin funcionar", False),
    ("Merci, mais ça ne marche toujours pas.", False), ("Obrigada pela ajuda, mas ainda não funciona.", False),
    ("Hi, my invoice is wrong.", False), ("", False),
]


@pytest.mark.parametrize(("text", "expected"), THANKS)
def test_thanks_only(text: str, expected: bool) -> None:
    reply = replace(CUSTOMER, subject="Re: [SUP-000042] We received your request", text=text, body=text,
                    references=("<ack.42@deskbot.test>",))
    assert is_thanks_only(reply) is expected


def test_new_mail_says_thanks_only_when_its_subject_does_too() -> None:
    assert is_thanks_only(replace(CUSTOMER, subject="Thank you!", text="Thanks again", body="Thanks again"))
    assert not is_thanks_only(replace(CUSTOMER, subject="Cancel order 55821", text="Thanks", body="Thanks"))
