"""ZendeskSource through the Source protocol against a stateful fake of the documented API."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from bot.config.file import ZendeskConfig
from bot.errors import AuthError, ConfigError, GoneError, PermanentError, ServiceUnavailable, TransientError
from bot.models import Ticket
from bot.rules import RuleSet, load_rules, shipped_rules_path
from connectors.base import ACKNOWLEDGE, FLAG_FAILED, NOTE, QUARANTINE, SET_ASIDE, UNFLAG, WRITE_BACK, RawItem
from connectors.zendesk import ZendeskSource
from tests.fakes.decisions import GROUPS, action, decision
from tests.fakes.limits import FakeClock, Fault
from tests.fakes.zendesk import FakeZendesk

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeZendesk:
    server = FakeZendesk(clock)
    for name in GROUPS:
        server.add_group(name)
    return server


def config(**changes: object) -> ZendeskConfig:
    values: dict[str, object] = {"name": "acme", "url": "https://acme.zendesk.com", "email": "triage-bot@acme.example",
                                 "token_env": "DESKBOT_ZENDESK_TOKEN", "token": "zd-token", "start": START}
    return ZendeskConfig(**{**values, **changes})  # type: ignore[arg-type]


def source(fake: FakeZendesk, clock: FakeClock, rules: RuleSet | None = None, **changes: object) -> ZendeskSource:
    return ZendeskSource(config(**changes), rules=rules or load_rules(), transport=httpx.MockTransport(fake),
                         clock=clock, sleep=clock.sleep)


def fetch(zd: ZendeskSource, clock: FakeClock, cursor: str | None = None) -> list[RawItem]:
    clock.advance(61)  # the export leaves out the last minute's changes
    with zd:
        return list(zd.fetch_new(cursor))


def test_check_logs_in_and_resolves_the_rules_groups(fake: FakeZendesk, clock: FakeClock) -> None:
    line = source(fake, clock).check()
    assert line.startswith("logged in as triage-bot@acme.example (admin); groups Accounts (#")
    assert f"Billing (#{fake.group_id('Billing')})" in line
    assert line.endswith("the incremental export answers (0 ticket(s) on its first page)")
    assert ("GET", "/api/v2/incremental/tickets/cursor.json") in fake.calls  # the very read a cycle makes


def test_check_refuses_an_agent_naming_the_admin_requirement(clock: FakeClock) -> None:
    fake = FakeZendesk(clock, role="agent")
    for name in GROUPS:
        fake.add_group(name)
    with pytest.raises(AuthError, match="allowed for Zendesk admins only, and triage-bot@acme.example is agent: "
                                        "give this user the admin role"):
        source(fake, clock).check()
    zd = source(fake, clock)
    with pytest.raises(AuthError, match="admins only"):  # a cycle reads nothing and says why
        fetch(zd, clock)


def test_an_unknown_group_names_the_rules_file_line_and_the_groups_that_exist(
        fake: FakeZendesk, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(shipped_rules_path().read_text().replace('group = "Sales"', 'group = "Presales"'))
    with pytest.raises(ConfigError) as caught:
        source(fake, clock, load_rules(path)).check()
    assert caught.value.path == str(path) and caught.value.key == "departments.sales.group"
    assert "zendesk:acme has no group named 'Presales'; known groups: Accounts, Billing" in str(caught.value)


def test_wrong_token_is_an_auth_error(fake: FakeZendesk, clock: FakeClock) -> None:
    with pytest.raises(AuthError, match="credentials refused"):
        source(fake, clock, token="wrong").check()


def test_first_contact_reads_open_tickets_created_since_start(fake: FakeZendesk, clock: FakeClock) -> None:
    old = fake.create_ticket("Old", "Before start", created_at=START - timedelta(days=1))
    fake.agent_edit(old, status="open")  # changed after start, created before: out of scope
    solved = fake.create_ticket("Done", "Thanks", status="solved")
    new = fake.create_ticket("Invoice wrong", "My invoice shows the wrong VAT number.\n\n> On Monday you wrote:\n> hi",
                             requester="Jane@Example.com")
    zd = source(fake, clock)
    items = fetch(zd, clock)
    assert [item.ref for item in items] == [str(new)] and solved not in [int(i.ref) for i in items]
    ticket = zd.parse(items[0])
    assert (ticket.key, ticket.ref, ticket.source) == (f"zendesk:acme:{new}", str(new), "zendesk:acme")
    assert (ticket.sender, ticket.sender_name, ticket.subject) == ("jane@example.com", "Jane", "Invoice wrong")
    assert ticket.text == "My invoice shows the wrong VAT number." and "On Monday" in ticket.body
    assert ticket.language == "en" and ticket.received_at == clock.now - timedelta(seconds=61)
    assert ticket.meta_value("updated_at") == fake.tickets[new].json()["updated_at"]


def test_export_pages_and_resumes_from_the_cursor(fake: FakeZendesk, clock: FakeClock) -> None:
    ids = [fake.create_ticket(f"Question {n}", "Where is my order?") for n in range(2500)]
    zd = source(fake, clock)
    items = fetch(zd, clock)
    assert [int(i.ref) for i in items] == ids
    assert sum(1 for _, path in fake.calls if "incremental" in path) == 3  # 1,000 a page
    # A crash after recording item 1,500: resuming re-reads its page (recorded ones are recognised), never less.
    again = [int(i.ref) for i in fetch(zd, clock, items[1499].cursor)]
    assert again[0] <= ids[1500] and again == ids[again and ids.index(again[0]):]
    assert fetch(zd, clock, items[-1].cursor) == []
    newer = fake.create_ticket("Later", "Another one")
    assert [int(i.ref) for i in fetch(zd, clock, items[-1].cursor)] == [newer]


def test_out_of_scope_changes_at_the_end_do_not_hold_the_cursor_back(fake: FakeZendesk, clock: FakeClock) -> None:
    first = fake.create_ticket("New", "Please help")
    later = [fake.create_ticket(f"Done {n}", "ok", status="solved") for n in range(3)]
    zd = source(fake, clock)
    (item,) = fetch(zd, clock)
    assert int(item.ref) == first and later
    calls = len(fake.calls)
    assert fetch(zd, clock, item.cursor) == []
    assert len(fake.calls) - calls == 1  # one export page: nothing already read is read again


def read_one(fake: FakeZendesk, clock: FakeClock, zd: ZendeskSource, ticket_id: int) -> Ticket:
    items = [i for i in fetch(zd, clock) if int(i.ref) == ticket_id]
    return zd.parse(items[0])


def one_ticket(fake: FakeZendesk, clock: FakeClock) -> tuple[int, ZendeskSource, Ticket]:
    """A new ticket, a source, and the ticket as the source read it."""
    tid = fake.create_ticket("Q", "question")
    zd = source(fake, clock)
    return tid, zd, read_one(fake, clock, zd, tid)


def test_write_back_merges_tags_and_folds_the_note_into_one_update(fake: FakeZendesk, clock: FakeClock) -> None:
    tid = fake.create_ticket("Invoice wrong", "VAT number wrong", tags=("vip", "from-web"))
    zd = source(fake, clock)
    ticket = read_one(fake, clock, zd, tid)
    writes = fake.writes()
    with zd:
        detail = zd.perform(action(WRITE_BACK, ticket))
    state = fake.tickets[tid]
    assert (state.group_id, state.priority) == (fake.group_id("Billing"), "high")
    assert state.tags == ["vip", "from-web", "billing", "deskbot"]
    (note,) = fake.private_notes(tid)
    assert note["body"].startswith("deskbot: billing / high") and note["author_id"] == 1
    assert fake.writes() - writes == 1
    assert detail.startswith(f"group_id {fake.group_id('Billing')}; priority high; tags +billing +deskbot")


def test_what_an_agent_changed_after_deskbot_read_the_ticket_is_kept(fake: FakeZendesk, clock: FakeClock) -> None:
    tid = fake.create_ticket("Refund", "I want my money back")
    zd = source(fake, clock)
    ticket = read_one(fake, clock, zd, tid)
    fake.agent_edit(tid, group="Sales", tags=["escalated"])  # between deskbot's read and its write
    with zd:
        detail = zd.perform(action(WRITE_BACK, ticket))
    state = fake.tickets[tid]
    assert state.group_id == fake.group_id("Sales") and state.priority == "high"
    assert state.tags == ["escalated", "billing", "deskbot"]
    assert "group kept (changed to" in detail and len(fake.private_notes(tid)) == 1


def test_a_deleted_ticket_is_gone(fake: FakeZendesk, clock: FakeClock) -> None:
    tid = fake.create_ticket("Spam?", "buy now")
    zd = source(fake, clock)
    ticket = read_one(fake, clock, zd, tid)
    fake.delete_ticket(tid)
    with zd, pytest.raises(GoneError, match="not found"):
        zd.perform(action(WRITE_BACK, ticket))


def test_a_refused_update_is_permanent_with_the_apis_message(fake: FakeZendesk, clock: FakeClock) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", 422, body={"error": "RecordInvalid",
                                                                      "description": "Requester is suspended"}))
    with zd, pytest.raises(PermanentError, match="HTTP 422: RecordInvalid; Requester is suspended"):
        zd.perform(action(WRITE_BACK, ticket))


def test_429_on_update_waits_for_retry_after(fake: FakeZendesk, clock: FakeClock) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", 429, headers={"Retry-After": "13"}))
    slept = clock.slept
    with zd:
        zd.perform(action(WRITE_BACK, ticket))
    assert clock.slept - slept >= 13 and "deskbot" in fake.tickets[tid].tags


def test_a_persisting_5xx_is_transient(fake: FakeZendesk, clock: FakeClock) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", 503, times=10))
    with zd, pytest.raises(TransientError, match="HTTP 503 after 4 attempts"):
        zd.perform(action(WRITE_BACK, ticket))
    assert "deskbot" not in fake.tickets[tid].tags


def test_a_write_back_whose_answer_was_lost_is_not_applied_twice(fake: FakeZendesk, clock: FakeClock) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", timeout_after_apply=True))
    with zd:
        detail = zd.perform(action(WRITE_BACK, ticket))
    assert detail.startswith("already written back") and len(fake.private_notes(tid)) == 1


def test_reply_is_public_and_found_after_a_lost_answer(fake: FakeZendesk, clock: FakeClock) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    ack = action(ACKNOWLEDGE, ticket)
    with zd:
        assert zd.verify(ack) is False
        fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", timeout_after_apply=True))
        assert zd.perform(ack) == "public reply to customer@example.com posted (found after the answer was lost)"
        assert zd.verify(ack) is True
    (reply,) = fake.public_replies(tid)
    assert reply["body"] == ack.ack.text and reply["author_id"] == 1  # type: ignore[union-attr]


def test_a_reply_that_never_arrived_is_sent_once_more(fake: FakeZendesk, clock: FakeClock) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", 502))
    with zd:
        assert zd.perform(action(ACKNOWLEDGE, ticket)).endswith("(the first attempt never arrived)")
    assert len(fake.public_replies(tid)) == 1


def test_plan_and_verify_for_each_action(fake: FakeZendesk, clock: FakeClock) -> None:
    tid = fake.create_ticket("Q", "question")
    zd = source(fake, clock)
    assert zd.plan(decision()) == (WRITE_BACK, ACKNOWLEDGE)
    assert source(fake, clock, acknowledge="none").plan(decision()) == (WRITE_BACK,)
    ticket = read_one(fake, clock, zd, tid)
    with zd:
        assert zd.verify(action(NOTE, ticket)) is False
        for kind in (WRITE_BACK, ACKNOWLEDGE):
            assert zd.verify(action(kind, ticket)) is False
            zd.perform(action(kind, ticket))
            assert zd.verify(action(kind, ticket)) is True
        assert zd.verify(action(NOTE, ticket)) is True  # the note came with the write-back
    assert len(fake.private_notes(tid)) == 1 and len(fake.public_replies(tid)) == 1


def test_priority_map_from_the_rules(fake: FakeZendesk, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(shipped_rules_path().read_text() + '\n[priority_map.zendesk]\nhigh = "urgent"\n')
    tid = fake.create_ticket("Q", "question")
    zd = source(fake, clock, load_rules(path))
    ticket = read_one(fake, clock, zd, tid)
    with zd:
        zd.perform(action(WRITE_BACK, ticket))
    assert fake.tickets[tid].priority == "urgent"


def test_calls_per_ticket(fake: FakeZendesk, clock: FakeClock) -> None:
    ids = [fake.create_ticket(f"Q{n}", "question") for n in range(200)]
    zd = source(fake, clock)
    items = fetch(zd, clock)
    before = len(fake.calls)
    with zd:
        for item in items:
            ticket = zd.parse(item)
            for kind in zd.plan(decision()):
                zd.perform(action(kind, ticket))
    reads = sum(1 for method, _ in fake.calls[:before] if method == "GET") / len(ids)
    writes = (len(fake.calls) - before) / len(ids)
    assert reads <= 0.05 and writes == 2 and fake.throttled == 0


def test_a_ticket_an_agent_opened_gets_no_reply_and_is_read_from_the_customers_comment(
        fake: FakeZendesk, clock: FakeClock) -> None:
    by_agent = fake.create_ticket("Called about invoice", "Customer phoned: says VAT is wrong", by_agent=True)
    fake.customer_comment(by_agent, "My invoice 4411 shows the wrong VAT number, please correct it.")
    private = fake.create_ticket("Internal", "Escalation from sales, check the contract", public=False)
    own = fake.create_ticket("Refund", "Please refund my order")
    zd = source(fake, clock)
    tickets = {int(i.ref): zd.parse(i) for i in fetch(zd, clock)}
    assert tickets[by_agent].text == "My invoice 4411 shows the wrong VAT number, please correct it."
    assert "opened by an agent" in tickets[by_agent].meta_value("no_reply")
    assert "via web" in tickets[by_agent].meta_value("no_reply")
    assert tickets[private].text == "Escalation from sales, check the contract"  # no public customer message yet
    assert "private comment" in tickets[private].meta_value("no_reply")
    assert tickets[own].meta_value("no_reply") == ""


def test_requesters_without_email_get_an_address_each(fake: FakeZendesk, clock: FakeClock) -> None:
    first = fake.create_ticket("Chat", "Hi, my parcel is late", requester=None, channel="native_messaging")
    second = fake.create_ticket("Chat", "Hi, my parcel is late", requester=None, channel="native_messaging")
    zd = source(fake, clock)
    senders = {int(i.ref): zd.parse(i).sender for i in fetch(zd, clock)}
    assert senders[first] != senders[second] and all(s.endswith("@acme.zendesk.invalid") for s in senders.values())


def test_the_per_ticket_limit_paces_one_ticket_not_the_endpoint(fake: FakeZendesk, clock: FakeClock) -> None:
    ids = [fake.create_ticket(f"Q{n}", "question") for n in range(100)]
    zd = source(fake, clock)
    tickets = [zd.parse(i) for i in fetch(zd, clock)]
    started = clock()
    with zd:
        for ticket in tickets:
            zd.perform(action(WRITE_BACK, ticket))
    assert all("deskbot" in fake.tickets[i].tags for i in ids) and fake.throttled == 0
    assert (clock() - started).total_seconds() < 70  # 100 updates a minute, not 29


def test_a_ticket_over_its_own_limit_waits_while_others_go_on(clock: FakeClock) -> None:
    fake = FakeZendesk(clock, per_ticket_limit=1)
    for name in GROUPS:
        fake.add_group(name)
    busy, other = fake.create_ticket("A", "first"), fake.create_ticket("B", "second")
    zd = source(fake, clock)
    tickets = {int(i.ref): zd.parse(i) for i in fetch(zd, clock)}
    with zd:
        zd.perform(action(WRITE_BACK, tickets[busy]))
        with pytest.raises(ServiceUnavailable, match="rate limit"):  # its 10 minutes are not over
            zd.perform(action(ACKNOWLEDGE, tickets[busy]))
        slept = clock.slept
        zd.perform(action(WRITE_BACK, tickets[other]))
    assert clock.slept == slept and "deskbot" in fake.tickets[other].tags


def test_a_long_retry_after_is_remembered_across_polls(fake: FakeZendesk, clock: FakeClock) -> None:
    fake.create_ticket("Q", "question")
    fake.faults.add(Fault("GET", "/api/v2/incremental", 429, headers={"Retry-After": "3600"}))
    zd = source(fake, clock)
    with pytest.raises(ServiceUnavailable, match="wait 3600 s"):
        fetch(zd, clock)
    asked = sum(1 for _, path in fake.calls if "incremental" in path)
    with pytest.raises(ServiceUnavailable, match="next request possible in"):
        fetch(zd, clock)  # a minute later: the hour is not over, nothing is asked
    assert sum(1 for _, path in fake.calls if "incremental" in path) == asked
    clock.advance(3600)
    assert len(fetch(zd, clock)) == 1


def test_a_ticket_closed_before_deskbot_writes_is_left_alone(fake: FakeZendesk, clock: FakeClock) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    fake.agent_edit(tid, status="closed")
    with zd, pytest.raises(GoneError, match="closed or merged before deskbot wrote to it; left alone"):
        zd.perform(action(WRITE_BACK, ticket))
    assert sum(1 for method, _ in fake.calls if method == "PUT") == 1  # refused once, never retried


@pytest.mark.parametrize("kind", [SET_ASIDE, FLAG_FAILED, QUARANTINE])
def test_flagging_tags_the_ticket_and_says_why_in_a_private_note(fake: FakeZendesk, clock: FakeClock,
                                                                kind: str) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    flag = replace(action(kind, ticket), note="HTTP 422: Requester is suspended")
    with zd:
        assert zd.verify(flag) is False
        assert zd.perform(flag) == "tag +deskbot-failed; private note"
        assert zd.verify(flag) is True and zd.perform(flag) == "nothing to change"
        assert zd.verify(action(UNFLAG, ticket)) is False
        assert zd.perform(action(UNFLAG, ticket)) == "tag -deskbot-failed"
    (note,) = fake.private_notes(tid)
    assert "Requester is suspended" in note["body"] and "deskbot-failed" not in fake.tickets[tid].tags


def test_a_reply_rendered_by_zendesks_own_converter_is_still_found(fake: FakeZendesk, clock: FakeClock) -> None:
    tid, zd, ticket = one_ticket(fake, clock)
    ack = action(ACKNOWLEDGE, ticket)
    html = ('<p>Hello <a href="https://acme.example/account">Jane</a>,</p><ul><li>your reference: '
            '<b>SUP-000042</b></li><li>answer by <i>Monday</i></li></ul><p>Your support team</p>')
    ack = replace(ack, ack=replace(ack.ack, html=html))  # type: ignore[type-var]
    fake.faults.add(Fault("PUT", f"/api/v2/tickets/{tid}", timeout_after_apply=True))
    with zd:
        assert zd.perform(ack).endswith("(found after the answer was lost)")
    (reply,) = fake.public_replies(tid)
    assert "Jane (https://acme.example/account)" in reply["plain_body"]  # not what inscriptis makes of it


class CountedTransport(httpx.MockTransport):
    """The fake behind a transport that counts how often a client closed it (once per client set up)."""

    def __init__(self, fake: FakeZendesk) -> None:
        super().__init__(fake)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_cycles_reuse_one_http_client_and_a_failed_cycle_starts_the_next_afresh(fake: FakeZendesk,
                                                                                 clock: FakeClock) -> None:
    transport = CountedTransport(fake)
    zd = ZendeskSource(config(), rules=load_rules(), transport=transport, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        fetch(zd, clock)
    assert transport.closed == 0  # no per-cycle set-up: the same client, its connections kept alive
    logins = sum(1 for _, path in fake.calls if path.startswith("/api/v2/users/me"))
    fake.faults.add(Fault("GET", "/api/v2/incremental", 503, times=4))  # every attempt of one cycle
    with pytest.raises(TransientError):
        fetch(zd, clock)
    assert transport.closed == 1  # dropped: the failure may have been the connection
    fetch(zd, clock)
    assert sum(1 for _, path in fake.calls if path.startswith("/api/v2/users/me")) == logins  # no second login
    zd.close()
    assert transport.closed == 2
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        zd.api  # noqa: B018 - the client is for the inside of a cycle only
