"""A Zendesk account as a ticket source: pull new tickets, write the decision back, reply, recover.

Per ticket deskbot reads nothing of its own (the incremental export brings 1,000 tickets, their
first message and their requesters a page) and writes at most twice, both through Update Ticket:
group, priority, tags and the private note in one update guarded by `safe_update` (a 409 means
someone changed the ticket after deskbot read it: re-read, keep what they set, merge the tags, try
again), then the public reply. API facts and their sources: connectors/zendesk_api.py.

The incremental export is allowed for admins only: deskbot's Zendesk user must be an admin, and
`check` proves it by making the export request a cycle makes. A ticket an agent opened is triaged
without a public reply (connectors/authorship.py); one closed or merged between deskbot's read and its
write (422 "closed prevents ticket update") is left alone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import httpx

from bot.config.file import ZendeskConfig
from bot.errors import AuthError, BadInputError, PermanentError, TransientError, not_done
from bot.models import Decision, Ticket
from bot.rules import RuleSet
from connectors import zendesk_api
from connectors.authorship import zendesk_customer_text, zendesk_no_reply
from connectors.base import ACKNOWLEDGE, NOTE, UNFLAG, WRITE_BACK, Action, RawItem
from connectors.helpdesk import (
    MARKER_TAG,
    HelpdeskSource,
    Snapshot,
    build_ticket,
    contains_post,
    decode_position,
    describe,
    encode_position,
    merge_write_back,
    parse_time,
    requester_address,
    utc_now,
    wanted_tags,
    with_resume_cursors,
)
from connectors.http import ApiClient, Conflict, Forbidden
from connectors.posts import FLAG_KINDS, FLAG_TAG, flag_note, is_our_reply, post_once

log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 3  # safe_update tries before giving up for this cycle (each 409 costs one re-read)


class ZendeskSource(HelpdeskSource):
    """One [[zendesk]] table; use as a context manager per cycle (logs in, resolves groups once)."""

    kind = "zendesk"
    solved_statuses = frozenset({"solved", "closed"})
    config: ZendeskConfig

    def __init__(self, config: ZendeskConfig, *, rules: RuleSet, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] = utc_now, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config, rules=rules, transport=transport, clock=clock, sleep=sleep)

    def connect(self) -> ApiClient:
        cfg = self.config
        return ApiClient(cfg.url, name=self.name, auth=(f"{cfg.email}/token", cfg.token), clock=self._clock,
                         sleep=self._sleep, transport=self._transport, timeout=cfg.timeout, limits=zendesk_api.LIMITS,
                         budgets=self.budgets)

    def _login(self, api: ApiClient) -> tuple[dict[str, Any], dict[str, int]]:
        return zendesk_api.me(api), zendesk_api.groups(api)

    # -- reading ----------------------------------------------------------------------------------

    def login_name(self) -> str:
        """The user's email and role (the export needs an admin)."""
        return f"{(self.me or {}).get('email', '')} ({(self.me or {}).get('role', 'unknown role')})"

    def probe(self) -> str:
        """The export request a cycle makes, from a minute ago."""
        newest = int(self._clock().timestamp()) - 61
        with self._admin_needed():
            page = next(zendesk_api.export(self.api, start_time=newest))
        return f"the incremental export answers ({len(page.tickets)} ticket(s) on its first page)"

    @contextmanager
    def _admin_needed(self) -> Iterator[None]:
        """Turn the export's 403 into what to do about it: the export is allowed for admins only."""
        try:
            yield
        except Forbidden as exc:
            me = self.me or {}
            raise AuthError(f"{self.name}: the incremental export deskbot reads new tickets with is allowed for "
                            f"Zendesk admins only, and {me.get('email') or 'its user'} is "
                            f"{me.get('role') or 'not an admin'}: give this user the admin role "
                            f"(README: Zendesk)") from exc

    def fetch_new(self, cursor: str | None) -> Iterator[RawItem]:
        """Open tickets created since `start` that changed after the cursor, oldest change first."""
        self.read_to = None
        position = decode_position(cursor)
        start = self.start(position)
        after = position.get("after")
        if isinstance(after, str) and after:
            pages = zendesk_api.export(self.api, cursor=after)
        else:  # the export refuses a start_time within the last minute; the scope check keeps `start`
            newest = int(self._clock().timestamp()) - 61
            pages = zendesk_api.export(self.api, start_time=min(int(start.timestamp()), newest))
            after = None
        mark = start.astimezone(timezone.utc).isoformat()

        def scoped() -> Iterator[tuple[list[RawItem], str]]:
            with self._admin_needed():
                for page in pages:
                    self.watch(page.tickets)
                    items = [self._raw(t, page.users) for t in page.tickets if self._in_scope(t, start)]
                    yield items, encode_position(start=mark, after=page.after_cursor)

        first = encode_position(start=mark, after=after) if after else encode_position(start=mark)
        yield from with_resume_cursors(scoped(), start=first, finished=self._finished)

    def _finished(self, position: str) -> None:
        self.read_to = position

    def fetch_one(self, ticket_id: int) -> RawItem | None:
        """One ticket a webhook names, read as fetch_new reads it; None when solved, closed or before `start`."""
        ticket, users = zendesk_api.show_ticket(self.api, str(ticket_id))
        if not self._in_scope(ticket, self.config.start or datetime.min.replace(tzinfo=timezone.utc)):
            return None
        return replace(self._raw(ticket, users), cursor=None)  # a pushed ticket leaves the export cursor alone

    @staticmethod
    def _in_scope(ticket: dict[str, Any], start: datetime) -> bool:
        created = parse_time(ticket.get("created_at"))
        return created is not None and created >= start and ticket.get("status") not in zendesk_api.CLOSED_STATUSES

    def _raw(self, ticket: dict[str, Any], users: dict[int, dict[str, Any]]) -> RawItem:
        """The ticket, its requester and, when an agent opened it, the requester's first public comment."""
        requester = users.get(int(ticket.get("requester_id") or 0), {})
        customer = None
        if zendesk_no_reply(ticket):  # one more read, only for tickets an agent opened
            customer = zendesk_customer_text(zendesk_api.comments(self.api, str(ticket["id"])),
                                             ticket.get("requester_id"))
        data = json.dumps({"ticket": ticket, "requester": requester, "customer_text": customer}).encode()
        return RawItem(ref=str(ticket["id"]), data=data, cursor="", received_at=parse_time(ticket.get("created_at")),
                       key=f"{self.name}:{ticket['id']}")

    def parse(self, item: RawItem) -> Ticket:
        """Subject plus the customer's first message; the requester's address as sender."""
        try:
            data = json.loads(item.data)
            ticket, requester = data["ticket"], data.get("requester") or {}
            ticket_id = int(ticket["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInputError(f"not a Zendesk ticket: {exc}") from None
        subject = str(ticket.get("subject") or "")
        description = str(data.get("customer_text") or ticket.get("description") or "")
        if not subject.strip() and not description.strip():
            raise BadInputError("ticket has neither a subject nor a description")
        sender = requester_address(self.name, requester, ticket.get("requester_id"))
        return build_ticket(source=self.name, ticket_id=ticket_id, subject=subject, first_message=description,
                            sender=sender, sender_name=str(requester.get("name") or ""),
                            created_at=parse_time(ticket.get("created_at")), snapshot=Snapshot.of(ticket),
                            recipient=str(ticket.get("recipient") or ""),
                            organization=str(ticket.get("organization_id") or ""), no_reply=zendesk_no_reply(ticket))

    # -- acting -----------------------------------------------------------------------------------

    def plan(self, decision: Decision) -> tuple[str, ...]:
        """Write-back (with the note folded in), then the public reply if replies are on."""
        return (WRITE_BACK, ACKNOWLEDGE) if self.config.acknowledge == "reply" else (WRITE_BACK,)

    def perform(self, action: Action) -> str:
        """Cause one action's effect; the detail says what was written and what was kept."""
        if action.kind == WRITE_BACK:
            return self._write_back(action)
        if action.kind == NOTE:
            return self._post(action, {"body": action.note, "public": False}, "private note")
        if action.kind == ACKNOWLEDGE:
            if action.ack is None:
                raise PermanentError("no acknowledgement was rendered for this ticket")
            comment = {"html_body": action.ack.html} if action.ack.html else {"body": action.ack.text}
            return self._post(action, {**comment, "public": True}, f"public reply to {action.ack.to}")
        if action.kind in (*FLAG_KINDS, UNFLAG):
            return self._flag(action)
        raise PermanentError(f"{self.name} cannot {action.kind}")

    def _write_back(self, action: Action) -> str:
        decision = action.decision
        if decision is None:
            raise PermanentError("write_back needs a decision")
        read = Snapshot.from_meta(action.ticket)
        group_id, priority = self.group_id(decision), self.priority(decision)
        note = action.note if self.config.note else ""

        def change(now: Snapshot) -> tuple[dict[str, Any], str] | None:
            if MARKER_TAG in now.tags:
                return None
            fields, kept = merge_write_back(read, now, group_id=group_id, priority=priority,
                                            tags=wanted_tags(decision))
            for line in kept:
                log.info("%s %s: %s", self.name, action.ticket.ref, line)
            body = {**fields, **({"comment": {"body": note, "public": False}} if note else {})}
            return body, describe(fields, kept, now, "private note" if note else "")

        done = self._safe_update(action.ticket.ref, read, change)
        return done or "already written back (deskbot's tag is on the ticket)"

    def _flag(self, action: Action) -> str:
        """Tag the ticket deskbot-failed with a private note saying why (or take the tag off again)."""
        def change(now: Snapshot) -> tuple[dict[str, Any], str] | None:
            if action.kind == UNFLAG:
                return ({"tags": [t for t in now.tags if t != FLAG_TAG]}, f"tag -{FLAG_TAG}") \
                    if FLAG_TAG in now.tags else None
            if FLAG_TAG in now.tags:
                return None
            return ({"tags": [*now.tags, FLAG_TAG], "comment": {"body": flag_note(action), "public": False}},
                    f"tag +{FLAG_TAG}; private note")

        now = Snapshot.of(zendesk_api.get_ticket(self.api, action.ticket.ref))
        return self._safe_update(action.ticket.ref, now, change) or "nothing to change"

    def _safe_update(self, ref: str, now: Snapshot,
                     change: Callable[[Snapshot], tuple[dict[str, Any], str] | None]) -> str | None:
        """One Update Ticket guarded by safe_update; on a 409 re-read and ask `change` again (None: nothing to do)."""
        for _ in range(WRITE_ATTEMPTS):
            wanted = change(now)
            if wanted is None:
                return None
            fields, detail = wanted
            try:
                zendesk_api.update_ticket(self.api, ref, {**fields, "safe_update": True,
                                                          "updated_stamp": now.updated_at}, repeatable=True)
            except Conflict:
                now = Snapshot.of(zendesk_api.get_ticket(self.api, ref))
                continue
            return detail
        raise not_done(TransientError(f"ticket {ref} kept changing; will try again next cycle"))

    def _post(self, action: Action, comment: dict[str, Any], what: str) -> str:
        """One comment through Update Ticket (never sent twice by the client: it would add a second)."""
        return post_once(lambda: zendesk_api.update_ticket(self.api, action.ticket.ref, {"comment": comment},
                                                           repeatable=False), lambda: self.verify(action), what)

    def verify(self, action: Action) -> bool | None:
        """Look on the ticket: deskbot's tag for a write-back, deskbot's comment for a note or reply."""
        ref = action.ticket.ref
        if action.kind == WRITE_BACK:
            return MARKER_TAG in zendesk_api.get_ticket(self.api, ref).get("tags", [])
        if action.kind in (*FLAG_KINDS, UNFLAG):
            return (FLAG_TAG in zendesk_api.get_ticket(self.api, ref).get("tags", [])) != (action.kind == UNFLAG)
        if action.kind not in (NOTE, ACKNOWLEDGE):
            return None
        public = action.kind == ACKNOWLEDGE
        assert self.me is not None
        for comment in zendesk_api.comments(self.api, ref):
            if comment.get("author_id") != self.me.get("id") or bool(comment.get("public")) != public:
                continue
            shown = str(comment.get("plain_body") or comment.get("body") or "")
            if is_our_reply(shown, action) if public else (
                    contains_post(shown, action.note) or (action.marker and action.marker in shown)):
                return True
        return False

