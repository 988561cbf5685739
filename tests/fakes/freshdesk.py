"""A stateful fake of the Freshdesk API v2, as documented, for httpx.MockTransport.

Follows developers.freshdesk.com/api: basic auth `{api_key}:X`; `GET /api/v2/agents/me`;
`GET /api/v2/groups`; `GET /api/v2/tickets` with `updated_since`, `order_by=updated_at`,
`order_type=asc`, `per_page` (max 100), `page` and a `Link: <…>; rel="next"` header, `include=requester,
description` (2 credits each), resolved (4) and closed (5) tickets listed like the others;
`GET/PUT /api/v2/tickets/{id}` where `tags` replaces the list and priority is 1-4;
`POST /api/v2/tickets/{id}/notes` (`private`), `POST /api/v2/tickets/{id}/reply`,
`GET /api/v2/tickets/{id}/conversations`. Every answer carries `X-Ratelimit-Total`,
`X-Ratelimit-Remaining` and `X-Ratelimit-Used-CurrentRequest`; a limit used up answers 429 with
`Retry-After` (Pro plan by default: 400 a minute, ticket list 100, ticket update 160).

What real accounts do that a kind fake would not (issue 17), each with its source:
- `source` says how a ticket came in: 1 email, 2 portal, 3 phone, 7 chat, 9 feedback widget, 10 outbound
  email, i.e. written by an agent to a customer (developers.freshdesk.com/api/#ticket_properties; the
  python-freshdesk fixture freshdesk/v2/tests/sample_json_data/ticket_1.json carries `"source": 2` and an
  embedded requester whose `mobile` and `phone` may be null beside the email). A customer's answer is a conversation with
  `incoming: true`, `private: false` (#list_all_ticket_notes).
- Whether `updated_since` includes the second it names is not documented (#list_all_tickets); this fake
  reads it exclusively by default (`inclusive=True` for the other reading), and a bulk action gives many
  tickets the same `updated_at` second.
- `page` beyond 300 (per_page 100: 30,000 tickets) is refused with 400 (Freshworks community answer
  "a maximum of 300 pages (30000 tickets) will be returned", community.freshworks.com/api-and-webhooks-11406/
  api-freshdesk-40750).
- Plans differ in their limits and older plans count per hour: the headers say what is left, nothing says
  per what (#ratelimit); `window=3600` makes the account limit hourly.
- A requester reached by phone or social channels may have no email (`email: null`, #view_a_contact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.fakes.account import FakeAccount
from tests.fakes.limits import FakeClock, MinuteLimit, basic_auth, iso

TICKET = re.compile(r"^/api/v2/tickets/(\d+)$")
CHILD = re.compile(r"^/api/v2/tickets/(\d+)/(notes|reply|conversations)$")
TAG = re.compile(r"<[^>]+>")


@dataclass
class FreshdeskTicket:
    """One ticket as the fake stores it."""

    id: int
    subject: str
    description: str
    requester_id: int
    created_at: datetime
    updated_at: datetime
    status: int = 2
    priority: int = 1
    group_id: int | None = None
    tags: list[str] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    source: int = 1

    def json(self, *, description: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "subject": self.subject, "status": self.status,
                                "priority": self.priority, "group_id": self.group_id, "requester_id": self.requester_id,
                                "tags": list(self.tags), "source": self.source, "spam": False, "type": None,
                                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at)}
        if description:
            data.update(description=f"<div>{self.description}</div>", description_text=self.description)
        return data


class FakeFreshdesk(FakeAccount):
    """The account: contacts, groups, tickets, limits and armed faults; call it with an httpx.Request."""

    def __init__(self, clock: FakeClock, *, api_key: str = "fd-key", account_limit: int = 400,
                 list_limit: int = 100, update_limit: int = 160, window: int = 60, inclusive: bool = False,
                 max_page: int = 300) -> None:
        super().__init__(clock, {"ticket": 0, "contact": 5000, "group": 700, "conversation": 9000})
        self.api_key = api_key
        self.agent = {"id": 1, "contact": {"email": "triage-bot@acme.example", "name": "Triage Bot"}}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, FreshdeskTicket] = {}
        self.limits = {"account": MinuteLimit(account_limit, seconds=window), "list": MinuteLimit(list_limit),
                       "update": MinuteLimit(update_limit)}
        self.inclusive, self.max_page = inclusive, max_page
        self.list_requests: list[dict[str, str]] = []  # the ticket list's query parameters

    # -- helpers for tests: the world outside deskbot --------------------------------------------

    def create_ticket(self, subject: str, body: str, *, requester: str | None = "customer@example.com",
                      tags: tuple[str, ...] = (), status: int = 2, created_at: datetime | None = None,
                      source: int = 1) -> int:
        """A customer writes in (`source=10`: an agent's outbound email to the requester; `requester=None`:
        a contact without an email address)."""
        contact_id = next((i for i, c in self.contacts.items() if requester and c["email"] == requester), None)
        if contact_id is None:
            contact_id = self._id("contact")
            name = requester.split("@")[0].title() if requester else f"Caller {contact_id}"
            self.contacts[contact_id] = {"id": contact_id, "email": requester, "name": name, "phone": "+4930123456"}
        moment = created_at or self.clock()
        ticket = FreshdeskTicket(self._id("ticket"), subject, body, contact_id, moment, moment, status=status,
                                 tags=list(tags), source=source)
        self.tickets[ticket.id] = ticket
        return ticket.id

    def customer_reply(self, ticket_id: int, body: str) -> None:
        """The requester answers (e.g. an outbound email)."""
        ticket = self.tickets[ticket_id]
        ticket.conversations.append({
            "id": self._id("conversation"), "body": f"<div>{body}</div>", "body_text": body, "private": False,
            "incoming": True, "user_id": ticket.requester_id, "ticket_id": ticket.id, "source": 0,
            "created_at": iso(self.clock()), "updated_at": iso(self.clock())})
        self._touch(ticket)

    def notes(self, ticket_id: int) -> list[dict[str, Any]]:
        """Private notes."""
        return [c for c in self.tickets[ticket_id].conversations if c["private"]]

    def replies(self, ticket_id: int) -> list[dict[str, Any]]:
        """Public replies."""
        return [c for c in self.tickets[ticket_id].conversations if not c["private"] and not c["incoming"]]

    # -- the API ------------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        if basic_auth(request) != (self.api_key, "X"):
            return self._answer(401, {"code": "invalid_credentials",
                                      "message": "You have to be logged in to perform this action."})
        fault = self.faults.take(request)
        if fault is not None and not fault.timeout_after_apply:
            return self._answer(fault.status, fault.body, fault.headers)
        includes = [i for i in request.url.params.get("include", "").split(",") if i]
        cost = 1 + 2 * len(includes)
        family = self._family(request)
        for name, amount in (("account", cost), (family, 1)):
            if name in self.limits and not self.limits[name].take(self.clock(), amount):
                self.throttled += 1
                return self._answer(429, {"message": "You have exceeded the limit of requests per minute"},
                                    {"Retry-After": str(self.limits[name].resets_in(self.clock()))})
        status, body, headers = self._route(request, includes)
        if fault is not None:
            raise httpx.ReadTimeout("the server applied the request but the answer was lost", request=request)
        return self._answer(status, body, {"X-Ratelimit-Used-CurrentRequest": str(cost), **headers})

    def _family(self, request: httpx.Request) -> str:
        if request.url.path == "/api/v2/tickets" and request.method == "GET":
            return "list"
        return "update" if request.method == "PUT" else "other"

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        account = self.limits["account"]
        base = {"X-Ratelimit-Total": str(account.limit), "X-Ratelimit-Remaining": str(account.remaining(self.clock()))}
        return httpx.Response(status, json=body, headers={**base, **(headers or {})})

    def _route(self, request: httpx.Request, includes: list[str]) -> tuple[int, Any, dict[str, str]]:
        path, method = request.url.path, request.method
        if path == "/api/v2/agents/me" and method == "GET":
            return 200, self.agent, {}
        if path == "/api/v2/groups" and method == "GET":
            return self._page(request, [{"id": i, "name": n} for i, n in sorted(self.groups.items())])
        if path == "/api/v2/tickets" and method == "GET":
            return self._list(request, includes)
        match = TICKET.match(path) or CHILD.match(path)
        ticket = self.tickets.get(int(match[1])) if match else None
        if ticket is None or ticket.deleted:
            return 404, {}, {}
        if TICKET.match(path) and method == "GET":
            shown = ticket.json()
            if "requester" in includes:  # View a Ticket embeds the requester on request
                shown["requester"] = self.contacts[ticket.requester_id]
            return 200, shown, {}
        if TICKET.match(path):
            return (*self._update(ticket, request), {})
        assert match is not None
        if match[2] == "conversations" and method == "GET":
            return self._page(request, ticket.conversations)
        if match[2] in ("notes", "reply") and method == "POST":
            return 201, self._converse(ticket, request, private=match[2] == "notes"), {}
        return 404, {}, {}

    def _page(self, request: httpx.Request, rows: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        size = min(int(request.url.params.get("per_page", 30)), 100)
        page = int(request.url.params.get("page", 1))
        chunk = rows[(page - 1) * size: page * size]
        if len(rows) > page * size:
            following = request.url.copy_merge_params({"page": page + 1})
            return 200, chunk, {"Link": f'<{following}>; rel="next"'}
        return 200, chunk, {}

    def _list(self, request: httpx.Request, includes: list[str]) -> tuple[int, Any, dict[str, str]]:
        params = request.url.params
        self.list_requests.append(dict(params))
        if int(params.get("page", 1)) > self.max_page:
            return 400, {"description": "Validation failed", "errors": [
                {"field": "page", "message": f"It should be less than or equal to {self.max_page}",
                 "code": "invalid_value"}]}, {}
        if "updated_since" in params:
            since = datetime.fromisoformat(params["updated_since"].replace("Z", "+00:00"))
            rows = [t for t in self.tickets.values() if t.updated_at > since or self.inclusive and t.updated_at == since]
        else:  # documented default: tickets created within the past 30 days
            rows = [t for t in self.tickets.values() if t.created_at >= self.clock() - timedelta(days=30)]
        order = params.get("order_by", "created_at")
        rows.sort(key=lambda t: (getattr(t, order), t.id), reverse=params.get("order_type", "desc") == "desc")
        listed = []
        for ticket in rows:
            if ticket.deleted:
                continue
            data = ticket.json(description="description" in includes)
            if "requester" in includes:
                data["requester"] = self.contacts[ticket.requester_id]
            listed.append(data)
        return self._page(request, listed)

    def _update(self, ticket: FreshdeskTicket, request: httpx.Request) -> tuple[int, Any]:
        data = httpx.Response(200, content=request.content).json()
        errors = []
        if "priority" in data and data["priority"] not in (1, 2, 3, 4):
            errors.append({"field": "priority", "message": "It should be one of these values: '1,2,3,4'",
                           "code": "invalid_value"})
        if "group_id" in data and data["group_id"] not in self.groups:
            errors.append({"field": "group_id", "message": "There is no group matching the given group_id",
                           "code": "invalid_value"})
        if errors:
            return 400, {"description": "Validation failed", "errors": errors}
        for name in ("priority", "group_id", "status"):
            if name in data:
                setattr(ticket, name, data[name])
        if "tags" in data:  # replaces the list
            ticket.tags = list(dict.fromkeys(data["tags"]))
        self._touch(ticket)
        return 200, ticket.json()

    def _converse(self, ticket: FreshdeskTicket, request: httpx.Request, *, private: bool) -> dict[str, Any]:
        body = str(httpx.Response(200, content=request.content).json().get("body", ""))
        text = TAG.sub("", body.replace("<br>", "\n").replace("</p>", "\n")).strip()
        entry = {"id": self._id("conversation"), "body": body, "body_text": text, "private": private,
                 "incoming": False, "user_id": self.agent["id"], "ticket_id": ticket.id,
                 "source": 2 if private else 0, "created_at": iso(self.clock()), "updated_at": iso(self.clock())}
        ticket.conversations.append(entry)
        self._touch(ticket)
        return entry
