"""The acknowledgement's wire form (bot/ack/wire.py) is what the email package and aiosmtplib made of the same
message: the same headers in the same order (byte for byte but where a long plain value is folded at other
spaces), the same envelope and SMTPUTF8 choice, the same parts decoded."""

from __future__ import annotations

import re
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from bot.ack.message import html_document
from bot.ack.wire import header
from tests.test_ack import NOW, ack_of, decision, ticket

FROM = "Support <support@example.com>"
BOUNDARY = re.compile(rb"===============\d+==")

CASES = {
    "plain": {},
    "non-ASCII name": {"sender_name": "Jörg Müller"},
    "name to quote": {"sender_name": 'Doe, Jane "JD"'},
    "internationalised address": {"sender": "jörg@bücher.example", "sender_name": "Jörg"},
    "encoded-word address": {"sender": "=?utf-8?q?j=c3=b6rg?=@beispiel.de"},  # as some senders write it
    "address-like name": {"sender_name": "alex@example.com <alex@example.com>", "sender": "a.b+c@example.com"},
    "quoted local part": {"sender": '"a b"@example.com'},
    "name with parentheses": {"sender_name": "Alex (Accounts) Example", "sender": "o'brien@example.ie"},
    "long subject": {"subject": "Our invoice for the last quarter was charged twice and the refund never came"},
    "non-ASCII subject": {"subject": "Rechnung für März doppelt abgebucht – bitte prüfen Sie das schnell"},
    "encoded-word lookalike": {"subject": "Question about =?utf-8?q?this?= text"},
    "long thread": {"references": tuple(f"<part-{n}.1234567890@mail.example.org>" for n in range(6))},
    "long Message-ID": {"message_id": "<AM0PR08MB5345E1C2F3D4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0@AM0PR08MB5345.eurprd08.prod>"},
    "no Message-ID": {"message_id": ""},
}


def reference(ack_ticket, ack) -> EmailMessage:  # noqa: ANN001
    """The acknowledgement as it was built before bot/ack/wire.py: an EmailMessage of the default policy."""
    m = EmailMessage(policy=policy.default)
    m["From"] = FROM
    m["To"] = ack.to
    m["Subject"] = ack.subject
    m["Date"] = format_datetime(NOW)
    m["Message-ID"] = ack.message_id
    if ack_ticket.message_id:
        m["In-Reply-To"] = ack_ticket.message_id
        m["References"] = " ".join(dict.fromkeys((*ack_ticket.references, ack_ticket.message_id)))
    m["Auto-Submitted"] = "auto-replied"
    m["X-Auto-Response-Suppress"] = "All"
    m.set_content(ack.text, cte="quoted-printable")
    if ack.html is not None:
        m.add_alternative(html_document(ack.html, "en", ack.subject), subtype="html", cte="quoted-printable")
    return m


def head(data: bytes) -> list[tuple[str, str]]:
    """The header block's fields as written (encoded words too), each value unfolded."""
    block = BOUNDARY.sub(b"BOUNDARY", data.split(b"\r\n\r\n", 1)[0]).decode("utf-8")
    fields: list[list[str]] = []
    for line in block.split("\r\n"):
        if line[:1] in (" ", "\t"):
            fields[-1][1] += line
        else:
            fields.append(line.split(":", 1))
    return [(name, " ".join(value.split())) for name, value in fields]


def leaves(data: bytes) -> list[tuple[str, str]]:
    parsed = message_from_bytes(data, policy=policy.default)
    return [(p.get_content_type(), p.get_content().replace("\r\n", "\n")) for p in parsed.walk()
            if not p.is_multipart()]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("html", [True, False])
def test_the_wire_form_is_the_email_packages_own(case: str, html: bool, tmp_path) -> None:  # noqa: ANN001
    templates = None
    if not html:  # a template set without HTML: a single text part
        from tests.test_ack import copy_templates
        templates = copy_templates(tmp_path)
        for path in templates.glob("*.html.j2"):
            path.unlink()
    customer = replace(ticket(), **CASES[case])  # type: ignore[arg-type]
    ack = ack_of(customer, decision(), templates=templates)
    assert ack.wire is not None
    old = reference(customer, ack)
    utf8 = not all(a.isascii() for a in (extract_sender(old) or "", *extract_recipients(old)))
    flat = flatten_message(old, utf8=utf8)

    assert head(ack.wire.data) == head(flat)
    block = ack.wire.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 or b" " not in line.strip() for line in block)  # folded where it can be
    assert (ack.wire.sender, list(ack.wire.recipients), ack.wire.utf8) == (extract_sender(old),
                                                                          extract_recipients(old), utf8)
    assert leaves(ack.wire.data) == leaves(flat)
    assert [p.get_content_type() for p in old.walk()] == [p.get_content_type() for p in ack.message.walk()]
    assert all(len(line) <= 998 for line in ack.wire.data.split(b"\r\n"))
    body = ack.wire.data.split(b"\r\n\r\n", 1)[1]
    assert all(len(line) <= 76 for line in body.split(b"\r\n") if not line.startswith(b"Content-Type"))
    assert b"\n" not in ack.wire.data.replace(b"\r\n", b"")  # CRLF line ends only


@pytest.mark.parametrize("value", ["a\r\nBcc: x@example.com", "line\nbreak", "cr\ronly"])
def test_a_header_value_that_breaks_a_line_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="break the line"):
        header("Subject", value, utf8=False)
