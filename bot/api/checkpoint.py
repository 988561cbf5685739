"""Who may call, and with what, decided from the request line and headers before a byte of the body is read.

For a route behind a token, in this order: one Authorization header (two: 400, whichever would win is a
guess), a valid bearer token (401), the route's scope (403), the token's budget (429), a Content-Length
within max_body_bytes (413), and a JSON body (415). Only then does FastAPI read and parse the body, so a
caller without a token learns nothing from a malformed or huge body, and one over its budget costs no
parsing. The route's scope is read off its `Allow` dependency, the one place routes declare it; the
admitted Client is handed to that dependency in the ASGI scope.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.api.auth import Client, Gate
from bot.api.problems import problem

CLIENT = "deskbot.client"  # the ASGI scope key the admitted Client travels under
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
bearer = HTTPBearer(auto_error=False, description="a token of [[api.tokens]]")


class Allow:
    """A route's dependency: the caller, admitted to `scope` by the Checkpoint (which reads `scope` off it)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    async def __call__(self, request: Request,
                       credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Client:
        return request.scope[CLIENT]  # type: ignore[no-any-return]


def needed_scope(route: BaseRoute) -> str | None:
    """The scope a route's `Allow` dependency names; None for an open route."""
    dependant = getattr(route, "dependant", None)
    found = [d.call.scope for d in (dependant.dependencies if dependant else []) if isinstance(d.call, Allow)]
    return found[0] if found else None


class Checkpoint:
    """The ASGI layer between the Guard and the routes: auth, scope, budget, size and media type first."""

    def __init__(self, app: ASGIApp, *, gate: Gate, routes: Sequence[BaseRoute], max_body_bytes: int) -> None:
        self.app = app
        self.gate = gate
        self.limit = max_body_bytes
        self.routes = [(route, scope) for route in routes if isinstance(route, APIRoute)
                       if (scope := needed_scope(route)) is not None]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        needed = self._needed(scope) if scope["type"] == "http" else None
        if needed is not None:
            try:
                scope[CLIENT] = self._admit(scope, needed)
            except HTTPException as refusal:
                detail = refusal.detail if isinstance(refusal.detail, str) else ""
                await problem(refusal.status_code, detail, headers=refusal.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _needed(self, scope: Scope) -> str | None:
        for route, needed in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                return needed
        return None

    def _admit(self, scope: Scope, needed: str) -> Client:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        tokens = [value for name, value in headers if name == b"authorization"]
        if len(tokens) > 1:
            raise HTTPException(400, "send one Authorization header, not several")
        client = self.gate.identify(_bearer_token(tokens[0]) if tokens else None)
        self.gate.admit(client, needed)
        if scope["method"] in BODY_METHODS:
            self._check_body(dict(headers))
        return client

    def _check_body(self, headers: dict[bytes, bytes]) -> None:
        declared = headers.get(b"content-length")
        if declared is not None and not declared.isdigit():
            raise HTTPException(400, "the Content-Length header is not a number")
        if declared is not None and int(declared) > self.limit:
            raise HTTPException(413, f"the body is larger than max_body_bytes ({self.limit} bytes)")
        has_body = (declared is not None and int(declared) > 0) or b"transfer-encoding" in headers
        if has_body and not is_json(headers.get(b"content-type", b"").decode("latin-1")):
            raise HTTPException(415, "send the body as JSON, with `Content-Type: application/json`",
                                headers={"Accept-Post": "application/json"})


def _bearer_token(value: bytes) -> str | None:
    """The token of `Bearer <token>` (RFC 6750 2.1; the scheme is case-insensitive), else None."""
    scheme, _, token = value.decode("latin-1").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def is_json(content_type: str) -> bool:
    """application/json or application/<anything>+json, with any parameters: the types FastAPI parses as JSON."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
