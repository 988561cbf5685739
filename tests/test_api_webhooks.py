"""Helpdesk webhooks: forged and replayed signatures refused; a verified webhook triages the ticket at once
through the polled source object, and the next poll handles it no second time (Zendesk and Freshdesk fakes)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.api.backend import Backend
from bot.api.webhooks import FRESHDESK_SECRET, ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP, zendesk_signature
from bot.config.file import FreshdeskConfig, ZendeskConfig
from bot.daemon import build_triage, sources_of
from bot.pipeline import run_source
from bot.triage import Triage
from tests.api_world import api_config, bearer, test_client
from tests.fakes.limits import FakeClock
from tests.test_helpdesk_e2e import START, Helpdesks

ZD_SECRET, FD_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==", "fd-shared-secret-123456"


class World:
    """Both helpdesk fakes, a config with [api] and both tables, the app and the polled source objects."""

    def __init__(self, tmp_path: Path, model_cache: Path) -> None:
        self.clock = FakeClock(datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc))
        self.desks = Helpdesks(self.clock)
        zendesk = ZendeskConfig(name="acme", url="https://acme.zendesk.com", email=self.desks.zendesk.email,
                                token_env="T", token=self.desks.zendesk.token, start=START,
                                webhook_secret_env="S", webhook_secret=ZD_SECRET)
        freshdesk = FreshdeskConfig(name="acme", url="https://acme.freshdesk.com", api_key_env="K",
                                    api_key=self.desks.freshdesk.api_key, start=START,
                                    webhook_secret_env="S", webhook_secret=FD_SECRET)
        self.config = api_config(tmp_path, model_cache, zendesk=[zendesk], freshdesk=[freshdesk])
        self.triage: Triage = build_triage(self.config, clock=self.clock)
        scheduled = sources_of(self.config, self.triage, transport=httpx.MockTransport(self.desks))
        self.sources = {item.source.name: item.source for item in scheduled}
        self.client, self.backend = test_client(self.config, self.triage, list(self.sources.values()))

    def zendesk_hook(self, body: bytes, *, signed_at: datetime | None = None, secret: str = ZD_SECRET,
                     name: str = "acme") -> httpx.Response:
        stamp = (signed_at or self.clock()).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {**bearer("helpdesk"), ZENDESK_TIMESTAMP: stamp,
                   ZENDESK_SIGNATURE: zendesk_signature(secret, stamp, body), "content-type": "application/json"}
        return self.client.post(f"/v1/webhooks/zendesk/{name}", content=body, headers=headers)

    def freshdesk_hook(self, body: bytes, *, secret: str | None = FD_SECRET) -> httpx.Response:
        headers = {**bearer("helpdesk"), "content-type": "application/json"}
        headers.update({FRESHDESK_SECRET: secret} if secret is not None else {})
        return self.client.post("/v1/webhooks/freshdesk/acme", content=body, headers=headers)


@pytest.fixture
def world(tmp_path: Path, model_cache: Path) -> World:
    return World(tmp_path, model_cache)


def new_zendesk_ticket(world: World) -> tuple[int, bytes]:
    ticket = world.desks.zendesk.create_ticket("Charged twice for my invoice", "I was charged twice for invoice "
                                               "4411. Please refund the duplicate payment.", requester="jane@example.com")
    return ticket, json.dumps({"ticket_id": str(ticket)}).encode()


def test_a_forged_signature_is_refused_and_nothing_is_read_or_written(world: World) -> None:
    _, body = new_zendesk_ticket(world)
    calls = len(world.desks.zendesk.calls)
    forged = world.zendesk_hook(body, secret="not-the-signing-secret")
    assert forged.status_code == 401 and "signature does not match" in forged.json()["detail"]
    stamp = world.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    tampered = world.client.post("/v1/webhooks/zendesk/acme", content=b'{"ticket_id": "999"}', headers={
        **bearer("helpdesk"), ZENDESK_TIMESTAMP: stamp, ZENDESK_SIGNATURE: zendesk_signature(ZD_SECRET, stamp, body),
        "content-type": "application/json"})
    assert tampered.status_code == 401  # signed for one body, sent with another
    unsigned = world.client.post("/v1/webhooks/zendesk/acme", content=body,
                                 headers={**bearer("helpdesk"), "content-type": "application/json"})
    assert unsigned.status_code == 401 and ZENDESK_SIGNATURE in unsigned.json()["detail"]
    assert unsigned.headers["www-authenticate"] == f'{ZENDESK_SIGNATURE} realm="deskbot"'
    without_token = world.client.post("/v1/webhooks/zendesk/acme", content=body)
    assert without_token.status_code == 401 and without_token.headers["www-authenticate"].startswith("Bearer")
    assert len(world.desks.zendesk.calls) == calls and world.triage.store.get(1) is None


def test_a_replayed_signature_outside_the_window_is_refused(world: World) -> None:
    _, body = new_zendesk_ticket(world)
    stale = world.zendesk_hook(body, signed_at=world.clock() - timedelta(minutes=6))
    assert stale.status_code == 401 and "more than 5 minutes from now" in stale.json()["detail"]
    assert world.zendesk_hook(body, signed_at=world.clock() + timedelta(minutes=6)).status_code == 401
    assert world.desks.zendesk.writes() == 0


def test_a_zendesk_webhook_triages_at_once_and_the_poll_then_handles_it_no_second_time(world: World) -> None:
    ticket, body = new_zendesk_ticket(world)
    answer = world.zendesk_hook(body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"source": "zendesk:acme", "ticket": ticket, "status": "done", "id": 1,
                             "reference": "SUP-000001"}
    fake = world.desks.zendesk
    assert "deskbot" in fake.tickets[ticket].tags and len(fake.public_replies(ticket)) == 1
    writes = fake.writes()
    replay = world.zendesk_hook(body)  # Zendesk retries, or a copy within the window: nothing twice
    assert replay.json()["status"] == "already-recorded" and fake.writes() == writes

    world.clock.advance(180)  # the export leaves out the last minute
    report = run_source(world.sources["zendesk:acme"], world.triage)
    assert report.error == "" and [o.status for o in report.outcomes] == ["already-recorded"]
    assert fake.writes() == writes and len(fake.public_replies(ticket)) == 1


def test_a_freshdesk_webhook_needs_its_secret_header_and_the_poll_then_handles_it_no_second_time(
        world: World) -> None:
    fake = world.desks.freshdesk
    ticket = fake.create_ticket("Cannot log in after password reset", "Since resetting my password the login "
                                "page says my 2FA code is invalid.", requester="max@example.com")
    body = json.dumps({"freshdesk_webhook": {"ticket_id": ticket}}).encode()
    assert world.freshdesk_hook(body, secret=None).status_code == 401
    assert world.freshdesk_hook(body, secret="fd-shared-secret-12345X").status_code == 401
    answer = world.freshdesk_hook(body)
    assert answer.status_code == 200 and answer.json()["status"] == "done", answer.text
    assert "deskbot" in fake.tickets[ticket].tags and len(fake.replies(ticket)) == 1 and len(fake.notes(ticket)) == 1

    world.clock.advance(180)
    report = run_source(world.sources["freshdesk:acme"], world.triage)
    assert [o.status for o in report.outcomes] == ["already-recorded"] and len(fake.replies(ticket)) == 1


def test_solved_tickets_are_ignored_and_unknown_sources_or_payloads_refused(world: World) -> None:
    solved = world.desks.zendesk.create_ticket("Thanks", "All good now.", status="solved")
    answer = world.zendesk_hook(json.dumps({"detail": {"id": str(solved)}}).encode())
    assert answer.json()["status"] == "ignored" and world.desks.zendesk.writes() == 0
    assert world.zendesk_hook(b'{"ticket_id": "1"}', name="other").status_code == 404
    assert world.zendesk_hook(b'{"id": "x"}').status_code == 422
    assert world.zendesk_hook(b"ticket 7").status_code == 400
    gone = world.zendesk_hook(b'{"ticket_id": 99999}')
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"


def test_a_source_busy_with_its_cycle_makes_the_webhook_wait_then_503(world: World) -> None:
    _, body = new_zendesk_ticket(world)
    world.backend.wait = 0.2
    source = world.sources["zendesk:acme"]
    with source:  # a cycle holds the source
        busy = world.zendesk_hook(body)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "30" and "busy" in busy.json()["detail"]
    assert world.zendesk_hook(body).json()["status"] == "done"


def test_without_a_webhook_secret_a_source_takes_no_webhooks(tmp_path: Path, model_cache: Path) -> None:
    world = World(tmp_path, model_cache)
    backend = Backend(world.triage, desks=world.backend.desks, secrets={})
    world.client.app.state.backend = backend  # type: ignore[attr-defined]
    _, body = new_zendesk_ticket(world)
    refused = world.zendesk_hook(body)
    assert refused.status_code == 404 and "webhook_secret_env" in refused.json()["detail"]


def test_test_client_is_the_framework_one(world: World) -> None:
    assert isinstance(world.client, TestClient)
