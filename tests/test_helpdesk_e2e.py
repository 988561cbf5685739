"""End to end through the pipeline: Zendesk and Freshdesk fakes -> triage -> SQLite -> write-back, note, reply."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from bot.config.file import Config, DatabaseConfig, FreshdeskConfig, PathsConfig, ZendeskConfig
from bot.daemon import build_triage, run_once, sources_of
from bot.pipeline import NEVER, SourceReport
from bot.triage import Triage
from tests.fakes.decisions import GROUPS
from tests.fakes.freshdesk import FakeFreshdesk
from tests.fakes.limits import FakeClock, Fault
from tests.fakes.zendesk import FakeZendesk

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
TICKETS = [  # subject, first message, requester
    ("Charged twice for my invoice", "I was charged twice for invoice 4411. Please refund the duplicate payment.",
     "jane@example.com"),
    ("Cannot log in after password reset", "Since resetting my password the login page says my 2FA code is "
     "invalid. I am locked out of my account.", "max@example.com"),
    ("Delivery Status Notification", "Your message could not be delivered.", "mailer-daemon@example.com"),
]


class Helpdesks:
    """Both fakes behind one transport, routed by host as the real accounts would be."""

    def __init__(self, clock: FakeClock) -> None:
        self.zendesk, self.freshdesk = FakeZendesk(clock), FakeFreshdesk(clock)
        for name in GROUPS:
            self.zendesk.add_group(name)
            self.freshdesk.add_group(name)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return (self.zendesk if request.url.host == "acme.zendesk.com" else self.freshdesk)(request)

    def writes(self) -> int:
        return sum(1 for fake in (self.zendesk, self.freshdesk) for method, _ in fake.calls if method in ("PUT", "POST"))


@pytest.fixture
def world(tmp_path: Path, model_cache: Path) -> tuple[Config, Helpdesks, FakeClock]:
    clock = FakeClock(datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc))
    desks = Helpdesks(clock)
    for subject, body, requester in TICKETS:
        desks.zendesk.create_ticket(subject, body, requester=requester, tags=("from-web",))
        desks.freshdesk.create_ticket(subject, body, requester=requester)
    clock.advance(61)  # Zendesk's export leaves out the last minute
    config = Config(
        database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'log.sqlite3'}"),
        zendesk=[ZendeskConfig(name="acme", url="https://acme.zendesk.com", email=desks.zendesk.email,
                               token_env="T", token=desks.zendesk.token, start=START)],
        freshdesk=[FreshdeskConfig(name="acme", url="https://acme.freshdesk.com", api_key_env="K",
                                   api_key=desks.freshdesk.api_key, start=START)],
        paths=PathsConfig(cache=str(model_cache)), base_dir=str(tmp_path))
    return config, desks, clock


def cycle(config: Config, triage: Triage, desks: Helpdesks) -> list[SourceReport]:
    return run_once(sources_of(config, triage, transport=httpx.MockTransport(desks)), triage, stop=NEVER)


def test_two_runs_triage_each_ticket_once_and_the_second_writes_nothing(world) -> None:  # noqa: ANN001
    config, desks, clock = world
    triage = build_triage(config, clock=clock)
    desks.freshdesk.faults.add(Fault("POST", "/api/v2/tickets/1/reply", timeout_after_apply=True))
    reports = cycle(config, triage, desks)
    assert [(r.name, r.error) for r in reports] == [("zendesk:acme", ""), ("freshdesk:acme", "")]
    assert all(o.status == "done" for r in reports for o in r.outcomes) and sum(len(r.outcomes) for r in reports) == 6
    zendesk = list(desks.zendesk.tickets.values())
    assert all(t.tags[0] == "from-web" and "deskbot" in t.tags for t in zendesk)
    assert [bool(t.group_id) for t in zendesk] == [True, True, False], "a bounce stays out of the queues"
    assert "automated" in zendesk[2].tags and zendesk[2].priority is None, "nor given a priority"
    assert all(len(desks.zendesk.private_notes(t.id)) == 1 for t in zendesk)
    assert [len(desks.zendesk.public_replies(t.id)) for t in zendesk] == [1, 1, 0]  # never to mailer-daemon
    freshdesk = list(desks.freshdesk.tickets.values())
    assert all("deskbot" in t.tags for t in freshdesk) and [bool(t.group_id) for t in freshdesk] == [True, True, False]
    assert [len(desks.freshdesk.notes(t.id)) for t in freshdesk] == [1, 1, 1]
    assert [len(desks.freshdesk.replies(t.id)) for t in freshdesk] == [1, 1, 0]  # the lost answer: found, not resent
    first = min(t.id for t in zendesk)
    reply, note = desks.zendesk.public_replies(first)[0]["body"], desks.zendesk.private_notes(first)[0]["body"]
    assert "our Billing team" in reply and "first answer within" in reply  # the acknowledgement template
    html = desks.zendesk.public_replies(first)[0]["html_body"]
    assert "<p" in html and "Billing" in html, "the HTML acknowledgement, as mail gets it"
    assert "<p" in desks.freshdesk.replies(min(t.id for t in freshdesk))[0]["body"]
    assert note.startswith("deskbot SUP-") and "billing" in note and desks.zendesk.tickets[first].tags[1] == "billing"

    writes = desks.writes()
    clock.advance(120)
    again = cycle(config, triage, desks)
    assert desks.writes() == writes
    assert all(o.status == "already-recorded" for r in again for o in r.outcomes) and not any(r.error for r in again)


def test_a_group_the_helpdesk_lacks_stops_the_run_naming_the_rules_line_and_the_groups_there_are(world) -> None:  # noqa: ANN001
    from bot.errors import ConfigError

    config, desks, clock = world
    desks.zendesk.groups.pop(next(gid for gid, name in desks.zendesk.groups.items() if name == "Billing"))
    triage = build_triage(config, clock=clock)

    with pytest.raises(ConfigError) as caught:
        cycle(config, triage, desks)

    message = str(caught.value)
    assert "default.toml:" in message and "departments.billing.group" in message
    assert "zendesk:acme has no group named 'Billing'" in message and "Technical Support" in message
    assert desks.writes() == 0


def test_tickets_agents_wrote_are_triaged_without_a_public_reply(world) -> None:  # noqa: ANN001
    config, desks, clock = world
    zd = desks.zendesk.create_ticket("Invoice question", "Customer phoned: charged twice for invoice 4411",
                                     by_agent=True)
    desks.zendesk.customer_comment(zd, "I was charged twice for invoice 4411, please refund one payment.")
    fd = desks.freshdesk.create_ticket("Your renewal", "Dear customer, your licence expires soon.", source=10)
    clock.advance(61)
    reports = cycle(config, build_triage(config, clock=clock), desks)
    assert not any(r.failed for r in reports)
    assert "deskbot" in desks.zendesk.tickets[zd].tags and desks.zendesk.tickets[zd].group_id
    assert len(desks.zendesk.private_notes(zd)) == 1 and desks.zendesk.public_replies(zd) == []
    assert "deskbot" in desks.freshdesk.tickets[fd].tags and len(desks.freshdesk.notes(fd)) == 1
    assert desks.freshdesk.replies(fd) == []


def test_requesters_without_an_email_address_are_answered_each(world) -> None:  # noqa: ANN001
    config, desks, clock = world
    chats = [desks.zendesk.create_ticket("Parcel late", f"Hi, my parcel {n} is late, where is it?", requester=None,
                                         channel="native_messaging") for n in range(2)]
    clock.advance(61)
    cycle(config, build_triage(config, clock=clock), desks)
    assert [len(desks.zendesk.public_replies(t)) for t in chats] == [1, 1]
    assert all(desks.zendesk.tickets[t].group_id for t in chats), "triaged, not filed apart as automated"


def test_a_ticket_closed_before_deskbot_writes_is_left_alone_and_the_run_is_ok(world) -> None:  # noqa: ANN001
    from tests.fakes.zendesk import CLOSED

    config, desks, clock = world
    first = min(desks.zendesk.tickets)
    desks.zendesk.faults.add(Fault("PUT", f"/api/v2/tickets/{first}", 422, body=CLOSED))
    reports = cycle(config, build_triage(config, clock=clock), desks)
    outcomes = {o.ref: o for o in reports[0].outcomes}
    assert outcomes[str(first)].status == "gone" and "left alone" in outcomes[str(first)].detail
    assert not reports[0].failed and sum(1 for m, p in desks.zendesk.calls if p.startswith(f"/api/v2/tickets/{first}")
                                         and m == "PUT") == 1


def test_an_unreadable_ticket_is_flagged_once_whatever_agents_edit(world) -> None:  # noqa: ANN001
    from sqlmodel import select

    from bot.log.schema import TicketLog

    config, desks, clock = world
    blank = desks.zendesk.create_ticket("", "")
    clock.advance(61)
    triage = build_triage(config, clock=clock)
    cycle(config, triage, desks)
    assert "deskbot-failed" in desks.zendesk.tickets[blank].tags
    (note,) = desks.zendesk.private_notes(blank)
    assert "could not read this ticket" in note["body"] and "neither a subject nor a description" in note["body"]
    desks.zendesk.agent_edit(blank, tags=["deskbot-failed", "looked-at"])  # its JSON changes
    clock.advance(61)
    cycle(config, triage, desks)
    with triage.store.session() as session:
        rows = session.exec(select(TicketLog).where(TicketLog.status == "unreadable")).all()
    assert [row.ref for row in rows] == [str(blank)]


def test_a_poll_of_only_out_of_scope_tickets_moves_the_saved_cursor(world) -> None:  # noqa: ANN001
    config, desks, clock = world
    triage = build_triage(config, clock=clock)
    cycle(config, triage, desks)
    clock.advance(61)
    cycle(config, triage, desks)  # reads deskbot's own updates: already recorded
    saved = triage.store.get_cursor("zendesk:acme")
    old = desks.zendesk.create_ticket("Old", "before start", created_at=START)
    desks.zendesk.agent_edit(old, status="solved")
    clock.advance(61)
    cycle(config, triage, desks)
    assert triage.store.get_cursor("zendesk:acme") != saved


def test_an_agent_token_reads_nothing_and_the_run_fails_saying_why(world, tmp_path: Path) -> None:  # noqa: ANN001
    config, desks, clock = world
    desks.zendesk.users[1]["role"] = "agent"
    reports = cycle(config, build_triage(config, clock=clock), desks)
    assert reports[0].failed and "allowed for Zendesk admins only" in reports[0].error
