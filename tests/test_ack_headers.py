"""The acknowledgement's header registry shares parsed headers between messages (bot/ack/message.py): the bytes
on the wire are the email package's own, for the first message and for every later one that reuses them."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage

from aiosmtplib.email import flatten_message

from bot.ack.message import ACK_POLICY


def message(given: policy.EmailPolicy, n: int) -> EmailMessage:
    """An acknowledgement-shaped message with non-ASCII in its To and Subject."""
    m = EmailMessage(policy=given)
    m["From"] = "Équipe Support <support@deskbot.test>"  # shared by every acknowledgement, not ASCII
    m["To"] = f"Jörg Müller <joerg+{n}@beispiel.de>"
    m["Subject"] = f"[SUP-{n:06d}] Ihre Anfrage: Rechnung für März"
    m["Date"] = "Sun, 06 Dec 2026 23:30:00 +0000"
    m["Message-ID"] = f"<ack.{n}@deskbot.deskbot.test>"
    m["Auto-Submitted"] = "auto-replied"
    m["X-Auto-Response-Suppress"] = "All"
    m.set_content(f"Guten Tag,\n\nwir haben Ihre Anfrage erhalten (SUP-{n:06d}).\n", cte="quoted-printable")
    m.add_alternative(f"<p>Guten Tag, SUP-{n:06d}</p>", subtype="html", cte="quoted-printable")
    return m


def wire(m: EmailMessage, *, utf8: bool) -> bytes:
    """The bytes aiosmtplib sends (SMTPUTF8 or not), the multipart boundary (random) blanked out."""
    return re.sub(rb"===============\d+==", b"BOUNDARY", flatten_message(m, utf8=utf8))


def test_shared_parsed_headers_give_the_same_bytes_as_the_email_package() -> None:
    for n in range(3):  # the first builds the shared headers, the others reuse them (and their folding)
        for utf8 in (True, False, True):  # folded once per kind of policy: with SMTPUTF8 and without
            assert wire(message(ACK_POLICY, n), utf8=utf8) == wire(message(policy.default, n), utf8=utf8)
    assert b"=?utf-8?" in wire(message(ACK_POLICY, 0), utf8=False)
    assert "Jörg".encode() in wire(message(ACK_POLICY, 0), utf8=True)
