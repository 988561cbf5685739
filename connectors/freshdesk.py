"""A Freshdesk account as a ticket source: pull new tickets, write the decision back, note, reply.

Pulling pages the ticket list by `updated_since`, oldest update first, and moves the watermark on
page by page: the list is a live query paged by offset, so tickets that change while we page move
between pages, and deep pages are never asked for. Per ticket deskbot reads it once right before
writing (Freshdesk has no conditional update: group or priority someone changed since deskbot's
read stay theirs, tags are united), then writes at most three times: the update, the private note,
the public reply. API facts and their sources: connectors/freshdesk_api.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import httpx

from bot.config.file import FreshdeskConfig
from bot.errors import BadInputError, PermanentError
from bot.models import Decision, Ticket
from bot.rules import RuleSet
from connectors import freshdesk_api
from connectors.base import ACKNOWLEDGE, NOTE, WRITE_BACK, Action, RawItem
from connectors.helpdesk import (
    MARKER_TAG,
    HelpdeskSource,
    Snapshot,
    ack_texts,
    build_ticket,
    contains_post,
    decode_position,
    describe,
    encode_position,
    merge_write_back,
    parse_time,
    post_once,
    utc_now,
    wanted_tags,
    with_resume_cursors,
)
from connectors.http import ApiClient

log = logging.getLogger(__name__)


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
        return ApiClient(cfg.url, name=self.name, auth=(cfg.api_key, "X"), clock=self._clock, sleep=self._sleep,
                         transport=self._transport, timeout=cfg.timeout, limits=freshdesk_api.LIMITS)

    def _login(self, api: ApiClient) -> tuple[dict[str, Any], dict[str, int]]:
        return freshdesk_api.me(api), freshdesk_api.groups(api)

    def login_name(self) -> str:
        """The agent's email address."""
        return str(((self.me or {}).get("contact") or {}).get("email", ""))

    # -- reading ----------------------------------------------------------------------------------

    def fetch_new(self, cursor: str | None) -> Iterator[RawItem]:
        """Open tickets created since `start` and updated since the watermark, oldest update first."""
        position = decode_position(cursor)
        start = self.start(position)
        mark = start.astimezone(timezone.utc).isoformat()
        since = parse_time(position.get("since")) or start
        first = encode_position(start=mark, since=freshdesk_api.timestamp(since))
        yield from with_resume_cursors(self._pages(start, since, mark), start=first)

    def _pages(self, start: datetime, since: datetime, mark: str) -> Iterator[tuple[list[RawItem], str]]:
        """In-scope tickets page by page, each page asked for from the newest update seen so far.

        Only while more than a page shares one second does a page number matter, and the list shifts
        under it as the tickets we act on move to a later second: ask for the same page again while it
        shows tickets not seen before, one deeper once it shows none.
        """
        seen: set[int] = set()
        page = 1
        while True:
            tickets, more = freshdesk_api.list_updated(self.api, since, page=page)
            unseen = [t for t in tickets if int(t["id"]) not in seen]
            self.watch(unseen)
            seen.update(int(t["id"]) for t in unseen)
            newest = max((parse_time(t.get("updated_at")) or since for t in tickets), default=since)
            yield ([self._raw(t) for t in unseen if self._in_scope(t, start)],
                   encode_position(start=mark, since=freshdesk_api.timestamp(newest)))
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

    @staticmethod
    def _raw(ticket: dict[str, Any]) -> RawItem:
        return RawItem(ref=str(ticket["id"]), data=json.dumps(ticket).encode(), cursor="",
                       received_at=parse_time(ticket.get("created_at")))

    def parse(self, item: RawItem) -> Ticket:
        """Subject plus the description (the customer's first message); the requester as sender."""
        try:
            ticket = json.loads(item.data)
            requester = ticket.get("requester") or {}
            ticket_id = int(ticket["id"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(f"not a Freshdesk ticket: {exc}") from None
        subject, description = str(ticket.get("subject") or ""), str(ticket.get("description_text") or "")
        if not subject.strip() and not description.strip():
            raise BadInputError("ticket has neither a subject nor a description")
        return build_ticket(source=self.name, ticket_id=ticket_id, subject=subject, first_message=description,
                            sender=str(requester.get("email") or ""), sender_name=str(requester.get("name") or ""),
                            created_at=parse_time(ticket.get("created_at")), snapshot=Snapshot.of(ticket))

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
        raise PermanentError(f"{self.name} cannot {action.kind}")

    def _write_back(self, action: Action) -> str:
        decision = action.decision
        if decision is None:
            raise PermanentError("write_back needs a decision")
        read = Snapshot.from_meta(action.ticket)
        now = Snapshot.of(freshdesk_api.get_ticket(self.api, action.ticket.ref))  # the one re-read
        if MARKER_TAG in now.tags:
            return "already written back (deskbot's tag is on the ticket)"
        fields, kept = merge_write_back(read, now, group_id=self.group_id(decision), priority=self.priority(decision),
                                        tags=wanted_tags(decision))
        freshdesk_api.update_ticket(self.api, action.ticket.ref, fields)
        for line in kept:
            log.info("%s %s: %s", self.name, action.ticket.ref, line)
        return describe(fields, kept, now)

    def verify(self, action: Action) -> bool | None:
        """Look on the ticket: deskbot's tag for a write-back, deskbot's note or reply in the conversations."""
        ref = action.ticket.ref
        if action.kind == WRITE_BACK:
            return MARKER_TAG in freshdesk_api.get_ticket(self.api, ref).get("tags", [])
        if action.kind not in (NOTE, ACKNOWLEDGE):
            return None
        private = action.kind == NOTE
        texts = [action.note] if private else ack_texts(action)
        assert self.me is not None
        for entry in freshdesk_api.conversations(self.api, ref):
            shown = str(entry.get("body_text") or "")
            if entry.get("user_id") == self.me.get("id") and bool(entry.get("private")) == private and (
                    any(contains_post(shown, t) for t in texts) or (action.marker and action.marker in shown)):
                return True
        return False
