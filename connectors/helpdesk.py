"""What the Zendesk and Freshdesk sources share: groups and priorities from the rules, the ticket as
deskbot read it, merging a write-back into what agents did meanwhile, cursors, and finding our posts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import httpx

from bot.config.file import HelpdeskConfig
from bot.errors import PermanentError
from bot.models import Decision, Ticket
from bot.rules import RuleSet
from classifier.text import detect_language
from connectors.base import Observation, RawItem
from connectors.budget import Budget
from connectors.http import ApiClient
from connectors.mail import strip_quotes
from connectors.observation import observation_of, parse_time  # parse_time: used here and by the helpdesks
from connectors.turn import Turn

MARKER_TAG = "deskbot"  # on every ticket deskbot wrote back to: agents can filter on it, verify() looks for it
DEFAULT_PRIORITIES: dict[str, dict[str, str | int]] = {
    "zendesk": {"low": "low", "medium": "normal", "high": "high", "urgent": "urgent"},
    "freshdesk": {"low": 1, "medium": 2, "high": 3, "urgent": 4},
}


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(timezone.utc)


class HelpdeskSource:
    """What a Zendesk and a Freshdesk source do alike: log in once, resolve groups once, pace per cycle.

    The HTTP client (its TLS context and kept-alive connections) outlives a cycle: the next poll or webhook
    reuses it instead of setting up anew. A cycle that ends in an error drops it, so the next one starts from
    a fresh connection; `close()` releases it when the daemon stops.
    """

    kind = ""  # "zendesk" | "freshdesk"
    solved_statuses: frozenset[object] = frozenset()

    def __init__(self, config: HelpdeskConfig, *, rules: RuleSet, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] = utc_now, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config, self.rules = config, rules
        self.name = f"{self.kind}:{config.name}"
        self._transport, self._clock, self._sleep = transport, clock, sleep
        self.priorities = priority_table(rules, self.kind)
        self._api: ApiClient | None = None  # the client inside a `with` block
        self._kept: ApiClient | None = None  # the client kept between cycles
        self.groups: dict[str, int] | None = None
        self.me: dict[str, Any] | None = None
        self._first_start: datetime | None = None
        self.budgets: dict[str, Budget] = {}  # rate budgets outlive a cycle: a long Retry-After is remembered
        self.read_to: str | None = None  # the position after everything the last fetch_new read (pipeline saves it)
        self.turn = Turn()  # a cycle and a webhook never work through this source at the same moment
        self.observe: Callable[[Observation], None] | None = None  # learning from agents (bot/learning)
        self.group_names: dict[int, str] = {}

    def connect(self) -> ApiClient:
        """A new HTTP client for this account (the caller closes it)."""
        raise NotImplementedError

    def _login(self, api: ApiClient) -> tuple[dict[str, Any], dict[str, int]]:
        """Who we are and every group's name -> id."""
        raise NotImplementedError

    def __enter__(self) -> HelpdeskSource:
        return self.enter()

    def enter(self, *, wait: float | None = None) -> HelpdeskSource:
        """`with source:` that gives up after `wait` seconds while another thread is in the source (HTTP API)."""
        self.turn.take(self.name, wait)
        try:
            if self._kept is None:
                self._kept = self.connect()
            self._api = self._kept
            if self.me is None or self.groups is None:
                me, available = self._login(self._api)
                self.groups = resolve_groups(self.rules, available, source=self.name)
                self.group_names = {gid: name for name, gid in available.items()}
                self.me = me
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._api = None  # `api` is for the inside of a `with` block only
        if kind is not None:
            self.close()  # whatever went wrong may be the connection: the next cycle connects afresh
        self.turn.give()

    def close(self) -> None:
        """Release the kept HTTP client (the next cycle makes a new one); never raises."""
        kept, self._kept = self._kept, None
        if kept is not None:
            kept.close()

    @property
    def api(self) -> ApiClient:
        """The HTTP client of the current cycle."""
        if self._api is None:
            raise RuntimeError(f"{type(self).__name__} used outside its `with` block")
        return self._api

    def check(self) -> str:
        """Log in, resolve the rules' groups, and make the very read a cycle makes; say what was found."""
        with self:
            assert self.me is not None and self.groups is not None
            groups = ", ".join(f"{name} (#{gid})" for name, gid in sorted(self.groups.items()))
            reads = self.probe()
            return f"logged in as {self.login_name()}; groups {groups}; {reads}"

    def probe(self) -> str:
        """The first request fetch_new would make, made once; what it showed (raise what it raises)."""
        raise NotImplementedError

    def watch(self, tickets: Iterable[Mapping[str, Any]]) -> None:
        """Tell `observe` how tickets deskbot wrote back to look now, from a page already read (no extra call)."""
        if self.observe is None:
            return
        for data in tickets:
            tags = data.get("tags")
            if isinstance(tags, list) and MARKER_TAG in tags and "id" in data:
                self.observe(observation_of(data, source=self.name, kind=self.kind, rules=self.rules,
                                            group_names=self.group_names, priorities=self.priorities,
                                            solved_statuses=self.solved_statuses))

    def login_name(self) -> str:
        """Who deskbot is logged in as, for check()."""
        return str((self.me or {}).get("email", ""))

    def start(self, position: Mapping[str, object]) -> datetime:
        """Tickets created from then on are in scope: the cursor's, the config's, else the first start."""
        recorded = parse_time(position.get("start"))
        if recorded is not None:
            return recorded
        if self._first_start is None:
            self._first_start = self.config.start or self._clock()
        return self._first_start

    def group_id(self, decision: Decision) -> int | None:
        """The helpdesk's id of the decision's group (None: leave the group alone)."""
        if decision.group is None:
            return None
        assert self.groups is not None
        if decision.group not in self.groups:
            raise PermanentError(f"{self.name} has no group {decision.group!r} (rules changed since start?)")
        return self.groups[decision.group]

    def priority(self, decision: Decision) -> str | int | None:
        """The helpdesk's value of the decision's priority (None: leave it alone, e.g. for automated mail)."""
        if not decision.priority:
            return None
        return self.priorities.get(decision.priority, self.priorities[self.rules.default_priority])


def resolve_groups(rules: RuleSet, available: Mapping[str, int], *, source: str) -> dict[str, int]:
    """The id of every group the rules name; an unknown name stops with the rules file, line and key."""
    known = ", ".join(sorted(available)) or "(none)"
    wanted: list[tuple[str, tuple[str | int, ...]]] = [
        (route.group, ("departments", name, "group")) for name, route in rules.departments.items() if route.group]
    wanted.append((rules.triage.review_group, ("triage", "review_group")))
    wanted += [(rule.group, ("rules", i, "group")) for i, rule in enumerate(rules.rules) if rule.group]
    ids = {}
    for name, loc in wanted:
        if name not in available:
            raise rules.error_at(loc, f"{source} has no group named {name!r}; known groups: {known}")
        ids[name] = available[name]
    return ids


def priority_table(rules: RuleSet, helpdesk: str) -> dict[str, str | int]:
    """deskbot priority -> the helpdesk's, defaults overridden by [priority_map.<helpdesk>]."""
    table = {**DEFAULT_PRIORITIES[helpdesk], **rules.priority_map.get(helpdesk, {})}
    missing = [p for p in rules.priorities if p not in table]
    if missing:
        raise rules.error_at(("priorities",), f"no {helpdesk} priority for {', '.join(map(repr, missing))}; "
                             f"add them under [priority_map.{helpdesk}]")
    return {p: table[p] for p in rules.priorities}


def wanted_tags(decision: Decision) -> list[str]:
    """The decision's tags as helpdesk tags (no spaces), plus the marker."""
    tags = ["-".join(tag.lower().split()) for tag in decision.tags]
    return list(dict.fromkeys([*tags, MARKER_TAG]))


@dataclass(frozen=True)
class Snapshot:
    """Group, priority and tags of a ticket at one moment (as deskbot read it, or as it is now)."""

    updated_at: str
    group_id: int | None
    priority: str | int | None
    tags: tuple[str, ...]

    def to_meta(self) -> tuple[tuple[str, str], ...]:
        """For Ticket.meta: what a write-back compares with later."""
        return (("updated_at", self.updated_at), ("group_id", json.dumps(self.group_id)),
                ("priority", json.dumps(self.priority)), ("tags", json.dumps(list(self.tags))))

    @classmethod
    def from_meta(cls, ticket: Ticket) -> Snapshot:
        """The ticket as deskbot read it."""
        return cls(ticket.meta_value("updated_at"), json.loads(ticket.meta_value("group_id") or "null"),
                   json.loads(ticket.meta_value("priority") or "null"), tuple(json.loads(ticket.meta_value("tags") or "[]")))

    @classmethod
    def of(cls, data: Mapping[str, object]) -> Snapshot:
        """From the helpdesk's JSON ticket (both name these fields alike)."""
        group = data.get("group_id")
        tags = data.get("tags") or []
        return cls(str(data.get("updated_at") or ""), int(group) if isinstance(group, int) else None,
                   data.get("priority"), tuple(str(t) for t in tags) if isinstance(tags, list) else ())  # type: ignore[arg-type]


def merge_write_back(read: Snapshot, now: Snapshot, *, group_id: int | None, priority: str | int | None,
                     tags: Iterable[str]) -> tuple[dict[str, object], list[str]]:
    """The fields to write and what was kept: a group or priority someone changed after deskbot read
    the ticket stays theirs, tags are the union of what is there now and ours."""
    fields: dict[str, object] = {"tags": list(dict.fromkeys([*now.tags, *tags]))}
    kept = []
    if group_id is not None:
        if now.group_id != read.group_id:
            kept.append(f"group kept (changed to {now.group_id} after deskbot read the ticket)")
        elif now.group_id != group_id:
            fields["group_id"] = group_id
    if priority is None:
        pass
    elif now.priority != read.priority:
        kept.append(f"priority kept (changed to {now.priority} after deskbot read the ticket)")
    elif now.priority != priority:
        fields["priority"] = priority
    return fields, kept


def describe(fields: Mapping[str, object], kept: list[str], before: Snapshot, extra: str = "") -> str:
    """One line for the decision log: what was written and what was kept."""
    parts = [f"{name} {fields[name]}" for name in ("group_id", "priority") if name in fields]
    added = [t for t in fields.get("tags", []) if t not in before.tags]  # type: ignore[attr-defined]
    if added:
        parts.append("tags +" + " +".join(added))
    return "; ".join(parts + kept + ([extra] if extra else [])) or "nothing to change"


def build_ticket(*, source: str, ticket_id: int, subject: str, first_message: str, sender: str,
                 sender_name: str, created_at: datetime | None, snapshot: Snapshot, recipient: str = "",
                 organization: str = "", no_reply: str = "") -> Ticket:
    """The normalised Ticket of a helpdesk ticket: subject plus the customer's first message; the address it was
    sent to and its organization are kept for the rules' if_to and if_organization. `no_reply`: why the customer
    gets no public reply (an agent wrote the ticket), kept in its meta."""
    text = strip_quotes(first_message)
    meta = snapshot.to_meta() + ((("no_reply", no_reply),) if no_reply else ())
    return Ticket(source=source, key=f"{source}:{ticket_id}", ref=str(ticket_id), sender=sender.lower(),
                  sender_name=sender_name, subject=subject, body=first_message, text=text,
                  language=detect_language(f"{subject}\n{text}"), received_at=created_at,
                  meta=(*meta, *((("recipient", recipient),) if recipient else ()),
                        *((("organization", organization),) if organization else ())))


def with_resume_cursors(pages: Iterable[tuple[list[RawItem], str]], *, start: str,
                        finished: Callable[[str], None] | None = None) -> Iterator[RawItem]:
    """Give each in-scope item the position to resume from once it is recorded.

    `pages` yields each page's in-scope items and the position just after that page; `start` is the
    position before the first. An item carries the position before the page of the next in-scope
    item (re-reading that page is harmless: recorded tickets are recognised), and the last one the
    position after everything read, so pages of only out-of-scope tickets are never read again;
    `finished` is told that position once every page was read (even when no item was in scope).
    """
    held: RawItem | None = None
    before = start
    for items, after in pages:
        for item in items:
            if held is not None:
                yield replace(held, cursor=before)
            held = item
        before = after
    if held is not None:
        yield replace(held, cursor=before)
    if finished is not None:
        finished(before)


def encode_position(**values: object) -> str:
    """A cursor string (opaque to the pipeline)."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def decode_position(cursor: str | None) -> dict[str, object]:
    """The values of a cursor string; {} for none or one this version cannot read."""
    try:
        values = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    return values if isinstance(values, dict) else {}


def normalise(text: str) -> str:
    """Whitespace and case folded, for recognising our own posts in what the helpdesk shows."""
    return " ".join(text.split()).casefold()


def contains_post(shown: str, posted: str) -> bool:
    """Whether a comment's text is (the start of) a text deskbot posted; helpdesks may reformat the end."""
    wanted = normalise(posted)[:200]
    return bool(wanted) and wanted in normalise(shown)


def requester_address(source: str, requester: Mapping[str, Any], requester_id: object) -> str:
    """The requester's email; without one (messaging, social, phone) an address of its own in the reserved
    .invalid domain, so the acknowledgement backstops count per requester, never under one empty address."""
    email = str(requester.get("email") or "").strip()
    if email:
        return email
    kind, _, name = source.partition(":")
    return f"requester-{requester_id}@{name}.{kind}.invalid"
