"""connectors/http.py: pacing by budget headers, Retry-After, retries that are safe, deskbot's errors."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import httpx
import pytest

from bot.errors import AuthError, GoneError, PermanentError, ServiceUnavailable, TransientError
from connectors.http import ApiClient, Conflict, Forbidden, UncertainWrite
from tests.fakes.limits import FakeClock, basic_auth

SECRET = "s3cret-token-value"


class Scripted:
    """A server that answers each request with the next scripted response (or raises it)."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer


def ok(body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json={"ok": True} if body is None else body, headers=headers)


def make(server: Scripted, clock: FakeClock, **options: object) -> ApiClient:
    return ApiClient("https://acme.example.com", name="zendesk:acme", auth=("bot@acme.example/token", SECRET),
                     clock=clock, sleep=clock.sleep, transport=httpx.MockTransport(server),
                     rng=random.Random(1), **options)  # type: ignore[arg-type]


def test_get_sends_basic_auth_and_decodes_json() -> None:
    server, clock = Scripted(ok({"groups": []})), FakeClock()
    assert make(server, clock).get("/api/v2/groups.json", family="read") == {"groups": []}
    assert basic_auth(server.requests[0]) == ("bot@acme.example/token", SECRET)
    assert clock.slept == 0


def test_429_waits_retry_after_then_succeeds() -> None:
    server, clock = Scripted(httpx.Response(429, headers={"Retry-After": "7"}), ok()), FakeClock()
    client = make(server, clock)
    assert client.get("/x", family="read") == {"ok": True}
    assert clock.slept == pytest.approx(7) and client.throttled == 1


def test_429_longer_than_we_wait_stops_the_cycle() -> None:
    server, clock = Scripted(httpx.Response(429, headers={"Retry-After": "900"})), FakeClock()
    with pytest.raises(ServiceUnavailable, match="wait 900 s") as caught:
        make(server, clock).get("/x", family="read")
    assert clock.slept == 0 and len(server.requests) == 1 and not caught.value.maybe_done


def test_429_of_one_endpoint_family_blocks_only_that_family() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "30", "zendesk-ratelimit-tickets-index":
                                           "total=100; remaining=0; resets=30"})
    server, clock = Scripted(limited, ok()), FakeClock()
    client = make(server, clock, max_attempts=1)
    with pytest.raises(ServiceUnavailable):
        client.get("/api/v2/tickets.json", family="list")
    client.get("/api/v2/groups.json", family="read")  # another family goes out at once
    assert clock.slept == 0
    client.get("/api/v2/tickets.json", family="list")
    assert clock.slept == pytest.approx(30)


def test_5xx_on_a_read_is_retried_with_capped_backoff() -> None:
    server, clock = Scripted(httpx.Response(503), httpx.Response(502), ok()), FakeClock()
    assert make(server, clock, backoff=1.0, backoff_cap=1.5).get("/x", family="read") == {"ok": True}
    assert len(server.requests) == 3 and 0 < clock.slept <= 1.0 + 1.5


def test_5xx_that_persists_is_transient_after_bounded_attempts() -> None:
    server, clock = Scripted(httpx.Response(500, json={"error": "InternalError"})), FakeClock()
    with pytest.raises(TransientError, match="HTTP 500 after 4 attempts: InternalError") as caught:
        make(server, clock).get("/x", family="read")
    assert not isinstance(caught.value, ServiceUnavailable)
    assert len(server.requests) == 4


def test_a_post_is_never_sent_twice_after_a_5xx_or_a_lost_answer() -> None:
    for answer in (httpx.Response(500), httpx.ReadTimeout("read timed out")):
        server, clock = Scripted(answer, ok()), FakeClock()
        with pytest.raises(UncertainWrite, match="may have been applied") as caught:
            make(server, clock).post("/api/v2/tickets/1/notes", {"body": "x"}, family="write")
        assert caught.value.maybe_done
        assert len(server.requests) == 1


def test_a_post_that_never_left_is_sent_again() -> None:
    server, clock = Scripted(httpx.ConnectError("refused"), ok()), FakeClock()
    assert make(server, clock).post("/x", {}, family="write") == {"ok": True}
    assert len(server.requests) == 2


def test_unreachable_server_is_service_unavailable() -> None:
    server, clock = Scripted(httpx.ConnectTimeout("timed out")), FakeClock()
    with pytest.raises(ServiceUnavailable, match="unreachable after 4 attempts"):
        make(server, clock).get("/x", family="read")


def test_auth_failure_is_logged_once_without_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    server, clock = Scripted(httpx.Response(401, json={"error": "Couldn't authenticate you"})), FakeClock()
    client = make(server, clock)
    with caplog.at_level(logging.DEBUG):
        for _ in range(2):
            with pytest.raises(AuthError, match="Couldn't authenticate you") as caught:
                client.get("/x", family="read")
            assert SECRET not in str(caught.value)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert SECRET not in caplog.text and SECRET not in repr(client)


@pytest.mark.parametrize(("response", "error", "message"), [
    (httpx.Response(404, json={"error": "RecordNotFound"}), GoneError, "not found"),
    (httpx.Response(409, json={"error": "UpdateConflict"}), Conflict, "UpdateConflict"),
    (httpx.Response(422, json={"error": "RecordInvalid", "description": "Record validation errors",
                               "details": {"group": [{"description": "Group: is invalid"}]}}),
     PermanentError, "RecordInvalid; Record validation errors; group: Group: is invalid"),
    (httpx.Response(400, json={"description": "Validation failed", "errors": [
        {"field": "priority", "message": "It should be one of these values: '1,2,3,4'", "code": "invalid_value"}]}),
     PermanentError, "Validation failed; priority: It should be one of these values"),
])
def test_client_errors_become_deskbots(response: httpx.Response, error: type[Exception], message: str) -> None:
    server, clock = Scripted(response), FakeClock()
    with pytest.raises(error, match=message) as caught:
        make(server, clock).put("/api/v2/tickets/1.json", {}, family="update")
    assert len(server.requests) == 1 and not caught.value.maybe_done  # refused: nothing to look for


def test_slows_down_before_the_account_budget_runs_out() -> None:
    remaining = iter(range(9, -1, -1))

    def answer(request: httpx.Request) -> httpx.Response:
        return ok(**{"X-Rate-Limit": "10", "X-Rate-Limit-Remaining": str(next(remaining)), "ratelimit-reset": "40"})

    server, clock = Scripted(answer), FakeClock()
    client = make(server, clock)
    for _ in range(10):
        client.get("/x", family="read")
    # 10 a minute, one kept in reserve: the 9th answer says 1 left, so the 10th request waits for the reset.
    assert clock.slept == pytest.approx(40) and client.throttled == 0


def test_documented_limit_without_headers_is_paced_by_our_own_count() -> None:
    server, clock = Scripted(ok()), FakeClock()
    client = make(server, clock, limits={"update": 20})
    for _ in range(40):
        client.put("/api/v2/tickets/1.json", {}, family="update")
        clock.advance(0.1)
    assert clock.slept > 0  # 19 a minute (one in reserve): the 20th waited for the first to age out
    times = client._budget("update").spent
    assert all(sum(1 for t, _ in times if start <= t < start + 60) <= 19 for start, _ in times)


def test_freshdesk_credits_count_against_the_budget() -> None:
    server, clock = Scripted(ok(**{"X-Ratelimit-Total": "40", "X-Ratelimit-Used-CurrentRequest": "5"})), FakeClock()
    client = make(server, clock)
    for _ in range(9):
        client.get("/api/v2/tickets", family="list")
    assert clock.slept > 0  # after 8 x 5 credits nothing is left but the 2 in reserve: the 9th waits


def test_a_per_ticket_limit_paces_that_ticket_only() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return ok(**{"zendesk-ratelimit-per-ticket-updates": "total=30; remaining=0; resets=600"})

    server, clock = Scripted(answer), FakeClock()
    client = make(server, clock)
    for ticket in range(50):  # 50 tickets, each with its 30 a 10 minutes nearly used up: none waits
        client.put(f"/api/v2/tickets/{ticket}.json", {}, family="update")
    assert clock.slept == 0
    with pytest.raises(ServiceUnavailable, match="next request possible in 600 s"):
        client.put("/api/v2/tickets/7.json", {}, family="update")  # that one ticket waits for its reset


def test_budgets_outlive_the_client_that_learned_them() -> None:
    budgets: dict = {}
    server, clock = Scripted(httpx.Response(429, headers={"Retry-After": "3600"})), FakeClock()
    with pytest.raises(ServiceUnavailable, match="wait 3600 s"):
        make(server, clock, budgets=budgets).get("/x", family="read")
    clock.advance(60)
    with pytest.raises(ServiceUnavailable, match="next request possible in 3540 s"):
        make(server, clock, budgets=budgets).get("/x", family="read")  # the next cycle's client: no request
    assert len(server.requests) == 1


def test_a_limit_of_unknown_period_is_probed_ever_more_rarely_not_every_minute() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return ok(**{"X-Ratelimit-Total": "3000", "X-Ratelimit-Remaining": "100"})  # an hourly plan, nearly used

    server, clock = Scripted(answer), FakeClock()
    client = make(server, clock, account_window=None, max_wait=10_000)
    for _ in range(6):
        client.get("/api/v2/tickets", family="list")
    assert clock.slept == pytest.approx(10 + 20 + 40 + 80 + 160)  # no count over an assumed minute


def test_zendesk_forbidden_says_what_zendesk_said() -> None:
    body = {"error": {"title": "Forbidden", "message": "You do not have access to this page."}}
    server, clock = Scripted(httpx.Response(403, json=body)), FakeClock()
    with pytest.raises(Forbidden, match="not allowed for deskbot's user \\(HTTP 403\\): Forbidden; You do not have"):
        make(server, clock).get("/api/v2/incremental/tickets/cursor.json", family="export")
