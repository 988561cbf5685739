"""Sending mail over SMTP with aiosmtplib, connections kept for the cycle, errors sorted by whose they are.

A connection is opened on the first message of a cycle and reused until `close()`, on an event
loop this mailer owns (the daemon runs each source in its own thread). `send_many` sends a batch
over a few connections at once (neither aiosmtplib nor aiosmtpd speaks PIPELINING, RFC 2920, so each
message costs four round trips: these overlap instead of adding up). A failure that is the
server's (unreachable, 421) stops the cycle; a 4xx for one message is that ticket's to retry; a 5xx
fails that acknowledgement for good; a refused login or an untrusted certificate stops the source.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage

import aiosmtplib

from bot.config.file import SmtpConfig
from bot.errors import (
    SYSTEMIC,
    AuthError,
    ConfigError,
    DeskbotError,
    Impossible,
    PermanentError,
    ServiceUnavailable,
    TransientError,
    not_done,
)
from connectors.base import Wire
from connectors.meanwhile import Meanwhile
from connectors.oauth import AccessTokens, server_refused, tokens_for
from connectors.tls import tls_context


# At once for a batch. Each connection holds one message the server may have accepted before deskbot could copy
# and record it: a crash there sends it again (same Message-ID). bench/crash.py, 400 mails, 8 kills: 3 such
# duplicates with one connection, 5 with two, 8 with four; 2,000 mails went ~9% faster with four than with one.
# One, as issue 20 asks ("one SMTP connection reused for a batch"): no wider crash window for a few percent.
CONNECTIONS = 1


class SmtpMailer:
    """An SMTP submission server from the [smtp] config table."""

    def __init__(self, config: SmtpConfig, *, tokens: AccessTokens | None = None) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[aiosmtplib.SMTP] = []  # logged-in connections waiting for the next message
        self._tls: ssl.SSLContext | None = None
        self._down = ""  # why the server could not be reached in this cycle: the next sends wait without trying
        self._tokens = tokens if tokens is not None or config.auth != "oauth2" else tokens_for(config)

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: EmailMessage | Wire) -> None:
        """Send one message; raise ServiceUnavailable, TransientError, PermanentError or AuthError.

        Once the server could not be reached, the other messages of this cycle fail at once (until `close()`),
        so an outage costs one connection timeout per cycle, not one per waiting acknowledgement.
        """
        error = self.send_many([message], connections=1)[0]
        if error is not None:
            raise error

    def send_many(self, messages: Sequence[EmailMessage | Wire], *, connections: int = CONNECTIONS,
                  then: Callable[[int], None] | None = None,
                  meanwhile: Meanwhile | None = None) -> list[BaseException | None]:
        """Send messages over up to `connections` connections at once; for each, None (sent) or the error `send`
        would raise for it. A connection that failed is dropped, never reused. `then(index)` runs as soon as a
        message is accepted (before the next is taken); what it raises becomes that message's result, and after
        a systemic error (the server `then` talks to is in trouble) no further message is sent. While the
        server has not answered, the jobs queued in `meanwhile` run, one between two looks at the connections."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        results: list[BaseException | None] = [None] * len(messages)
        todo = iter(enumerate(messages))
        halted: list[BaseException] = []

        async def worker() -> None:
            for index, message in todo:  # one iterator shared by the workers: each message is taken once
                if halted:
                    results[index] = not_done(ServiceUnavailable(f"not sent: {halted[0]}"))
                    continue
                results[index] = await self._send_one(message)
                if results[index] is None and then is not None:
                    try:
                        then(index)
                    except Exception as exc:  # noqa: BLE001 - this message's, handed back with it
                        results[index] = exc
                        if isinstance(exc, SYSTEMIC):
                            halted.append(exc)

        async def workers() -> None:
            spare = asyncio.ensure_future(_spare_time(meanwhile)) if meanwhile is not None else None
            try:
                await asyncio.gather(*(worker() for _ in range(max(1, min(connections, len(messages))))))
            finally:
                if spare is not None:
                    spare.cancel()
                    await asyncio.gather(spare, return_exceptions=True)

        self._loop.run_until_complete(workers())
        return results

    async def _send_one(self, message: EmailMessage | Wire) -> BaseException | None:
        """One message on an idle (or new) connection; its error instead of raising it."""
        if self._down:
            return not_done(ServiceUnavailable(f"{self._down} (not tried again in this cycle)"))
        client = None
        try:
            client = self._idle.pop() if self._idle else await self._connect()
            if not client.is_connected:
                client = await self._connect()
            try:
                if isinstance(message, Wire):
                    await _send_wire(client, message)
                else:
                    await client.send_message(message)
            except Exception as exc:
                raise _translated(exc, self.config) from exc
        except Exception as exc:  # noqa: BLE001 - this message's error, handed back as send() raises it
            if client is not None:
                client.close()  # never reuse a connection in an unknown state
            if isinstance(exc, ServiceUnavailable) and getattr(exc, "unreachable", False):
                self._down = str(exc)  # a refused or timed-out connection, not a busy reply
            return exc
        except BaseException:
            if client is not None:
                client.close()
            raise
        self._idle.append(client)
        return None

    def check(self) -> str:
        """Connect and log in (for `deskbot check`), then close."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        try:
            self._idle.append(self._loop.run_until_complete(self._connect()))
            return f"logged in to {self.config.host}:{self.config.port}" + \
                (" with OAuth2" if self._tokens else "" if self.config.username else " (no login configured)")
        finally:
            self.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.config
        token = self._tokens.access_token() if self._tokens else ""  # before connecting: no idle session meanwhile
        if self._tls is None and cfg.security != "none":  # once: loading the system's CAs takes ~15 ms
            self._tls = tls_context(cfg.ca_file)
        client = aiosmtplib.SMTP(hostname=cfg.host, port=cfg.port, use_tls=cfg.security == "ssl",
                                 start_tls=cfg.security == "starttls", timeout=cfg.timeout, tls_context=self._tls)
        try:
            await client.connect()
            if self._tokens:
                await self._xoauth2(client, token)
            elif cfg.username:
                await client.login(cfg.username, cfg.password)
        except BaseException as exc:
            client.close()
            error = _translated(exc, cfg)
            if isinstance(error, ServiceUnavailable):
                not_done(error)  # nothing was sent on a connection that never came up
                error.unreachable = True  # type: ignore[attr-defined]
            raise error from (None if error is exc else exc)
        return client

    async def _xoauth2(self, client: aiosmtplib.SMTP, token: str) -> None:
        """AUTH XOAUTH2 (aiosmtplib >= 5.1); a cached token the server refuses gets one more try with a fresh one."""
        assert self._tokens is not None
        try:
            await client.auth_xoauth2(self.config.username, token)
            return
        except aiosmtplib.SMTPAuthenticationError as exc:
            refused = exc
        if self._tokens.from_cache:
            try:
                await client.auth_xoauth2(self.config.username, self._tokens.access_token(renew=True))
                return
            except aiosmtplib.SMTPAuthenticationError as exc:
                refused = exc
        raise AuthError(f"SMTP login refused by {self.config.host}:{self.config.port}: {refused.code} "
                        f"{refused.message}; " + server_refused(self._tokens.account, "SMTP"))

    def _drop(self) -> None:
        """Close every connection without a word (after trouble, or once QUIT was said)."""
        while self._idle:
            self._idle.pop().close()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.run_until_complete(asyncio.sleep(0))  # let the transports finish closing

    def close(self) -> None:
        """Say QUIT on every connection, and free the event loop; never raises."""
        if self._idle and self._loop is not None:
            for client in self._idle:
                try:
                    self._loop.run_until_complete(asyncio.wait_for(client.quit(), timeout=5))
                except Exception:  # noqa: BLE001 - closing anyway
                    pass
        self._drop()
        self._down = ""
        if self._loop is not None:
            self._loop.close()
            self._loop = None


async def _send_wire(client: aiosmtplib.SMTP, wire: Wire) -> None:
    """A message already in its wire form, with the options aiosmtplib's `send_message` would give it: SMTPUTF8
    when an address needs it (refused as `send_message` refuses it where the server lacks it), 8BITMIME where
    offered (raw UTF-8 headers are 8-bit)."""
    if not wire.sender or not wire.recipients:  # as send_message refuses a message without From or To
        raise ValueError("an acknowledgement without a sender or recipient address cannot be mailed")
    if client.is_ehlo_or_helo_needed:  # the extensions are known after EHLO (HELO for an old server)
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await client.helo()
    options = []
    if wire.utf8:
        if not client.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported("An address containing non-ASCII characters was provided, but "
                                              "SMTPUTF8 is not supported by this server")
        options.append("SMTPUTF8")
    if client.supports_extension("8BITMIME"):
        options.append("BODY=8BITMIME")
    await client.sendmail(wire.sender, list(wire.recipients), wire.data, mail_options=options)


async def _spare_time(meanwhile: Meanwhile) -> None:
    """Run queued jobs while the connections wait, each job only once nothing else is ready to run: an answer
    that came during a job takes several loop turns to become the next command (the reader's callback,
    aiosmtplib's wait_for, the worker's task); with one job per turn, five jobs ran per round trip, the queue
    emptied in the batch's first acknowledgements and the rest waited idle."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", ())  # CPython's loop: its callbacks due now (another loop: one turn per job)
    while meanwhile.step():
        await asyncio.sleep(0)  # the loop looks at the sockets: an answer that came meanwhile is read
        while ready:
            await asyncio.sleep(0)


def _translated(exc: BaseException, cfg: SmtpConfig) -> BaseException:
    """aiosmtplib's and the socket's exceptions as deskbot's errors (others are returned unchanged)."""
    where = f"{cfg.host}:{cfg.port}"
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(cause, ssl.SSLCertVerificationError):
        return ConfigError(f"the SMTP server {where} has a TLS certificate this machine does not trust "
                           f"({getattr(cause, 'verify_message', '') or exc}): fix the certificate, or name the CA that signed "
                           "it with ca_file under [smtp]")
    if isinstance(exc, aiosmtplib.SMTPNotSupported) and "non-ASCII" in str(exc):
        # RFC 6531: an internationalised address needs SMTPUTF8; without it the mail cannot be carried at all.
        return not_done(Impossible(f"the SMTP server {where} does not offer SMTPUTF8, which an address with "
                                   f"non-ASCII characters needs ({exc})"))
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return AuthError(f"SMTP login refused by {where}: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused):
        # The server answered with a refusal: whatever it was, the message was not accepted.
        refused = _refusal(exc, cfg, where)
        return not_done(refused) if isinstance(refused, DeskbotError) else refused
    if isinstance(exc, aiosmtplib.SMTPException | OSError | asyncio.TimeoutError):
        return ServiceUnavailable(f"cannot send through {where}: {exc}")
    return exc


def _refusal(exc: BaseException, cfg: SmtpConfig, where: str) -> BaseException:
    """A refusal by reply code: whose problem it is decides the error class."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        # Only here is a refusal about this one message: greylisting (4xx) or no such mailbox (5xx).
        codes = [r.code for r in exc.recipients]
        kind = TransientError if codes and all(400 <= c < 500 for c in codes) else PermanentError
        error = kind("SMTP recipient refused: " + "; ".join(f"{r.recipient}: {r.code} {r.message}"
                                                            for r in exc.recipients))
        error.bounced = kind is PermanentError  # type: ignore[attr-defined]  # a hard bounce, known at once
        return error
    if isinstance(exc, aiosmtplib.SMTPSenderRefused) and exc.code >= 500:
        return ConfigError(f"the SMTP server {where} refuses our sender {exc.sender}: {exc.code} {exc.message}; "
                           "check [smtp] from and username")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if exc.code == 421 or 400 <= exc.code < 500:  # the server is busy or going down: not this message's fault
            return ServiceUnavailable(f"SMTP server {where} answered {exc.code} {exc.message}; trying later")
        return PermanentError(f"SMTP server {where} answered {exc.code} {exc.message}")
    return exc
