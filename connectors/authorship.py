"""Who wrote a helpdesk ticket's first message: its customer, or an agent on the customer's behalf.

deskbot answers only what a customer wrote. A Zendesk `description` is the first comment, public or
not: an agent opens tickets for customers (`submitter_id` is not the `requester_id`, `via.channel`
web or api), or a ticket starts with a private comment (`is_public` false while no comment is public)
(developer.zendesk.com api-reference/ticketing/tickets/tickets/#json-format). A Freshdesk ticket of
`source` 10 is an agent's outbound email (developers.freshdesk.com/api/#ticket_properties). Such
tickets are triaged like any other (group, priority, tags, note) but get no public reply, and the
text classified is the customer's first public message where there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

OUTBOUND_EMAIL = 10  # Freshdesk ticket source: written by an agent


def zendesk_no_reply(ticket: Mapping[str, Any]) -> str:
    """Why this Zendesk ticket gets no public reply ('' : its requester wrote it)."""
    submitter, requester = ticket.get("submitter_id"), ticket.get("requester_id")
    if submitter is not None and requester is not None and submitter != requester:
        channel = (ticket.get("via") or {}).get("channel") or "unknown"
        return f"opened by an agent (user {submitter}) on the requester's behalf via {channel}; no public reply"
    if ticket.get("is_public") is False:
        return "the ticket starts with a private comment; no public reply"
    return ""


def zendesk_customer_text(comments: Iterable[Mapping[str, Any]], requester_id: object) -> str:
    """The requester's first public comment ('' : none yet)."""
    for comment in comments:
        if comment.get("public") and comment.get("author_id") == requester_id:
            return str(comment.get("plain_body") or comment.get("body") or "")
    return ""


def freshdesk_no_reply(ticket: Mapping[str, Any]) -> str:
    """Why this Freshdesk ticket gets no public reply ('' : its requester wrote it)."""
    if ticket.get("source") == OUTBOUND_EMAIL:
        return "an agent's outbound email (source 10); no public reply"
    return ""


def freshdesk_customer_text(conversations: Iterable[Mapping[str, Any]]) -> str:
    """The requester's first public message in the conversations ('' : none yet)."""
    for entry in conversations:
        if entry.get("incoming") and not entry.get("private"):
            return str(entry.get("body_text") or "")
    return ""
