"""The OpenAPI document says every answer the server gives: each route's refusals as RFC 9457 problems
with the headers they carry, and the webhooks' headers and payloads, which the routes read by hand.

tests/test_api_schema.py runs Schemathesis against the app with this document, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from bot.api.models import Problem
from bot.api.webhooks import FRESHDESK_SECRET, MAX_TICKET_ID, TICKET_ID, ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
WHY = {
    400: "not JSON, two Authorization headers, or a Content-Length that is not a number",
    401: "no bearer token, or not a valid one",
    403: "the token lacks this route's scope",
    404: "nothing of that id or name here",
    413: "a body over max_body_bytes (refused before it is read)",
    415: "a body that is not application/json",
    422: "JSON, but not what the route takes: `errors` says where and what",
    429: "over the token's requests_per_minute",
    500: "an unexpected error (logged with its traceback; the answer says nothing more)",
    502: "the helpdesk refused deskbot (its credentials, or a request it will never take)",
    503: "the source is busy with its cycle, or a server deskbot needs is down",
}
HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "description": "the scheme to authenticate with (RFC 9110 11.6.1)",
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "description": "whole seconds to wait", "schema": {"type": "string"}}},
    503: {"Retry-After": {"required": True, "description": "whole seconds to wait", "schema": {"type": "string"}}},
}
LOCATION = {"Location": {"required": True, "description": "where GET reads the ticket back", "schema": {"type": "string"}}}
GATED = (400, 401, 403, 413, 415, 422, 429, 500)  # every route behind a token and taking a JSON body


def refusals(*statuses: int, why: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status as a problem, with its reason and headers."""
    reasons = {**WHY, **(why or {})}
    return {status: {"description": reasons[status], "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
                     **({"headers": HEADERS[status]} if status in HEADERS else {})} for status in statuses}


def _ticket_id() -> dict[str, Any]:
    return {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_TICKET_ID},
                      {"type": "string", "pattern": TICKET_ID}]}


def webhook_body() -> dict[str, Any]:
    """The payloads a webhook route reads a ticket id from (bot/api/webhooks.py `ticket_id_of`)."""
    shapes: list[dict[str, Any]] = [{"required": ["ticket_id"], "properties": {"ticket_id": _ticket_id()}}]
    for outer in ("detail", "freshdesk_webhook", "ticket"):
        shapes += [{"required": [outer], "properties": {outer: {
            "type": "object", "required": [inner], "properties": {inner: _ticket_id()}}}} for inner in ("ticket_id", "id")]
    schema = {"type": "object", "anyOf": shapes, "description": 'e.g. {"ticket_id": "{{ticket.id}}"}'}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def webhook_headers(*names: str) -> dict[str, Any]:
    """The helpdesk's own proof, as required header parameters."""
    return {"parameters": [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                           for name in names]}


ZENDESK_EXTRA = {**webhook_body(), **webhook_headers(ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP)}
FRESHDESK_EXTRA = {**webhook_body(), **webhook_headers(FRESHDESK_SECRET)}


def documented(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi`: FastAPI's document with the Problem schemas every refusal refers to."""
    def openapi() -> dict[str, Any]:
        document = FastAPI.openapi(app)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in schemas:
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
        return document
    return openapi
