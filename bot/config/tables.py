"""The tables of `deskbot.toml` (servers, database, sources, API, paths), each validated on its own;
bot/config/file.py reads the file, checks what spans tables, and fills in secrets."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.config.duration import parse_duration

Security = Literal["ssl", "starttls", "none"]


class _Section(BaseModel):
    # strict: TOML has real types, so `port = true` or `port = "993"` is a mistake, not a value to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses: the only hosts plain text is allowed to."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(_Section):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    security: Security
    username: str = ""
    password_env: str = ""
    password: str = Field(default="", repr=False)  # filled from password_env; for tests and the demo
    timeout: float = Field(default=30.0, gt=0)
    ca_file: str = ""  # trust this CA (PEM) besides the system's; relative to the config file
    # OAuth2 (XOAUTH2) instead of a password: Microsoft 365 and Google Workspace have switched basic auth off.
    auth: Literal["password", "oauth2"] = "password"
    oauth_provider: Literal["microsoft", "google", "custom"] | None = None
    oauth_client_id: str = ""  # the app registration's (client) ID
    oauth_client_secret_env: str = ""  # only for apps registered with a secret (Google desktop apps have one)
    oauth_client_secret: str = Field(default="", repr=False)  # filled from oauth_client_secret_env
    oauth_tenant: str = "organizations"  # Microsoft: the tenant ID or domain (organizations: any work account)
    oauth_token_url: str = ""  # custom providers (and tests, sovereign clouds): the token endpoint
    oauth_scopes: list[str] = []  # empty: the provider's IMAP or SMTP scopes (connectors/oauth.py)
    oauth_token_file: str = ""  # empty: tokens/<mailbox-NAME|smtp>.json beside the config file

    @model_validator(mode="after")
    def _plaintext_only_on_loopback(self) -> _Server:
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(
                f"security = \"none\" sends the password in clear text; it is refused for {self.host!r}"
                " (use \"ssl\" or \"starttls\"; \"none\" is for loopback test servers only)"
            )
        return self

    @model_validator(mode="after")
    def _oauth_keys_fit_auth(self) -> _Server:
        problem = _oauth_problem(self)
        if problem:
            raise ValueError(problem)
        return self


def _oauth_problem(server: _Server) -> str:
    """What is wrong with a server's auth keys, or '' (one message naming the key to fix)."""
    oauth_keys = sorted(k for k in server.model_fields_set if k.startswith("oauth_") and k != "oauth_client_secret")
    if server.auth == "password":
        return f"{oauth_keys[0]} needs auth = \"oauth2\"" if oauth_keys else ""
    if server.password_env:
        return "auth = \"oauth2\" uses no password: remove password_env"
    if not server.username:
        return "auth = \"oauth2\" needs username (the mailbox's address, as it signs in)"
    if server.oauth_provider is None:
        return "auth = \"oauth2\" needs oauth_provider = \"microsoft\", \"google\" or \"custom\""
    if not server.oauth_client_id:
        return "auth = \"oauth2\" needs oauth_client_id (the client ID of the app registration)"
    if server.oauth_provider == "custom" and not server.oauth_token_url:
        return "oauth_provider = \"custom\" needs oauth_token_url"
    url = urlsplit(server.oauth_token_url)
    if server.oauth_token_url and (url.scheme not in ("https", "http") or not url.hostname):
        return f"oauth_token_url must look like https://login.example.com/token, not {server.oauth_token_url!r}"
    if url.scheme == "http" and not is_loopback(url.hostname or ""):
        return "oauth_token_url must use https (plain http only for a loopback host, e.g. a local fake)"
    return ""


_SectionT = TypeVar("_SectionT", bound=_Section)
_ServerT = TypeVar("_ServerT", bound=_Server)


class DatabaseConfig(_Section):
    url: str = "sqlite:///deskbot.sqlite3"

    @field_validator("url")
    @classmethod
    def _is_a_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(f"{value!r} is not a database URL: write sqlite:///{value} (relative to this file) "
                             "or sqlite:////absolute/path.sqlite3")
        scheme = value.split("://", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql"):
            raise ValueError(f"database {scheme!r} is not supported: use sqlite:/// or postgresql+psycopg://")
        return value


class SmtpConfig(_Server):
    port: int = Field(default=587, ge=1, le=65535)
    security: Security = "starttls"
    from_: str = Field(alias="from", min_length=3)


class MailboxConfig(_Server):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    port: int = Field(default=993, ge=1, le=65535)
    security: Security = "ssl"
    folder: str = "INBOX"
    poll_seconds: int = Field(default=60, ge=5)
    first_run: Literal["unseen", "all"] = "unseen"
    max_message_bytes: int = Field(default=25_000_000, gt=0)
    sent_folder: str = ""  # a copy of each acknowledgement goes here, and is looked for after a crash
    duplicate_folder: str = ""  # where a second copy of a handled mail is filed ("" : beside the first)
    quarantine_folder: str = ""  # where mail that keeps failing is moved ("" : flagged in place)
    subscribe_folders: bool = True  # subscribe to folders deskbot creates, so mail clients show them
    idle: bool = True  # `deskbot run` watches the folder with IMAP IDLE where the server offers it (bot/watch.py)
    # Each ticket's reference as a keyword too (agents search by it). Every reference is a keyword new to the folder,
    # which the server keeps for good and announces in full after each new one: false for a busy folder (README).
    reference_keyword: bool = True


class HelpdeskConfig(_Section):
    """What every helpdesk source table has: where it is, how often to poll, what deskbot may post."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: str = Field(min_length=8)
    poll_seconds: int = Field(default=60, ge=5)
    start: datetime | None = None  # first contact: tickets created from then on (None: when first started)
    acknowledge: Literal["reply", "none"] = "reply"
    note: bool = True
    timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _https_unless_loopback(self) -> HelpdeskConfig:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"url must look like https://acme.example.com, not {self.url!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("url must use https (plain http only for a loopback host, e.g. a local fake)")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start needs a time zone, e.g. 2026-11-01T00:00:00Z")
        return self


class ZendeskConfig(HelpdeskConfig):
    """A [[zendesk]] table: API token auth, "{email}/token:{token}"."""

    email: str = Field(min_length=3)
    token_env: str = Field(min_length=1)
    token: str = Field(default="", repr=False)  # filled from token_env
    webhook_secret_env: str = ""  # the signing secret of the Zendesk webhook that calls the HTTP API
    webhook_secret: str = Field(default="", repr=False)  # filled from webhook_secret_env


class FreshdeskConfig(HelpdeskConfig):
    """A [[freshdesk]] table: API key auth, "{api_key}:X"."""

    api_key_env: str = Field(min_length=1)
    api_key: str = Field(default="", repr=False)  # filled from api_key_env
    webhook_secret_env: str = ""  # the value of the secret header the Freshdesk automation webhook sends
    webhook_secret: str = Field(default="", repr=False)  # filled from webhook_secret_env


Scope = Literal["predict", "tickets", "webhooks", "report"]


class ApiTokenConfig(_Section):
    """An [[api.tokens]] table: one named client of the HTTP API, where its secret is, what it may do."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    token_env: str = ""
    token_file: str = ""  # a file only its owner may read (mode 0600); relative to the config file
    scopes: list[Scope] = Field(min_length=1)
    requests_per_minute: int = Field(default=600, ge=1)
    token: str = Field(default="", repr=False)  # filled from token_env or token_file

    @model_validator(mode="after")
    def _one_secret(self) -> ApiTokenConfig:
        if bool(self.token_env) == bool(self.token_file):
            raise ValueError("name where the token is: token_env (an environment variable) or token_file, one of them")
        return self


class ApiConfig(_Section):
    """The [api] table: where the HTTP API listens, how much it accepts, and who may call it."""

    tls_cert: str = ""  # PEM files; relative to the config file
    tls_key: str = ""
    behind_tls_proxy: bool = False  # a TLS-terminating proxy in front: plain HTTP to it is the admin's choice
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    tokens: list[ApiTokenConfig] = Field(min_length=1)
    unhealthy_after: float | None = None  # seconds ("15m" as written); /healthz: 503 when a source has not polled
    listen: str = "127.0.0.1:8080"  # declared last: its check reads the TLS keys above (pydantic's field order)

    @field_validator("listen")
    @classmethod
    def _loopback_unless_tls(cls, value: str, info: ValidationInfo) -> str:
        host, _ = listen_address(value)
        tls = info.data.get("tls_cert") and info.data.get("tls_key")
        if not is_loopback(host) and not tls and not info.data.get("behind_tls_proxy"):
            raise ValueError(f"{host!r} is not a loopback address: tokens and tickets would cross the network in "
                             "clear text; set tls_cert and tls_key, or behind_tls_proxy = true when a proxy in "
                             "front terminates TLS")
        return value

    @field_validator("unhealthy_after", mode="before")
    @classmethod
    def _a_duration(cls, value: object) -> float | None:
        return duration_seconds(value)

    @model_validator(mode="after")
    def _cert_with_key(self) -> ApiConfig:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        return self


def listen_address(value: str) -> tuple[str, int]:
    """"127.0.0.1:8080" or "[::1]:8080" as (host, port); ValueError says what is wrong."""
    host, _, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:  # 0: any free port (tests, benchmarks)
        raise ValueError(f"listen must be host:port, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\", not {value!r}")
    return host, int(port)


def duration_seconds(value: object) -> float | None:
    """`unhealthy_after` as seconds: "15m", "2h" or a bare number of seconds (bot/config/duration.py)."""
    if value is None:
        return None
    if not isinstance(value, (str, int, float)):
        raise ValueError(f"unhealthy_after must be a duration such as \"15m\", not {value!r}")
    return parse_duration(value, what="unhealthy_after").total_seconds()


class MetricsConfig(_Section):
    """The [metrics] table: where Prometheus scrapes /metrics, and when /healthz calls a source stale."""

    listen: str = "127.0.0.1:9464"  # no token: keep it on loopback or a network only Prometheus reaches
    unhealthy_after: float | None = None  # seconds ("15m" as written); None: [api]'s, else 3x the slowest poll, >= 5 min

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        listen_address(value)
        return value

    @field_validator("unhealthy_after", mode="before")
    @classmethod
    def _a_duration(cls, value: object) -> float | None:
        return duration_seconds(value)


class LoggingConfig(_Section):
    """The [logging] table: text lines for people, or one JSON object per line for a log collector."""

    format: Literal["text", "json"] = "text"


class PathsConfig(_Section):
    rules: str = ""  # empty: the shipped rules/default.toml
    templates: str = ""  # empty: the shipped templates/
    model: str = ""  # empty: the default model, built from the shipped corpus on first use
    cache: str = ""  # empty: $XDG_CACHE_HOME/deskbot




class LearningConfig(_Section):
    """The [learning] table: where model versions live, what retraining learns from, when it switches alone."""

    models: str = "models"  # the versioned models folder (relative to the config file); CURRENT names the live one
    auto_apply: bool = False  # `deskbot retrain` switches by itself when the candidate is better by min_gain
    min_gain: float = Field(default=0.01, ge=0.0, le=1.0)  # on the mean of department and priority macro-F1
    training_data: list[str] = []  # CSV/JSONL files the current model learnt from (empty: the shipped corpus)
    evaluate_last: int = Field(default=200, ge=10)  # the most recent labelled tickets both models are scored on
