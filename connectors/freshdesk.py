"""A Freshdesk account as a ticket source: pull new tickets, write the decision back, note, reply.

Pulling pages the ticket list by `updated_since`, oldest update first, and moves the watermark on
page by page: the list is a live query paged by offset, so tickets that change while we page move
between pages, and deep pages are never asked for. Per ticket deskbot reads it once right before
writing (Freshdesk has no conditional update: group or priority someone changed since deskbot's
read stay theirs, tags are united), then writes at most three times: the update, the private note,
the public reply. API facts and their sources: connectors/freshdesk_api.py.

An agent's outbound email (source 10) is triaged without a public reply (connectors/authorship.py);
a ticket resolved, closed or merged between deskbot's read and its write is left alone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from bot.config.file import FreshdeskConfig
from bot.errors import BadInputError, GoneError, PermanentError
from bot.models import Decision, Ticket
from bot.rules import RuleSet
from connectors import freshdesk_api
from connectors.authorship import freshdesk_customer_text, freshdesk_no_reply
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
from connectors.http import ApiClient
from connectors.posts import FLAG_KINDS, FLAG_TAG, flag_note, is_our_reply, post_once

log = logging.getLogger(__name__)
WATERMARK_OVERLAP = timedelta(seconds=1)  # ask from a second before the watermark: updated_since may be exclusive
SEEN_KEPT = 1000  # ids at the watermark's second kept in the cursor (more: they are read again, and recognised)


class FreshdeskSource(HelpdeskSource):
    """One [[freshdesk]] table; use as a context manager per cycle (logs in, resolves groups once)."""

    kind = "freshdesk"
    solved_statuses = frozenset({4, 5})
    config: FreshdeskConfig

    def __init__(self, config: FreshdeskConfig, *, rules: RuleSet, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] = utc_now, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config, rules=rules, transport=transport, clock=clock, sleep=sleep)

    def connect(self) -> ApiClient:
        cfg = self.config
        # The account limit's headers do not say per what (minute, or hour on older plans): account_window None.
        return ApiClient(cfg.url, name=self.name, auth=(cfg.api_key, "X"), clock=self._clock, sleep=self._sleep,
                         transport=self._transport, timeout=cfg.timeout, limits=freshdesk_api.LIMITS,
                         budgets=self.budgets, account_window=None)

    def _login(self, api: ApiClient) -> tuple[dict[str, Any], dict[str, int]]:
        return freshdesk_api.me(api), freshdesk_api.groups(api)

    def login_name(self) -> str:
        """The agent's email address."""
        return str(((self.me or {}).get("contact") or {}).get("email", ""))

    def probe(self) -> str:
        """The ticket list request a cycle makes, from a minute ago."""
        tickets, _ = freshdesk_api.list_updated(self.api, self._clock() - timedelta(minutes=1), page=1)
        return f"the ticket list answers ({len(tickets)} ticket(s) updated in the last minute)"

    # -- reading ----------------------------------------------------------------------------------

    def fetch_new(self, cursor: str | None) -> Iterator[RawItem]:
        """Open tickets created since `start` and updated since the watermark, oldest update first."""
        self.read_to = None
        position = decode_position(cursor)
        start = self.start(position)
        mark = start.astimezone(timezone.utc).isoformat()
        since = parse_time(position.get("since")) or start
        seen = {int(i) for i in position.get("seen") or [] if isinstance(i, int)}  # type: ignore[union-attr]
        first = encode_position(start=mark, since=freshdesk_api.timestamp(since), seen=sorted(seen))
        yield from with_resume_cursors(self._pages(start, since, mark, seen), start=first, finished=self._finished)

    def _finished(self, position: str) -> None:
        self.read_to = position

    def _pages(self, start: datetime, since: datetime, mark: str,
               seen: set[int]) -> Iterator[tuple[list[RawItem], str]]:
        """In-scope tickets page by page, each page asked for from the newest update seen so far.

        Freshdesk does not say whether `updated_since` includes its own second, so each request asks
        from a second earlier (WATERMARK_OVERLAP) and the tickets already seen at the watermark's second
        are skipped: either reading loses nothing. Only while more than a page shares one second does a
        page number matter, and the list shifts under it as the tickets we act on move to a later
        second: ask for the same page again while it shows tickets not seen before, one deeper once it
        shows none, never past MAX_PAGE (Freshdesk refuses it).
        """
        stamps = dict.fromkeys(seen, since)  # every ticket id read (from the cursor: at the watermark) -> updated_at
        page = 1
        while True:
            if page > freshdesk_api.MAX_PAGE:
                log.error("%s: more than %d tickets were updated at %s; the list cannot page further, moving on",
                          self.name, freshdesk_api.MAX_PAGE * freshdesk_api.PAGE, freshdesk_api.timestamp(since))
                since, page = since + WATERMARK_OVERLAP, 1
            tickets, more = freshdesk_api.list_updated(self.api, since - WATERMARK_OVERLAP, page=page)
            unseen = [t for t in tickets if int(t["id"]) not in stamps]
            self.watch(tickets)  # every ticket of the page: one seen at the watermark may have changed since
            for ticket in tickets:
                stamps[int(ticket["id"])] = parse_time(ticket.get("updated_at")) or since
            newest = max([since, *(stamps[int(t["id"])] for t in tickets)])
            at_mark = sorted(i for i, stamp in stamps.items() if stamp == newest)
            yield ([self._raw(t) for t in unseen if self._in_scope(t, start)],
                   encode_position(start=mark, since=freshdesk_api.timestamp(newest),
                                   seen=at_mark if len(at_mark) <= SEEN_KEPT else []))
            if not more:
                return
            if newest > since:
                since, page = newest, 1
            elif not unseen:
                page += 1

    def fetch_one(self, ticket_id: int) -> RawItem | None:
        """One ticket a webhook names, read as fetch_new reads it; None when resolved, closed or before `start`."""
        ticket = freshdesk_api.view_ticket(self.api, str(ticket_id))
        if not self._in_scope(ticket, self.config.start or datetime.min.replace(tzinfo=timezone.utc)):
            return None
        return replace(self._raw(ticket), cursor=None)  # a pushed ticket leaves the watermark alone

    @staticmethod
    def _in_scope(ticket: dict[str, Any], start: datetime) -> bool:
        created = parse_time(ticket.get("created_at"))
        return created is not None and created >= start and ticket.get("status") not in freshdesk_api.CLOSED_STATUSES

    def _raw(self, ticket: dict[str, Any]) -> RawItem:
        """The ticket and, for an agent's outbound email, the requester's first answer (one more read)."""
        if freshdesk_no_reply(ticket):
            ticket = {**ticket, "customer_text": freshdesk_customer_text(
                freshdesk_api.conversations(self.api, str(ticket["id"])))}
        return RawItem(ref=str(ticket["id"]), data=json.dumps(ticket).encode(), cursor="",
                       received_at=parse_time(ticket.get("created_at")), key=f"{self.name}:{ticket['id']}")

    def parse(self, item: RawItem) -> Ticket:
        """Subject plus the description (the customer's first message); the requester as sender."""
        try:
            ticket = json.loads(item.data)
            requester = ticket.get("requester") or {}
            ticket_id = int(ticket["id"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(f"not a Freshdesk ticket: {exc}") from None
        subject = str(ticket.get("subject") or "")
        description = str(ticket.get("customer_text") or ticket.get("description_text") or "")
        if not subject.strip() and not description.strip():
            raise BadInputError("ticket has neither a subject nor a description")
        sender = requester_address(self.name, requester, ticket.get("requester_id"))
        return build_ticket(source=self.name, ticket_id=ticket_id, subject=subject, first_message=description,
                            sender=sender, sender_name=str(requester.get("name") or ""),
                            created_at=parse_time(ticket.get("created_at")), snapshot=Snapshot.of(ticket),
                            recipient=", ".join(map(str, ticket.get("to_emails") or [])),
                            organization=str(ticket.get("company_id") or ""), no_reply=freshdesk_no_reply(ticket))

    # -- acting -----------------------------------------------------------------------------------

    def plan(self, decision: Decision) -> tuple[str, ...]:
        """Write-back, the private note if notes are on, the public reply if replies are on."""
        kinds = [WRITE_BACK]
        if self.config.note:
            kinds.append(NOTE)
        if self.config.acknowledge == "reply":
            kinds.append(ACKNOWLEDGE)
        return tuple(kinds)

    def perform(self, action: Action) -> str:
        """Cause one action's effect; the detail says what was written and what was kept."""
        ref = action.ticket.ref
        if action.kind == WRITE_BACK:
            return self._write_back(action)
        if action.kind == NOTE:
            return post_once(lambda: freshdesk_api.add_note(self.api, ref, action.note), lambda: self.verify(action),
                             "private note")
        if action.kind == ACKNOWLEDGE:
            ack = action.ack
            if ack is None:
                raise PermanentError("no acknowledgement was rendered for this ticket")
            return post_once(lambda: freshdesk_api.reply(self.api, ref, ack.text, ack.html), lambda: self.verify(action),
                             f"public reply to {ack.to}")
        if action.kind in (*FLAG_KINDS, UNFLAG):
            return self._flag(action)
        raise PermanentError(f"{self.name} cannot {action.kind}")

    def _write_back(self, action: Action) -> str:
        decision = action.decision
        if decision is None:
            raise PermanentError("write_back needs a decision")
        read = Snapshot.from_meta(action.ticket)
        current = freshdesk_api.get_ticket(self.api, action.ticket.ref)  # the one re-read
        if current.get("status") in freshdesk_api.CLOSED_STATUSES:
            raise GoneError(f"ticket {action.ticket.ref} was resolved, closed or merged before deskbot wrote to it; "
                            "left alone")
        now = Snapshot.of(current)
        if MARKER_TAG in now.tags:
            return "already written back (deskbot's tag is on the ticket)"
        fields, kept = merge_write_back(read, now, group_id=self.group_id(decision), priority=self.priority(decision),
                                        tags=wanted_tags(decision))
        freshdesk_api.update_ticket(self.api, action.ticket.ref, fields)
        for line in kept:
            log.info("%s %s: %s", self.name, action.ticket.ref, line)
        return describe(fields, kept, now)

    def _flag(self, action: Action) -> str:
        """Tag the ticket deskbot-failed with a private note saying why (or take the tag off again)."""
        ref = action.ticket.ref
        tags = [str(t) for t in freshdesk_api.get_ticket(self.api, ref).get("tags") or []]
        if action.kind == UNFLAG:
            if FLAG_TAG not in tags:
                return "nothing to change"
            freshdesk_api.update_ticket(self.api, ref, {"tags": [t for t in tags if t != FLAG_TAG]})
            return f"tag -{FLAG_TAG}"
        if FLAG_TAG in tags:
            return "already flagged"
        note = flag_note(action)
        if not self._posted(ref, note, private=True):  # a note posted before an interruption is not posted twice
            freshdesk_api.add_note(self.api, ref, note)
        freshdesk_api.update_ticket(self.api, ref, {"tags": [*tags, FLAG_TAG]})
        return f"tag +{FLAG_TAG}; private note"

    def _posted(self, ref: str, text: str, *, private: bool) -> bool:
        assert self.me is not None
        return any(entry.get("user_id") == self.me.get("id") and bool(entry.get("private")) == private
                   and contains_post(str(entry.get("body_text") or ""), text)
                   for entry in freshdesk_api.conversations(self.api, ref))

    def verify(self, action: Action) -> bool | None:
        """Look on the ticket: deskbot's tag for a write-back, deskbot's note or reply in the conversations."""
        ref = action.ticket.ref
        if action.kind == WRITE_BACK:
            return MARKER_TAG in freshdesk_api.get_ticket(self.api, ref).get("tags", [])
        if action.kind in (*FLAG_KINDS, UNFLAG):
            return (FLAG_TAG in freshdesk_api.get_ticket(self.api, ref).get("tags", [])) != (action.kind == UNFLAG)
        if action.kind == NOTE:
            return self._posted(ref, action.note, private=True)
        if action.kind != ACKNOWLEDGE:
            return None
        assert self.me is not None
        return any(entry.get("user_id") == self.me.get("id") and not entry.get("private")
                   and is_our_reply(str(entry.get("body_text") or ""), action)
                   for entry in freshdesk_api.conversations(self.api, ref))
