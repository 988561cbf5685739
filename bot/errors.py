"""The one exception tree of deskbot.

    DeskbotError
    ├── ConfigError        a config or rules file is wrong: stop, name file, line and key
    ├── ModelError         a model directory is missing, corrupt or from other library versions
    ├── BadInputError      this ticket cannot be read (unparseable mail): record as skipped, set aside
    ├── TransientError     network, timeout, 429, 5xx: retry later, nothing is lost
    └── PermanentError     auth refused, 4xx, a folder that does not exist: set aside for a person

Connectors translate library exceptions (OSError, imaplib/IMAPClient errors, SMTP errors,
httpx errors) into TransientError or PermanentError at the edge; the pipeline catches them
once per ticket and once per source.
"""

from __future__ import annotations


class DeskbotError(Exception):
    """Base of every error deskbot raises on purpose."""


class ConfigError(DeskbotError):
    """A configuration or rules file is invalid; says where and what to do."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None, key: str = "") -> None:
        self.path = path
        self.line = line
        self.key = key
        self.reason = message
        where = path
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        if key:
            where = f"{where}: {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message)


class ModelError(DeskbotError):
    """A classifier model cannot be loaded or trained; the message says what to do."""


class BadInputError(DeskbotError):
    """The input (a mail, a ticket) cannot be understood; it is recorded and set aside."""


class TransientError(DeskbotError):
    """A failure that may go away by itself (network, timeout, 429, 5xx): retry later."""


class PermanentError(DeskbotError):
    """A failure that will not go away by retrying (auth, 4xx, missing folder): needs a person."""
