"""Mail that must never be answered automatically: auto-replies, bounces, lists, bulk.

Answering these is how mail loops start (RFC 3834 section 2, RFC 2369 for List-*,
RFC 3464 for delivery reports). Every check returns the reason, so the decision log
says why no acknowledgement went out.
"""

from __future__ import annotations

import re

from bot.models import Ticket

_NO_REPLY_LOCALPART = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|noreply-.*)$", re.I)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheits?notiz|"
    r"automatische antwort|undeliverable|undelivered mail( returned to sender)?|delivery status notification|"
    r"mail delivery (failed|failure|subsystem)|returned mail)\s*(?=[:\-\u2013(\[]|$)",
    re.I,
)


def auto_reply_reason(ticket: Ticket, *, own_addresses: frozenset[str] = frozenset()) -> str | None:
    """Why this mail must not get an automatic answer, or None if it may."""
    auto_submitted = ticket.header("Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"auto-submitted mail (Auto-Submitted: {auto_submitted})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if ticket.header(name):
            return f"auto-reply ({name} header)"
    suppress = ticket.header("X-Auto-Response-Suppress").lower()
    if any(word in suppress for word in ("all", "autoreply", "oof")):
        return f"sender asked for no auto-responses (X-Auto-Response-Suppress: {suppress})"
    precedence = ticket.header("Precedence").strip().lower()
    if precedence in {"bulk", "list", "junk", "auto_reply"}:
        return f"bulk or list mail (Precedence: {precedence})"
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):
        if ticket.header(name):
            return f"mailing-list mail ({name} header)"
    if "multipart/report" in ticket.header("Content-Type").lower():
        return "delivery or read report (multipart/report)"
    if ticket.header("Return-Path").strip() == "<>":
        return "bounce (empty Return-Path)"
    sender = ticket.sender.lower()
    if not sender:
        return "no sender address to answer"
    if sender in own_addresses:
        return "mail from our own address (would loop)"
    if _NO_REPLY_LOCALPART.match(sender.split("@", 1)[0]):
        return f"automated sender address ({sender})"
    if _AUTO_SUBJECT.match(ticket.subject):
        return "subject of an automatic reply or bounce"
    return None
