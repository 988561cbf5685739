"""Every refusal of the HTTP API as an RFC 9457 problem document; never a stack trace, never a secret.

RFC 9457 (Problem Details for HTTP APIs): the body is `application/problem+json` with `type`
(`about:blank` when the status says it all, 3.1.1; then `title` is the status phrase), `title`,
`status`, and `detail`, an explanation of this occurrence aimed at helping the client fix it
(3.1.4). Extension members may be added (3.2): validation errors carry `errors`, each with the
field's location and what is wrong with it (never the value sent).

`Guard` is the outermost ASGI layer of the app: a body sent chunked is refused with 413 as soon as
its count passes `max_body_bytes` (a declared Content-Length is refused before a byte is read, by
bot/api/checkpoint.py), and an unexpected error becomes a bare 500 problem, logged here with its
traceback. Details never repeat what the request sent: not a value, not the name of an unknown field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.errors import (
    BadInputError,
    DeskbotError,
    GoneError,
    PermanentError,
    ServiceUnavailable,
    TransientError,
)

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
RETRY_SECONDS = 30  # after a 503: the server or source we depend on is busy or down


def problem(status: int, detail: str = "", *, headers: Mapping[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """One problem document (RFC 9457 3.1) with the status phrase as its title."""
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


async def http_problem(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and our own HTTPException (404, 405, 401, 413…) as a problem; a 401 always names a scheme."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase else ""
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="deskbot"')
    return problem(exc.status_code, detail, headers=headers)


async def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """A body that is not JSON is 400; JSON of the wrong shape is 422; both say where and what, not the value."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": ".".join(str(p) for p in _shown(e)), "msg": _message(e)} for e in exc.errors()]
    status = 400 if any(e.get("type") == "json_invalid" for e in exc.errors()) else 422
    detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]) or "the request is not valid"
    return problem(status, detail, errors=errors)


def _shown(error: Mapping[str, Any]) -> tuple[Any, ...]:
    """Where the error is; the name of an unknown field is the caller's text, so it is left out."""
    loc = tuple(error.get("loc", ()))
    return loc[:-1] if error.get("type") == "extra_forbidden" else loc


def _message(error: Mapping[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "an unknown field (Extra inputs are not permitted): see /docs for the fields"
    return str(error.get("msg", ""))


async def deskbot_problem(request: Request, exc: Exception) -> JSONResponse:
    """deskbot's own errors while serving a request: whose fault it is decides the status; the log says more."""
    assert isinstance(exc, DeskbotError)
    level = logging.WARNING if isinstance(exc, (BadInputError, GoneError, TransientError)) else logging.ERROR
    log.log(level, "%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    if isinstance(exc, BadInputError):
        return problem(422, "the ticket cannot be read (the log says why)")
    if isinstance(exc, GoneError):
        return problem(404, "the helpdesk has no such ticket (deleted, merged, or never there)")
    if isinstance(exc, ServiceUnavailable):  # our own words: which source is busy, or whose lease it is
        return problem(503, str(exc), headers={"Retry-After": str(RETRY_SECONDS)})
    if isinstance(exc, TransientError):  # the helpdesk, SMTP or the log is busy or down
        return problem(503, "a server deskbot needs is busy or down; retry later",
                       headers={"Retry-After": str(RETRY_SECONDS)})
    if isinstance(exc, PermanentError):  # the helpdesk refused us (credentials, a request it will never take)
        return problem(502, "the helpdesk refused deskbot's request (the log says why)")
    return problem(500)  # a configuration or model error: the admin's to fix, nothing for the client


class Guard:
    """The outermost layer: 413 once a body sent chunked passes max_body_bytes, and a bare 500 for what nobody
    caught. (A declared Content-Length is judged by the Checkpoint, after the token.)"""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # sent chunked: stop reading here
                raise HTTPException(413, self._too_large())
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except Exception:  # noqa: BLE001 - the one place: logged with its traceback, the client learns nothing
            log.exception("%s %s: unexpected error", scope.get("method"), scope.get("path"))
            if not started:
                await problem(500)(scope, receive, send)

    def _too_large(self) -> str:
        return f"the body is larger than max_body_bytes ({self.limit} bytes)"
