"""FreshdeskSource through the Source protocol against a stateful fake of the documented API."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from bot.config.file import FreshdeskConfig
from bot.errors import AuthError, GoneError, PermanentError, ServiceUnavailable
from bot.models import Ticket
from bot.rules import load_rules
from connectors.base import ACKNOWLEDGE, FLAG_FAILED, NOTE, UNFLAG, WRITE_BACK, RawItem
from connectors.freshdesk import FreshdeskSource
from tests.fakes.decisions import GROUPS, action, decision
from tests.fakes.freshdesk import FakeFreshdesk
from tests.fakes.limits import FakeClock, Fault

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeFreshdesk:
    server = FakeFreshdesk(clock)
    for name in GROUPS:
        server.add_group(name)
    return server


def source(fake: FakeFreshdesk, clock: FakeClock, **changes: object) -> FreshdeskSource:
    values: dict[str, object] = {"name": "acme", "url": "https://acme.freshdesk.com", "api_key": "fd-key",
                                 "api_key_env": "DESKBOT_FRESHDESK_API_KEY", "start": START}
    return FreshdeskSource(FreshdeskConfig(**{**values, **changes}), rules=load_rules(),  # type: ignore[arg-type]
                           transport=httpx.MockTransport(fake), clock=clock, sleep=clock.sleep)


def fetch(fd: FreshdeskSource, cursor: str | None = None) -> list[RawItem]:
    with fd:
        return list(fd.fetch_new(cursor))


def read(fake: FakeFreshdesk, clock: FakeClock, **ticket: object) -> tuple[int, FreshdeskSource, Ticket]:
    """A new ticket, a source, and the ticket as the source read it."""
    tid = fake.create_ticket(str(ticket.pop("subject", "Q")), str(ticket.pop("body", "question")), **ticket)  # type: ignore[arg-type]
    fd = source(fake, clock)
    (item,) = [i for i in fetch(fd) if int(i.ref) == tid]
    return tid, fd, fd.parse(item)


def test_check_logs_in_as_the_agent_and_resolves_groups(fake: FakeFreshdesk, clock: FakeClock) -> None:
    line = source(fake, clock).check()
    assert line.startswith("logged in as triage-bot@acme.example; groups Accounts (#")


def test_wrong_api_key_is_an_auth_error(fake: FakeFreshdesk, clock: FakeClock) -> None:
    with pytest.raises(AuthError, match="invalid_credentials"):
        source(fake, clock, api_key="wrong").check()


def test_reads_open_tickets_created_since_start_with_requester_and_description(
        fake: FakeFreshdesk, clock: FakeClock) -> None:
    fake.create_ticket("Old", "before", created_at=START - timedelta(days=2))
    fake.create_ticket("Resolved", "done", status=4)
    tid = fake.create_ticket("Paket kaputt", "Die Lampe kam zerbrochen an. Bitte um Ersatz.", requester="Max@Beispiel.de")
    fd = source(fake, clock)
    items = fetch(fd)
    assert [int(i.ref) for i in items] == [tid]
    ticket = fd.parse(items[0])
    assert (ticket.key, ticket.sender, ticket.sender_name) == (f"freshdesk:acme:{tid}", "max@beispiel.de", "Max")
    assert ticket.text.startswith("Die Lampe kam zerbrochen an") and ticket.language == "de"
    assert ticket.meta_value("updated_at") == fake.tickets[tid].json()["updated_at"]


def test_pages_by_moving_the_watermark_never_deep(fake: FakeFreshdesk, clock: FakeClock) -> None:
    ids = []
    for n in range(450):
        ids.append(fake.create_ticket(f"Q{n}", "Where is my order?"))
        clock.advance(1 if n % 50 == 49 else 0)  # bursts: 50 tickets updated within each second
    fd = source(fake, clock)
    items = fetch(fd)
    assert [int(i.ref) for i in items] == ids
    assert {r["page"] for r in fake.list_requests} == {"1"}  # never deeper: the watermark moves instead
    assert len(fake.list_requests) / len(ids) <= 0.05  # 100 a page, each page re-reading its last second
    # Resuming after the last one re-reads its own second and gives none of it again (the cursor's seen set).
    requests = len(fake.list_requests)
    assert fetch(fd, items[-1].cursor) == [] and len(fake.list_requests) - requests == 1
    newer = fake.create_ticket("Later", "Another")
    assert [int(i.ref) for i in fetch(fd, items[-1].cursor)] == [newer]


@pytest.mark.parametrize("inclusive", [False, True])
def test_either_reading_of_updated_since_loses_no_ticket_of_a_bulk_second(clock: FakeClock, inclusive: bool) -> None:
    fake = FakeFreshdesk(clock, inclusive=inclusive)
    for name in GROUPS:
        fake.add_group(name)
    first = [fake.create_ticket(f"Q{n}", "bulk action") for n in range(30)]
    fd = source(fake, clock)
    items = fetch(fd)
    assert [int(i.ref) for i in items] == first
    later = [fake.create_ticket(f"L{n}", "same second as the last read") for n in range(40)]  # no time passes
    clock.advance(1)
    last = [fake.create_ticket(f"N{n}", "a second later") for n in range(3)]
    assert [int(i.ref) for i in fetch(fd, items[-1].cursor)] == later + last


def test_never_asks_past_page_300(fake: FakeFreshdesk, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors import freshdesk_api

    monkeypatch.setattr(freshdesk_api, "MAX_PAGE", 2)  # 30,000 tickets in one second, scaled down
    fake.max_page = 2
    ids = [fake.create_ticket(f"Q{n}", "same second") for n in range(250)]
    clock.advance(1)
    after = fake.create_ticket("Later", "next second")
    read = [int(i.ref) for i in fetch(source(fake, clock))]
    assert max(int(r["page"]) for r in fake.list_requests) == 2  # never page 3, which Freshdesk refuses
    assert read[:200] == ids[:200] and read[-1] == after


def test_more_than_a_page_within_one_second_goes_one_page_deeper(fake: FakeFreshdesk, clock: FakeClock) -> None:
    ids = [fake.create_ticket(f"Q{n}", "same second") for n in range(250)]
    assert [int(i.ref) for i in fetch(source(fake, clock))] == ids
    # The second request moves the watermark to that second; a page is asked for again until it shows
    # nothing new (when the pipeline acts on what it read, those tickets move on and the rest move up).
    assert [r["page"] for r in fake.list_requests] == ["1", "1", "2", "2", "3"]


def test_acting_while_paging_within_one_second_skips_nothing(fake: FakeFreshdesk, clock: FakeClock) -> None:
    ids = [fake.create_ticket(f"Q{n}", "same second") for n in range(250)]
    fd = source(fake, clock)
    acted = []
    with fd:
        for item in fd.fetch_new(None):  # each ticket written back moves to a later second while we page
            ticket = fd.parse(item)
            fd.perform(action(WRITE_BACK, ticket))
            acted.append(int(ticket.ref))
    assert sorted(acted) == ids and len(fake.list_requests) / len(ids) <= 0.05


def test_write_back_rereads_once_unites_tags_and_keeps_what_agents_changed(
        fake: FakeFreshdesk, clock: FakeClock) -> None:
    tid, fd, ticket = read(fake, clock, tags=("vip",))
    clock.advance(5)
    fake.agent_edit(tid, priority=4, tags=["vip", "escalated"])  # between deskbot's read and its write
    calls = len(fake.calls)
    with fd:
        detail = fd.perform(action(WRITE_BACK, ticket))
    state = fake.tickets[tid]
    assert (state.group_id, state.priority) == (fake.group_id("Billing"), 4)
    assert state.tags == ["vip", "escalated", "billing", "deskbot"]
    assert "priority kept (changed to 4 after deskbot read the ticket)" in detail
    assert [m for m, _ in fake.calls[calls:]] == ["GET", "PUT"]


def test_note_and_reply_are_posted_once_each(fake: FakeFreshdesk, clock: FakeClock) -> None:
    tid, fd, ticket = read(fake, clock)
    assert fd.plan(decision()) == (WRITE_BACK, NOTE, ACKNOWLEDGE)
    assert source(fake, clock, note=False, acknowledge="none").plan(decision()) == (WRITE_BACK,)
    with fd:
        for kind in fd.plan(decision()):
            assert fd.verify(action(kind, ticket)) is False
            fd.perform(action(kind, ticket))
            assert fd.verify(action(kind, ticket)) is True
    (note,), (reply,) = fake.notes(tid), fake.replies(tid)
    assert note["body_text"].startswith("deskbot: billing / high") and note["private"] is True
    assert reply["body"].startswith("Hello,<br><br>thank you") and reply["user_id"] == 1


def test_a_reply_whose_answer_was_lost_is_found_not_sent_again(fake: FakeFreshdesk, clock: FakeClock) -> None:
    tid, fd, ticket = read(fake, clock)
    fake.faults.add(Fault("POST", f"/api/v2/tickets/{tid}/reply", timeout_after_apply=True))
    with fd:
        assert fd.perform(action(ACKNOWLEDGE, ticket)).endswith("(found after the answer was lost)")
    assert len(fake.replies(tid)) == 1


def test_a_note_refused_by_a_5xx_is_looked_for_then_sent_once(fake: FakeFreshdesk, clock: FakeClock) -> None:
    tid, fd, ticket = read(fake, clock)
    fake.faults.add(Fault("POST", f"/api/v2/tickets/{tid}/notes", 500))
    with fd:
        assert fd.perform(action(NOTE, ticket)).endswith("(the first attempt never arrived)")
    assert len(fake.notes(tid)) == 1


def test_deleted_ticket_is_gone_and_validation_errors_are_permanent(fake: FakeFreshdesk, clock: FakeClock) -> None:
    tid, fd, ticket = read(fake, clock)
    fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", 400, body={
        "description": "Validation failed", "errors": [{"field": "tags", "message": "Has 40 characters", "code": "x"}]}))
    with fd, pytest.raises(PermanentError, match="HTTP 400: Validation failed; tags: Has 40 characters"):
        fd.perform(action(WRITE_BACK, ticket))
    fake.delete_ticket(tid)
    with fd, pytest.raises(GoneError):
        fd.perform(action(WRITE_BACK, ticket))


def test_429_waits_for_retry_after(fake: FakeFreshdesk, clock: FakeClock) -> None:
    tid, fd, ticket = read(fake, clock)
    fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", 429, headers={"Retry-After": "20"}))
    slept = clock.slept
    with fd:
        fd.perform(action(WRITE_BACK, ticket))
    assert clock.slept - slept >= 20 and "deskbot" in fake.tickets[tid].tags


def test_calls_per_ticket(fake: FakeFreshdesk, clock: FakeClock) -> None:
    count = 300
    for n in range(count):
        fake.create_ticket(f"Q{n}", "question")
    fd = source(fake, clock)
    items = fetch(fd)
    pulled = len(fake.calls)
    with fd:
        for item in items:
            ticket = fd.parse(item)
            for kind in fd.plan(decision()):
                fd.perform(action(kind, ticket))
    lists = sum(1 for _, path in fake.calls[:pulled] if path == "/api/v2/tickets")
    methods = [m for m, _ in fake.calls[pulled:]]
    assert lists / count <= 0.05 and methods.count("GET") / count == 1
    assert (methods.count("PUT") + methods.count("POST")) / count == 3 and fake.throttled == 0


def test_an_outbound_email_gets_no_reply_and_is_read_from_the_customers_answer(
        fake: FakeFreshdesk, clock: FakeClock) -> None:
    outbound = fake.create_ticket("Your renewal", "Dear customer, your licence expires soon.", source=10)
    fake.customer_reply(outbound, "Please send me a quote for 40 licences.")
    silent = fake.create_ticket("Your order", "We shipped your order.", source=10)
    phoned = fake.create_ticket("Call", "Caller asks about an invoice", requester=None, source=3)
    fd = source(fake, clock)
    tickets = {int(i.ref): fd.parse(i) for i in fetch(fd)}
    assert tickets[outbound].text == "Please send me a quote for 40 licences."
    assert "outbound email" in tickets[outbound].meta_value("no_reply")
    assert tickets[silent].text == "We shipped your order." and tickets[silent].meta_value("no_reply")
    assert tickets[phoned].sender.endswith("@acme.freshdesk.invalid") and not tickets[phoned].meta_value("no_reply")


def test_a_ticket_resolved_before_deskbot_writes_is_left_alone(fake: FakeFreshdesk, clock: FakeClock) -> None:
    tid, fd, ticket = read(fake, clock)
    fake.agent_edit(tid, status=5)
    with fd, pytest.raises(GoneError, match="left alone"):
        fd.perform(action(WRITE_BACK, ticket))
    assert "deskbot" not in fake.tickets[tid].tags


def test_flagging_tags_the_ticket_with_one_note(fake: FakeFreshdesk, clock: FakeClock) -> None:
    tid, fd, ticket = read(fake, clock)
    flag = replace(action(FLAG_FAILED, ticket), note="HTTP 400: Validation failed")
    with fd:
        assert fd.verify(flag) is False
        assert fd.perform(flag) == "tag +deskbot-failed; private note"
        assert fd.verify(flag) is True and fd.perform(flag) == "already flagged"
        assert fd.perform(action(UNFLAG, ticket)) == "tag -deskbot-failed"
    (note,) = fake.notes(tid)
    assert "Validation failed" in note["body_text"] and "deskbot-failed" not in fake.tickets[tid].tags


def test_an_hourly_plan_is_paced_by_what_the_headers_say_is_left(clock: FakeClock) -> None:
    fake = FakeFreshdesk(clock, account_limit=100, window=3600)  # an older plan: 100 credits an hour
    for name in GROUPS:
        fake.add_group(name)
    ids = [fake.create_ticket(f"Q{n}", "question") for n in range(60)]  # 2 credits each, 5 a list page
    fd, done, cursor = source(fake, clock), set(), None
    for _ in range(63):  # a poll a minute, into the next hour
        try:
            with fd:
                for item in fd.fetch_new(cursor):
                    if item.ref not in done:
                        fd.perform(action(WRITE_BACK, fd.parse(item)))
                        done.add(item.ref)
                    cursor = item.cursor
        except ServiceUnavailable:
            pass
        clock.advance(60)
    assert all("deskbot" in fake.tickets[i].tags for i in ids)
    assert fake.throttled <= 1  # not a 429 every poll: not assumed per minute, and Retry-After remembered
