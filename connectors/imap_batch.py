"""One IMAP command for many messages: keywords and moves of a batch of tickets, by UID set (RFC 3501 9, 6.4.6).

A batch first looks up which of its UIDs are still in the folder with a single UID SEARCH (instead of
one per message and action), then sets the same keywords on every UID that gets them with one UID STORE,
and moves every UID bound for the same folder with one UID MOVE (RFC 6851). Each message still gets its
own result: done, "no longer in the folder", or the error of a group the server refused, which the
caller then retries message by message (so one refused message never fails its neighbours).

Acknowledgements of a batch go out through the mailer's `send_many` (over one kept SMTP connection), each
copied into the Sent folder as soon as it is accepted.
"""

from __future__ import annotations

import imaplib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.errors import SYSTEMIC, DeskbotError, PermanentError, SendLater, ServiceUnavailable, TransientError
from connectors.base import ACKNOWLEDGE, FILE, WRITE_BACK, Action
from connectors.imap_reference import copied_uids, placed_after_move, set_references
from connectors.imap_session import PROCESSED, keyword, translated

if TYPE_CHECKING:
    from connectors.imap import ImapSource

BATCH_KINDS = (WRITE_BACK, FILE)
Result = str | BaseException


def uid_set(uids: Sequence[int]) -> str:
    """A compact IMAP sequence set: 3,5:9,12 (RFC 3501 9, sequence-set)."""
    ordered, parts = sorted(set(uids)), []
    start = previous = ordered[0]
    for uid in ordered[1:] + [0]:
        if uid == previous + 1:
            previous = uid
            continue
        parts.append(str(start) if start == previous else f"{start}:{previous}")
        start = previous = uid
    return ",".join(parts)


def present(source: ImapSource, requests: Sequence[Action]) -> dict[int, int | None]:
    """Request index -> its UID while still in the folder (None: gone); -1 when only a per-message look-up can
    tell (a ref from before a UIDVALIDITY change, found by Message-ID)."""
    wanted: dict[int, int] = {}
    found: dict[int, int | None] = {}
    for index, request in enumerate(requests):
        validity, _, uid_text = request.ticket.ref.rpartition(":")
        if validity and int(validity) == source.validity:
            wanted[index] = int(uid_text)
        else:
            found[index] = -1
    if wanted:
        with translated("look up the batch's messages"):
            here = set(source.client.search(["UID", uid_set(list(wanted.values())), "NOT", "DELETED"]))
        found.update({index: uid if uid in here else None for index, uid in wanted.items()})
    return found


def batch_kinds(source: ImapSource) -> tuple[str, ...]:
    """The action kinds `perform_batch` causes for many messages at once (acknowledgements: when the mailer
    sends batches)."""
    return BATCH_KINDS + ((ACKNOWLEDGE,) if hasattr(source.mailer, "send_many") else ())


def perform_batch(source: ImapSource, kind: str, requests: Sequence[Action]) -> list[Result]:
    """Cause `kind` for every request with as few commands as the server allows; one result per request."""
    if kind == ACKNOWLEDGE:
        return _acknowledge(source, requests)
    where = present(source, requests)
    results: list[Result | None] = [None] * len(requests)
    gone = f"not done: the message is no longer in {source.config.folder} (moved or deleted by someone)"
    for index, uid in where.items():
        if uid is None:  # an agent was quicker: nothing to mark here, as in the per-message path
            results[index] = gone
        elif uid == -1:
            results[index] = _one(source, requests[index])
    located = {index: uid for index, uid in where.items() if uid is not None and uid != -1}
    if kind == WRITE_BACK:
        _write_back(source, requests, located, results)
    elif kind == FILE:
        _file(source, requests, located, results)
    else:
        raise ValueError(f"no batch form for {kind}")
    return [r if r is not None else PermanentError("no result") for r in results]


def _one(source: ImapSource, request: Action) -> Result:
    """The per-message path, its error kept as this message's result (systemic ones still stop the batch)."""
    try:
        return source.perform(request)
    except SYSTEMIC:
        raise
    except DeskbotError as exc:
        return exc


def _grouped(source: ImapSource, requests: Sequence[Action], indexes: Sequence[int], results: list[Result | None],
             command: Callable[[list[int]], None], what: str, uids: dict[int, int]) -> bool:
    """Run `command` on the UIDs of `indexes`; a group the server refuses is retried message by message."""
    if not indexes:
        return True
    try:
        with translated(what):
            command([uids[i] for i in indexes])
        return True
    except PermanentError:
        for index in indexes:
            results[index] = _one(source, requests[index])
        return False


def _write_back(source: ImapSource, requests: Sequence[Action], uids: dict[int, int],
                results: list[Result | None]) -> None:
    if not source.keywords_allowed:
        for index in uids:
            results[index] = "skipped: the server keeps no custom keywords"
        return
    groups: dict[tuple[str, ...], list[int]] = {}
    for index in uids:
        request = requests[index]
        reference = source.config.reference_keyword and not placed_after_move(source, request)
        groups.setdefault(tuple(decision_keywords(request, reference)), []).append(index)
    stores = [([uids[i] for i in indexes], list(words)) for words, indexes in groups.items()]
    for (words, indexes), taken in zip(groups.items(), store_pipelined(source, stores, "store keywords")):
        for index in indexes:  # a group the server refused: message by message, so one never fails the others
            results[index] = "keywords " + " ".join(words) if taken else _one(source, requests[index])


def store_pipelined(source: ImapSource, stores: Sequence[tuple[list[int], list[str]]], what: str) -> list[bool]:
    """UID STORE +FLAGS.SILENT of each (UIDs, keywords), all sent before the first answer is read (RFC 3501
    5.5 lets a client do so): the customer references make nearly every message's keyword set its own, and
    waiting for each answer cost a round trip per message. True where the server said OK.

    imapclient sends one command at a time, so this speaks through its imaplib connection (`_command`,
    `_command_complete`: imaplib keeps each tag's answer apart, whatever order they are read in)."""
    imap = source.client._imap
    with translated(what):
        tags = [imap._command("UID", "STORE", uid_set(uids), "+FLAGS.SILENT", f"({' '.join(words)})")
                for uids, words in stores]
        taken = answers(imap, tags)
    for name in ("FLAGS", "OK"):  # Dovecot announces the mailbox's whole keyword list after each new keyword:
        imap.untagged_responses.pop(name, None)  # nobody reads them, and imaplib would keep them all
    return taken


def decision_keywords(request: Action, reference: bool = True) -> list[str]:
    """The keywords of a decision, for the batched and the per-message write-back (the reference too, if
    `reference`)."""
    decision = request.decision
    assert decision is not None
    words = [keyword("dept", decision.department)] + ([keyword("prio", decision.priority)] if decision.priority else [])
    words += [keyword("tag", t) for t in decision.tags]
    return words + ([request.reference] if request.reference and reference else [])


def _file(source: ImapSource, requests: Sequence[Action], uids: dict[int, int], results: list[Result | None]) -> None:
    """The processed keyword on all, then one MOVE per target folder (last: it changes the UIDs), then the
    references in the folders the mail went to (connectors/imap_reference.py)."""
    indexes = list(uids)
    if source.keywords_allowed and not _grouped(
            source, requests, indexes, results,
            lambda u: source.client.add_flags(u, [PROCESSED.encode()], silent=True), "store processed keyword", uids):
        return  # each message was filed on its own
    folders: dict[str, list[int]] = {}
    for index in indexes:
        decision = requests[index].decision
        folder = decision.folder if decision else None
        if folder and folder != source.config.folder:
            folders.setdefault(folder, []).append(index)
        else:
            results[index] = PROCESSED if source.keywords_allowed else "nothing to do on the server"
    if folders and not source.client.has_capability("MOVE"):  # COPY + delete checks for an earlier copy, one by one
        for members in folders.values():
            for index in members:
                results[index] = _one(source, requests[index])
        return
    ready = {folder: members for folder, members in folders.items() if _made(source, folder)}
    moves = [(folder, [uids[i] for i in members]) for folder, members in ready.items()]
    taken, new_uids = move_pipelined(source, moves)
    refused = [folder for folder in folders if folder not in ready] + [f for f, ok in zip(ready, taken) if not ok]
    for folder in refused:  # message by message, so one refused message never fails the others
        for index in folders[folder]:
            results[index] = _one(source, requests[index])
    moved: dict[str, list[int]] = {}
    for (folder, members), ok in zip(ready.items(), taken):
        if not ok:
            continue
        done = (f"{PROCESSED}, " if source.keywords_allowed else "") + f"moved to {folder}"
        for index in members:
            results[index] = done
        moved[folder] = members
    _references(source, requests, uids, results, moved, new_uids)


def _made(source: ImapSource, folder: str) -> bool:
    """Does `folder` exist now (created if need be)? False when the server refuses it (each message then fails
    on its own, with the server's words)."""
    try:
        with translated(f"create folder {folder}"):
            source.ensure_folder(folder)
        return True
    except PermanentError:
        return False


def move_pipelined(source: ImapSource, moves: Sequence[tuple[str, list[int]]]) -> tuple[list[bool], dict[int, int]]:
    """UID MOVE of each (folder, UIDs), all sent before the first answer is read (RFC 3501 5.5), and long queued
    work done while the server moves them (connectors/meanwhile.py); True where the server said OK, and each
    moved UID's new one (COPYUID)."""
    if not moves:
        return [], {}
    client = source.client  # once: each look at `source.client` drops what earlier commands left, COPYUID too
    imap = client._imap
    with translated("move to " + ", ".join(folder for folder, _ in moves)):
        tags = [imap._command("UID", "MOVE", uid_set(batch), client._normalise_folder(folder))
                for folder, batch in moves]
        while source.meanwhile.step(long=True):
            pass
        taken = answers(imap, tags)
    return taken, copied_uids(client)


def answers(imap: imaplib.IMAP4, tags: Sequence[bytes]) -> list[bool]:
    """Read the answer to each pipelined command, True where the server said OK; every one is read, even after a
    refusal, so none is left on the connection (a lost connection goes on up)."""
    taken: list[bool] = []
    for tag in tags:
        try:
            taken.append(imap._command_complete("UID", tag)[0] == "OK")
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:  # BAD: this command's arguments, not the connection
            taken.append(False)
    return taken


def _references(source: ImapSource, requests: Sequence[Action], uids: dict[int, int], results: list[Result | None],
                moved: dict[str, list[int]], new_uids: dict[int, int]) -> None:
    """Each moved ticket's reference set in its new folder (`new_uids`: old UID -> new, from the MOVEs' COPYUID;
    one pipelined round per folder), then back to the folder deskbot reads. The move is the action's effect: a
    reference the folder refuses is noted, not failed."""
    away = False
    try:
        for folder, members in moved.items():
            placed = [(i, new_uids.get(uids[i])) for i in members if placed_after_move(source, requests[i])]
            away = away or bool(placed)
            notes = set_references(source, folder, [(uid, requests[i]) for i, uid in placed])
            for (index, _), note in zip(placed, notes):
                results[index] = f"{results[index]}{note}"
    finally:
        if away:
            source.reselect()


def ack_error(exc: BaseException) -> BaseException:
    """What an SMTP error means for an acknowledgement: when the server cannot take it now (down, or "later"
    for this recipient) it waits in the outbox (SendLater) and the mail is still filed; a connection that broke
    after the message may have gone stays as it is (checked before a resend)."""
    if isinstance(exc, ServiceUnavailable):
        return exc if exc.maybe_done else SendLater(str(exc), outage=True)
    if isinstance(exc, TransientError):  # this recipient's server said "later" (greylisting, mailbox busy)
        return SendLater(str(exc), outage=False)
    return exc


def _acknowledge(source: ImapSource, requests: Sequence[Action]) -> list[Result]:
    """Send the batch's acknowledgements at once, each copied into the Sent folder as soon as it is accepted (as
    the per-message path does: a crash between the two makes the restart send it again, so that window stays one
    message wide; a MULTIAPPEND after the whole group widened it to the group)."""
    assert source.mailer is not None
    messages = [r.ack.wire for r in requests if r.ack is not None and r.ack.wire is not None]
    if len(messages) != len(requests):
        raise ValueError("an acknowledgement request without its message")
    folder = source.config.sent_folder

    trouble: list[DeskbotError] = []

    def copy(index: int) -> None:
        try:
            source.keep_sent_copy(messages[index])
        except SYSTEMIC as exc:
            trouble.append(exc)
            raise

    errors = source.mailer.send_many(messages, then=copy if folder else None,  # type: ignore[attr-defined]
                                     meanwhile=source.meanwhile)
    if trouble:  # the IMAP server's trouble while copying stops the step, as in the per-message path
        raise trouble[0]
    done = f"; copy in {folder}" if folder else ""
    return [ack_error(e) if e is not None else f"sent {r.ack.message_id} to {r.ack.to}{done}"  # type: ignore[union-attr]
            for r, e in zip(requests, errors)]
