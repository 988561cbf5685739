"""What a fuzzer and an attacker found, each as a request: unbounded ids, bodies parsed before the token
was checked, invisible text taken for a ticket, two Authorization headers, echoed values, HEAD, 415."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.daemon import build_triage
from bot.ops.loopback import SmtpSink
from tests.api_world import TOKENS, api_config, bearer, test_client
from tests.conftest import Clock
from tests.test_api import TICKET, is_problem

JSON = {"content-type": "application/json"}
MARK = "Zq7-echo-canary"  # a value no answer may repeat


@pytest.fixture
def api(tmp_path: Path, model_cache: Path, smtp_sink: SmtpSink, clock: Clock) -> Iterator[TestClient]:
    config = api_config(tmp_path, model_cache, sink=smtp_sink, max_body_bytes=1_000_000)
    client, _ = test_client(config, build_triage(config, clock=clock))
    with client:
        yield client


@pytest.mark.parametrize("ident", ["1" * 30, "9223372036854775808", "²", "١٢", "SUP-" + "1" * 40, "x" * 5000,
                                   "0", "SUP-000001 ", "-1"])
def test_an_id_out_of_bounds_or_of_another_shape_is_404_not_500(api: TestClient, ident: str) -> None:
    answer = api.get(f"/v1/tickets/{ident}", headers=bearer("webform"))
    assert is_problem(answer, 404)["detail"] == "no ticket with this id or reference was posted with this token"
    assert len(ident) < 4 or ident.strip() not in answer.text


def test_a_webhook_source_name_out_of_bounds_is_404(api: TestClient) -> None:
    for name in ("a" * 300, "%00", ".hidden"):
        answer = api.post(f"/v1/webhooks/zendesk/{name}", json={"ticket_id": 1}, headers=bearer("helpdesk"))
        assert is_problem(answer, 404) and name not in answer.text


def test_the_token_is_checked_before_a_malformed_megabyte_is_read(api: TestClient) -> None:
    garbage = b"{" + b"x" * (2**20 - 1)  # 1 MiB, over max_body_bytes, and not JSON
    for headers in ({}, {"Authorization": "Bearer not-a-token-at-all-000"}, {"Authorization": "Basic eDp5"}):
        answer = api.post("/v1/predict", content=garbage, headers={**headers, **JSON})
        assert is_problem(answer, 401) and answer.headers["www-authenticate"].startswith('Bearer realm="deskbot"')
    assert is_problem(api.post("/v1/predict", content=garbage, headers={**bearer("crm"), **JSON}), 403)
    assert is_problem(api.post("/v1/predict", content=garbage, headers={**bearer("webform"), **JSON}), 413)
    assert is_problem(api.post("/v1/predict", content=garbage[:1000], headers={**bearer("webform"), **JSON}), 400)


def test_a_client_over_its_budget_gets_429_whatever_its_body(tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    config = api_config(tmp_path, model_cache, per_minute=1)
    client, _ = test_client(config, build_triage(config, clock=clock))
    assert client.post("/v1/predict", json={"subject": "x"}, headers=bearer("webform")).status_code == 200
    for body, kind in ((b"{not json", "application/json"), (b"x" * 200_000, "application/json"), (b"a=b", "text/plain")):
        answer = client.post("/v1/predict", content=body, headers={**bearer("webform"), "content-type": kind})
        assert is_problem(answer, 429) and answer.headers["retry-after"]


def test_two_authorization_headers_are_400_whichever_comes_first(api: TestClient) -> None:
    good, bad = ("Authorization", bearer("webform")["Authorization"]), ("Authorization", "Bearer wrong-token-000000000")
    for pair in ((good, bad), (bad, good), (good, good)):
        answer = api.post("/v1/predict", json={"subject": "x"}, headers=list(pair))
        assert "one Authorization header" in str(is_problem(answer, 400)["detail"])
    assert is_problem(api.get("/v1/tickets/1", headers=[good, good]), 400)
    assert "400" in api.get("/openapi.json").json()["paths"]["/v1/tickets/{ident}"]["get"]["responses"]


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                  "application/xml", ""])
def test_a_body_that_is_not_json_is_415(api: TestClient, kind: str) -> None:
    headers = {**bearer("webform"), **({"content-type": kind} if kind else {})}
    for path in ("/v1/predict", "/v1/tickets", "/v1/predict/batch"):
        answer = api.post(path, content=b'{"subject": "x"}', headers=headers)
        assert "application/json" in str(is_problem(answer, 415)["detail"])
    charset = api.post("/v1/predict", content=b'{"subject": "x"}',
                       headers={**bearer("webform"), "content-type": "application/json; charset=utf-8"})
    assert charset.status_code == 200


INVISIBLE = ["\u200b", "\x00", "\u200b\u200c\u200d\u2060\ufeff", "\u202e\u2066\u00ad", " \t\n\u00a0\u3000",
             "\x00\x01\x7f\x9f", "\U000e0041\U000e0001", "\u180e\u061c"]


@pytest.mark.parametrize("text", INVISIBLE)
def test_text_of_only_invisible_characters_is_no_text(api: TestClient, smtp_sink: SmtpSink, text: str) -> None:
    for fields in ({"subject": text}, {"body": text}, {"subject": text, "body": text}):
        answer = api.post("/v1/predict", json=fields, headers=bearer("webform"))
        assert "give a subject, a body, or both" in str(is_problem(answer, 422)["detail"])
        batch = api.post("/v1/predict/batch", json={"tickets": [{"subject": "x"}, fields]}, headers=bearer("webform"))
        assert is_problem(batch, 422)["errors"][0]["loc"] == "body.tickets.1"  # type: ignore[index]
        ticket = {**TICKET, "subject": "", "body": "", **fields, "external_id": ""}
        if "\n" not in ticket["subject"]:
            assert is_problem(api.post("/v1/tickets", json=ticket, headers=bearer("webform")), 422)
    assert smtp_sink.messages == [] and is_problem(api.get("/v1/tickets/1", headers=bearer("webform")), 404)


def test_invisible_and_control_characters_are_cleaned_from_what_is_recorded(api: TestClient) -> None:
    ticket = {**TICKET, "subject": "Charged\u200b twice\x00 for invoice\u202e 4411", "sender_name": "Ja\u200bne\x07"}
    first = api.post("/v1/tickets", json=ticket, headers=bearer("webform"))
    assert first.status_code == 201 and first.json()["department"] == "billing"
    recorded = api.get(f"/v1/tickets/{first.json()['id']}", headers=bearer("webform")).json()
    assert recorded["subject"] == "Charged twice for invoice 4411"
    full_width = api.post("/v1/predict", json={"subject": "\uff23\uff48\uff41\uff52\uff47\uff45\uff44 twice"},
                          headers=bearer("webform"))
    assert full_width.json()["top_terms"] == api.post("/v1/predict", json={"subject": "Charged twice"},
                                                      headers=bearer("webform")).json()["top_terms"]


@pytest.mark.parametrize("sender", ["", " ", "\u200b", "jane", "jane@", "@example.com", "jane@example.com\n",
                                    " jane@example.com", "Jane <jane@example.com>", "ja ne@example.com",
                                    "jane@exa_mple.com"])
def test_a_sender_must_be_one_bare_address(api: TestClient, sender: str) -> None:
    answer = api.post("/v1/tickets", json={**TICKET, "sender": sender}, headers=bearer("webform"))
    assert is_problem(answer, 422)["errors"][0]["loc"] == "body.sender"  # type: ignore[index]


def test_an_internationalised_sender_is_taken_and_acknowledged(api: TestClient, smtp_sink: SmtpSink) -> None:
    """RFC 6531 addresses are customers too: the schema takes them and the acknowledgement goes over SMTPUTF8."""
    answer = api.post("/v1/tickets", json={**TICKET, "sender": "jörg@bücher.example"}, headers=bearer("webform"))
    assert answer.status_code == 201, answer.text
    [mail] = smtp_sink.messages
    assert "jörg@bücher.example" in mail["To"]


@pytest.mark.parametrize("path, body", [
    ("/v1/predict", {"subject": MARK * 100}),
    ("/v1/predict", {"subject": 7, "body": [MARK]}),
    ("/v1/predict", {MARK: "x"}),
    ("/v1/predict", {"subject": "x", "nested": {MARK: MARK}}),
    ("/v1/predict/batch", {"tickets": [{MARK: MARK}] * 3}),
    ("/v1/predict/batch", {"tickets": MARK}),
    ("/v1/tickets", {**TICKET, "sender": MARK}),
    ("/v1/tickets", {**TICKET, "subject": MARK + "\r\nBcc: x@example.com"}),
    ("/v1/tickets", {**TICKET, "sender_name": MARK + "\n"}),
    ("/v1/tickets", {**TICKET, "language": MARK}),
    ("/v1/tickets", {**TICKET, "external_id": MARK + " x"}),
    ("/v1/tickets", {**TICKET, MARK: 1}),
    ("/v1/webhooks/zendesk/acme", {"ticket_id": MARK}),
    ("/v1/webhooks/freshdesk/" + MARK, {"ticket_id": 1}),
])
def test_no_refusal_repeats_what_the_request_sent(api: TestClient, path: str, body: object) -> None:
    token = "helpdesk" if "webhooks" in path else "webform"
    answer = api.post(path, json=body, headers=bearer(token))
    assert 400 <= answer.status_code < 500 and MARK not in answer.text and MARK.lower() not in answer.text.lower()
    bad_json = api.post(path, content=b'{"subject": "' + MARK.encode() + b'"', headers={**bearer(token), **JSON})
    assert bad_json.status_code in (400, 404) and MARK not in bad_json.text


def test_no_token_refusal_repeats_the_token_or_header_sent(api: TestClient) -> None:
    for value in (f"Bearer {MARK}-0000000000", f"{MARK} abc", f"Bearer {TOKENS['webform'][0]}x"):
        answer = api.post("/v1/predict", json={"subject": "x"}, headers={"Authorization": value})
        assert is_problem(answer, 401) and MARK not in answer.text and TOKENS["webform"][0] not in answer.text


def test_head_healthz_answers_with_headers_only(api: TestClient) -> None:
    answer = api.head("/healthz")
    assert answer.status_code == 200 and answer.content == b"" and answer.headers["content-type"] == "application/json"


def test_a_repeated_post_is_200_and_the_document_says_so(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    post = document["paths"]["/v1/tickets"]["post"]["responses"]
    assert {"200", "201", "400", "401", "403", "413", "415", "422", "429", "503"} <= set(post)
    assert post["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert post["400"]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "404" in document["paths"]["/v1/tickets/{ident}"]["get"]["responses"]
    assert "head" in document["paths"]["/healthz"]
    text = document["components"]["schemas"]["TextIn"]
    assert [branch["required"] for branch in text["anyOf"]] == [["subject"], ["body"]]
    ticket = document["components"]["schemas"]["TicketIn"]["properties"]
    assert ticket["sender"]["pattern"].startswith("^[a-zA-Z0-9") and "pattern" in ticket["subject"]
    assert json.dumps(document).count("application/problem+json") > 40
