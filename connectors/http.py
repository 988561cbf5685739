"""The one place deskbot talks HTTP to a helpdesk: auth, JSON, rate budgets, Retry-After, retries.

Facts this relies on (checked against the helpdesks' own references):
- Zendesk sends `X-Rate-Limit` / `X-Rate-Limit-Remaining` (the account's per-minute limit) on every
  response, `ratelimit-reset` and `zendesk-ratelimit-<endpoint>: total=N; remaining=N; resets=S` on
  endpoint-limited ones, and answers 429 with `Retry-After` in seconds; the incremental export allows
  10 requests a minute and Update Ticket 100 a minute per account.
  https://developer.zendesk.com/api-reference/introduction/rate-limits/
  https://developer.zendesk.com/documentation/ticketing/using-the-zendesk-api/best-practices-for-avoiding-rate-limiting/
  https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
- Freshdesk sends `X-Ratelimit-Total`, `X-Ratelimit-Remaining` and `X-Ratelimit-Used-CurrentRequest`
  (credits: an `include` costs extra) and answers 429 with `Retry-After`; plans count per minute, older
  ones per hour, and no header says which: that budget is paced by what is left (connectors/budget.py).
  https://developers.freshdesk.com/api/#ratelimit
- Zendesk's `zendesk-ratelimit-per-ticket-updates` (30 updates per ticket per 10 minutes) limits one
  ticket, not the Update Ticket endpoint (100 a minute): it gets a budget per ticket, and its 429 blocks
  only that ticket (api-reference/introduction/rate-limits/).
- 403 is `Forbidden`: the credentials are good but the user's role may not do this (Zendesk's export).

Errors become deskbot's own (bot/errors.py), `maybe_done` only where the request may have been applied:
unreachable or rate-limited for longer than we wait ->
ServiceUnavailable; a 5xx that persists -> TransientError; a write whose answer never came ->
UncertainWrite (the caller looks before posting again); 401/403 -> AuthError, logged once; 404 ->
GoneError; 409 -> Conflict for the caller; 400/422/other 4xx -> PermanentError with the API's message.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from bot.errors import (
    AuthError,
    GoneError,
    PermanentError,
    ServiceUnavailable,
    TransientError,
    not_done,
)
from connectors.budget import WINDOW_SECONDS, Budget

log = logging.getLogger(__name__)

ACCOUNT = "account"
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD"})
# Raised before the request left this machine: safe to send again whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_ENDPOINT_HEADER = re.compile(r"^zendesk-ratelimit-[a-z0-9-]+$")
PER_ITEM_HEADERS = frozenset({"zendesk-ratelimit-per-ticket-updates"})  # a limit of the one item the path names
KEPT_ITEM_BUDGETS = 500  # per-item budgets beyond this are forgotten once idle


class Conflict(PermanentError):
    """409: the item changed since we read it (Zendesk safe_update); the caller re-reads."""


class Forbidden(AuthError):
    """403: the helpdesk knows deskbot's user, but its role may not do this."""


class UncertainWrite(TransientError):
    """A write was sent but no answer came: it may have been applied. Look before sending it again."""


class ApiClient:
    """An httpx.Client for one helpdesk account that paces itself and speaks deskbot's errors."""

    def __init__(self, base_url: str, *, name: str, auth: tuple[str, str], clock: Callable[[], datetime],
                 sleep: Callable[[float], None], transport: httpx.BaseTransport | None = None,
                 timeout: float = 30.0, limits: Mapping[str, int] | None = None, max_attempts: int = 4,
                 max_wait: float = 120.0, backoff: float = 1.0, backoff_cap: float = 30.0,
                 rng: random.Random | None = None, budgets: dict[str, Budget] | None = None,
                 account_window: float | None = WINDOW_SECONDS) -> None:
        """`budgets`: the source's, kept across cycles (a new dict when None); `account_window`: the
        period of the account-wide limit the headers report (None: they do not say)."""
        self.name = name
        self._client = httpx.Client(base_url=base_url.rstrip("/"), auth=httpx.BasicAuth(*auth),
                                    transport=transport, timeout=timeout,
                                    headers={"Accept": "application/json", "User-Agent": "deskbot"})
        self._clock, self._sleep = clock, sleep
        self._budgets = budgets if budgets is not None else {}
        for family, limit in (limits or {}).items():
            self._budgets.setdefault(family, Budget(limit=limit))
        self._budgets.setdefault(ACCOUNT, Budget(window=account_window))
        self._documented = frozenset(limits or {})  # families with a limit of their own
        self._max_attempts, self._max_wait = max_attempts, max_wait
        self._backoff, self._backoff_cap = backoff, backoff_cap
        self._rng = rng or random.Random()
        self._auth_logged = False
        self.calls: dict[str, int] = {}  # "GET export" -> count, for the bench and the log
        self.throttled = 0  # 429s received

    def __repr__(self) -> str:
        return f"ApiClient({self.name!r}, {str(self._client.base_url)!r})"

    def close(self) -> None:
        """Close the connection pool; never raises."""
        self._client.close()

    def get(self, path: str, *, family: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON."""
        return self.request("GET", path, family=family, params=params).json()

    def put(self, path: str, body: Any, *, family: str) -> Any:
        """PUT JSON and decode the answer."""
        return self.request("PUT", path, family=family, json=body).json()

    def post(self, path: str, body: Any, *, family: str) -> Any:
        """POST JSON and decode the answer."""
        return self.request("POST", path, family=family, json=body).json()

    def request(self, method: str, path: str, *, family: str, params: Mapping[str, Any] | None = None,
                json: Any = None, idempotent: bool | None = None) -> httpx.Response:
        """One call, paced by the budgets, retried while that is safe; raise deskbot's errors.

        `idempotent` overrides what the method says: a PUT that adds a comment must not be sent twice.
        """
        what = f"{method} {path}"
        repeatable = method in IDEMPOTENT if idempotent is None else idempotent
        for attempt in range(1, self._max_attempts + 1):
            self._wait_for(family, path)
            try:
                response = self._client.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                self._after_transport_error(what, repeatable, exc, attempt)
                continue
            self._count(method, family, path, response)
            if response.status_code == 429:
                self._after_429(what, family, path, response, attempt)
                continue
            if response.status_code >= 500:
                self._after_5xx(what, repeatable, response, attempt)
                continue
            if response.status_code >= 400:
                raise self._client_error(what, response)
            return response
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    # -- pacing -----------------------------------------------------------------------------------

    def _budget(self, family: str) -> Budget:
        return self._budgets.setdefault(family, Budget())

    def _now(self) -> float:
        return self._clock().timestamp()

    def _wait_for(self, family: str, path: str) -> None:
        """Sleep until the account's, this family's and this item's budgets allow one more request."""
        item = self._budgets.get(_item_key(family, path))
        for budget in (self._budget(ACCOUNT), self._budget(family), *([item] if item else [])):
            seconds = budget.delay(self._now())
            if seconds > self._max_wait:
                raise not_done(ServiceUnavailable(f"{self.name}: rate limit reached; next request possible in "
                                                  f"{seconds:.0f} s"))
            if seconds > 0:
                log.debug("%s: pacing %s requests for %.1f s", self.name, family, seconds)
                self._sleep(seconds)
                budget.waited()

    def _count(self, method: str, family: str, path: str, response: httpx.Response) -> None:
        """Book the request against the budgets and learn what the headers say is left."""
        key = f"{method} {family}"
        self.calls[key] = self.calls.get(key, 0) + 1
        now, headers = self._now(), response.headers
        cost = _int(headers.get("x-ratelimit-used-currentrequest")) or 1
        account = self._budget(ACCOUNT)
        account.spend(now, cost)
        account.observe(now, limit=_int(headers.get("x-rate-limit") or headers.get("x-ratelimit-total")),
                        remaining=_int(headers.get("x-rate-limit-remaining") or headers.get("x-ratelimit-remaining")),
                        reset_in=_float(headers.get("ratelimit-reset")))
        endpoint = self._budget(family)
        endpoint.spend(now, 1)
        for name, value in headers.items():
            if _ENDPOINT_HEADER.match(name.lower()):
                fields = _parameters(value)
                budget = self._item_budget(family, path) if name.lower() in PER_ITEM_HEADERS else endpoint
                budget.observe(now, limit=_int(fields.get("total")), remaining=_int(fields.get("remaining")),
                               reset_in=_float(fields.get("resets")))

    def _item_budget(self, family: str, path: str) -> Budget:
        """The budget of the one item `path` names; idle ones are forgotten so the dict stays small."""
        key = _item_key(family, path)
        if key not in self._budgets and len(self._budgets) > KEPT_ITEM_BUDGETS:
            now = self._now()
            for old in [k for k, b in self._budgets.items() if " " in k and b.idle(now)]:
                del self._budgets[old]
        return self._budgets.setdefault(key, Budget(window=None))

    # -- failures ---------------------------------------------------------------------------------

    def _retry_pause(self, attempt: int) -> None:
        """Capped exponential backoff with full jitter."""
        self._sleep(self._rng.uniform(0, min(self._backoff_cap, self._backoff * 2 ** (attempt - 1))))

    def _after_transport_error(self, what: str, repeatable: bool, exc: httpx.TransportError, attempt: int) -> None:
        if not repeatable and not isinstance(exc, NOT_SENT):
            raise UncertainWrite(f"{self.name}: {what}: no answer ({type(exc).__name__}); it may have been applied")
        if attempt == self._max_attempts:
            error = ServiceUnavailable(f"{self.name}: {what}: unreachable after {attempt} attempts "
                                       f"({type(exc).__name__})")
            raise (not_done(error) if isinstance(exc, NOT_SENT) else error) from None
        self._retry_pause(attempt)

    def _after_429(self, what: str, family: str, path: str, response: httpx.Response, attempt: int) -> None:
        self.throttled += 1
        seconds = _float(response.headers.get("retry-after"))
        seconds = 60.0 if seconds is None else seconds
        names = {name.lower() for name in response.headers}
        specific = any(_ENDPOINT_HEADER.match(name) for name in names)
        account_spent = _int(response.headers.get("x-rate-limit-remaining")
                             or response.headers.get("x-ratelimit-remaining")) == 0
        # A limit of one item blocks that item, one of an endpoint family that family; the account's everything.
        own = (specific or family in self._documented) and not account_spent
        if names & PER_ITEM_HEADERS and not account_spent:
            budget = self._item_budget(family, path)
        else:
            budget = self._budget(family if own else ACCOUNT)
        budget.block(self._now(), seconds)
        log.warning("%s: %s: rate limited (429), Retry-After %.0f s", self.name, what, seconds)
        if seconds > self._max_wait or attempt == self._max_attempts:
            raise not_done(ServiceUnavailable(f"{self.name}: rate limited; the helpdesk asks to wait {seconds:.0f} s"))

    def _after_5xx(self, what: str, repeatable: bool, response: httpx.Response, attempt: int) -> None:
        status = response.status_code
        if not repeatable:
            raise UncertainWrite(f"{self.name}: {what}: HTTP {status}; it may have been applied")
        if attempt == self._max_attempts:
            raise TransientError(f"{self.name}: {what}: HTTP {status} after {attempt} attempts: {api_message(response)}")
        self._retry_pause(attempt)

    def _client_error(self, what: str, response: httpx.Response) -> Exception:
        """A 4xx: the helpdesk refused the request, so its effect surely does not exist."""
        return not_done(self._refusal(what, response))

    def _refusal(self, what: str, response: httpx.Response) -> PermanentError:
        status, message = response.status_code, api_message(response)
        if status == 403:  # the caller knows what the request needs and says so (Zendesk: the export is admin-only)
            return Forbidden(f"{self.name}: {what}: not allowed for deskbot's user (HTTP 403): {message}")
        if status == 401:
            if not self._auth_logged:
                log.error("%s: the helpdesk refuses deskbot's credentials (HTTP %d: %s); check the API token or "
                          "key and the account's permissions", self.name, status, message)
                self._auth_logged = True
            return AuthError(f"{self.name}: credentials refused (HTTP {status}): {message}")
        if status == 404:
            return GoneError(f"{self.name}: {what}: not found (deleted?)")
        if status == 409:
            return Conflict(f"{self.name}: {what}: changed meanwhile (409): {message}")
        return PermanentError(f"{self.name}: {what}: HTTP {status}: {message}")


def api_message(response: httpx.Response) -> str:
    """The helpdesk's own words about an error (Zendesk `error`/`description`/`details`, Freshdesk
    `description`/`errors`/`message`), short; never the request."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or response.reason_phrase).strip()[:300]
    if not isinstance(data, dict):
        return str(data)[:300]
    error = data.get("error")
    if isinstance(error, dict):  # Zendesk's 403: {"error": {"title": "Forbidden", "message": "..."}}
        data = {**data, "error": error.get("title"), "message": error.get("message")}
    parts = [str(data[key]) for key in ("error", "code", "description", "message") if data.get(key)]
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            parts.append(f"{item.get('field', '')}: {item.get('message', '')}".strip(": "))
    details = data.get("details")
    if isinstance(details, dict):
        parts += [f"{field}: {entry.get('description', entry)}" for field, entries in details.items()
                  for entry in (entries if isinstance(entries, list) else [entries]) if isinstance(entry, dict)]
    return "; ".join(parts)[:300] or response.reason_phrase


def _item_key(family: str, path: str) -> str:
    """The budget name of one item's own limit ("update /api/v2/tickets/7.json")."""
    return f"{family} {path}"


def _parameters(value: str) -> dict[str, str]:
    """`total=100; remaining=99; resets=41` -> {"total": "100", ...}."""
    pairs = (part.split("=", 1) for part in value.split(";") if "=" in part)
    return {key.strip().lower(): val.strip() for key, val in pairs}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
