"""The acknowledgement's header registry shares parsed headers between messages (bot/ack/message.py): the bytes
on the wire are the email package's own, for the first message and for every later one that reuses them."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage

from bot.ack.message import ACK_POLICY


def message(given: policy.EmailPolicy, n: int) -> bytes:
    """An acknowledgement-shaped message, its multipart boundary (random) blanked out."""
    m = EmailMessage(policy=given)
    m["From"] = "Support Team <support@deskbot.test>"
    m["To"] = f"Jörg Müller <joerg+{n}@beispiel.de>"
    m["Subject"] = f"[SUP-{n:06d}] Ihre Anfrage: Rechnung für März"
    m["Date"] = "Sun, 06 Dec 2026 23:30:00 +0000"
    m["Message-ID"] = f"<ack.{n}@deskbot.deskbot.test>"
    m["Auto-Submitted"] = "auto-replied"
    m["X-Auto-Response-Suppress"] = "All"
    m.set_content(f"Guten Tag,\n\nwir haben Ihre Anfrage erhalten (SUP-{n:06d}).\n", cte="quoted-printable")
    m.add_alternative(f"<p>Guten Tag, SUP-{n:06d}</p>", subtype="html", cte="quoted-printable")
    return re.sub(rb"===============\d+==", b"BOUNDARY", m.as_bytes(policy=given.clone(linesep="\r\n")))


def test_shared_parsed_headers_give_the_same_bytes_as_the_email_package() -> None:
    for n in range(3):  # the first builds the shared headers, the others reuse them
        assert message(ACK_POLICY, n) == message(policy.default, n)
