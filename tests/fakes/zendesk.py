"""A stateful fake of the Zendesk Ticketing API, as documented, for httpx.MockTransport.

Follows developer.zendesk.com: basic auth `{email}/token:{token}`; `GET /api/v2/users/me.json`;
`GET /api/v2/groups.json` with cursor pagination (`page[size]`, `meta.has_more`, `links.next`);
the cursor-based incremental export `GET /api/v2/incremental/tickets/cursor.json` (`start_time` or
`cursor`, `per_page` up to 1000, `include=users`, `exclude_deleted`, `after_cursor`, `end_of_stream`,
nothing changed within the last minute, 10 requests a minute); `GET/PUT /api/v2/tickets/{id}.json`
where `tags` replaces the list and `safe_update` + `updated_stamp` answer 409 when the ticket changed
(Update Ticket: 100 a minute); `GET /api/v2/tickets/{id}/comments.json`. Every answer carries
`X-Rate-Limit` / `X-Rate-Limit-Remaining`; a limit used up answers 429 with `Retry-After`.

What real accounts do that a kind fake would not (issue 17), each with its source:
- The incremental export is "Allowed for: Admins" (api-reference/ticketing/ticket-management/
  incremental_exports/); an agent gets 403 `{"error": {"title": "Forbidden", "message": "You do not have
  access to this page. ..."}}` (support.zendesk.com community post 4428358191514 "Forbidden from using
  only incremental API calls?"). `role` is end-user, agent or admin (api-reference/ticketing/users/users/).
- A ticket's `description` is its first comment, public or not; `is_public` is false while no comment
  is public; `submitter_id` is who opened it (an agent on a customer's behalf: not the requester) and
  `via.channel` how (web, api, email, ...) (api-reference/ticketing/tickets/tickets/#json-format).
  A requester reached by messaging or phone may have no email (`email: null`, users JSON format).
- Update Ticket also limits each ticket: 30 updates per ticket per 10 minutes, announced in the header
  `zendesk-ratelimit-per-ticket-updates: total=30; remaining=N; resets=S` and enforced with a 429 of
  its own (api-reference/introduction/rate-limits/ "Update Ticket"; issue 17).
- Updating a closed ticket (closed, or merged into another) answers 422 `{"error": "RecordInvalid",
  "description": "Record validation errors", "details": {"status": [{"description": "Status: closed
  prevents ticket update"}]}}` (recorded in client test suites, e.g. the `revere` Zendesk specs
  "does not crash when trying to update a closed ticket").
- `plain_body` and `body` of a comment given as `html_body` are rendered by Zendesk's own converter,
  not the one deskbot uses (api-reference/ticketing/tickets/ticket_comments/ "Bodies"): this fake uses
  a converter of its own (`render_plain`) that writes links as "text (url)", list items with "* ",
  and folds blank lines, so nothing may rely on both renderings agreeing.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.fakes.account import FakeAccount
from tests.fakes.limits import FakeClock, MinuteLimit, basic_auth, iso

PRIORITIES = ("low", "normal", "high", "urgent")
TICKET = re.compile(r"^/api/v2/tickets/(\d+)(?:\.json)?$")
COMMENTS = re.compile(r"^/api/v2/tickets/(\d+)/comments(?:\.json)?$")
FORBIDDEN = {"error": {"title": "Forbidden", "message": "You do not have access to this page. Please contact the "
                                                       "account owner of this help desk for further help."}}
CLOSED = {"error": "RecordInvalid", "description": "Record validation errors",
          "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}
PER_TICKET_HEADER = "zendesk-ratelimit-per-ticket-updates"


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
    submitter_id: int | None = None  # None: the requester opened it
    channel: str = "email"

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "url": f"https://acme.zendesk.com/api/v2/tickets/{self.id}.json",
                "subject": self.subject, "raw_subject": self.subject,
                "description": self.comments[0]["body"] if self.comments else "", "status": self.status,
                "priority": self.priority, "group_id": self.group_id, "requester_id": self.requester_id,
                "submitter_id": self.submitter_id or self.requester_id, "tags": list(self.tags),
                "is_public": any(c["public"] for c in self.comments), "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at), "generated_timestamp": int(self.updated_at.timestamp()),
                "via": {"channel": self.channel, "source": {"from": {}, "to": {}, "rel": None}}}


class FakeZendesk(FakeAccount):
    """The account: users, groups, tickets, limits and armed faults; call it with an httpx.Request."""

    def __init__(self, clock: FakeClock, *, email: str = "triage-bot@acme.example", token: str = "zd-token",
                 account_limit: int = 400, update_limit: int = 100, export_limit: int = 10,
                 per_ticket_limit: int = 30, role: str = "admin") -> None:
        super().__init__(clock, {"ticket": 100, "user": 10, "group": 360000, "comment": 9000})
        self.email, self.token = email, token
        self.users: dict[int, dict[str, Any]] = {1: {"id": 1, "email": email, "name": "Triage Bot", "role": role}}
        self.tickets: dict[int, ZendeskTicket] = {}
        self.limits = {"account": MinuteLimit(account_limit), "update": MinuteLimit(update_limit),
                       "export": MinuteLimit(export_limit)}
        self.per_ticket_limit = per_ticket_limit
        self.per_ticket: dict[int, MinuteLimit] = {}  # 30 updates per ticket per 10 minutes

    # -- helpers for tests: the world outside deskbot --------------------------------------------

    def create_ticket(self, subject: str, body: str, *, requester: str | None = "customer@example.com",
                      tags: tuple[str, ...] = (), status: str = "new", group: str | None = None,
                      priority: str | None = None, created_at: datetime | None = None, by_agent: bool = False,
                      public: bool = True, channel: str | None = None, name: str = "") -> int:
        """A customer writes in (optionally a ticket agents already worked on); or an agent opens it on a
        customer's behalf (`by_agent`: submitter is an agent, via web), or it starts with a private comment.
        `requester=None`: a messaging or phone requester without an email address."""
        user_id = self.user(requester, name)
        submitter = self.user("agent@acme.example", "Agent Smith", role="agent") if by_agent else None
        moment = created_at or self.clock()
        ticket = ZendeskTicket(self._id("ticket"), subject, user_id, moment, moment, status=status,
                               priority=priority, group_id=self.group_id(group) if group else None, tags=list(tags),
                               submitter_id=submitter, channel=channel or ("web" if by_agent else "email"))
        ticket.comments.append(self._comment(submitter or user_id, body, public=public))
        self.tickets[ticket.id] = ticket
        return ticket.id

    def user(self, email: str | None, name: str = "", *, role: str = "end-user") -> int:
        """The id of the user with this email (a new one for each call without an email)."""
        user_id = next((u["id"] for u in self.users.values() if email and u["email"] == email), None)
        if user_id is None:
            user_id = self._id("user")
            self.users[user_id] = {"id": user_id, "email": email, "role": role,
                                   "name": name or (email.split("@")[0].title() if email else f"Visitor {user_id}")}
        return user_id

    def customer_comment(self, ticket_id: int, body: str) -> None:
        """The requester answers publicly (e.g. on a ticket an agent opened for them)."""
        ticket = self.tickets[ticket_id]
        ticket.comments.append(self._comment(ticket.requester_id, body, public=True))
        self._touch(ticket)

    def public_replies(self, ticket_id: int) -> list[dict[str, Any]]:
        """deskbot's public comments."""
        return [c for c in self.tickets[ticket_id].comments if c["public"] and c["author_id"] == 1]

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
        if family == "export" and self.users[1]["role"] != "admin":
            return self._answer(403, FORBIDDEN)
        for name in ("account", family):
            if name in self.limits and not self.limits[name].take(self.clock()):
                self.throttled += 1
                retry = self.limits[name].resets_in(self.clock())
                return self._answer(429, {"error": "TooManyRequests"}, {"Retry-After": str(retry)})
        per_ticket = self._per_ticket(request) if family == "update" else {}
        if per_ticket.get("Retry-After"):
            self.throttled += 1
            return self._answer(429, {"error": "TooManyRequests"}, per_ticket)
        status, body = self._route(request)
        if fault is not None:
            raise httpx.ReadTimeout("the server applied the request but the answer was lost", request=request)
        return self._answer(status, body, per_ticket)

    def _per_ticket(self, request: httpx.Request) -> dict[str, str]:
        """Count an update against its ticket's own limit; the header, plus Retry-After once it is used up."""
        match = TICKET.match(request.url.path)
        assert match is not None
        limit = self.per_ticket.setdefault(int(match[1]), MinuteLimit(self.per_ticket_limit, seconds=600))
        allowed, now = limit.take(self.clock()), self.clock()
        header = {PER_TICKET_HEADER: f"total={limit.limit}; remaining={limit.remaining(now)}; "
                                     f"resets={limit.resets_in(now)}"}
        return header if allowed else {**header, "Retry-After": str(limit.resets_in(now))}

    def _family(self, request: httpx.Request) -> str:
        if request.url.path.startswith("/api/v2/incremental/"):
            return "export"
        return "update" if request.method == "PUT" and TICKET.match(request.url.path) else "read"

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        """The JSON answer with the account's rate-limit headers."""
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
        if ticket.status == "closed":
            return 422, CLOSED
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
                                 render_plain(comment.get("html_body", "")), public=comment.get("public", True))
            if comment.get("html_body"):  # Zendesk keeps the HTML and derives body/plain_body from it
                made["html_body"] = comment["html_body"]
            ticket.comments.append(made)
        self._touch(ticket)
        return 200, {"ticket": ticket.json(), "audit": {"ticket_id": ticket.id, "author_id": 1}}

    def _comment(self, author_id: int, body: str, *, public: bool) -> dict[str, Any]:
        return {"id": self._id("comment"), "type": "Comment", "author_id": author_id, "body": body,
                "html_body": f"<p>{html.escape(body)}</p>", "plain_body": body, "public": public,
                "created_at": iso(self.clock())}


_LINK = re.compile(r"<a\s[^>]*href=[\"']([^\"']*)[\"'][^>]*>(.*?)</a>", re.I | re.S)
_BREAK = re.compile(r"<br\s*/?>|</p>|</div>|</h\d>|</tr>|</ul>|</ol>", re.I)


def render_plain(markup: str) -> str:
    """The fake's own HTML -> text converter, unlike inscriptis on purpose: links as "text (url)",
    list items as "* item", no indentation, at most one blank line."""
    text = _LINK.sub(lambda m: f"{m[2]} ({m[1]})", markup)
    text = re.sub(r"<li[^>]*>", "\n* ", text, flags=re.I)
    text = _BREAK.sub("\n\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
