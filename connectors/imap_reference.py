"""The ticket's reference as a keyword on its mail, set in the folder the mail is filed to.

IMAP keywords are defined per folder, and a server keeps each one for good; a reference is new to the folder
for every ticket, and the work a server does for a new keyword grows with the folder's list (Dovecot: 0.4 ms
with 1,000 defined, 1.1 ms with 4,500; a keyword the folder already knows costs 0.2 ms however many it knows).
Set in the folder deskbot reads before the MOVE, every reference ever handled was defined there, and the
INBOX grew slower with every ticket. Set after the MOVE, in the department folder (the message's new UID comes
from the MOVE's COPYUID, RFC 4315 3 and RFC 6851 4.3), the INBOX defines none, and each folder only the
references of its own mail. Servers without MOVE and UIDPLUS, and mail that stays where it is, get the
reference with the other keywords, before anything else, as before.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from connectors.base import Action
from connectors.imap_session import translated

if TYPE_CHECKING:
    import imapclient

    from connectors.imap import ImapSource

_COPYUID = re.compile(rb"(\d+) ([0-9:,]+) ([0-9:,]+)")  # what imaplib keeps of [COPYUID v src dst]


def references_follow_mail(source: ImapSource) -> bool:
    """Does this mailbox set ticket references in the folders mail is filed to: keywords wanted and kept, and a
    server whose MOVE says where each message went (MOVE and UIDPLUS)?"""
    return bool(source.config.reference_keyword and source.keywords_allowed
                and source.client.has_capability("MOVE") and source.client.has_capability("UIDPLUS"))


def placed_after_move(source: ImapSource, request: Action) -> bool:
    """Is this ticket's reference set in the folder its mail is moved to (else with the other keywords)?"""
    folder = request.decision.folder if request.decision else None
    return bool(request.reference and folder and folder != source.config.folder and references_follow_mail(source))


def expand(uids: str) -> list[int]:
    """An IMAP UID set in the order written (RFC 3501 9): '7,3:5' -> [7, 3, 4, 5]."""
    out: list[int] = []
    for part in uids.split(","):
        low, _, high = part.partition(":")
        first, last = int(low), int(high or low)
        step = 1 if last >= first else -1
        out.extend(range(first, last + step, step))
    return out


def copied_uids(client: imapclient.IMAPClient) -> dict[int, int]:
    """Source UID -> its UID in the target folder, from the COPYUID of the MOVE just done (Dovecot sends it
    untagged before the EXPUNGEs, RFC 6851 4.3; others in the tagged OK, RFC 4315 3: imaplib files both under
    COPYUID)."""
    mapping: dict[int, int] = {}
    for text in client._imap.untagged_responses.get("COPYUID", []):  # noqa: SLF001
        match = _COPYUID.fullmatch(text.strip()) if isinstance(text, bytes) else None
        if match:
            before, after = expand(match[2].decode()), expand(match[3].decode())
            if len(before) == len(after):
                mapping.update(zip(before, after))
    return mapping


def set_references(source: ImapSource, folder: str, placed: Sequence[tuple[int | None, Action]]) -> list[str]:
    """Set each (UID in `folder`, its ticket's reference), all STOREs pipelined; what to add to each action's
    outcome. A UID the server did not give (no COPYUID) is found by Message-ID. `folder` stays selected: the
    caller goes back to its own once, after every folder of the batch."""
    from connectors.imap_batch import store_pipelined

    if not placed:
        return []
    with translated(f"select {folder} to set references"):
        selected = _select_raw(source, folder, readonly=False)
    if selected is None or not any(b"\\*" in line for line in selected.get("PERMANENTFLAGS", [])):
        return [f", reference keyword not set: {folder} keeps no keywords for deskbot"] * len(placed)
    found = [uid if uid is not None else _by_message_id(source, action) for uid, action in placed]
    stores = [([uid], [str(action.reference)]) for uid, (_, action) in zip(found, placed) if uid is not None]
    taken = iter(store_pipelined(source, stores, f"set references in {folder}"))
    return [f", keyword {action.reference} there" if uid is not None and next(taken)
            else f", reference keyword not set: {'the server refused it' if uid is not None else 'not found there'}"
            for uid, (_, action) in zip(found, placed)]


def reference_where_filed(source: ImapSource, action: Action) -> str:
    """After a crash in the middle of filing: the reference set on the mail in its folder, if it is there."""
    folder = action.decision.folder if action.decision else None
    if not folder:
        return ""
    try:
        with translated(f"look in {folder}"):
            if not source.client.folder_exists(folder):
                return ""
        return set_references(source, folder, [(None, action)])[0]
    finally:
        source.reselect()


def keywords_defined(source: ImapSource, folders: Iterable[str]) -> dict[str, int]:
    """How many keywords each existing folder of `folders` defines (its FLAGS, RFC 3501 7.2.6, counted without
    parsing), looked at read-only; the caller goes back to its own folder."""
    counts = {}
    for folder in folders:
        with translated(f"look at {folder}"):
            selected = _select_raw(source, folder, readonly=True) if source.client.folder_exists(folder) else None
        if selected is not None:
            flags = b" ".join(selected.get("FLAGS", []))
            counts[folder] = sum(1 for word in flags.strip(b"()").split() if not word.startswith(b"\\"))
    return counts


def _select_raw(source: ImapSource, folder: str, *, readonly: bool) -> dict[str, list[bytes]] | None:
    """SELECT (or EXAMINE) `folder` through imaplib, not imapclient: nothing here needs the folder's whole keyword
    list parsed into Python. Its untagged responses by name (the lines only), or None when the server refuses it
    (or, for a SELECT, gives it read-only)."""
    imap = source.client._imap  # noqa: SLF001
    try:
        typ, _ = imap.select(source.client._normalise_folder(folder), readonly=readonly)  # noqa: SLF001
    except imaplib.IMAP4.readonly:
        return None
    if typ != "OK":
        return None
    return {name: [v for v in values if isinstance(v, bytes)] for name, values in imap.untagged_responses.items()}


def _by_message_id(source: ImapSource, action: Action) -> int | None:
    if not action.ticket.message_id:
        return None
    with translated("look up the moved message"):
        found = source.client.search(["HEADER", "Message-ID", action.ticket.message_id, "NOT", "DELETED"])
    return max(found) if found else None
