"""The daemon's configuration file (`deskbot.toml`): servers, database, where rules live.

Paths in the file are relative to the file's own folder, so a config works the same
whatever directory the daemon is started from. Secrets come from environment
variables named in the file (`password_env`), never from the file itself.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Literal, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.errors import ConfigError
from bot.tomlfile import TomlFile

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

    @model_validator(mode="after")
    def _plaintext_only_on_loopback(self) -> _Server:
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(
                f"security = \"none\" sends the password in clear text; it is refused for {self.host!r}"
                " (use \"ssl\" or \"starttls\"; \"none\" is for loopback test servers only)"
            )
        return self


_ServerT = TypeVar("_ServerT", bound=_Server)


class DatabaseConfig(_Section):
    url: str = "sqlite:///deskbot.sqlite3"


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


class PathsConfig(_Section):
    rules: str = ""  # empty: the shipped rules/default.toml
    templates: str = ""  # empty: the shipped templates/
    model: str = ""  # empty: the default model, built from the shipped corpus on first use
    cache: str = ""  # empty: $XDG_CACHE_HOME/deskbot


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    smtp: SmtpConfig | None = None
    mailbox: list[MailboxConfig] = Field(min_length=1)
    paths: PathsConfig = PathsConfig()
    base_dir: str = Field(default=".", exclude=True)

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


def load_config(path: Path, *, environ: dict[str, str] | None = None) -> Config:
    """Read, validate and fill in secrets; raise ConfigError naming file, line and key."""
    toml = TomlFile.read(path)
    if "mailbox" in toml.data and not isinstance(toml.data["mailbox"], list):
        raise toml.error("write each mailbox as a [[mailbox]] table", ("mailbox",))
    config = toml.validate(Config)
    names = [m.name for m in config.mailbox]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise toml.error(f"mailbox name {name!r} is used twice; names must be unique", ("mailbox", index, "name"))
    env = os.environ if environ is None else environ
    mailboxes = [_with_secret(toml, m, ("mailbox", i), env) for i, m in enumerate(config.mailbox)]
    smtp = _with_secret(toml, config.smtp, ("smtp",), env) if config.smtp else None
    return config.model_copy(update={"mailbox": mailboxes, "smtp": smtp, "base_dir": str(path.resolve().parent)})


def _with_secret(toml: TomlFile, server: _ServerT, loc: tuple[str | int, ...], env: Mapping[str, str]) -> _ServerT:
    if not server.password_env:
        return server
    if server.password_env not in env:
        raise toml.error(
            f"environment variable {server.password_env} is not set; export it with the password", loc + ("password_env",)
        )
    return server.model_copy(update={"password": env[server.password_env]})


def check_reachable(host: str, port: int, timeout: float = 5.0) -> None:
    """Fail fast with a clear message when nothing listens at host:port."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"cannot connect to {host}:{port}: {exc}") from None
