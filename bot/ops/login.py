"""A refused login: tried again with a growing pause (servers lock accounts that keep trying), said once per
change with the variable to fix, and kept for `deskbot status`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.log.records import as_utc
from bot.log.schema import SourceState
from bot.log.store import Store

log = logging.getLogger(__name__)
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


def waiting(store: Store, source: str) -> datetime | None:
    """When the next login may be tried, while the last one was refused (else None)."""
    with store.session() as session:
        row = session.get(SourceState, source)
        if row is None or row.auth_retry_at is None or store.now() >= as_utc(row.auth_retry_at):
            return None
        return as_utc(row.auth_retry_at)


def refused(store: Store, source: object, error: str) -> str:
    """Record one more refusal; log it when it is new (not at every try); returns what status shows."""
    name = getattr(source, "name", str(source))
    text = f"{error}; {credential_hint(source, error)}"
    now = store.now()
    with store.session() as session:
        row = session.get(SourceState, name) or SourceState(source=name, last_error="", lease_owner="")
        again = row.auth_failures > 0 and row.last_error == text
        row.auth_failures += 1
        row.auth_retry_at = now + BACKOFF[min(row.auth_failures, len(BACKOFF)) - 1]
        session.add(row)
        session.commit()
        retry_at = row.auth_retry_at
    if again:
        log.debug("%s: login refused again; next try at %s", name, retry_at)
    else:
        log.error("%s: %s (next try at %s UTC, then less and less often)", name, text, f"{retry_at:%H:%M}")
    return text


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
    """Which environment variable holds the secret the server refused."""
    config = getattr(source, "config", None)
    mailer = getattr(source, "mailer", None)
    if "SMTP" in error and mailer is not None:
        config, where = getattr(mailer, "config", None), "[smtp]"
    else:
        where = f"the {getattr(source, 'name', 'source')} table"
    for field in ("password_env", "token_env", "api_key_env", "oauth_client_secret_env"):
        variable = getattr(config, field, "") if config is not None else ""
        if variable:
            return f"fix the secret in ${variable} ({field} of {where}) and restart deskbot, or its account"
    return f"fix the credentials of {where}"
