"""The Freshdesk API v2 calls deskbot makes, as plain functions over connectors/http.py.

Facts relied on (https://developers.freshdesk.com/api/):
- Basic auth with the API key as user name and `X` as password (#authentication).
- `GET /api/v2/agents/me`: the agent deskbot is logged in as: a cheap login check, and our user id
  (#me).
- `GET /api/v2/groups`, `GET /api/v2/tickets/{id}/conversations`: `per_page` up to 100, `page`, and a
  `Link` header with rel="next" while there is more (#pagination, #list_all_groups,
  #list_all_ticket_notes).
- `GET /api/v2/tickets?updated_since=…&order_by=updated_at&order_type=asc&per_page=100`:
  `include=requester,description` embeds the requester's email and name and the description
  (each include costs 2 more credits); spam and deleted tickets are left out (#list_all_tickets).
  The list is a live query paged by offset: the source moves `updated_since` on page by page. Whether
  `updated_since` includes its own second is not documented; `page` beyond 300 is refused with 400
  (community.freshworks.com/api-and-webhooks-11406/api-freshdesk-40750: "a maximum of 300 pages").
- Ticket status 2 open, 3 pending, 4 resolved, 5 closed; priority 1 low, 2 medium, 3 high, 4 urgent
  (#ticket_properties).
- `PUT /api/v2/tickets/{id}`: `tags` replaces the list (#update_ticket); there is no conditional update,
  so the source reads the ticket right before writing and unites the tags.
- `POST /api/v2/tickets/{id}/notes` with `private: true` (#add_note) and `POST /api/v2/tickets/{id}/reply`
  (#reply_ticket), bodies in HTML; both answer 201 with the conversation.
- Rate limits per plan and minute, account-wide, with sub-limits on ticket list (20 a minute on the
  smallest plan) and ticket update; 429 with Retry-After (#ratelimit).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from connectors.http import ApiClient

LIST, UPDATE, READ, WRITE = "list", "update", "read", "write"
LIMITS = {LIST: 20}  # the smallest plan's sub-limit; sent without a header of its own
PAGE = 100
MAX_PAGE = 300  # the ticket list refuses deeper pages with 400
CLOSED_STATUSES = frozenset({4, 5})


def me(api: ApiClient) -> dict[str, Any]:
    """The agent deskbot is logged in as."""
    return dict(api.get("/api/v2/agents/me", family=READ))


def _pages(api: ApiClient, path: str, family: str, params: dict[str, Any]) -> Iterator[tuple[list[Any], bool]]:
    """Each page of a paged list and whether another follows."""
    page = 1
    while True:
        response = api.request("GET", path, family=family, params={**params, "per_page": PAGE, "page": page})
        more = "next" in response.links
        yield list(response.json()), more
        if not more:
            return
        page += 1


def groups(api: ApiClient) -> dict[str, int]:
    """Every group's name -> id."""
    return {g["name"]: int(g["id"]) for rows, _ in _pages(api, "/api/v2/groups", READ, {}) for g in rows}


def list_updated(api: ApiClient, since: datetime, *, page: int) -> tuple[list[dict[str, Any]], bool]:
    """One page of tickets updated since `since`, oldest update first, with requester and description."""
    params = {"updated_since": timestamp(since), "order_by": "updated_at", "order_type": "asc",
              "include": "requester,description", "per_page": PAGE, "page": page}
    response = api.request("GET", "/api/v2/tickets", family=LIST, params=params)
    return list(response.json()), "next" in response.links


def get_ticket(api: ApiClient, ticket_id: str) -> dict[str, Any]:
    """One ticket as it is now (GoneError when deleted)."""
    return dict(api.get(f"/api/v2/tickets/{ticket_id}", family=READ))


def view_ticket(api: ApiClient, ticket_id: str) -> dict[str, Any]:
    """One ticket with its description and, embedded, its requester (#view_a_ticket: `include=requester`)."""
    return dict(api.get(f"/api/v2/tickets/{ticket_id}", family=READ, params={"include": "requester"}))


def update_ticket(api: ApiClient, ticket_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Update group, priority and tags (sending it twice changes nothing more)."""
    return dict(api.put(f"/api/v2/tickets/{ticket_id}", fields, family=UPDATE))


def add_note(api: ApiClient, ticket_id: str, text: str) -> dict[str, Any]:
    """A private note."""
    return dict(api.post(f"/api/v2/tickets/{ticket_id}/notes", {"body": as_html(text), "private": True},
                         family=WRITE))


def reply(api: ApiClient, ticket_id: str, text: str, html_body: str | None = None) -> dict[str, Any]:
    """A public reply, sent to the requester from the helpdesk's own address."""
    return dict(api.post(f"/api/v2/tickets/{ticket_id}/reply", {"body": html_body or as_html(text)}, family=WRITE))


def conversations(api: ApiClient, ticket_id: str) -> Iterator[dict[str, Any]]:
    """The ticket's replies and notes, oldest first."""
    for rows, _ in _pages(api, f"/api/v2/tickets/{ticket_id}/conversations", READ, {}):
        yield from rows


def as_html(text: str) -> str:
    """Plain text as the HTML body Freshdesk wants."""
    return "<br>".join(html.escape(line) for line in text.split("\n"))


def timestamp(moment: datetime) -> str:
    """Freshdesk's format: 2026-11-02T09:00:00Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

