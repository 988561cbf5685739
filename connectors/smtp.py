"""Sending mail over SMTP with aiosmtplib; errors become transient or permanent."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib

from bot.config import SmtpConfig
from bot.errors import PermanentError, TransientError


class SmtpMailer:
    """An SMTP submission server from the [smtp] config table."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        """Send one message; 4xx and network trouble are transient, 5xx and auth are permanent."""
        asyncio.run(self._send(message))

    async def _send(self, message: EmailMessage) -> None:
        cfg = self.config
        try:
            await aiosmtplib.send(
                message,
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username or None,
                password=cfg.password or None,
                use_tls=cfg.security == "ssl",
                start_tls=cfg.security == "starttls",
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP login refused by {cfg.host}: {exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            error = TransientError if codes and all(400 <= c < 500 for c in codes) else PermanentError
            raise error(f"SMTP recipients refused: {exc.recipients}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = TransientError if 400 <= exc.code < 500 else PermanentError
            raise error(f"SMTP server {cfg.host} answered {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise TransientError(f"cannot send through {cfg.host}:{cfg.port}: {exc}") from exc
