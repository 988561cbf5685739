"""A refused login: tried again with a growing pause (servers lock accounts that keep trying), said once per
change with the variable to fix, and kept for `deskbot status`."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.log.records import as_utc
from bot.log.schema import SourceState
from bot.log.store import Store

log = logging.getLogger(__name__)
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


def waiting(store: Store, source: str) -> str:
    """While the last login was refused and its pause lasts: why, and until when ('' when a login may be tried)."""
    with store.session() as session:
        row = session.get(SourceState, source)
        if row is None or row.auth_retry_at is None or store.now() >= as_utc(row.auth_retry_at):
            return ""
        return f"{row.last_error} (not tried again before {as_utc(row.auth_retry_at):%Y-%m-%d %H:%M} UTC)"


def refused(store: Store, source: object, error: str) -> tuple[str, bool]:
    """Record one more refusal; returns what to show, and whether it is new (to be logged: not at every try)."""
    name = getattr(source, "name", str(source))
    hint = credential_hint(source, error)
    text = f"{error}; {hint}" if hint else error
    now = store.now()
    with store.session() as session:
        row = session.get(SourceState, name) or SourceState(source=name, last_error="", lease_owner="")
        again = row.auth_failures > 0 and row.last_error == text
        row.auth_failures += 1
        row.last_error, row.last_error_at = text[:2000], now
        row.auth_retry_at = now + BACKOFF[min(row.auth_failures, len(BACKOFF)) - 1]
        session.add(row)
        session.commit()
        retry_at = row.auth_retry_at
    log.debug("%s: login refused%s; next try at %s", name, " again" if again else "", retry_at)
    return text, not again


def accepted(store: Store, source: str) -> None:
    """A login worked: forget earlier refusals (and say so once)."""
    with store.session() as session:
        row = session.get(SourceState, source)
        if row is None or not row.auth_failures:
            return
        row.auth_failures, row.auth_retry_at = 0, None
        session.add(row)
        session.commit()
    log.warning("%s: the login works again", source)


def credential_hint(source: object, error: str) -> str:
    """Which environment variable holds the secret the server refused ('' for OAuth2: its error says what to do)."""
    config = getattr(source, "config", None)
    mailer = getattr(source, "mailer", None)
    if "SMTP" in error and mailer is not None:
        config, where = getattr(mailer, "config", None), "[smtp]"
    else:
        where = f"the {getattr(source, 'name', 'source')} table"
    if getattr(config, "auth", "") == "oauth2":
        return ""
    for field in ("password_env", "token_env", "api_key_env", "oauth_client_secret_env"):
        variable = getattr(config, field, "") if config is not None else ""
        if variable:
            return f"fix the secret in ${variable} ({field} of {where}) and restart deskbot, or its account"
    return f"fix the credentials of {where}"
