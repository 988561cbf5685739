"""The one exception tree of deskbot.

    DeskbotError
    ├── ConfigError            a config, rules or template file is wrong: stop, name file, line and key
    ├── ModelError             a model directory is missing, corrupt or from other library versions
    ├── BadInputError          this ticket cannot be read (unparseable mail): recorded, set aside, flagged
    ├── TransientError         this action may succeed later (a 5xx, an SMTP 4xx for this recipient):
    │   │                      it stays pending and counts towards the ticket's quarantine
    │   ├── ServiceUnavailable the server is unreachable or rate-limits us: the source's cycle stops,
    │   │                      nothing is counted against any ticket, the next cycle resumes
    │   └── SendLater          the mail server cannot take an acknowledgement now (down, greylisting):
    │                          it waits in the outbox while filing goes on
    └── PermanentError         this action will not succeed by retrying (a 4xx, a folder that cannot
        │                      exist): the action fails, the ticket is flagged for a person
        ├── AuthError          the server refuses our credentials: the whole source stops, logged once
        ├── GoneError          the item no longer exists (deleted ticket, expunged mail): recorded as such
        └── Impossible         this action cannot be done for this ticket at all (an address the SMTP
                               server cannot carry): recorded as skipped with the reason, nobody flagged

Connectors translate library exceptions (OSError, IMAPClient, aiosmtplib and httpx errors) into
these at the edge. The pipeline catches them once per ticket; an error while *acting* never marks
readable input as unreadable. Anything else raised while handling a ticket is a bug: it counts as
a transient failure of that ticket, so it is retried and, if it keeps failing, quarantined.
"""

from __future__ import annotations


class DeskbotError(Exception):
    """Base of every error deskbot raises on purpose.

    `maybe_done` tells the pipeline whether the failed action's effect may exist anyway (a connection
    lost after the request was sent): then the action stays in flight and is checked before it is
    tried again. A server that answered "no" sets it to False with `not_done()`.
    """

    maybe_done = True


def not_done(error: DeskbotError) -> DeskbotError:
    """Mark an error as a definite refusal: the action's effect surely does not exist."""
    error.maybe_done = False
    return error


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


class ServiceUnavailable(TransientError):
    """The server cannot be reached or asks us to slow down: stop this source's cycle, blame no ticket."""


class SendLater(TransientError):
    """An acknowledgement surely not sent, to try again later; `outage`: the server is down (nobody's refusal)."""

    maybe_done = False

    def __init__(self, message: str, *, outage: bool) -> None:
        super().__init__(message)
        self.outage = outage


class PermanentError(DeskbotError):
    """A failure that will not go away by retrying (auth, 4xx, missing folder): needs a person."""


class AuthError(PermanentError):
    """The server refuses our credentials: nothing of this source can work until a person fixes them."""


class Impossible(PermanentError):
    """The action cannot be done for this ticket at all; the log says why and nobody is flagged."""


class GoneError(PermanentError):
    """The item was deleted or moved away by someone else: record it, do not retry."""


# Trouble of a server or of our configuration: it stops a source's cycle and blames no ticket (caught once, there).
SYSTEMIC = (ServiceUnavailable, AuthError, ConfigError)
