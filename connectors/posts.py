"""deskbot's own posts on a helpdesk ticket: posting a note or reply once, finding it again after a lost
answer whatever the helpdesk's HTML-to-text converter made of it, and the flag a person looks for."""

from __future__ import annotations

import re
from collections.abc import Callable

import inscriptis

from connectors.base import FLAG_FAILED, QUARANTINE, SET_ASIDE, Action
from connectors.http import UncertainWrite

FLAG_TAG = "deskbot-failed"  # set aside, failed or quarantined: a person should look (with a private note saying why)
FLAG_KINDS = (SET_ASIDE, FLAG_FAILED, QUARANTINE)
FLAG_NOTES = {SET_ASIDE: "deskbot could not read this ticket and left it alone for a person",
              FLAG_FAILED: "deskbot failed on this ticket for good; a person should handle it",
              QUARANTINE: "deskbot gave up on this ticket after repeated failures; a person should handle it"}


def words(text: str) -> str:
    """Only the words, case-folded: what any two renderings of the same HTML agree on best."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def is_our_reply(shown: str, action: Action) -> bool:
    """Whether a public comment of deskbot's user is this acknowledgement, whatever converter rendered it:
    its reference (every acknowledgement names it), its marker, or its opening words."""
    if action.reference and action.reference in shown or action.marker and action.marker in shown:
        return True
    opening = [" ".join(words(text).split()[:12]) for text in ack_texts(action)]
    return any(o and o in words(shown) for o in opening)


def flag_note(action: Action) -> str:
    """The private note beside the flag tag: what happened and why, for the agent who finds it."""
    reason = f": {action.note}" if action.note else ""
    return f"{FLAG_NOTES.get(action.kind, 'deskbot flagged this ticket')}{reason} [{action.reference or action.marker}]"


def ack_texts(action: Action) -> list[str]:
    """What a posted acknowledgement reads as, in the helpdesk's plain-text view: the text part, and the HTML
    part as text (a custom HTML template need not say word for word what its text twin says)."""
    if action.ack is None:
        return []
    return [action.ack.text] + ([inscriptis.get_text(action.ack.html)] if action.ack.html else [])


def post_once(send: Callable[[], object], verify: Callable[[], bool | None], what: str) -> str:
    """Post a note or reply, never twice: when the answer is lost, look for it before sending again."""
    try:
        send()
        return f"{what} posted"
    except UncertainWrite:
        found = verify()
        if found:
            return f"{what} posted (found after the answer was lost)"
        if found is None:
            raise
    send()
    return f"{what} posted (the first attempt never arrived)"
