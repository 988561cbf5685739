"""Which earlier ticket a mail continues, by what the customer kept of our acknowledgement.

The Message-IDs of In-Reply-To/References are asked of the store directly; this adds the customer
references a reply carries when its threading headers were lost: our token anywhere in the subject
("AW: [SUP-000043] …", "Update on SUP-000036"), else in the quoted part of the body (our
acknowledgement quoted below the new text). A reference in the customer's *own* new text is not
taken: "like SUP-000012, I also …" is a new request.
"""

from __future__ import annotations

import re

from bot.models import Ticket


def reference_tokens(ticket: Ticket, prefix: str) -> tuple[str, ...]:
    """Customer references (e.g. SUP-000043) the subject names, else those only in the quoted text."""
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}-(\d{{6,}})(?!\d)", re.IGNORECASE)

    def found(text: str) -> list[str]:
        return [f"{prefix}-{digits}" for digits in pattern.findall(text)]

    in_subject = found(ticket.subject)
    if in_subject:
        return tuple(dict.fromkeys(in_subject))
    quoted = ticket.body.replace(ticket.text, "", 1) if ticket.text else ticket.body
    return tuple(dict.fromkeys(t for t in found(quoted) if t not in found(ticket.text)))
