"""An IMAP folder as a ticket source (imapclient).

Position is UIDVALIDITY plus the last recorded UID (RFC 3501 2.3.1.1); a ticket's `ref` is
"UIDVALIDITY:UID", so a UID from before a UIDVALIDITY change is never trusted (the message is
looked up by Message-ID instead). Fetching uses BODY.PEEK[] so agents still see new mail as unread.

Every action can be checked after a crash: keywords are idempotent (done again), a MOVE is done
when the UID has left the folder, an acknowledgement is found by its Message-ID in the Sent folder
when one is configured. Without MOVE (RFC 6851) a copy already in the target folder is not copied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import date
from types import TracebackType

import imapclient

from bot.config.file import MailboxConfig
from bot.errors import BadInputError, DeskbotError, TransientError
from bot.models import Decision, Ticket
from bot.rules import RuleSet
from connectors.base import (
    ACKNOWLEDGE,
    DUPLICATE,
    FILE,
    FLAG_FAILED,
    QUARANTINE,
    SET_ASIDE,
    UNFLAG,
    WRITE_BACK,
    Action,
    Mailer,
    Observation,
    RawItem,
    Wire,
)
from connectors.imap_batch import ack_error, batch_kinds, decision_keywords
from connectors.imap_batch import perform_batch as _perform_batch
from connectors.imap_folders import flag_where_filed, highest_reference, unmakeable_folders
from connectors.imap_observation import scan_folders
from connectors.imap_reference import (
    copied_uids,
    keywords_defined,
    placed_after_move,
    reference_where_filed,
    references_follow_mail,
    set_references,
)
from connectors.imap_session import (
    DUPLICATE_KEYWORD,
    FAILED,
    PROCESSED,
    QUARANTINED,
    UNPARSEABLE,
    close_quietly,
    connect,
    forget_unsolicited,
    keyword,
    translated,
)
from connectors.mail import parse_mail
from connectors.meanwhile import Meanwhile

log = logging.getLogger(__name__)

_BATCH = 500  # UIDs per FETCH, and the batch the pipeline records and acts on at once
_SMALLEST = 50  # a batch split in two no smaller than this
_BATCH_BYTES = 32 << 20  # and at most this much mail in it (one larger mail goes alone): attachments add up
_BUSY_ADVICE = "reference_keyword = false keeps a busy folder fast (see the README)"  # `deskbot check`'s warnings


def windows(uids: list[int]) -> Iterator[list[int]]:
    """`uids` in batches of _BATCH, the last ones (under two batches' worth) in two halves: the pipeline reads
    and predicts a batch while the server files the one before, so only the last batch's filing is waited
    for, and it is kept small (a half under _SMALLEST is not split off)."""
    start = 0
    while len(uids) - start >= 2 * _BATCH:
        yield uids[start : start + _BATCH]
        start += _BATCH
    left = len(uids) - start
    half = -(-left // 2) if left >= 2 * _SMALLEST else left
    for first in range(start, len(uids), max(half, 1)):
        yield uids[first : first + half]


def by_size(uids: list[int], sizes: dict[int, dict[bytes, object]], largest: int) -> Iterator[list[int]]:
    """`uids` in runs whose mail (what will be read: up to `largest` bytes each) stays within _BATCH_BYTES."""
    run: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, {}).get(b"RFC822.SIZE", 0)
        size = size if isinstance(size, int) and size <= largest else 0
        if run and total + size > _BATCH_BYTES:
            yield run
            run, total = [], 0
        run.append(uid)
        total += size
    if run:
        yield run

__all__ = ["ImapSource", "PROCESSED", "UNPARSEABLE", "keyword"]


MANY_KEYWORDS = 1000  # a folder knowing this many keywords makes the server's answer to each new one slow


class ImapSource:
    """One folder of one IMAP account; a context manager per cycle (connects, logs in, selects)."""

    def __init__(self, config: MailboxConfig, *, rules: RuleSet, mailer: Mailer | None = None) -> None:
        self.config = config
        self.rules = rules
        self.mailer = mailer
        self.name = f"imap:{config.name}"
        self.backlog: int | None = None
        self._client: imapclient.IMAPClient | None = None
        self._keywords_allowed = False
        self._validity = 0
        self._defined = 0
        self._folders: set[str] = set()
        self._warned = False
        self.observe: Callable[[Observation], None] | None = None  # learning from agents (bot/learning)
        self.meanwhile = Meanwhile()  # work the pipeline queues for the time the mailer waits on its server

    def __enter__(self) -> ImapSource:
        self._client = connect(self.config)
        try:
            self._select()
        except BaseException:
            close_quietly(self._client)
            self._client = None
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.mailer is not None:
            self.mailer.close()
        if self._client is not None:
            close_quietly(self._client)
            self._client = None

    @property
    def client(self) -> imapclient.IMAPClient:
        """The logged-in connection, for the next command: what earlier commands brought unasked is dropped
        first, so a cycle over a long backlog holds one command's responses, not all of them."""
        if self._client is None:
            raise RuntimeError("ImapSource used outside its `with` block")
        forget_unsolicited(self._client)
        return self._client

    def reselect(self) -> None:
        """Back to the folder this source reads, after looking at another one."""
        self._select()

    def _select(self) -> None:
        with translated(f"select folder {self.config.folder!r}"):
            selected = self.client.select_folder(self.config.folder)
        self._validity = int(selected[b"UIDVALIDITY"])
        self._defined = len(selected.get(b"FLAGS", ()))  # flags and keywords the folder knows (RFC 3501 7.2.6)
        self._keywords_allowed = b"\\*" in selected.get(b"PERMANENTFLAGS", ())
        if not self._keywords_allowed and not self._warned:
            self._warned = True
            log.warning("mailbox %s: the server keeps no custom keywords; deskbot cannot tag mail there",
                        self.config.name)

    def check(self) -> str:
        """Log in, select the folder, and say what the server offers."""
        with self:
            with translated("search"):
                count = len(self.client.search(["NOT", "DELETED"]))
            moves = "MOVE" if self.client.has_capability("MOVE") else "no MOVE (COPY + delete)"
            keywords = "keywords" if self._keywords_allowed else "NO custom keywords"
            found = f"logged in; {self.config.folder} has {count} messages; {moves}; {keywords}; {self._watching()}"
            if self._defined > MANY_KEYWORDS and self._references_here():
                found += (f"; {self._defined} keywords defined in {self.config.folder}, and each ticket's reference "
                          f"adds one: {_BUSY_ADVICE}")
            found += self._busy_department_folders()
            sent = self.config.sent_folder
            if sent and not self.client.folder_exists(sent):
                return f"{found}; sent_folder {sent!r} does not exist yet (it will be created)"
            return found

    def _busy_department_folders(self) -> str:
        """Where references follow the mail: the department folders whose keyword lists have grown long."""
        if not references_follow_mail(self):
            return ""
        folders = {route.folder for route in self.rules.departments.values()} | {self.rules.triage.review_folder}
        filed = sorted(f for f in folders if f and f != self.config.folder)
        try:
            busy = {f: n for f, n in keywords_defined(self, filed).items() if n > MANY_KEYWORDS}
        finally:
            self._select()
        return "".join(f"; {n} keywords defined in {folder}, and each ticket's reference filed there adds one: "
                       f"{_BUSY_ADVICE}" for folder, n in busy.items())

    def _references_here(self) -> bool:
        """Are ticket references set as keywords in the folder deskbot reads (a server without MOVE and UIDPLUS,
        where they cannot follow the mail to its department's folder)?"""
        return self.config.reference_keyword and self._keywords_allowed and not references_follow_mail(self)

    def _watching(self) -> str:
        """How `deskbot run` will notice new mail here: IMAP IDLE, or the poll."""
        every = f"polled every {self.config.poll_seconds} s"
        if not self.config.idle:
            return f"IDLE off in the config ({every})"
        if not self.client.has_capability("IDLE"):
            return f"the server offers no IDLE ({every})"
        return f"IDLE: new mail is handled as it arrives (and {every})"

    def check_folders(self) -> list[str]:
        """Every folder deskbot may file mail into that is missing and cannot be made on this server."""
        with self:
            return unmakeable_folders(self.client, self.rules, self.config)

    # -- reading ------------------------------------------------------------------------------------

    def fetch_new(self, cursor: str | None) -> Iterator[RawItem]:
        """Messages after the cursor's UID, oldest first, read with BODY.PEEK[] in batches."""
        for batch in self.fetch_batches(cursor):
            yield from batch

    def fetch_batches(self, cursor: str | None) -> Iterator[list[RawItem]]:
        """`fetch_new` a batch at a time: the pipeline records and acts on each batch with few commands."""
        if self.observe is not None:
            self._observe_folders()
        validity, last_uid = _parse_cursor(cursor)
        with translated("search"):
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
        self.backlog = len(uids)
        for window in windows(uids):
            with translated("fetch sizes"):
                sizes = self.client.fetch(window, ["RFC822.SIZE", "INTERNALDATE"])
            for part in by_size(window, sizes, self.config.max_message_bytes):
                yield list(self._fetch(part, sizes))

    def _observe_folders(self) -> None:
        """Tell `observe` what agents did with mail deskbot filed (moved, re-keyworded, answered)."""
        assert self.observe is not None
        with translated("look at the department folders"):
            for seen in scan_folders(self.client, source=self.name, rules=self.rules, inbox=self.config.folder,
                                     processed=PROCESSED, today=date.today()):
                self.observe(seen)
        self._select()

    def _fetch(self, uids: list[int], sizes: dict[int, dict[bytes, object]]) -> Iterator[RawItem]:
        small = [u for u in uids if sizes.get(u, {}).get(b"RFC822.SIZE", 0) <= self.config.max_message_bytes]
        with translated("fetch"):
            bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
        for uid in uids:
            if uid not in sizes or (uid in small and uid not in bodies):
                continue  # expunged since the SEARCH (moved or deleted by someone): nothing to read
            problem = ""
            if uid not in small:
                size = sizes.get(uid, {}).get(b"RFC822.SIZE", 0)
                problem = f"message of {size} bytes is over max_message_bytes ({self.config.max_message_bytes})"
            ref = f"{self._validity}:{uid}"
            yield RawItem(ref=ref, data=bodies.get(uid, {}).get(b"BODY[]", b""), cursor=ref,
                          received_at=sizes.get(uid, {}).get(b"INTERNALDATE"), problem=problem)

    def parse(self, item: RawItem) -> Ticket:
        """RFC 5322 bytes -> Ticket."""
        if item.problem:
            raise BadInputError(item.problem)
        return parse_mail(item.data, source=self.name, ref=item.ref, received_at=item.received_at)

    # -- acting -------------------------------------------------------------------------------------

    def plan(self, decision: Decision) -> tuple[str, ...]:
        """Keywords, the acknowledgement by mail (when an [smtp] server is configured), then file it."""
        return (WRITE_BACK, ACKNOWLEDGE, FILE) if self.mailer is not None else (WRITE_BACK, FILE)

    def perform(self, action: Action) -> str:
        """Cause one action's effect on this mailbox (or, for the acknowledgement, through the mailer)."""
        if action.kind == ACKNOWLEDGE:
            return self._acknowledge(action)
        handler = {WRITE_BACK: self._write_back, FILE: self._file, SET_ASIDE: self._set_aside,
                   DUPLICATE: self._duplicate, FLAG_FAILED: self._flag_failed, QUARANTINE: self._quarantine,
                   UNFLAG: self._unflag}[action.kind]
        uid = self._locate(action)
        if uid is None and action.kind in (FLAG_FAILED, QUARANTINE, UNFLAG):
            return flag_where_filed(self.client, self.config, action, handler, reselect=self.reselect)
        if uid is None:  # an agent was quicker: nothing to mark here, but the customer is still acknowledged
            return f"not done: the message is no longer in {self.config.folder} (moved or deleted by someone)"
        return handler(uid, action)

    @property
    def batch_kinds(self) -> tuple[str, ...]:
        """The action kinds `perform_batch` causes for many messages at once."""
        return batch_kinds(self)

    def perform_batch(self, kind: str, actions: list[Action]) -> list[str | DeskbotError]:
        """Cause `kind` for many messages with one command per keyword set or target folder; a result each."""
        return _perform_batch(self, kind, actions)

    @property
    def validity(self) -> int:
        """The selected folder's UIDVALIDITY."""
        return self._validity

    @property
    def keywords_allowed(self) -> bool:
        """Does the server keep custom keywords in this folder?"""
        return self._keywords_allowed

    def verify(self, action: Action) -> bool | None:
        """After a crash: a move is done when the message left the folder; the acknowledgement is looked
        for in the Sent folder; keywords are simply set again."""
        if action.kind == ACKNOWLEDGE:
            if not self.config.sent_folder:
                return None
            return bool(self._search_folder(self.config.sent_folder, action.marker))
        if action.kind in (FILE, DUPLICATE, QUARANTINE):
            done = self._locate(action) is None
            if done and action.kind == FILE and placed_after_move(self, action):
                reference_where_filed(self, action)  # the crash may have come between the MOVE and the reference
            return done
        return False

    def _acknowledge(self, action: Action) -> str:
        """Send through the mailer; when it cannot take the message now, the acknowledgement waits (SendLater)
        and the mail is still filed: an SMTP outage or greylisting never holds up triage."""
        assert self.mailer is not None and action.ack is not None and action.ack.wire is not None
        try:
            self.mailer.send(action.ack.wire)
        except TransientError as exc:
            error = ack_error(exc)
            if error is exc:
                raise
            raise error from exc
        done = f"sent {action.ack.message_id} to {action.ack.to}"
        if self.config.sent_folder:
            self.keep_sent_copy(action.ack.wire)
            done += f"; copy in {self.config.sent_folder}"
        return done

    def keep_sent_copy(self, message: Wire) -> None:
        """Append an acknowledgement the SMTP server accepted to `sent_folder`, read: agents see what went out,
        and a restart looks for it there before sending again (`verify`)."""
        folder = self.config.sent_folder
        with translated(f"append a copy to {folder}"):
            self._ensure_folder(folder)
            self.client.append(folder, message.data, flags=[b"\\Seen"])

    def _write_back(self, uid: int, action: Action) -> str:
        if not self._keywords_allowed:
            return "skipped: the server keeps no custom keywords"
        words = decision_keywords(action, self.config.reference_keyword and not placed_after_move(self, action))
        self._store(uid, words, "store keywords")
        return "keywords " + " ".join(words)

    def _file(self, uid: int, action: Action) -> str:
        """The processed keyword, then MOVE to the decision's folder (last: it changes the UID), then the
        reference there (connectors/imap_reference.py)."""
        done = []
        if self._keywords_allowed:
            self._store(uid, [PROCESSED], "store processed keyword")
            done.append(PROCESSED)
        folder = action.decision.folder if action.decision else None
        if folder and folder != self.config.folder:
            after = placed_after_move(self, action)
            self._move(uid, folder, action)
            done.append(f"moved to {folder}")
            if after:
                assert self._client is not None  # not `self.client`: a look at it forgets the MOVE's COPYUID
                return ", ".join(done) + self._reference_after_move(copied_uids(self._client).get(uid), folder, action)
        return ", ".join(done) or "nothing to do on the server"

    def _reference_after_move(self, new_uid: int | None, folder: str, action: Action) -> str:
        try:
            return set_references(self, folder, [(new_uid, action)])[0]
        finally:
            self._select()

    def _set_aside(self, uid: int, action: Action) -> str:
        """\\Flagged plus the unparseable keyword, left in place for a person."""
        return self._flag(uid, [UNPARSEABLE, PROCESSED], "flag unreadable message")

    def _flag_failed(self, uid: int, action: Action) -> str:
        return self._flag(uid, [FAILED], "flag failed ticket")

    def _quarantine(self, uid: int, action: Action) -> str:
        done = self._flag(uid, [QUARANTINED, PROCESSED], "flag quarantined ticket")
        if self.config.quarantine_folder:
            self._move(uid, self.config.quarantine_folder, action)
            done += f", moved to {self.config.quarantine_folder}"
        return done

    def _unflag(self, uid: int, action: Action) -> str:
        words = [b"\\Flagged"] + ([FAILED.encode(), QUARANTINED.encode()] if self._keywords_allowed else [])
        with translated("remove deskbot's flags"):
            self.client.remove_flags([uid], words, silent=True)
        return "removed " + " ".join(w.decode() for w in words)

    def _duplicate(self, uid: int, action: Action) -> str:
        """Mark a second copy of a handled mail and file it beside its department's mail (or duplicate_folder)."""
        words = [DUPLICATE_KEYWORD, PROCESSED] + ([action.duplicate_of] if action.duplicate_of[:1].isalpha() else [])
        done = self._store(uid, words, "mark duplicate") if self._keywords_allowed else "no keywords kept"
        folder = self.config.duplicate_folder or (action.decision.folder if action.decision else None)
        if folder and folder != self.config.folder:
            self._move(uid, folder, action)
            done += f", moved to {folder}"
        return f"duplicate of {action.duplicate_of}: {done}"

    def _flag(self, uid: int, words: list[str], what: str) -> str:
        flags = [b"\\Flagged"] + ([w.encode() for w in words] if self._keywords_allowed else [])
        with translated(what):
            self.client.add_flags([uid], flags, silent=True)
        return "flagged " + " ".join(f.decode() for f in flags)

    def _store(self, uid: int, words: list[str], what: str) -> str:
        with translated(what):
            self.client.add_flags([uid], [w.encode() for w in words], silent=True)
        return "keywords " + " ".join(words)

    def _move(self, uid: int, folder: str, action: Action) -> None:
        with translated(f"move to {folder}"):
            self._ensure_folder(folder)
            if self.client.has_capability("MOVE"):
                self.client.move([uid], folder)
                return
            # RFC 6851 fallback: COPY (unless an earlier, interrupted attempt already did), then delete this UID.
            if not self._copied_before(uid, folder, action):
                self.client.copy([uid], folder)
            self.client.add_flags([uid], [b"\\Deleted"], silent=True)
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge([uid])

    def ensure_folder(self, folder: str) -> None:
        """Create `folder` (once per cycle's knowledge) when the server does not have it yet."""
        self._ensure_folder(folder)

    def _ensure_folder(self, folder: str) -> None:
        if folder not in self._folders and not self.client.folder_exists(folder):
            self.client.create_folder(folder)
            if self.config.subscribe_folders:
                self.client.subscribe_folder(folder)
        self._folders.add(folder)

    # -- looking things up --------------------------------------------------------------------------

    def _locate(self, action: Action) -> int | None:
        """The UID of the action's message in the folder now, or None when it is no longer there."""
        validity, _, uid_text = action.ticket.ref.rpartition(":")
        with translated("look up the message"):
            if validity and int(validity) == self._validity:
                found = self.client.search(["UID", uid_text, "NOT", "DELETED"])
                return int(uid_text) if int(uid_text) in found else None
            if not action.ticket.message_id:
                return None
            found = self.client.search(["HEADER", "Message-ID", action.ticket.message_id, "NOT", "DELETED"])
        return min(found) if found else None

    def _copied_before(self, uid: int, folder: str, action: Action) -> bool:
        """Does `folder` already hold this message (same Message-ID and size), copied by an interrupted attempt?"""
        if not action.ticket.message_id:
            return False
        size = self.client.fetch([uid], ["RFC822.SIZE"]).get(uid, {}).get(b"RFC822.SIZE")
        return size is not None and size in self._search_folder(folder, action.ticket.message_id, sizes=True)

    def _search_folder(self, folder: str, message_id: str, *, sizes: bool = False) -> list[int]:
        """UIDs (or, with `sizes`, the sizes) of messages in another folder holding `message_id`; then back to ours."""
        with translated(f"search {folder}"):
            if not self.client.folder_exists(folder):
                return []
            self.client.select_folder(folder, readonly=True)
            try:
                found = list(self.client.search(["HEADER", "Message-ID", message_id, "NOT", "DELETED"]))
                if sizes and found:
                    return [d.get(b"RFC822.SIZE", -1) for d in self.client.fetch(found, ["RFC822.SIZE"]).values()]
                return found
            finally:
                self._select()

    def highest_reference(self, prefix: str) -> int:
        """The highest reference number this account shows (subjects and keywords), to seed the sequence."""
        folders = {self.config.folder, self.config.sent_folder, self.rules.triage.review_folder,
                   *(route.folder for route in self.rules.departments.values())} - {None, ""}
        best = highest_reference(self.client, sorted(f for f in folders if f), prefix)
        self._select()
        return best


def _parse_cursor(cursor: str | None) -> tuple[int | None, int]:
    if not cursor:
        return None, 0
    validity, _, uid = cursor.partition(":")
    try:
        return int(validity), int(uid)
    except ValueError:
        return None, 0
