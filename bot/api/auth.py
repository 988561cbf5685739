"""Who may call the HTTP API: named bearer tokens, their scopes, and a request budget per token.

Tokens are compared in constant time: the presented token's SHA-256 digest is compared with each
configured token's digest by `hmac.compare_digest`, all of them every time, so neither the length
nor the position of a match shows in the time taken. Refusals follow RFC 6750 (Bearer token usage,
3 and 3.1): 401 with `WWW-Authenticate: Bearer` (`error="invalid_token"` when a wrong token was
sent), 403 with `error="insufficient_scope"` and the scope needed. A token over its budget gets 429
with `Retry-After` (RFC 6585 4) in whole seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException

from bot.config.file import ApiTokenConfig


@dataclass(frozen=True)
class Client:
    """An authenticated caller: its token's name and what it may do."""

    name: str
    scopes: frozenset[str]


class Bucket:
    """A token bucket: `per_minute` requests a minute, in bursts of up to as many."""

    def __init__(self, per_minute: int, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.updated = now

    def take(self, now: float) -> float:
        """0 when a request may go now (and counts it), else the seconds until one may."""
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        if self.level >= 1.0:
            self.level -= 1.0
            return 0.0
        return (1.0 - self.level) / self.rate


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class Gate:
    """Turns an Authorization header into a Client, and admits it to a scope within its budget."""

    def __init__(self, tokens: list[ApiTokenConfig], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._tokens = [(_digest(t.token), Client(t.name, frozenset(t.scopes))) for t in tokens]
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets = {t.name: Bucket(t.requests_per_minute, clock()) for t in tokens}

    def identify(self, token: str | None) -> Client:
        """The client whose token this is; 401 when none was sent or none matches."""
        if not token:
            raise HTTPException(401, "send the API token as `Authorization: Bearer <token>`",
                                headers={"WWW-Authenticate": 'Bearer realm="deskbot"'})
        presented = _digest(token)
        found = None
        for digest, client in self._tokens:  # no early exit: every token is compared every time
            if hmac.compare_digest(presented, digest):
                found = client
        if found is None:
            raise HTTPException(401, "the API token is not valid",
                                headers={"WWW-Authenticate": 'Bearer realm="deskbot", error="invalid_token"'})
        return found

    def admit(self, client: Client, scope: str) -> None:
        """403 without the scope; 429 with Retry-After when the client spent its budget."""
        if scope not in client.scopes:
            raise HTTPException(403, f"token {client.name!r} lacks the scope {scope!r} (it has: "
                                f"{', '.join(sorted(client.scopes))})",
                                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
        with self._lock:
            wait = self._buckets[client.name].take(self._clock())
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise HTTPException(429, f"token {client.name!r} is over its requests_per_minute; retry in {seconds} s",
                                headers={"Retry-After": str(seconds)})
