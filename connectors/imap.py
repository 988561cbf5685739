"""An IMAP folder as a ticket source (imapclient).

Position is remembered as UIDVALIDITY plus the last finished UID (RFC 3501 2.3.1.1): when
the server changes UIDVALIDITY the folder is read again and the decision log, keyed by
Message-ID, stops anything from being handled twice. Fetching uses BODY.PEEK[] so it
never sets \\Seen: agents still see new mail as unread.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from bot.config import MailboxConfig
from bot.errors import BadInputError, PermanentError, TransientError
from bot.models import Decision, Ticket
from connectors.base import RawItem
from connectors.mail import parse_mail

log = logging.getLogger(__name__)

PROCESSED = "deskbot-processed"
UNPARSEABLE = "deskbot-unparseable"
_BATCH = 50
_NOT_ATOM = re.compile(r"[^a-z0-9_.-]+")


def keyword(kind: str, value: str) -> str:
    """An IMAP keyword (an atom, RFC 3501 9) such as deskbot-dept-billing."""
    slug = _NOT_ATOM.sub("-", value.lower()).strip("-") or "unknown"
    return f"deskbot-{kind}-{slug}"


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Library and socket errors become deskbot's transient/permanent errors."""
    try:
        yield
    except LoginError as exc:
        raise PermanentError(f"{action}: login refused: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(f"{action}: the server's TLS certificate is not trusted: {exc}") from exc
    except IMAPClientAbortError as exc:
        raise TransientError(f"{action}: connection lost: {exc}") from exc
    except (socket.timeout, TimeoutError, ConnectionError, ssl.SSLError, OSError) as exc:
        raise TransientError(f"{action}: {exc}") from exc
    except IMAPClientError as exc:
        raise PermanentError(f"{action}: server said no: {exc}") from exc


class ImapSource:
    """One folder of one IMAP account; use as a context manager (connects and logs in)."""

    def __init__(self, config: MailboxConfig) -> None:
        self.config = config
        self.name = f"imap:{config.name}"
        self._client: imapclient.IMAPClient | None = None
        self._keywords_allowed = False
        self._folders: set[str] = set()

    def __enter__(self) -> ImapSource:
        cfg = self.config
        with _translated(f"connect to {cfg.host}:{cfg.port}"):
            client = imapclient.IMAPClient(cfg.host, port=cfg.port, ssl=cfg.security == "ssl", timeout=cfg.timeout)
        try:
            with _translated(f"log in to {cfg.host}:{cfg.port} as {cfg.username}"):
                client.normalise_times = False  # keep INTERNALDATE's zone: the SLA clock needs it
                if cfg.security == "starttls":
                    client.starttls(ssl.create_default_context())
                client.login(cfg.username, cfg.password)
            with _translated(f"select folder {cfg.folder!r}"):
                selected = client.select_folder(cfg.folder)
        except BaseException:
            client.shutdown()  # never leak the socket of a failed login
            raise
        self._client = client
        self._validity = int(selected[b"UIDVALIDITY"])
        permanent = selected.get(b"PERMANENTFLAGS", ())
        self._keywords_allowed = b"\\*" in permanent
        if not self._keywords_allowed:
            log.warning("mailbox %s: the server keeps no custom keywords; deskbot cannot tag mail there", cfg.name)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._client is not None:
            try:
                self._client.logout()
            except (IMAPClientError, OSError):
                pass  # the connection is going away anyway
            self._client = None

    @property
    def client(self) -> imapclient.IMAPClient:
        """The logged-in connection."""
        if self._client is None:
            raise RuntimeError("ImapSource used outside its `with` block")
        return self._client

    def fetch_new(self, cursor: str | None) -> Iterator[RawItem]:
        """Messages after the cursor's UID, oldest first, read with BODY.PEEK[]."""
        validity, last_uid = _parse_cursor(cursor)
        with _translated("search"):
            if validity == self._validity:
                uids = [u for u in self.client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid]
            else:
                if cursor is not None:
                    log.warning("mailbox %s: UIDVALIDITY changed; reading the folder again", self.config.name)
                criteria = ["NOT", "KEYWORD", PROCESSED, "NOT", "DELETED"]
                if self.config.first_run == "unseen" and cursor is None:
                    criteria.append("UNSEEN")
                uids = self.client.search(criteria)
        uids = sorted(uids)
        for start in range(0, len(uids), _BATCH):
            yield from self._fetch(uids[start : start + _BATCH])

    def _fetch(self, uids: list[int]) -> Iterator[RawItem]:
        with _translated("fetch sizes"):
            sizes = self.client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE"])
        small = [u for u in uids if sizes.get(u, {}).get(b"RFC822.SIZE", 0) <= self.config.max_message_bytes]
        with _translated("fetch"):
            bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
        for uid in uids:
            problem = ""
            if uid not in small:
                size = sizes.get(uid, {}).get(b"RFC822.SIZE", 0)
                problem = f"message of {size} bytes is over max_message_bytes ({self.config.max_message_bytes})"
            yield RawItem(
                ref=str(uid),
                data=bodies.get(uid, {}).get(b"BODY[]", b""),
                cursor=f"{self._validity}:{uid}",
                received_at=sizes.get(uid, {}).get(b"INTERNALDATE"),
                problem=problem,
            )

    def parse(self, item: RawItem) -> Ticket:
        """RFC 5322 bytes -> Ticket."""
        if item.problem:
            raise BadInputError(item.problem)
        return parse_mail(item.data, source=self.name, ref=item.ref, received_at=item.received_at)

    def write_back(self, ticket: Ticket, decision: Decision) -> str:
        """Keywords for department, priority, review and tags, visible in any IMAP client."""
        if not self._keywords_allowed:
            return "skipped: server keeps no custom keywords"
        words = [keyword("dept", decision.department), keyword("prio", decision.priority)]
        words += [keyword("tag", t) for t in decision.tags]
        with _translated("store keywords"):
            self.client.add_flags([int(ticket.ref)], [w.encode() for w in words], silent=True)
        return "keywords " + " ".join(words)

    def mark_processed(self, ticket: Ticket, decision: Decision) -> str:
        """The processed keyword, then MOVE to the decision's folder (last: it changes the UID)."""
        done = []
        uid = int(ticket.ref)
        if self._keywords_allowed:
            with _translated("store processed keyword"):
                self.client.add_flags([uid], [PROCESSED.encode()], silent=True)
            done.append(PROCESSED)
        if decision.folder and decision.folder != self.config.folder:
            self._move(uid, decision.folder)
            done.append(f"moved to {decision.folder}")
        return ", ".join(done) or "nothing to do on the server"

    def set_aside(self, ref: str, reason: str) -> str:
        """\\Flagged plus the unparseable keyword, left in place for a person."""
        flags = [b"\\Flagged"]
        if self._keywords_allowed:
            flags += [UNPARSEABLE.encode(), PROCESSED.encode()]
        with _translated("flag unreadable message"):
            self.client.add_flags([int(ref)], flags, silent=True)
        return "flagged " + " ".join(f.decode() for f in flags)

    def _move(self, uid: int, folder: str) -> None:
        with _translated(f"move to {folder}"):
            if folder not in self._folders and not self.client.folder_exists(folder):
                self.client.create_folder(folder)
            self._folders.add(folder)
            if self.client.has_capability("MOVE"):
                self.client.move([uid], folder)
                return
            # RFC 6851 fallback: COPY, then delete only this UID (UID EXPUNGE needs UIDPLUS).
            self.client.copy([uid], folder)
            self.client.add_flags([uid], [b"\\Deleted"], silent=True)
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge([uid])


def _parse_cursor(cursor: str | None) -> tuple[int | None, int]:
    if not cursor:
        return None, 0
    validity, _, uid = cursor.partition(":")
    try:
        return int(validity), int(uid)
    except ValueError:
        return None, 0
