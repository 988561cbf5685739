"""The HTTP API through Starlette's test client: tokens and scopes, bad input as RFC 9457 problems, limits,
predictions, and tickets recorded and acknowledged once (on a real aiosmtpd sink) however often they are posted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.daemon import build_triage
from bot.models import Prediction
from bot.ops.loopback import SmtpSink
from bot.pipeline import run_source
from tests.api_world import api_config, bearer, test_client
from tests.conftest import Clock

TICKET = {"subject": "Charged twice for invoice 4411", "body": "I was charged twice. Please refund the duplicate.",
          "sender": "jane@example.com", "sender_name": "Jane Doe", "external_id": "form-1"}


@pytest.fixture
def api(tmp_path: Path, model_cache: Path, smtp_sink: SmtpSink, clock: Clock) -> Iterator[TestClient]:
    config = api_config(tmp_path, model_cache, sink=smtp_sink)
    client, _ = test_client(config, build_triage(config, clock=clock))
    with client:
        yield client


def is_problem(response, status: int) -> dict[str, object]:  # noqa: ANN001
    """The response is an RFC 9457 problem with `status`, and shows no stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def test_no_token_or_a_wrong_one_is_refused_and_a_right_one_accepted(api: TestClient) -> None:
    text = {"subject": "I cannot log in"}
    missing = api.post("/v1/predict", json=text)
    assert is_problem(missing, 401)["detail"] == "send the API token as `Authorization: Bearer <token>`"
    assert missing.headers["www-authenticate"] == 'Bearer realm="deskbot"'
    wrong = api.post("/v1/predict", json=text, headers={"Authorization": "Bearer webform-token-0123456788"})
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"] and is_problem(wrong, 401)
    assert "webform-token" not in wrong.text
    basic = api.post("/v1/predict", json=text, headers={"Authorization": "Basic d2ViZm9ybTp4"})
    assert is_problem(basic, 401)
    assert api.post("/v1/predict", json=text, headers=bearer("webform")).status_code == 200


@pytest.mark.parametrize("token, method, path, body", [
    ("crm", "POST", "/v1/predict", {"subject": "x"}),
    ("crm", "POST", "/v1/predict/batch", {"tickets": [{"subject": "x"}]}),
    ("widget", "POST", "/v1/tickets", TICKET),
    ("widget", "GET", "/v1/tickets/1", None),
    ("webform", "POST", "/v1/webhooks/zendesk/acme", {"ticket_id": 1}),
    ("helpdesk", "POST", "/v1/predict", {"subject": "x"}),
])
def test_each_route_wants_its_scope(api: TestClient, token: str, method: str, path: str, body: object) -> None:
    response = api.request(method, path, json=body, headers=bearer(token))
    assert "lacks the scope" in str(is_problem(response, 403)["detail"])
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_bodies_over_max_body_bytes_are_refused_before_they_are_read(api: TestClient) -> None:
    big = json.dumps({"subject": "x", "body": "y" * 150_000}).encode()
    declared = api.post("/v1/predict", content=big, headers={**bearer("webform"), "content-type": "application/json"})
    assert "max_body_bytes (100000 bytes)" in str(is_problem(declared, 413)["detail"])
    chunked = api.post("/v1/predict", content=iter([big[:60_000], big[60_000:]]),
                       headers={**bearer("webform"), "content-type": "application/json"})
    assert is_problem(chunked, 413)


@pytest.mark.parametrize("path, body, status, says", [
    ("/v1/predict", b"{not json", 400, "JSON decode error"),
    ("/v1/predict", b'{"subject": ""}', 422, "give a subject, a body, or both"),
    ("/v1/predict", b'{"subjekt": "x"}', 422, "body: an unknown field (Extra inputs are not permitted)"),
    ("/v1/predict", b'["x"]', 422, "body"),
    ("/v1/predict/batch", b'{"tickets": []}', 422, "body.tickets"),
    ("/v1/predict/batch", json.dumps({"tickets": [{"subject": "x"}] * 1001}).encode(), 422, "at most 1000"),
    ("/v1/tickets", json.dumps({**TICKET, "sender": ""}).encode(), 422, "body.sender"),
    ("/v1/tickets", json.dumps({**TICKET, "sender": "Jane <jane@example.com>"}).encode(), 422, "bare mail address"),
    ("/v1/tickets", json.dumps({**TICKET, "subject": "Hi\r\nBcc: all@example.com"}).encode(), 422, "one line"),
    ("/v1/tickets", json.dumps({**TICKET, "language": "english"}).encode(), 422, "body.language"),
    ("/v1/tickets", json.dumps({**TICKET, "external_id": "has space"}).encode(), 422, "body.external_id"),
])
def test_bad_input_is_a_4xx_problem_saying_what_is_wrong(api: TestClient, path: str, body: bytes, status: int,
                                                          says: str) -> None:
    response = api.post(path, content=body, headers={**bearer("webform"), "content-type": "application/json"})
    problem = is_problem(response, status)
    assert says in str(problem["detail"]) and problem["errors"]
    assert "Hi\r\nBcc" not in response.text and "english" not in response.text  # values are never echoed
    assert "subjekt" not in response.text  # nor the names of unknown fields


def test_unknown_paths_and_methods_are_problems_too(api: TestClient) -> None:
    assert is_problem(api.get("/v1/nothing", headers=bearer("webform")), 404)
    assert is_problem(api.get("/v1/predict", headers=bearer("webform")), 405)
    assert is_problem(api.get("/v1/tickets/SUP-999999", headers=bearer("webform")), 404)


def test_an_unexpected_error_is_a_bare_500_logged_with_its_traceback(
        tmp_path: Path, model_cache: Path, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def predict(self, text: str) -> Prediction:
            raise RuntimeError("secret internals at /srv/deskbot")

    config = api_config(tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    triage.classifier = Broken()
    client, _ = test_client(config, triage)
    response = client.post("/v1/predict", json={"subject": "x"}, headers=bearer("webform"))
    assert is_problem(response, 500) == {"type": "about:blank", "title": "Internal Server Error", "status": 500}
    assert "secret internals" in caplog.text and "Traceback" in caplog.text


def test_a_token_over_its_budget_gets_429_with_retry_after(tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    config = api_config(tmp_path, model_cache, per_minute=2)
    client, _ = test_client(config, build_triage(config, clock=clock))
    answers = [client.post("/v1/predict", json={"subject": "x"}, headers=bearer("webform")) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["retry-after"] == "30" and "requests_per_minute" in answers[2].json()["detail"]
    assert client.post("/v1/predict", json={"subject": "x"}, headers=bearer("widget")).status_code == 200


def test_predict_gives_the_fields_of_classify_json_and_batch_the_same_in_order(api: TestClient) -> None:
    texts = [{"subject": "Charged twice for my invoice"}, {"subject": "Login fails", "body": "2FA code invalid"},
             {"body": "Where is my parcel? The order has not arrived."}]
    single = [api.post("/v1/predict", json=t, headers=bearer("webform")).json() for t in texts]
    assert set(single[0]) == {"department", "priority", "confidence", "department_scores", "priority_scores",
                              "top_terms", "language", "model_version"}
    assert [s["department"] for s in single] == ["billing", "account", "orders"]
    batch = api.post("/v1/predict/batch", json={"tickets": texts}, headers=bearer("webform"))
    assert batch.status_code == 200
    assert [p["department"] for p in batch.json()["predictions"]] == [s["department"] for s in single]
    assert batch.json()["predictions"][0]["confidence"] == single[0]["confidence"]


def test_a_ticket_is_decided_recorded_and_acknowledged_once_however_often_it_is_posted(
        api: TestClient, smtp_sink: SmtpSink) -> None:
    first = api.post("/v1/tickets", json=TICKET, headers=bearer("webform"))
    assert first.status_code == 201, first.text
    decision = first.json()
    assert decision["reference"] == "SUP-000001" and decision["department"] == "billing"
    assert decision["acknowledgement"]["state"] == "sent" and decision["status"] == "done"
    assert first.headers["location"] == f"/v1/tickets/{decision['id']}"
    again = [api.post("/v1/tickets", json=TICKET, headers=bearer("webform")) for _ in range(2)]
    assert [a.status_code for a in again] == [200, 200] and all(a.json() == decision for a in again)
    [mail] = smtp_sink.messages
    assert mail["To"] == "Jane Doe <jane@example.com>" and "SUP-000001" in mail["Subject"]

    recorded = api.get("/v1/tickets/SUP-000001", headers=bearer("webform")).json()
    assert recorded == api.get(f"/v1/tickets/{decision['id']}", headers=bearer("webform")).json()
    assert (recorded["source"], recorded["ref"], recorded["sender"]) == ("api:webform", "form-1", "jane@example.com")
    assert [(a["kind"], a["state"]) for a in recorded["actions"]] == [("acknowledge", "done")]
    assert is_problem(api.get("/v1/tickets/SUP-000001", headers=bearer("crm")), 404)  # another client's ticket


def test_without_external_id_each_post_is_a_new_ticket_and_no_ack_goes_to_automated_senders(
        api: TestClient, smtp_sink: SmtpSink) -> None:
    plain = {k: v for k, v in TICKET.items() if k != "external_id"}
    ids = [api.post("/v1/tickets", json=plain, headers=bearer("crm")).json()["id"] for _ in range(2)]
    assert ids[0] != ids[1] and len(smtp_sink.messages) == 2
    robot = api.post("/v1/tickets", json={**plain, "sender": "mailer-daemon@example.com"}, headers=bearer("crm"))
    assert robot.json()["acknowledgement"]["state"] == "skipped" and len(smtp_sink.messages) == 2


def test_an_smtp_refusal_keeps_the_decision_and_the_acknowledgement_goes_once_at_the_next_cycle(
        tmp_path: Path, model_cache: Path, smtp_sink: SmtpSink, clock: Clock) -> None:
    config = api_config(tmp_path, model_cache, sink=smtp_sink)
    triage = build_triage(config, clock=clock)
    client, backend = test_client(config, triage)
    smtp_sink.handler.refuse_with = "451 4.3.0 try again later"
    first = client.post("/v1/tickets", json=TICKET, headers=bearer("webform"))
    assert first.status_code == 201 and first.json()["acknowledgement"]["state"] == "pending"
    assert client.post("/v1/tickets", json=TICKET, headers=bearer("webform")).json()["id"] == first.json()["id"]
    smtp_sink.handler.refuse_with = None
    report = run_source(backend.clients["webform"], triage)  # the API client's own resume cycle
    assert [o.status for o in report.outcomes] == ["done"] and len(smtp_sink.messages) == 1
    assert run_source(backend.clients["webform"], triage).outcomes == [] and len(smtp_sink.messages) == 1
    after = client.get(f"/v1/tickets/{first.json()['id']}", headers=bearer("webform")).json()
    assert after["status"] == "done" and after["actions"][0]["state"] == "done"


def test_healthz_needs_no_token_and_docs_are_served(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/predict", "/v1/predict/batch", "/v1/tickets", "/v1/tickets/{ident}",
            "/v1/webhooks/zendesk/{name}", "/v1/webhooks/freshdesk/{name}", "/healthz"} <= set(paths)
