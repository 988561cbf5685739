"""A fake OAuth2 identity provider (token, device-code and introspection endpoints) and an SMTP server that
takes XOAUTH2 only; the provider is an httpx handler for `httpx.MockTransport`, and `LoopbackHttp` serves it
on 127.0.0.1 for clients that are not ours (Dovecot's oauth2 passdb calls its introspection URL)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from bot.ops.loopback import free_port

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Device:
    """One device-code sign-in: answered `authorization_pending` until the user approves or declines."""

    username: str
    pending_polls: int = 2
    slow_down_once: bool = False
    outcome: str = "approve"  # approve | authorization_declined | expired_token


@dataclass
class FakeIdentityProvider:
    """A stateful token endpoint that follows RFC 6749/7636/8628/7662 as Microsoft and Google answer them."""

    client_id: str = "deskbot-app"
    client_secret: str = ""  # when set, every grant must carry it
    rotate: bool = True  # a refresh answers with a new refresh token and forgets the old one (strict rotation)
    lifetime: int = 3600
    clock: Callable[[], float] = time.time
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> username
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (username, expiry)
    forms: list[dict[str, str]] = field(default_factory=list)  # every form posted to /token, in order
    devices: dict[str, Device] = field(default_factory=dict)
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # code -> (user, challenge, redirect)
    next_device: Device | None = None  # how the next device-code sign-in goes
    down: bool = False  # answer 503 to everything

    def sign_in(self, username: str) -> str:
        """A refresh token for `username`, as if an admin had run `deskbot auth` for it."""
        token = "rt-" + secrets.token_urlsafe(12)
        self.refresh_tokens[token] = username
        return token

    def revoke(self, username: str) -> None:
        """Revoke every token of a user (a password reset, an admin's "revoke sessions")."""
        self.refresh_tokens = {t: u for t, u in self.refresh_tokens.items() if u != username}
        self.access_tokens = {t: v for t, v in self.access_tokens.items() if v[0] != username}

    def is_valid(self, token: str, username: str) -> bool:
        """The access token was issued to `username` and has not expired or been revoked."""
        user, expiry = self.access_tokens.get(token, ("", 0.0))
        return user == username and self.clock() < expiry

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503, json={"error": "temporarily_unavailable"})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        path = request.url.path
        if path.endswith("/token"):
            self.forms.append(form)
            return self._token(form)
        if path.endswith("/devicecode"):
            return self._device_code(form)
        if path.endswith("/introspect"):
            user, expiry = self.access_tokens.get(form.get("token", ""), ("", 0.0))
            active = bool(user) and self.clock() < expiry
            return httpx.Response(200, json={"active": True, "email": user} if active else {"active": False})
        return httpx.Response(404, json={"error": "not_found"})

    def _token(self, form: dict[str, str]) -> httpx.Response:
        if form.get("client_id") != self.client_id or form.get("client_secret", "") != self.client_secret:
            return _error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        grant = form.get("grant_type")
        if grant == "refresh_token":
            user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return _error(400, "invalid_grant", "AADSTS70008: The refresh token has expired or was revoked.")
            if self.rotate:
                del self.refresh_tokens[form["refresh_token"]]
            return self._issue(user, rotate=self.rotate)
        if grant == "authorization_code":
            return self._exchange_code(form)
        if grant == DEVICE_GRANT:
            return self._poll_device(form)
        return _error(400, "unsupported_grant_type", grant or "")

    def _issue(self, user: str, *, rotate: bool = True) -> httpx.Response:
        access = "at-" + secrets.token_urlsafe(12)
        self.access_tokens[access] = (user, self.clock() + self.lifetime)
        answer: dict[str, Any] = {"token_type": "Bearer", "access_token": access, "expires_in": self.lifetime}
        if rotate:
            answer["refresh_token"] = self.sign_in(user)
        return httpx.Response(200, json=answer)

    def _device_code(self, form: dict[str, str]) -> httpx.Response:
        if form.get("client_id") != self.client_id or not form.get("scope"):
            return _error(400, "invalid_request", "client_id and scope are required")
        code = "dc-" + secrets.token_urlsafe(12)
        self.devices[code] = self.next_device or Device("support@example.com")
        return httpx.Response(200, json={
            "device_code": code, "user_code": "ABCD-EFGH", "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900, "interval": 0, "message": "To sign in, use a web browser to open the page "
            "https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate."})

    def _poll_device(self, form: dict[str, str]) -> httpx.Response:
        device = self.devices.get(form.get("device_code", ""))
        if device is None:
            return _error(400, "bad_verification_code", "unknown device code")
        if device.slow_down_once:
            device.slow_down_once = False
            return _error(400, "slow_down", "polling too fast")
        if device.pending_polls > 0:
            device.pending_polls -= 1
            return _error(400, "authorization_pending", "AADSTS70016: the user has not signed in yet")
        if device.outcome != "approve":
            return _error(400, device.outcome, "the user said no, or took too long")
        return self._issue(device.username)

    def authorize(self, url: str, username: str) -> str:
        """The browser's part of the authorization-code flow: check the request, answer with the redirect."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["client_id"] == self.client_id and query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert urlsplit(query["redirect_uri"]).hostname == "127.0.0.1"
        code = "code-" + secrets.token_urlsafe(12)
        self.codes[code] = (username, query["code_challenge"], query["redirect_uri"])
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def _exchange_code(self, form: dict[str, str]) -> httpx.Response:
        user, challenge, redirect = self.codes.pop(form.get("code", ""), ("", "", ""))
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if not user or form.get("redirect_uri") != redirect or \
                base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
            return _error(400, "invalid_grant", "code, redirect_uri or code_verifier do not match")
        return self._issue(user)


def _error(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})


class LoopbackHttp:
    """Serves an httpx handler over real HTTP on 127.0.0.1, in a thread."""

    def __init__(self, app: Callable[[httpx.Request], httpx.Response]) -> None:
        self.app = app
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(app))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackHttp:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler_for(app: Callable[[httpx.Request], httpx.Response]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = httpx.Request(self.command, f"http://127.0.0.1{self.path}", headers=dict(self.headers),
                                    content=body)
            response = app(request)
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", "application/json"))
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = do_POST = _answer  # noqa: N815 - http.server's hook names

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
            pass

    return Handler


class XOAuth2Handler:
    """An aiosmtpd handler that takes AUTH XOAUTH2 only, checks the bearer token with the provider, keeps mail."""

    def __init__(self, provider: FakeIdentityProvider) -> None:
        self.provider = provider
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, bool]] = []  # (user, accepted)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:  # noqa: N802 - aiosmtpd's hook name
        fields = dict(part.split("=", 1) for part in base64.b64decode(args[1]).decode().split("\x01") if part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        accepted = self.provider.is_valid(token, user)
        self.logins.append((user, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        # Gmail's way: a 334 challenge with a JSON error, the client's empty line, then the refusal.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


class XOAuth2SmtpServer:
    """aiosmtpd on loopback offering only XOAUTH2 (plain text is fine on loopback: auth_require_tls off)."""

    def __init__(self, provider: FakeIdentityProvider) -> None:
        self.handler = XOAuth2Handler(provider)
        self.host, self.port = "127.0.0.1", free_port()
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, auth_require_tls=False,
                                      auth_exclude_mechanism=["PLAIN", "LOGIN"])

    def __enter__(self) -> XOAuth2SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._controller.stop()
