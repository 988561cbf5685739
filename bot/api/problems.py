"""Every refusal of the HTTP API as an RFC 9457 problem document; never a stack trace, never a secret.

RFC 9457 (Problem Details for HTTP APIs): the body is `application/problem+json` with `type`
(`about:blank` when the status says it all, 3.1.1; then `title` is the status phrase), `title`,
`status`, and `detail`, an explanation of this occurrence aimed at helping the client fix it
(3.1.4). Extension members may be added (3.2): validation errors carry `errors`, each with the
field's location and what is wrong with it (never the value sent).

`Guard` is the outermost ASGI layer of the app: a body over `max_body_bytes` is refused with 413
from its Content-Length before a byte of it is read (or, sent chunked, as soon as the count passes
the limit), and an unexpected error becomes a bare 500 problem, logged here with its traceback.
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
    """Starlette's and our own HTTPException (404, 405, 401, 413…) as a problem."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase else ""
    return problem(exc.status_code, detail, headers=exc.headers)


async def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """A body that is not JSON is 400; JSON of the wrong shape is 422; both say where and what."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
    status = 400 if any(e.get("type") == "json_invalid" for e in exc.errors()) else 422
    detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]) or "the request is not valid"
    return problem(status, detail, errors=errors)


async def deskbot_problem(request: Request, exc: Exception) -> JSONResponse:
    """deskbot's own errors while serving a request: whose fault it is decides the status."""
    assert isinstance(exc, DeskbotError)
    if isinstance(exc, BadInputError):
        return problem(422, str(exc))
    if isinstance(exc, GoneError):
        return problem(404, str(exc))
    if isinstance(exc, TransientError):  # incl. ServiceUnavailable: the helpdesk, SMTP or the log is busy or down
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return problem(503, str(exc), headers={"Retry-After": str(RETRY_SECONDS)})
    if isinstance(exc, PermanentError):  # the helpdesk refused us (credentials, a request it will never take)
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return problem(502, f"an upstream server refused: {exc}")
    log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return problem(500)  # a configuration or model error: the admin's to fix, nothing for the client


class Guard:
    """The outermost layer: 413 before an oversized body is read, and a bare 500 for what nobody caught."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            refusal = problem(413, self._too_large()) if declared.isdigit() else \
                problem(400, "the Content-Length header is not a number")
            await refusal(scope, receive, send)
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
