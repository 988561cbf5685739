"""Which folder names an IMAP server will accept, judged before deskbot needs the folder.

RFC 3501 5.1: a name is split into levels by the server's hierarchy separator; `*` and `%` are LIST
wildcards and cannot be used in names. Dovecot's default (Maildir++) layout uses `.` as separator and
refuses `/` in a name, and refuses names beginning with `~` (https://doc.dovecot.org/main/core/config/
namespaces.html); a level may not be empty (`Sales..Leads`, a leading or trailing separator).
"""

from __future__ import annotations


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
