"""A stateful fake of the Zendesk Ticketing API, as documented, for httpx.MockTransport.

Follows developer.zendesk.com: basic auth `{email}/token:{token}`; `GET /api/v2/users/me.json`;
`GET /api/v2/groups.json` with cursor pagination (`page[size]`, `meta.has_more`, `links.next`);
the cursor-based incremental export `GET /api/v2/incremental/tickets/cursor.json` (`start_time` or
`cursor`, `per_page` up to 1000, `include=users`, `exclude_deleted`, `after_cursor`, `end_of_stream`,
nothing changed within the last minute, 10 requests a minute); `GET/PUT /api/v2/tickets/{id}.json`
where `tags` replaces the list and `safe_update` + `updated_stamp` answer 409 when the ticket changed
(Update Ticket: 100 a minute); `GET /api/v2/tickets/{id}/comments.json`. Every answer carries
`X-Rate-Limit` / `X-Rate-Limit-Remaining`; a limit used up answers 429 with `Retry-After`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import inscriptis

from tests.fakes.account import FakeAccount
from tests.fakes.limits import FakeClock, MinuteLimit, basic_auth, iso

PRIORITIES = ("low", "normal", "high", "urgent")
TICKET = re.compile(r"^/api/v2/tickets/(\d+)(?:\.json)?$")
COMMENTS = re.compile(r"^/api/v2/tickets/(\d+)/comments(?:\.json)?$")


@dataclass
class ZendeskTicket:
    """One ticket as the fake stores it."""

    id: int
    subject: str
    requester_id: int
    created_at: datetime
    updated_at: datetime
    status: str = "new"
    priority: str | None = None
    group_id: int | None = None
    tags: list[str] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "url": f"https://acme.zendesk.com/api/v2/tickets/{self.id}.json",
                "subject": self.subject, "raw_subject": self.subject,
                "description": self.comments[0]["body"] if self.comments else "", "status": self.status,
                "priority": self.priority, "group_id": self.group_id, "requester_id": self.requester_id,
                "submitter_id": self.requester_id, "tags": list(self.tags), "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at), "generated_timestamp": int(self.updated_at.timestamp()),
                "via": {"channel": "email"}}


class FakeZendesk(FakeAccount):
    """The account: users, groups, tickets, limits and armed faults; call it with an httpx.Request."""

    def __init__(self, clock: FakeClock, *, email: str = "triage-bot@acme.example", token: str = "zd-token",
                 account_limit: int = 400, update_limit: int = 100, export_limit: int = 10) -> None:
        super().__init__(clock, {"ticket": 100, "user": 10, "group": 360000, "comment": 9000})
        self.email, self.token = email, token
        self.users: dict[int, dict[str, Any]] = {1: {"id": 1, "email": email, "name": "Triage Bot", "role": "agent"}}
        self.tickets: dict[int, ZendeskTicket] = {}
        self.limits = {"account": MinuteLimit(account_limit), "update": MinuteLimit(update_limit),
                       "export": MinuteLimit(export_limit)}

    # -- helpers for tests: the world outside deskbot --------------------------------------------

    def create_ticket(self, subject: str, body: str, *, requester: str = "customer@example.com",
                      tags: tuple[str, ...] = (), status: str = "new", group: str | None = None,
                      priority: str | None = None, created_at: datetime | None = None) -> int:
        """A customer writes in (optionally a ticket agents already worked on)."""
        user_id = next((u["id"] for u in self.users.values() if u["email"] == requester), None)
        if user_id is None:
            user_id = self._id("user")
            self.users[user_id] = {"id": user_id, "email": requester, "name": requester.split("@")[0].title(),
                                   "role": "end-user"}
        moment = created_at or self.clock()
        ticket = ZendeskTicket(self._id("ticket"), subject, user_id, moment, moment, status=status,
                               priority=priority, group_id=self.group_id(group) if group else None, tags=list(tags))
        ticket.comments.append(self._comment(user_id, body, public=True))
        self.tickets[ticket.id] = ticket
        return ticket.id

    def public_replies(self, ticket_id: int) -> list[dict[str, Any]]:
        """The public comments after the customer's first."""
        return [c for c in self.tickets[ticket_id].comments[1:] if c["public"]]

    def private_notes(self, ticket_id: int) -> list[dict[str, Any]]:
        """The internal notes."""
        return [c for c in self.tickets[ticket_id].comments if not c["public"]]

    def writes(self) -> int:
        """PUT requests answered 200 (for calls-per-ticket figures)."""
        return sum(1 for method, _ in self.calls if method == "PUT")

    # -- the API ------------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        if basic_auth(request) != (f"{self.email}/token", self.token):
            return self._answer(401, {"error": "Couldn't authenticate you"})
        fault = self.faults.take(request)
        if fault is not None and not fault.timeout_after_apply:
            return self._answer(fault.status, fault.body, fault.headers)
        family = self._family(request)
        for name in ("account", family):
            if name in self.limits and not self.limits[name].take(self.clock()):
                self.throttled += 1
                retry = self.limits[name].resets_in(self.clock())
                return self._answer(429, {"error": "TooManyRequests"}, {"Retry-After": str(retry)})
        status, body = self._route(request)
        if fault is not None:
            raise httpx.ReadTimeout("the server applied the request but the answer was lost", request=request)
        return self._answer(status, body)

    def _family(self, request: httpx.Request) -> str:
        if request.url.path.startswith("/api/v2/incremental/"):
            return "export"
        return "update" if request.method == "PUT" and TICKET.match(request.url.path) else "read"

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        account = self.limits["account"]
        base = {"X-Rate-Limit": str(account.limit), "X-Rate-Limit-Remaining": str(account.remaining(self.clock()))}
        return httpx.Response(status, json=body, headers={**base, **(headers or {})})

    def _route(self, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        path, method = request.url.path, request.method
        if path == "/api/v2/users/me.json" and method == "GET":
            return 200, {"user": self.users[1]}
        if path == "/api/v2/groups.json" and method == "GET":
            return self._list_groups(request)
        if path == "/api/v2/incremental/tickets/cursor.json" and method == "GET":
            return self._export(request)
        if (match := COMMENTS.match(path)) and method == "GET":
            return self._list_comments(int(match[1]), request)
        if (match := TICKET.match(path)) and method in ("GET", "PUT"):
            ticket = self.tickets.get(int(match[1]))
            if ticket is None or ticket.deleted:
                return 404, {"error": "RecordNotFound", "description": "Not found"}
            if method == "PUT":
                return self._update(ticket, request)
            shown: dict[str, Any] = {"ticket": ticket.json()}
            if "users" in request.url.params.get("include", "").split(","):  # side-loading
                shown["users"] = [self.users[ticket.requester_id]]
            return 200, shown
        return 404, {"error": "InvalidEndpoint", "description": "Not found"}

    def _list_groups(self, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        size = int(request.url.params.get("page[size]", 100))
        after = int(request.url.params.get("page[after]", 0))
        ids = sorted(i for i in self.groups if i > after)
        page, more = ids[:size], len(ids) > size
        groups = [{"id": i, "name": self.groups[i], "deleted": False} for i in page]
        next_url = f"https://acme.zendesk.com/api/v2/groups.json?page[size]={size}&page[after]={page[-1]}" if more else None
        return 200, {"groups": groups, "meta": {"has_more": more, "after_cursor": str(page[-1]) if more else None},
                     "links": {"next": next_url}}

    def _export(self, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        params = request.url.params
        cutoff = int((self.clock() - timedelta(minutes=1)).timestamp())
        if "cursor" in params:
            position = tuple(int(x) for x in base64.b64decode(params["cursor"]).decode().split("|"))
        elif "start_time" in params:
            if int(params["start_time"]) > cutoff:
                return 422, {"error": "InvalidValue", "description": "Too recent start_time. Use a start_time "
                             "older than one minute"}
            position = (int(params["start_time"]) - 1, 1 << 62)
        else:
            return 400, {"error": "InvalidPaginationParameter", "description": "start_time or cursor is required"}
        size = min(int(params.get("per_page", 1000)), 1000)
        changed = sorted((int(t.updated_at.timestamp()), t.id) for t in self.tickets.values()
                         if not (t.deleted and params.get("exclude_deleted") == "true"))
        due = [key for key in changed if position < key <= (cutoff, 1 << 62)]
        page, end = due[:size], len(due) <= size
        last = (cutoff, 1 << 62) if end else page[-1]
        after = base64.b64encode(f"{last[0]}|{last[1]}".encode()).decode()
        tickets = [self._exported(self.tickets[i]) for _, i in page]
        body: dict[str, Any] = {"tickets": tickets, "after_cursor": after, "before_cursor": None, "before_url": None,
                                "after_url": f"https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json?cursor={after}",
                                "end_of_stream": end}
        if "users" in params.get("include", "").split(","):
            body["users"] = [self.users[i] for i in sorted({t["requester_id"] for t in tickets})]
        return 200, body

    def _exported(self, ticket: ZendeskTicket) -> dict[str, Any]:
        data = ticket.json()
        if ticket.deleted:
            data["status"] = "deleted"
        return data

    def _list_comments(self, ticket_id: int, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or ticket.deleted:
            return 404, {"error": "RecordNotFound", "description": "Not found"}
        size = min(int(request.url.params.get("page[size]", 100)), 100)
        after = int(request.url.params.get("page[after]", 0))
        rest = [c for c in ticket.comments if c["id"] > after]
        page, more = rest[:size], len(rest) > size
        next_url = (f"https://acme.zendesk.com/api/v2/tickets/{ticket_id}/comments.json?page[size]={size}"
                    f"&page[after]={page[-1]['id']}") if more else None
        return 200, {"comments": page, "meta": {"has_more": more}, "links": {"next": next_url}}

    def _update(self, ticket: ZendeskTicket, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        data = httpx.Response(200, content=request.content).json().get("ticket", {})
        if data.get("safe_update") in (True, "true") and data.get("updated_stamp") != iso(ticket.updated_at):
            return 409, {"error": "UpdateConflict", "description": "Ticket has been updated since you last viewed it"}
        if "priority" in data and data["priority"] not in PRIORITIES:
            return 422, {"error": "RecordInvalid", "description": "Record validation errors",
                         "details": {"priority": [{"description": "Priority: is not valid"}]}}
        if "group_id" in data and data["group_id"] not in self.groups:
            return 422, {"error": "RecordInvalid", "description": "Record validation errors",
                         "details": {"group": [{"description": "Group: is invalid"}]}}
        for name in ("priority", "group_id", "status"):
            if name in data:
                setattr(ticket, name, data[name])
        if "tags" in data:  # the Update Ticket endpoint replaces the list
            ticket.tags = list(dict.fromkeys(data["tags"]))
        if isinstance(data.get("comment"), dict):
            comment = data["comment"]
            made = self._comment(comment.get("author_id", 1), comment.get("body") or
                                 inscriptis.get_text(comment.get("html_body", "")), public=comment.get("public", True))
            if comment.get("html_body"):  # Zendesk keeps the HTML and derives body/plain_body from it
                made["html_body"] = comment["html_body"]
            ticket.comments.append(made)
        self._touch(ticket)
        return 200, {"ticket": ticket.json(), "audit": {"ticket_id": ticket.id, "author_id": 1}}

    def _comment(self, author_id: int, body: str, *, public: bool) -> dict[str, Any]:
        return {"id": self._id("comment"), "type": "Comment", "author_id": author_id, "body": body,
                "html_body": f"<p>{body}</p>", "plain_body": body, "public": public,
                "created_at": iso(self.clock())}
