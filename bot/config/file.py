"""The daemon's configuration file (`deskbot.toml`): servers, database, where rules live.

Paths in the file are relative to the file's own folder, so a config works the same
whatever directory the daemon is started from. Secrets come from environment
variables named in the file (`password_env`), never from the file itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Mapping, TypeVar

from pydantic import (
    Field,
    model_validator,
)

from bot.config.tables import (  # noqa: F401 - the tables are part of this module's interface
    ApiConfig,
    ApiTokenConfig,
    DatabaseConfig,
    FreshdeskConfig,
    HelpdeskConfig,
    LearningConfig,
    LoggingConfig,
    MailboxConfig,
    MetricsConfig,
    PathsConfig,
    Scope,
    Security,
    SmtpConfig,
    ZendeskConfig,
    _Section,
    _SectionT,
    _Server,
    _ServerT,
    is_loopback,
    listen_address,
)
from bot.config.tomlfile import TomlFile, combined
from bot.errors import ConfigError

_T = TypeVar("_T")


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    smtp: SmtpConfig | None = None
    mailbox: list[MailboxConfig] = []
    zendesk: list[ZendeskConfig] = []
    freshdesk: list[FreshdeskConfig] = []
    paths: PathsConfig = PathsConfig()
    base_dir: str = Field(default=".", exclude=True)
    api: ApiConfig | None = None
    learning: LearningConfig = LearningConfig()
    metrics: MetricsConfig | None = None  # Prometheus /metrics and /healthz (bot/ops/exporter.py)
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _has_a_source(self) -> Config:
        if not (self.mailbox or self.zendesk or self.freshdesk or self.api):
            raise ValueError("no source: add at least one [[mailbox]], [[zendesk]] or [[freshdesk]] table, "
                             "or an [api] table")
        return self

    def resolve(self, value: str) -> Path | None:
        """A configured path made absolute against the config file's folder, or None if unset."""
        if not value:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    def database_url(self) -> str:
        """The database URL, with a relative SQLite path resolved like every other path."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
            return prefix + str(Path(self.base_dir) / url[len(prefix):])
        return url


def load_config(path: Path, *, environ: Mapping[str, str] | None = None, secrets: bool = True) -> Config:
    """Read, validate and fill in secrets; raise ConfigError naming file, line and key.

    `secrets=False` reads no environment variable: for commands that only read the decision log.
    """
    toml = TomlFile.read(path)
    for kind in ("mailbox", "zendesk", "freshdesk"):
        if kind in toml.data and not isinstance(toml.data[kind], list):
            raise toml.error(f"write each {kind} as a [[{kind}]] table", (kind,))
    config = toml.validate(Config)
    for kind in ("mailbox", "zendesk", "freshdesk"):
        names = [table.name for table in getattr(config, kind)]
        for index, name in enumerate(names):
            if names.index(name) != index:
                raise toml.error(f"{kind} name {name!r} is used twice; names must be unique", (kind, index, "name"))
    base = path.resolve().parent
    update: dict[str, object] = {"base_dir": str(base)}
    update["mailbox"] = [_token_file(_absolute_ca(m, base), base, f"mailbox-{m.name}") for m in config.mailbox]
    update["smtp"] = _token_file(_absolute_ca(config.smtp, base), base, "smtp") if config.smtp else None
    update["api"] = _api_paths(toml, config.api, base) if config.api else None
    config = config.model_copy(update=update)
    if secrets:
        env = os.environ if environ is None else environ
        missing: list[ConfigError] = []  # every missing variable at once, not one per try
        for kind in ("mailbox", "zendesk", "freshdesk"):
            update[kind] = [_collected(missing, _with_secret, toml, t, (kind, i), env)
                            for i, t in enumerate(getattr(config, kind))]
        update["smtp"] = _collected(missing, _with_secret, toml, config.smtp, ("smtp",), env) if config.smtp else None
        update["api"] = _collected(missing, _api_tokens, toml, config.api, env) if config.api else None
        if missing:
            raise combined(missing)
    return config.model_copy(update=update)


def _collected(errors: list[ConfigError], check: Callable[..., _T], *args: object) -> _T | None:
    """Run one check; its ConfigError is kept in `errors` (None returned) so the others still run."""
    try:
        return check(*args)
    except ConfigError as exc:
        errors.append(exc)
        return None


def _absolute_ca(server: _ServerT, base: Path) -> _ServerT:
    if not server.ca_file or Path(server.ca_file).expanduser().is_absolute():
        return server
    return server.model_copy(update={"ca_file": str(base / server.ca_file)})


def _token_file(server: _ServerT, base: Path, stem: str) -> _ServerT:
    """An OAuth2 server's token file made absolute; by default tokens/<stem>.json beside the config file."""
    if server.auth != "oauth2":
        return server
    path = Path(server.oauth_token_file or f"tokens/{stem}.json").expanduser()
    return server.model_copy(update={"oauth_token_file": str(path if path.is_absolute() else base / path)})


# Which field of a table names the environment variable of which secret field.
_SECRETS = {"password_env": "password", "token_env": "token", "api_key_env": "api_key",
            "oauth_client_secret_env": "oauth_client_secret", "webhook_secret_env": "webhook_secret"}
MIN_TOKEN_CHARS = 16


def _with_secret(toml: TomlFile, table: _SectionT, loc: tuple[str | int, ...], env: Mapping[str, str]) -> _SectionT:
    for env_field, secret_field in _SECRETS.items():
        variable = getattr(table, env_field, "")
        if not variable:
            continue
        if variable not in env:
            raise toml.error(f"environment variable {variable} is not set; export it with the {secret_field}",
                             loc + (env_field,))
        table = table.model_copy(update={secret_field: env[variable]})
    return table


def _api_paths(toml: TomlFile, api: ApiConfig, base: Path) -> ApiConfig:
    """Unique token names; TLS files and token files made absolute against the config's folder."""
    names = [t.name for t in api.tokens]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise toml.error(f"token name {name!r} is used twice; names must be unique", ("api", "tokens", index, "name"))
    absolute = {k: str(base / v) for k in ("tls_cert", "tls_key") if (v := getattr(api, k))}
    tokens = [t.model_copy(update={"token_file": str(base / t.token_file)}) if t.token_file else t for t in api.tokens]
    return api.model_copy(update={**absolute, "tokens": tokens})


def _api_tokens(toml: TomlFile, api: ApiConfig, env: Mapping[str, str]) -> ApiConfig:
    """Each token read from its variable or its file (one only its owner can read), and long enough."""
    tokens = []
    for index, token in enumerate(api.tokens):
        loc: tuple[str | int, ...] = ("api", "tokens", index)
        if token.token_file:
            token = token.model_copy(update={"token": _read_token_file(toml, Path(token.token_file), loc)})
        token = _with_secret(toml, token, loc, env)
        if len(token.token.strip()) < MIN_TOKEN_CHARS:
            raise toml.error(f"the token of {token.name!r} is shorter than {MIN_TOKEN_CHARS} characters; make one "
                             "with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'", loc + ("name",))
        tokens.append(token.model_copy(update={"token": token.token.strip()}))
    return api.model_copy(update={"tokens": tokens})


def _read_token_file(toml: TomlFile, path: Path, loc: tuple[str | int, ...]) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise toml.error(f"cannot read the token file: {exc}", loc + ("token_file",)) from None
    if mode & 0o077:
        raise toml.error(f"{path} may be read by others (mode {mode & 0o777:o}); chmod 600 it",
                         loc + ("token_file",))
    return text
