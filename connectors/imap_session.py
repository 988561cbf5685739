"""Connecting to an IMAP server and translating its failures into deskbot's error tree.

A TLS certificate the system does not trust, a refused login and a dropped connection each end
in a message that says what happened; the socket of a failed login or handshake is closed without
letting a second error (EBADF from a socket the TLS layer already closed) hide the first.
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from bot.config.file import MailboxConfig
from bot.errors import AuthError, PermanentError, ServiceUnavailable
from connectors.oauth import AccessTokens, server_refused, tokens_for
from connectors.tls import tls_context

_NOT_ATOM = re.compile(r"[^a-z0-9_.-]+")

# imaplib refuses any response line over `_MAXLINE` (1,000,000 bytes). A folder's FLAGS and PERMANENTFLAGS lines
# list every keyword it ever held, and a reference keyword (`reference_keyword`) adds one per ticket: past about
# 90,000 tickets every SELECT of the INBOX would fail, and the mailbox with it. A line stays as long as the server
# makes it; 64 MiB holds millions of keywords.
imaplib._MAXLINE = max(imaplib._MAXLINE, 64 << 20)  # type: ignore[attr-defined]

# deskbot's own IMAP keywords (RFC 3501 flag keywords), set on the mail it handled
PROCESSED = "deskbot-processed"
UNPARSEABLE = "deskbot-unparseable"
FAILED = "deskbot-failed"
QUARANTINED = "deskbot-quarantined"
DUPLICATE_KEYWORD = "deskbot-duplicate"


def keyword(kind: str, value: str) -> str:
    """An IMAP keyword (an atom, RFC 3501 9) such as deskbot-dept-billing."""
    slug = _NOT_ATOM.sub("-", value.lower()).strip("-") or "unknown"
    return f"deskbot-{kind}-{slug}"


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Library and socket errors become deskbot's errors: the server's trouble, ours, or this message's."""
    try:
        yield
    except LoginError as exc:
        raise AuthError(f"{action}: login refused: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(f"{action}: the server's TLS certificate is not trusted ({exc.verify_message}); "
                             "fix the server's certificate, or name the CA that signed it with ca_file") from exc
    except IMAPClientAbortError as exc:
        raise ServiceUnavailable(f"{action}: connection lost: {exc}") from exc
    except (socket.timeout, TimeoutError, ConnectionError, ssl.SSLError, OSError) as exc:
        raise ServiceUnavailable(f"{action}: {exc}") from exc
    except IMAPClientError as exc:
        raise PermanentError(f"{action}: server said no: {exc}") from exc


def connect(config: MailboxConfig, *, tokens: AccessTokens | None = None) -> imapclient.IMAPClient:
    """A logged-in client; any failure closes the socket and raises a translated error.

    With auth = "oauth2" the access token is fetched before connecting (no idle connection meanwhile).
    """
    if config.auth == "oauth2" and tokens is None:
        tokens = tokens_for(config)
    token = tokens.access_token() if tokens is not None else ""
    with translated(f"connect to {config.host}:{config.port}"):
        client = imapclient.IMAPClient(config.host, port=config.port, ssl=config.security == "ssl",
                                       ssl_context=tls_context(config.ca_file), timeout=config.timeout)
    quiet_protocol_log(client)
    try:
        with translated(f"log in to {config.host}:{config.port} as {config.username}"):
            client.normalise_times = False  # keep INTERNALDATE's zone: the SLA clock needs it
            if config.security == "starttls":
                client.starttls(tls_context(config.ca_file))
            if tokens is None:
                client.login(config.username, config.password)
            else:
                _xoauth2_login(client, config, tokens, token)
    except BaseException:
        close_quietly(client)
        raise
    return client


def quiet_protocol_log(client: imapclient.IMAPClient) -> None:
    """Leave imaplib's protocol trace off unless its logger would keep it.

    imapclient sets imaplib's debug level to 5 and hands the trace to its `imapclient.imaplib` logger, so
    imaplib formats (repr) each response two or three times before the logger drops it: a mail's whole body,
    and every keyword of a folder each time a STORE makes the server announce its FLAGS again (a busy folder's
    list runs to hundreds of kilobytes). With debug logging on, the trace stays as it was.
    """
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0  # noqa: SLF001 - imapclient has no setting for it


def _xoauth2_login(client: imapclient.IMAPClient, config: MailboxConfig, tokens: AccessTokens, token: str) -> None:
    """AUTHENTICATE XOAUTH2 (imapclient builds `user=...^Aauth=Bearer ...^A^A`, per
    https://developers.google.com/gmail/imap/xoauth2-protocol); a cached token the server refuses (revoked
    early, a clock that is off) gets one more try with a fresh one."""
    try:
        client.oauth2_login(config.username, token)
        return
    except LoginError as exc:
        refused = exc
    if tokens.from_cache:
        try:
            client.oauth2_login(config.username, tokens.access_token(renew=True))
            return
        except LoginError as exc:
            refused = exc
    raise AuthError(f"log in to {config.host}:{config.port} as {config.username}: login refused ({refused}); "
                    + server_refused(tokens.account, "IMAP")) from None


# What imaplib itself still consults between commands: the server's farewell and a folder turned read-only.
_CONSULTED = frozenset({"BYE", "READ-ONLY"})


def forget_unsolicited(client: imapclient.IMAPClient) -> None:
    """Drop the untagged responses no command asked for, which imaplib otherwise keeps for the connection's life.

    imapclient hands each command its own responses but leaves the rest in imaplib's `untagged_responses`
    (it has no API for them: https://github.com/mjs/imapclient/issues/152). A backlog makes plenty: every
    MOVE adds EXPUNGE and COPYUID, and every STORE that brings a keyword the folder has not seen (each
    ticket's reference) makes Dovecot announce the folder's whole FLAGS and PERMANENTFLAGS lists again
    (RFC 3501 7.2.6), one keyword longer each time; kept, that grew with the square of the backlog.
    """
    responses = client._imap.untagged_responses  # noqa: SLF001 - the only handle imapclient gives on them
    for name in [name for name in responses if name not in _CONSULTED]:
        del responses[name]


def close_quietly(client: imapclient.IMAPClient) -> None:
    """Log out if the connection still works, else just drop the socket; never raises."""
    try:
        client.logout()
        return
    except Exception:  # noqa: BLE001 - the connection is going away anyway
        pass
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - e.g. EBADF after a failed TLS handshake closed the socket
        pass
