"""`deskbot auth`: an admin signs an account in once; its refresh token lands in the token file (0600).

Facts this relies on:
- Microsoft's device authorization grant (RFC 8628): POST `{tenant}/oauth2/v2.0/devicecode` with client_id and
  scope answers device_code, user_code, verification_uri, expires_in, interval and a message for the user; the
  token endpoint is polled with grant_type `urn:ietf:params:oauth:grant-type:device_code` and answers
  `authorization_pending` until the user has signed in (`authorization_declined`, `expired_token`,
  `bad_verification_code` end it; RFC 8628 3.5: `slow_down` adds 5 s to the interval). The app registration
  must allow public client flows.
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code
- Google, for desktop and command-line apps: the browser goes to the authorization endpoint with a PKCE
  code_challenge (S256, RFC 7636) and a loopback redirect `http://127.0.0.1:PORT` (RFC 8252 7.3); the code is
  exchanged with the code_verifier (and the client's secret) at the token endpoint. Google's device flow only
  allows a limited set of scopes, without mail, hence the browser.
  https://developers.google.com/identity/protocols/oauth2/native-app
  https://developers.google.com/identity/protocols/oauth2/limited-input-device
Tokens are never printed: the admin sees the user code or the sign-in address, and where the file is.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from bot.config.file import Config, MailboxConfig, SmtpConfig
from bot.errors import AuthError, ConfigError
from connectors.oauth import (
    GOOGLE_AUTHORIZE_URL,
    Account,
    account_of,
    locked,
    post_form,
    refusal,
    scopes_of,
    token_path,
    token_record,
    token_url,
    utc_now,
    write_token_file,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class SignIn:
    """One account's sign-in: its client, endpoints, token file, and how to talk to the admin (all passed in)."""

    account: Account
    path: Path
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    username: str
    out: TextIO
    transport: httpx.BaseTransport | None = None
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep
    timeout: float = 30.0

    def post(self, url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST a form (with the client's secret, if it has one) to one of the provider's endpoints."""
        if self.client_secret:
            form = {**form, "client_secret": self.client_secret}
        return post_form(url, {"client_id": self.client_id, **form}, account=self.account,
                         transport=self.transport, timeout=self.timeout)


def server_to_sign_in(config: Config, *, flow: str, mailbox: str | None,
                      environ: Mapping[str, str]) -> MailboxConfig | SmtpConfig:
    """The [[mailbox]] named NAME (or [smtp]), checked to use OAuth2 with this provider; its secret filled in."""
    if mailbox is None:
        server: MailboxConfig | SmtpConfig | None = config.smtp
        what = "[smtp]"
    else:
        server = next((m for m in config.mailbox if m.name == mailbox), None)
        what = f"[[mailbox]] {mailbox!r}"
    if server is None:
        names = ", ".join(m.name for m in config.mailbox) or "none"
        raise ConfigError(f"the config has no {what} (mailboxes: {names})")
    if server.auth != "oauth2":
        raise ConfigError(f"{what} has auth = \"password\": set auth = \"oauth2\" and the oauth_ keys first")
    if server.oauth_provider not in (flow, "custom"):
        raise ConfigError(f"{what} has oauth_provider = \"{server.oauth_provider}\": run "
                          f"`deskbot auth {server.oauth_provider}` for it")
    variable = server.oauth_client_secret_env
    if variable and variable not in environ:
        raise ConfigError(f"environment variable {variable} is not set; export it with the client secret",
                          key="oauth_client_secret_env")
    return server.model_copy(update={"oauth_client_secret": environ.get(variable, "") if variable else ""})


def sign_in_for(server: MailboxConfig | SmtpConfig, *, out: TextIO, transport: httpx.BaseTransport | None = None,
                clock: Callable[[], datetime] = utc_now, sleep: Callable[[float], None] = time.sleep) -> SignIn:
    """What signing this server's account in needs."""
    return SignIn(account=account_of(server), path=token_path(server), token_url=token_url(server),
                  client_id=server.oauth_client_id, client_secret=server.oauth_client_secret,
                  scopes=scopes_of(server), username=server.username, out=out, transport=transport, clock=clock,
                  sleep=sleep, timeout=server.timeout)


def device_url_of(token_endpoint: str) -> str:
    """Microsoft's device-code endpoint sits beside its token endpoint (`.../oauth2/v2.0/devicecode`)."""
    if not token_endpoint.endswith("/token"):
        raise ConfigError(f"cannot tell the device-code endpoint from {token_endpoint!r}: give --device-url")
    return token_endpoint[: -len("/token")] + "/devicecode"


def device_code_flow(sign_in: SignIn, *, device_url: str) -> Path:
    """Show the admin a code to enter at the provider's page, poll until they signed in, store the tokens."""
    status, started = sign_in.post(device_url, {"scope": " ".join(sign_in.scopes)})
    if status != 200 or not started.get("device_code"):
        raise _refused("the device-code request", status, started, sign_in,
                       "in the app registration, allow public client flows (Authentication, Advanced settings)")
    print(started.get("message") or f"Open {started.get('verification_uri')} and enter the code "
          f"{started.get('user_code')}", file=sign_in.out)
    print(f"Sign in as {sign_in.username}. Waiting…", file=sign_in.out, flush=True)
    interval = float(started.get("interval", 5))  # RFC 8628 3.2: 5 s when not given
    deadline = sign_in.clock().timestamp() + float(started.get("expires_in") or 900)
    form = {"grant_type": DEVICE_GRANT, "device_code": str(started["device_code"])}
    while True:
        sign_in.sleep(interval)
        if sign_in.clock().timestamp() > deadline:
            raise AuthError("the code expired before the sign-in was finished: run `deskbot auth` again")
        status, answer = sign_in.post(sign_in.token_url, form)
        if status == 200 and answer.get("access_token"):
            return store(sign_in, answer)
        if answer.get("error") == "authorization_pending":
            continue
        if answer.get("error") == "slow_down":
            interval += 5
            continue
        raise _refused("the sign-in", status, answer, sign_in, "run `deskbot auth` again")


def loopback_flow(sign_in: SignIn, *, authorize_url: str = GOOGLE_AUTHORIZE_URL, port: int = 0,
                  open_browser: Callable[[str], bool] = webbrowser.open, wait_seconds: float = 300) -> Path:
    """Send the admin's browser to the provider, take the code at a loopback redirect, exchange it with PKCE."""
    verifier = secrets.token_urlsafe(64)  # RFC 7636 4.1: 43 to 128 unreserved characters (this is 86)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    with _Redirect(port) as redirect:
        redirect_uri = f"http://127.0.0.1:{redirect.port}/"
        url = authorize_url + "?" + urlencode({
            "client_id": sign_in.client_id, "redirect_uri": redirect_uri, "response_type": "code",
            "scope": " ".join(sign_in.scopes), "code_challenge": challenge, "code_challenge_method": "S256",
            "state": state, "access_type": "offline", "prompt": "consent", "login_hint": sign_in.username})
        print(f"Sign in as {sign_in.username} in your browser. If none opens, open this address in a browser on "
              f"this machine (over SSH: forward port {redirect.port} first):\n{url}", file=sign_in.out, flush=True)
        open_browser(url)
        query = redirect.wait(wait_seconds)
    if query.get("state") != state:
        raise AuthError("the browser came back with another sign-in's answer (state differs): run `deskbot auth` again")
    if "code" not in query:
        raise AuthError(f"the sign-in was not finished ({query.get('error', 'no code')}: "
                        f"{query.get('error_description', '')[:200]}): run `deskbot auth` again")
    status, answer = sign_in.post(sign_in.token_url, {
        "grant_type": "authorization_code", "code": query["code"], "redirect_uri": redirect_uri,
        "code_verifier": verifier})
    if status != 200 or not answer.get("access_token"):
        raise _refused("the code exchange", status, answer, sign_in, "run `deskbot auth` again")
    return store(sign_in, answer)


def store(sign_in: SignIn, answer: dict[str, Any]) -> Path:
    """Write the new tokens (0600); an answer without a refresh token cannot keep a daemon signed in."""
    if not answer.get("refresh_token"):
        raise AuthError("the provider sent no refresh token: with Microsoft, add offline_access to oauth_scopes; "
                        "with Google, remove deskbot's access in the account's security settings and sign in again")
    meta = {"provider": sign_in.account.provider, "client_id": sign_in.client_id, "username": sign_in.username}
    try:
        sign_in.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise AuthError(f"cannot create the folder of the token file {sign_in.path}: {exc.strerror}") from None
    with locked(sign_in.path, sign_in.account):
        record = token_record(answer, previous={}, now=sign_in.clock(), scopes=sign_in.scopes, meta=meta)
        write_token_file(sign_in.path, record, sign_in.account)
    return sign_in.path


def _refused(what: str, status: int, body: dict[str, Any], sign_in: SignIn, fix: str) -> Exception:
    """A refusal during sign-in: the provider's words and what to do (the endpoint being down stays itself)."""
    error = refusal(sign_in.account, status, body, url=sign_in.token_url)
    if not isinstance(error, AuthError):
        return error
    said = str(body.get("error_description") or "").strip().splitlines()
    words = str(body.get("error") or f"HTTP {status}") + (f": {said[0][:200]}" if said else "")
    return AuthError(f"{sign_in.account.label()}: {what} was refused ({words}); {fix}")


class _Redirect:
    """The loopback redirect target: an HTTP server on 127.0.0.1 that waits for the provider's answer."""

    def __init__(self, port: int) -> None:
        self.query: dict[str, str] = {}
        self._server = HTTPServer(("127.0.0.1", port), _redirect_handler(self))
        self.port = int(self._server.server_address[1])

    def __enter__(self) -> _Redirect:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.server_close()

    def wait(self, seconds: float) -> dict[str, str]:
        """The query of the request that carries a code or an error (a favicon request is not it)."""
        deadline = time.monotonic() + seconds
        while not self.query:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AuthError(f"no answer from the browser within {seconds:.0f} s: run `deskbot auth` again")
            self._server.timeout = remaining
            self._server.handle_request()
        return self.query


def _redirect_handler(redirect: _Redirect) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's hook name
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if "code" in query or "error" in query:
                redirect.query = query
            done = "code" in query
            page = ("<p>deskbot is signed in. You can close this tab.</p>" if done else
                    "<p>deskbot was not signed in; see the terminal.</p>").encode()
            self.send_response(200 if done else 400)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the request line holds the code
            pass

    return Handler


def sign_in_command(config: Config, *, flow: str, mailbox: str | None, out: TextIO, environ: Mapping[str, str],
                    device_url: str = "", authorize_url: str = "", port: int = 0,
                    open_browser: Callable[[str], bool] = webbrowser.open,
                    transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> Path:
    """All of `deskbot auth` after reading the config: pick the account, run its provider's flow, store."""
    server = server_to_sign_in(config, flow=flow, mailbox=mailbox, environ=environ)
    sign_in = sign_in_for(server, out=out, transport=transport, sleep=sleep)
    if flow == "microsoft":
        return device_code_flow(sign_in, device_url=device_url or device_url_of(sign_in.token_url))
    if server.oauth_provider == "custom" and not authorize_url:
        raise ConfigError("a custom provider's browser sign-in needs --authorize-url")
    return loopback_flow(sign_in, authorize_url=authorize_url or GOOGLE_AUTHORIZE_URL, port=port,
                         open_browser=open_browser)
