"""The folders of an IMAP account beyond the one deskbot reads: which names the server accepts (judged before
deskbot needs the folder), finding a mail deskbot already filed, and the references an account shows.

RFC 3501 5.1: a name is split into levels by the server's hierarchy separator; `*` and `%` are LIST
wildcards and cannot be used in names. Dovecot's default (Maildir++) layout uses `.` as separator and
refuses `/` in a name, and refuses names beginning with `~` (https://doc.dovecot.org/main/core/config/
namespaces.html); a level may not be empty (`Sales..Leads`, a leading or trailing separator).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import imapclient

from bot.config.file import MailboxConfig
from bot.rules import RuleSet
from connectors.base import Action
from connectors.imap_session import translated


def folder_problem(name: str, separator: str | None) -> str:
    """Why the server will refuse to create folder `name` ('' when it looks fine)."""
    if any(c in name for c in "*%"):
        return "'*' and '%' are IMAP wildcards and cannot be part of a folder name"
    if name.startswith("~"):
        return "a name beginning with '~' is refused (Dovecot: a home-folder path)"
    if separator and separator != "/" and "/" in name:
        return (f"'/' is not allowed here: this server separates levels with {separator!r}, "
                f"write {name.replace('/', separator)!r} for a sub-folder")
    if separator and any(level == "" for level in name.split(separator)):
        return f"an empty level (a doubled, leading or trailing {separator!r})"
    if any(ord(c) < 32 for c in name):
        return "control characters are not allowed"
    return ""


def unmakeable_folders(client: imapclient.IMAPClient, rules: RuleSet, config: MailboxConfig) -> list[str]:
    """Every folder deskbot may file mail into that is missing and that this server would refuse to create."""
    wanted = {f"[departments.{key}] folder": route.folder for key, route in rules.departments.items()}
    wanted |= {"[triage] review_folder": rules.triage.review_folder, "sent_folder": config.sent_folder,
               "duplicate_folder": config.duplicate_folder, "quarantine_folder": config.quarantine_folder}
    problems = []
    with translated("list folders"):
        separator = next((d.decode() if isinstance(d, bytes) else d
                          for _, d, _ in client.list_folders(pattern="INBOX") if d), None)
        for setting, folder in sorted(wanted.items()):
            if not folder or client.folder_exists(folder):
                continue
            why = folder_problem(folder, separator)
            if why:
                problems.append(f"{setting} {folder!r} cannot be created on {config.host}: {why}")
    return problems


def flag_where_filed(client: imapclient.IMAPClient, config: MailboxConfig, action: Action,
                     handler: Callable[[int, Action], str], *, reselect: Callable[[], None]) -> str:
    """Flag (or unflag) a mail deskbot already filed, in the folder it went to: an acknowledgement refused
    for good is often known only after the mail was moved to its department's folder. `reselect` goes back
    to the folder deskbot reads."""
    folders = [action.decision.folder if action.decision else None, config.quarantine_folder, config.duplicate_folder]
    for folder in dict.fromkeys(f for f in folders if f and f != config.folder):
        with translated(f"look for the message in {folder}"):
            if not client.folder_exists(folder):
                continue
            selected = client.select_folder(folder)
        try:
            uid = _find_here(client, action, b"\\*" in selected.get(b"PERMANENTFLAGS", ()))
            if uid is not None:
                return f"{handler(uid, action)} in {folder}"
        finally:
            reselect()
    return f"not done: the message is in neither {config.folder} nor {', '.join(filter(None, folders))}"


def _find_here(client: imapclient.IMAPClient, action: Action, keywords: bool) -> int | None:
    """The selected folder's UID of the action's message: by Message-ID, else by its reference keyword."""
    with translated("look up the message"):
        found = []
        if action.ticket.message_id:
            found = client.search(["HEADER", "Message-ID", action.ticket.message_id, "NOT", "DELETED"])
        if not found and action.reference and keywords:
            found = client.search(["KEYWORD", action.reference, "NOT", "DELETED"])
    return min(found) if found else None


def highest_reference(client: imapclient.IMAPClient, folders: list[str], prefix: str) -> int:
    """The highest reference number these folders show, in subjects and keywords (the caller reselects)."""
    pattern = re.compile(rf"\b{re.escape(prefix)}-(\d{{6,}})\b")
    best = 0
    with translated("look for existing references"):
        for folder in (f for f in folders if client.folder_exists(f)):
            selected = client.select_folder(folder, readonly=True)
            best = max([best, *(int(m) for f in selected.get(b"FLAGS", ())
                                for m in pattern.findall(f.decode(errors="replace")))])
            uids = client.search(["SUBJECT", f"{prefix}-"])
            for start in range(0, len(uids), 500):
                fetched = client.fetch(uids[start : start + 500], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
                for data in fetched.values():
                    text = data.get(b"BODY[HEADER.FIELDS (SUBJECT)]", b"").decode(errors="replace")
                    best = max([best, *(int(m) for m in pattern.findall(text))])
    return best
