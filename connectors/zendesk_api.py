"""The Zendesk Ticketing API calls deskbot makes, as plain functions over connectors/http.py.

Facts relied on (https://developer.zendesk.com):
- Basic auth `{email}/token:{api_token}` (api-reference/introduction/security-and-auth/).
- `GET /api/v2/users/me.json` shows the authenticated user: a cheap login check, and our author id.
- `GET /api/v2/groups.json`, cursor pagination `page[size]` (max 100), `meta.has_more`, `links.next`
  (api-reference/introduction/pagination/).
- `GET /api/v2/incremental/tickets/cursor.json?start_time=|cursor=`: the tickets changed since, oldest
  change first, `per_page` up to 1000, `after_cursor` and `end_of_stream`; `include=users` sideloads
  the requesters, `exclude_deleted=true` leaves deleted tickets out; a `start_time` within the last
  minute is refused and changes of the last minute come on the next request; 10 requests a minute
  (api-reference/ticketing/ticket-management/incremental_exports/,
  documentation/ticketing/managing-tickets/using-the-incremental-export-api/).
- A ticket's `description` is its first comment; `status` is new, open, pending, hold, solved or closed.
- `PUT /api/v2/tickets/{id}.json`: `tags` *replaces* the list (additional_tags works only on
  update_many), one `comment` per update (`public: false` for an internal note), and `safe_update` with
  `updated_stamp` (the `updated_at` read) answers 409 if the ticket changed since; Update Ticket allows
  100 requests a minute per account (documentation/ticketing/managing-tickets/creating-and-updating-tickets/
  #protecting-against-ticket-update-collisions, .../adding-tags-to-tickets-without-overwriting-existing-tags/,
  api-reference/introduction/rate-limits/).
- Updating a closed ticket (closed, or merged into another) answers 422 RecordInvalid with the detail
  "Status: closed prevents ticket update" (as recorded in client test suites); the ticket is left alone.
- `GET /api/v2/tickets/{id}/comments.json`: oldest first, cursor pagination, each with `author_id`,
  `public`, `body`/`plain_body` (api-reference/ticketing/tickets/ticket_comments/).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.errors import GoneError, PermanentError
from connectors.http import ApiClient

EXPORT, UPDATE, READ = "export", "update", "read"
LIMITS = {EXPORT: 10, UPDATE: 100}  # per minute, documented without headers of their own
EXPORT_PAGE = 1000
CLOSED_STATUSES = frozenset({"solved", "closed", "deleted"})
CLOSED_REFUSAL = "closed prevents ticket update"


class ClosedMeanwhile(GoneError):
    """The ticket was closed (or merged) after deskbot read it: left alone, not a failure."""


@dataclass(frozen=True)
class ExportPage:
    """One page of the incremental export."""

    tickets: list[dict[str, Any]]
    users: dict[int, dict[str, Any]]
    after_cursor: str
    end_of_stream: bool


def me(api: ApiClient) -> dict[str, Any]:
    """The user deskbot is logged in as."""
    return dict(api.get("/api/v2/users/me.json", family=READ)["user"])


def groups(api: ApiClient) -> dict[str, int]:
    """Every group's name -> id (deleted groups left out)."""
    found: dict[str, int] = {}
    params: dict[str, Any] = {"page[size]": 100}
    while True:
        data = api.get("/api/v2/groups.json", family=READ, params=params)
        found.update({g["name"]: int(g["id"]) for g in data.get("groups", []) if not g.get("deleted")})
        following = (data.get("links") or {}).get("next")
        if not (data.get("meta") or {}).get("has_more") or not following:
            return found
        params = dict(parse_qsl(urlsplit(following).query))


def export(api: ApiClient, *, start_time: int | None = None, cursor: str | None = None) -> Iterator[ExportPage]:
    """The incremental export from a start time or a cursor, page by page, to the end of the stream."""
    params: dict[str, Any] = {"per_page": EXPORT_PAGE, "include": "users", "exclude_deleted": "true"}
    params.update({"cursor": cursor} if cursor else {"start_time": start_time})
    while True:
        data = api.get("/api/v2/incremental/tickets/cursor.json", family=EXPORT, params=params)
        users = {int(u["id"]): u for u in data.get("users", [])}
        page = ExportPage(list(data.get("tickets", [])), users, str(data.get("after_cursor") or ""),
                          bool(data.get("end_of_stream")))
        yield page
        if page.end_of_stream or not page.after_cursor:
            return
        params = {**params, "cursor": page.after_cursor}
        params.pop("start_time", None)


def get_ticket(api: ApiClient, ticket_id: str) -> dict[str, Any]:
    """One ticket as it is now (GoneError when deleted)."""
    return dict(api.get(f"/api/v2/tickets/{ticket_id}.json", family=READ)["ticket"])


def show_ticket(api: ApiClient, ticket_id: str) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """One ticket and its requester in one request: `include=users` side-loads the users a ticket names
    (documentation/ticketing/using-the-zendesk-api/side_loading/); GoneError when deleted."""
    data = api.get(f"/api/v2/tickets/{ticket_id}.json", family=READ, params={"include": "users"})
    return dict(data["ticket"]), {int(u["id"]): u for u in data.get("users", [])}


def update_ticket(api: ApiClient, ticket_id: str, fields: dict[str, Any], *, repeatable: bool) -> dict[str, Any]:
    """Update Ticket; `repeatable` only when sending it twice cannot double anything (safe_update)."""
    try:
        answer = api.request("PUT", f"/api/v2/tickets/{ticket_id}.json", family=UPDATE, json={"ticket": fields},
                             idempotent=repeatable)
    except PermanentError as exc:
        if CLOSED_REFUSAL in str(exc):
            raise ClosedMeanwhile(f"ticket {ticket_id} was closed or merged before deskbot wrote to it; "
                                  "left alone") from None
        raise
    return dict(answer.json()["ticket"])


def comments(api: ApiClient, ticket_id: str) -> Iterator[dict[str, Any]]:
    """The ticket's comments, oldest first."""
    params: dict[str, Any] = {"page[size]": 100}
    while True:
        data = api.get(f"/api/v2/tickets/{ticket_id}/comments.json", family=READ, params=params)
        yield from data.get("comments", [])
        following = (data.get("links") or {}).get("next")
        if not (data.get("meta") or {}).get("has_more") or not following:
            return
        params = dict(parse_qsl(urlsplit(following).query))
