"""Corrections and confirmations from Zendesk and Freshdesk, read from the pages each cycle reads anyway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.daemon import build_triage
from bot.learning.corrections import corrections_since
from bot.log.store import Store
from tests.test_helpdesk_e2e import cycle, world  # noqa: F401 - the fixture of the end-to-end helpdesk tests


def per_ticket_reads(desks) -> list[str]:  # noqa: ANN001
    """Reads of one ticket (GET /tickets/{id}…): what learning must not add."""
    return [path for fake in (desks.zendesk, desks.freshdesk) for method, path in fake.calls
            if method == "GET" and path.split("/")[-1].split(".")[0].isdigit()]


def test_agents_changes_become_corrections_and_solved_tickets_confirmations(world, capsys) -> None:  # noqa: ANN001,F811
    config, desks, clock = world
    triage = build_triage(config, clock=clock)
    cycle(config, triage, desks)
    billing_zd, login_zd, _ = sorted(desks.zendesk.tickets)
    billing_fd, login_fd, _ = sorted(desks.freshdesk.tickets)
    assert desks.zendesk.tickets[billing_zd].group_id == desks.zendesk.group_id("Billing")
    desks.zendesk.agent_edit(billing_zd, group="Orders and Returns")  # an agent moves it to another group
    desks.zendesk.agent_edit(login_zd, status="solved")  # solved as deskbot routed it
    desks.freshdesk.agent_edit(billing_fd, priority=4)  # an agent raises the priority to urgent
    desks.freshdesk.agent_edit(login_fd, status=4)  # resolved, unchanged
    for fake in (desks.zendesk, desks.freshdesk):
        fake.calls.clear()
    clock.advance(120)  # Zendesk's export shows a change once it is a minute old

    cycle(config, triage, desks)

    assert per_ticket_reads(desks) == [], "learning reads nothing per ticket"
    found = {(t.source, c.kind, c.channel, c.deskbot_department, c.team_department, c.deskbot_priority, c.team_priority)
             for c, t in corrections_since(triage.store, None)}
    zd_billing, fd_billing = (triage.store.find_key(k) for k in (f"zendesk:acme:{billing_zd}", f"freshdesk:acme:{billing_fd}"))
    zd_login, fd_login = (triage.store.find_key(k) for k in (f"zendesk:acme:{login_zd}", f"freshdesk:acme:{login_fd}"))
    assert found == {
        ("zendesk:acme", "correction", "zendesk", "billing", "orders", zd_billing.priority, zd_billing.priority),
        ("zendesk:acme", "confirmation", "zendesk", zd_login.department, zd_login.department, zd_login.priority,
         zd_login.priority),
        ("freshdesk:acme", "correction", "freshdesk", "billing", "billing", fd_billing.priority, "urgent"),
        ("freshdesk:acme", "confirmation", "freshdesk", fd_login.department, fd_login.department, fd_login.priority,
         fd_login.priority),
    }
    clock.advance(120)
    cycle(config, triage, desks)
    assert len(corrections_since(triage.store, None)) == 4, "the same view seen again records nothing"

    db = config.database.url
    assert main(["corrections", "--db", db, "--since", "30d", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["source"], r["kind"], r["team"]["department"]) for r in lines} == {
        ("zendesk:acme", "correction", "orders"), ("zendesk:acme", "confirmation", zd_login.department),
        ("freshdesk:acme", "correction", "billing"), ("freshdesk:acme", "confirmation", fd_login.department)}
    assert main(["corrections", "--db", db, "--kind", "correction"]) == 0
    table = capsys.readouterr().out
    assert "billing/" in table and "orders/" in table and "confirmation" not in table
    assert main(["log", "--db", db, "--reference", zd_billing.reference]) == 0
    assert "correction (zendesk" in capsys.readouterr().out
    assert main(["log", "--db", db, "--reference", zd_billing.reference, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [(c["kind"], c["team"]["department"]) for c in record["corrections"]] == [("correction", "orders")]


def test_a_dry_run_learns_nothing(world) -> None:  # noqa: ANN001,F811
    config, desks, clock = world
    triage = build_triage(config, clock=clock)
    cycle(config, triage, desks)
    first = min(desks.zendesk.tickets)
    desks.zendesk.agent_edit(first, group="Sales")
    clock.advance(120)
    dry = build_triage(config, clock=clock, dry_run=True)
    cycle(config, dry, desks)
    assert corrections_since(triage.store, None) == []


@pytest.mark.parametrize("since", ["30x", "yesterday"])
def test_a_since_that_is_no_span_or_date_says_what_to_write(tmp_path: Path, since: str, capsys) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    Store.open(url)
    assert main(["corrections", "--db", url, "--since", since]) == 2
    assert "neither a span (48h, 30d, 12w) nor a date" in capsys.readouterr().err
