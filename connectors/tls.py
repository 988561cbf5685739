"""TLS for IMAP and SMTP: verified by default (system CAs), or against the CA file an admin names."""

from __future__ import annotations

import ssl

from bot.errors import ConfigError


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A verifying client context; `ca_file` adds a private CA (e.g. a company's own) to trust."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot read the CA file {ca_file}: {exc}", key="ca_file") from None
