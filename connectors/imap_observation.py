"""What agents did with mail deskbot filed: moved it out of the department folder, changed deskbot's keywords,
answered it. One SEARCH and one FETCH of flags and Message-IDs per department folder and cycle, no bodies.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import date, timedelta

import imapclient

from bot.rules import RuleSet
from connectors.base import Observation
from connectors.imap_session import keyword
from connectors.mail import _message_id

WATCH_DAYS = 30  # mail filed longer ago than this is not looked at again
_BATCH = 500
_HEADER = "BODY[HEADER.FIELDS (MESSAGE-ID)]"


def watched_folders(rules: RuleSet, inbox: str) -> dict[str, str | None]:
    """Folder -> the department deskbot files into it (None: the review folder, where nobody decided yet)."""
    folders: dict[str, str | None] = {route.folder: dept for dept, route in rules.departments.items() if route.folder}
    if rules.triage.review_folder:
        folders.setdefault(rules.triage.review_folder, None)
    folders.pop(inbox, None)
    return folders


def scan_folders(client: imapclient.IMAPClient, *, source: str, rules: RuleSet, inbox: str, processed: str,
                 today: date) -> Iterator[Observation]:
    """Every processed mail of the last WATCH_DAYS in the department and review folders, as an Observation."""
    departments = {keyword("dept", name): name for name in rules.departments}
    priorities = {keyword("prio", name): name for name in rules.priorities}
    since = today - timedelta(days=WATCH_DAYS)
    for folder, department in sorted(watched_folders(rules, inbox).items()):
        if not client.folder_exists(folder):
            continue
        client.select_folder(folder, readonly=True)
        uids = sorted(client.search(["KEYWORD", processed, "SINCE", since]))
        for start in range(0, len(uids), _BATCH):
            for data in client.fetch(uids[start:start + _BATCH], ["FLAGS", f"BODY.PEEK[{_HEADER[5:]}"]).values():
                flags = [f.decode(errors="replace") if isinstance(f, bytes) else str(f) for f in data.get(b"FLAGS", ())]
                message_id = _message_id(email.message_from_bytes(data.get(_HEADER.encode(), b"")))
                if message_id:
                    yield _observation(source, message_id, folder_department=department, flags=flags,
                                       departments=departments, priorities=priorities)


def _observation(source: str, message_id: str, *, folder_department: str | None, flags: list[str],
                 departments: dict[str, str], priorities: dict[str, str]) -> Observation:
    """The folder is the strongest signal (an agent moved the mail); a single department keyword the next."""
    named = [departments[f] for f in flags if f in departments]
    levels = [priorities[f] for f in flags if f in priorities]
    signals = ([("imap-folder", folder_department)] if folder_department else []) + \
        ([("imap-keyword", named[0])] if len(named) == 1 else [])
    return Observation(source=source, key="", message_id=message_id, departments=tuple(signals),
                       priority=levels[0] if len(levels) == 1 else None, solved="\\Answered" in flags, at=None,
                       channel="imap-keyword")
