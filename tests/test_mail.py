"""parse_mail() over realistic .eml fixtures: bodies, quotes, charsets, identities, unreadable mail."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.errors import BadInputError
from connectors.mail import mail_key, parse_mail, raw_key

MAIL = Path(__file__).parent / "fixtures" / "mail"


def parse(name: str, **options):
    """Parse one fixture file."""
    return parse_mail((MAIL / name).read_bytes(), source="imap:support", ref="17", **options)


# (fixture, sender, sender_name, subject, language)
HEADERS = [
    ("multipart-alternative.eml", "j.miller@example.org", "Jane Miller", "Export to CSV stops at 1000 rows", "en"),
    ("html-only.eml", "marco@shop.example.com", "Marco Rossi", "Order 55821 arrived damaged", "en"),
    ("qp-german.eml", "joerg.mueller@beispiel.de", "Jörg Müller", "Rechnung für März doppelt abgebucht", "de"),
    ("reply-en.eml", "anna.lee@example.com", "Anna Lee", "Re: [SUP-000042] Password reset link expired", "en"),
    ("reply-de.eml", "lukas.weber@firma.example", "Lukas Weber", "AW: Synchronisation hängt", "de"),
    ("signature.eml", "priya@example.net", "Priya Natarajan", "Add three more users to our plan", "en"),
    ("no-message-id.eml", "old-client@example.com", "", "Where is my refund?", "en"),
]


@pytest.mark.parametrize(("name", "sender", "sender_name", "subject", "language"), HEADERS)
def test_sender_subject_language(name: str, sender: str, sender_name: str, subject: str, language: str) -> None:
    ticket = parse(name)
    got = (ticket.sender, ticket.sender_name, ticket.subject, ticket.language)
    assert got == (sender, sender_name, subject, language)
    assert (ticket.source, ticket.ref) == ("imap:support", "17")


# (fixture, in .text, not in .text, in .body)
BODIES = [
    ("multipart-alternative.eml", "stops after 1000\nrows", "HTML VERSION", "customer list to CSV"),
    ("html-only.eml", "glass of the lamp is broken", "<", "Desk lamp"),
    ("qp-german.eml", "von meinem Konto abgebucht. Bitte erstatten Sie mir", "=C3", "so schnell wie möglich"),
    ("reply-en.eml", "The new link worked", "expired password reset link", "> we received your request"),
    ("reply-en.eml", "I can log in again", "wrote:", "On Tue, 17 Nov 2026 at 16:02, Support"),
    ("reply-de.eml", "Neustart der App", "Guten Tag Herr Weber", "> wir haben Ihre Anfrage"),
    ("reply-de.eml", "42 Prozent", "schrieb Support", "Am 17.11.2026 um 16:10 schrieb"),
    ("signature.eml", "three more user seats", "Head of Operations", "-- \nPriya Natarajan"),
]


@pytest.mark.parametrize(("name", "in_text", "not_in_text", "in_body"), BODIES)
def test_text_and_body(name: str, in_text: str, not_in_text: str, in_body: str) -> None:
    ticket = parse(name)
    assert in_text in ticket.text
    assert not_in_text not in ticket.text
    assert in_body in ticket.body
    assert in_text in ticket.body  # the new part is in both


def test_html_only_mail_is_readable_text() -> None:
    ticket = parse("html-only.eml")
    assert ticket.body.startswith("Dear support team,")
    for markup in ("<p>", "<b>", "</", "color: #333", "ignored"):  # tags, the style sheet, the <title>
        assert markup not in ticket.body


def test_quoted_printable_decodes_soft_line_breaks() -> None:
    body = parse("qp-german.eml").body
    assert "Konto abgebucht" in body  # the soft break "Konto=\n abgebucht" is joined
    assert "Grüßen" in body and "=\n" not in body


def test_unknown_charset_is_read_as_the_likeliest_charset() -> None:
    ticket = parse("unknown-charset.eml")
    assert ticket.subject == "Strange characters in my invoice"
    assert "Please fix the name on the invoice." in ticket.text
    assert "shows éèÿ instead" in ticket.body  # x-unknown 8-bit text: windows-1252, the commonest


def test_message_id_is_kept_and_the_key_is_a_content_digest() -> None:
    ticket = parse("multipart-alternative.eml")
    assert ticket.message_id == "<CAF1x9y=export.1000@mail.example.org>"
    assert ticket.key.startswith("mail:") and len(ticket.key) == len("mail:") + 64


def _delivered(data: bytes, *headers: bytes) -> bytes:
    """`data` as another mailbox's server stores it: its own delivery headers on top, CRLF line ends."""
    return b"".join(h + b"\r\n" for h in headers) + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize("name", ["multipart-alternative.eml", "no-message-id.eml", "attachment-only.eml"])
def test_same_mail_in_two_mailboxes_has_one_key(name: str) -> None:
    data = (MAIL / name).read_bytes()
    sales = _delivered(data, b"Return-Path: <bounce+x@example.org>", b"Delivered-To: sales@deskbot.test",
                       b"X-Original-To: sales@deskbot.test", b"Received: from mx1 by imap2; Wed, 18 Nov 2026")
    support = _delivered(data, b"Delivered-To: support@deskbot.test", b"Received: from mx2 by imap1; Thu, 19 Nov")
    assert parse_mail(sales, source="imap:sales", ref="1").key == parse_mail(support, source="s", ref="9").key


@pytest.mark.parametrize(("old", "new"), [
    (b"Where is my refund?", b"Where is my invoice?"),
    (b"Subject: Where is my refund?", b"Subject: Refund again"),
    (b"old-client@example.com", b"other-client@example.com"),
    (b"Date: Wed, 18 Nov 2026 07:00:00 +0000", b"Date: Wed, 18 Nov 2026 07:00:01 +0000"),
], ids=["body", "subject", "sender", "date"])
def test_different_mails_sharing_a_message_id_have_different_keys(old: bytes, new: bytes) -> None:
    data = b"Message-ID: <same@example.com>\r\n" + (MAIL / "no-message-id.eml").read_bytes()
    assert old in data
    changed = data.replace(old, new)
    first, second = parse_mail(data, source="s", ref="1"), parse_mail(changed, source="s", ref="2")
    assert first.message_id == second.message_id == "<same@example.com>"
    assert first.key != second.key


def test_mail_key_is_message_id_plus_content() -> None:
    parts = {"message_id": "<a@b>", "sender": "anna@example.com", "date": "Mon, 16 Nov 2026 09:00:00 +0100",
             "subject": "Refund", "body": "Where is my refund?"}
    assert mail_key(**parts) == mail_key(**{**parts, "body": "Where is\n  my refund?  "})  # rewrapped by a relay
    for field in parts:
        assert mail_key(**parts) != mail_key(**{**parts, field: parts[field] + "x"}), field


def test_missing_message_id_keys_by_content() -> None:
    data = (MAIL / "no-message-id.eml").read_bytes()
    ticket = parse("no-message-id.eml")
    assert ticket.message_id == ""
    assert ticket.key == mail_key(message_id="", sender="old-client@example.com", date=ticket.header("Date"),
                                  subject="Where is my refund?", body=ticket.body)
    assert parse_mail(data + b"\nP.S. one more line\n", source="s", ref="1").key != ticket.key


def test_references_and_in_reply_to_are_collected_once() -> None:
    assert parse("reply-en.eml").references == ("<first.1.anna@example.com>", "<ack.42@deskbot.test>")
    assert parse("reply-de.eml").references == ("<ack.77@deskbot.test>",)
    assert parse("signature.eml").references == ()


def test_headers_are_kept_for_loop_detection() -> None:
    ticket = parse("reply-en.eml")
    assert ticket.header("in-reply-to") == "<ack.42@deskbot.test>"
    assert ticket.header("Content-Type").startswith("text/plain")


def test_received_at_is_passed_through() -> None:
    when = datetime(2026, 11, 18, 11, 5, tzinfo=timezone.utc)
    assert parse("reply-en.eml", received_at=when).received_at == when
    assert parse("reply-en.eml").received_at is None


def test_attachment_only_mail_with_subject_is_a_ticket() -> None:
    ticket = parse("attachment-only.eml")
    assert ticket.subject == "Signed contract"
    assert ticket.body == "" and ticket.text == ""
    assert ticket.message_id == "<scan.7@example.com>"


def test_display_name_with_comma() -> None:
    data = b'From: "Miller, Jane" <Jane@Example.org>\nSubject: Hi\n\nMy invoice is wrong.\n'
    ticket = parse_mail(data, source="s", ref="1")
    assert (ticket.sender, ticket.sender_name) == ("jane@example.org", "Miller, Jane")


@pytest.mark.parametrize(("data", "message"), [
    ((MAIL / "no-from.eml").read_bytes(), "no From header"),
    (b"From: undisclosed-recipients:;\nSubject: Hi\n\nbody\n", "no usable address"),
    (b"", "empty message"),
    (b"  \r\n\r\n", "empty message"),
    (b"\x89PNG\r\n\x1a\n this is not a mail at all \xff\xfe", "no mail headers"),
    (bytes(range(256)) * 4, "no mail headers"),
    (b"From: a@example.com\nSubject: \n\n   \n", "neither a subject nor a readable text body"),
], ids=["no-from", "from-without-address", "empty", "blank", "png-bytes", "binary", "nothing-to-read"])
def test_unreadable_mail_is_bad_input(data: bytes, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_mail(data, source="imap:support", ref="17")


def test_broken_message_id_is_no_message_id() -> None:
    data = b"From: anna@example.com\nSubject: Refund\nMessage-ID: <>\n\nWhere is my refund?\n"
    ticket = parse_mail(data, source="s", ref="1")
    assert ticket.message_id == ""
    assert ticket.key == parse_mail(data.replace(b"Message-ID: <>\n", b""), source="s", ref="1").key


def test_raw_key_names_unparseable_bytes() -> None:
    assert raw_key(b"\x89PNG") == "sha256:" + hashlib.sha256(b"\x89PNG").hexdigest()


def test_the_reply_reader_splits_as_the_library_does() -> None:
    """Its regexes are built once instead of for every mail: the replies, headers, signatures and disclaimers
    must be the library's own, mail by mail."""
    from mailparser_reply import EmailReplyParser

    from connectors.mail import _REPLY_LANGUAGES, _reply_parser, read_mail

    library = EmailReplyParser(languages=list(_REPLY_LANGUAGES))
    bodies = []
    for path in sorted(MAIL.glob("*.eml")):
        try:
            bodies.append(read_mail(path.read_bytes()).body)
        except BadInputError:
            continue  # the unreadable fixtures
    assert len(bodies) >= 8
    split = [[(r.content, r.headers, r.signatures, r.disclaimers) for r in reader.read(body).replies]
             for reader in (library, _reply_parser) for body in bodies]
    assert split[:len(bodies)] == split[len(bodies):]
    assert any(len(replies) > 1 for replies in split)  # the fixtures hold replies with quoted mail
