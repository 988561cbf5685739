"""OAuth2 access tokens for XOAUTH2 logins, from a stored refresh token through the provider's token endpoint.

Facts this relies on:
- Microsoft 365 takes XOAUTH2 on IMAP and SMTP with an access token for the scopes
  `https://outlook.office.com/IMAP.AccessAsUser.All` or `https://outlook.office.com/SMTP.Send`; the scope
  `offline_access` brings a refresh token.
  https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
- Microsoft's token endpoint is `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`; every refresh
  answers with a new refresh token that replaces the old one (the old one is not revoked, and expires).
  https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens
- Google: the scope for IMAP, POP and SMTP is `https://mail.google.com/`; the token endpoint is
  `https://oauth2.googleapis.com/token`; a refresh usually answers without a new refresh token.
  https://developers.google.com/gmail/imap/xoauth2-protocol
  https://developers.google.com/identity/protocols/oauth2/native-app#offline
- RFC 6749 5.2: a refused grant is HTTP 400 with `error=invalid_grant` (expired, revoked, another client's).

The token file is the cache: it holds the refresh token and the current access token with its expiry, is
replaced atomically with mode 0600 on every renewal (the rotated refresh token saved every time), and a
lock beside it makes threads and processes (the daemon's mailboxes sharing the SMTP account, `deskbot
auth`) renew one at a time. Plain httpx, not connectors/http.ApiClient: a token endpoint takes forms, not
JSON, speaks OAuth's own error codes in 400 answers (`authorization_pending` is normal while polling),
and must never be retried blindly; one try per cycle is enough, the next cycle tries again.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from bot.config.file import MailboxConfig, SmtpConfig
from bot.errors import AuthError, ConfigError, ServiceUnavailable

if TYPE_CHECKING:
    import httpx  # imported where a token is fetched: a password-only mailbox starts without it

Kind = Literal["mailbox", "smtp"]
MICROSOFT_LOGIN = "https://login.microsoftonline.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
SCOPES: dict[tuple[str, Kind], tuple[str, ...]] = {
    ("microsoft", "mailbox"): ("https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"),
    ("microsoft", "smtp"): ("https://outlook.office.com/SMTP.Send", "offline_access"),
    ("google", "mailbox"): ("https://mail.google.com/",),
    ("google", "smtp"): ("https://mail.google.com/",),
}


def utc_now() -> datetime:
    """Now, in UTC: the default clock."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Account:
    """Whose token this is, for messages that say which account failed and how to fix it."""

    kind: Kind
    name: str  # the mailbox's name; "smtp" for the [smtp] account
    provider: str

    def label(self) -> str:
        """'mailbox support' or 'the SMTP account'."""
        return f"mailbox {self.name}" if self.kind == "mailbox" else "the SMTP account"

    def fix(self) -> str:
        """The command that signs this account in again."""
        flow = self.provider if self.provider in ("microsoft", "google") else "microsoft|google"
        which = f"--mailbox {self.name}" if self.kind == "mailbox" else "--smtp"
        return f"run `deskbot auth {flow} {which} --config FILE`"


def account_of(server: MailboxConfig | SmtpConfig) -> Account:
    """The account a [[mailbox]] or [smtp] table describes."""
    if isinstance(server, MailboxConfig):
        return Account("mailbox", server.name, server.oauth_provider or "custom")
    return Account("smtp", "smtp", server.oauth_provider or "custom")


def token_url(server: MailboxConfig | SmtpConfig) -> str:
    """The provider's token endpoint (oauth_token_url overrides it: custom providers, sovereign clouds, tests)."""
    if server.oauth_token_url:
        return server.oauth_token_url
    if server.oauth_provider == "microsoft":
        return f"{MICROSOFT_LOGIN}/{quote(server.oauth_tenant, safe='')}/oauth2/v2.0/token"
    if server.oauth_provider == "google":
        return GOOGLE_TOKEN_URL
    raise ConfigError("oauth_provider = \"custom\" needs oauth_token_url", key="oauth_token_url")


def scopes_of(server: MailboxConfig | SmtpConfig) -> tuple[str, ...]:
    """The configured scopes, else the provider's for IMAP or SMTP."""
    account = account_of(server)
    return tuple(server.oauth_scopes) or SCOPES.get((account.provider, account.kind), ())


def token_path(server: MailboxConfig | SmtpConfig) -> Path:
    """Where this account's tokens live (load_config fills in the default)."""
    if not server.oauth_token_file:
        raise ConfigError("oauth_token_file is not set", key="oauth_token_file")
    return Path(server.oauth_token_file)


def post_form(url: str, form: dict[str, str], *, account: Account, transport: httpx.BaseTransport | None,
              timeout: float) -> tuple[int, dict[str, Any]]:
    """POST a form to a token endpoint: the status and the JSON object; unreachable is ServiceUnavailable."""
    import httpx

    try:
        with httpx.Client(transport=transport, timeout=timeout, headers={"Accept": "application/json",
                                                                        "User-Agent": "deskbot"}) as client:
            response = client.post(url, data=form)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"{account.label()}: the token endpoint {urlsplit(url).netloc} cannot be "
                                 f"reached ({type(exc).__name__}); trying again next cycle") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


def refusal(account: Account, status: int, body: dict[str, Any], *, url: str) -> AuthError | ServiceUnavailable:
    """A token endpoint's refusal as deskbot's error: what happened, in the provider's words, and the fix."""
    error = str(body.get("error") or f"HTTP {status}")
    said = str(body.get("error_description") or "").strip().splitlines()
    words = f"{error}: {said[0][:200]}" if said else error
    if status == 429 or status >= 500 or error == "temporarily_unavailable":
        return ServiceUnavailable(f"{account.label()}: the token endpoint {urlsplit(url).netloc} is unavailable "
                                  f"({words}); trying again next cycle")
    if error in ("invalid_client", "unauthorized_client"):
        return AuthError(f"{account.label()}: the token endpoint refuses the app ({words}): check oauth_client_id "
                         "and the client secret (oauth_client_secret_env) against the app registration")
    return AuthError(f"{account.label()}: the stored OAuth2 refresh token was refused ({words}); it expired or "
                     f"was revoked: {account.fix()} to sign in again")


def server_refused(account: Account, protocol: Literal["IMAP", "SMTP"]) -> str:
    """What to check when the mail server refuses an access token the token endpoint just issued."""
    allowed = ("Microsoft 365: IMAP enabled for the mailbox and IMAP.AccessAsUser.All granted to the app; Google "
               "Workspace: IMAP allowed" if protocol == "IMAP" else
               "Microsoft 365: authenticated SMTP enabled for the mailbox and SMTP.Send granted to the app")
    return (f"the server refused a fresh OAuth2 access token of {account.label()}: check that username is the "
            f"account that signed in and that it may use {protocol} ({allowed}), or {account.fix()} again")


def read_token_file(path: Path, account: Account) -> dict[str, Any]:
    """The stored tokens; a file other users may open is refused, a missing one says how to make it."""
    try:
        with open(path, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise ConfigError(f"the OAuth2 token file is open to other users (mode {mode:04o}) and holds a "
                                  f"refresh token: `chmod 600 {path}`, and think about who may have read it",
                                  path=str(path))
            data = json.loads(file.read())
    except FileNotFoundError:
        raise AuthError(f"{account.label()}: no OAuth2 token yet ({path}): {account.fix()} to sign in once") from None
    except OSError as exc:
        raise AuthError(f"{account.label()}: cannot read the OAuth2 token file {path}: {exc.strerror}") from None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("refresh_token"), str) or not data["refresh_token"]:
        raise AuthError(f"{account.label()}: the OAuth2 token file {path} is damaged: {account.fix()} to sign in again")
    return data


def write_token_file(path: Path, data: dict[str, Any], account: Account) -> None:
    """Replace the token file atomically with mode 0600: a crash leaves the old file or the new, never half."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(data, file, indent=2)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(temporary)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
    except OSError as exc:
        raise AuthError(f"{account.label()}: cannot save the OAuth2 token file {path}: {exc.strerror}") from None


@contextmanager
def locked(path: Path, account: Account) -> Iterator[None]:
    """One renewal at a time per token file, across threads and processes (flock on a .lock file beside it)."""
    try:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        raise AuthError(f"{account.label()}: no OAuth2 token yet ({path}): {account.fix()} to sign in once") from None
    except OSError as exc:
        raise AuthError(f"{account.label()}: cannot lock the OAuth2 token file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def token_record(answer: dict[str, Any], *, previous: dict[str, Any], now: datetime, scopes: tuple[str, ...],
                 meta: dict[str, str]) -> dict[str, Any]:
    """What the token file holds after an answer from the token endpoint (the old refresh token if none came)."""
    try:
        lifetime = float(answer.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600.0
    return {**previous, **meta, "refresh_token": answer.get("refresh_token") or previous.get("refresh_token", ""),
            "access_token": answer["access_token"], "expires_at": now.timestamp() + lifetime,
            "scopes": list(scopes), "updated_at": now.isoformat(timespec="seconds")}


class AccessTokens:
    """The access tokens of one account, renewed through the token endpoint shortly before they expire."""

    def __init__(self, *, path: Path, token_url: str, client_id: str, scopes: tuple[str, ...], account: Account,
                 client_secret: str = "", send_scope: bool = True, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] = utc_now, timeout: float = 30.0,
                 margin: timedelta = timedelta(minutes=5)) -> None:
        self.path, self.token_url, self.account = path, token_url, account
        self._client_id, self._client_secret, self._scopes, self._send_scope = client_id, client_secret, scopes, send_scope
        self._transport, self._clock, self._timeout, self._margin = transport, clock, timeout, margin.total_seconds()
        self._token, self._expires = "", 0.0
        self.from_cache = False  # the last token came from the cache or the file, not from the endpoint just now

    def __repr__(self) -> str:
        return f"AccessTokens({self.account.label()!r}, {str(self.path)!r})"

    def access_token(self, *, renew: bool = False) -> str:
        """A valid access token: the cached one unless it is about to expire (or `renew`), else a fresh one."""
        now = self._clock()
        if not renew and self._token and now.timestamp() < self._expires - self._margin:
            self.from_cache = True
            return self._token
        with locked(self.path, self.account):
            stored = read_token_file(self.path, self.account)
            token, expires = str(stored.get("access_token") or ""), float(stored.get("expires_at") or 0)
            # Another thread or process may have renewed it meanwhile: take theirs, unless it is the one refused.
            if token and now.timestamp() < expires - self._margin and not (renew and token == self._token):
                self._token, self._expires, self.from_cache = token, expires, True
                return token
            answer = self._refresh(stored["refresh_token"])
            record = token_record(answer, previous=stored, now=now, scopes=self._scopes, meta={})
            write_token_file(self.path, record, self.account)
        self._token, self._expires, self.from_cache = record["access_token"], record["expires_at"], False
        return self._token

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        """The refresh token grant (RFC 6749 6); the answer, or the error that says what to do."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self._client_id}
        if self._client_secret:
            form["client_secret"] = self._client_secret
        if self._send_scope:  # Microsoft wants the scopes again; Google's refresh takes none
            form["scope"] = " ".join(self._scopes)
        status, body = post_form(self.token_url, form, account=self.account, transport=self._transport,
                                 timeout=self._timeout)
        if status == 200 and isinstance(body.get("access_token"), str) and body["access_token"]:
            return body
        raise refusal(self.account, status, body, url=self.token_url)


def tokens_for(server: MailboxConfig | SmtpConfig, *, transport: httpx.BaseTransport | None = None,
               clock: Callable[[], datetime] = utc_now) -> AccessTokens:
    """The access tokens of a [[mailbox]] or [smtp] table with auth = "oauth2"."""
    return AccessTokens(path=token_path(server), token_url=token_url(server), client_id=server.oauth_client_id,
                        scopes=scopes_of(server), account=account_of(server),
                        client_secret=server.oauth_client_secret, send_scope=server.oauth_provider != "google",
                        transport=transport, clock=clock, timeout=server.timeout)
