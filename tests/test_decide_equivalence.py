"""The faster work of decide() (issue 19, Measured) answers exactly as the plain algorithms it replaced.

Each reference below is the earlier code, kept verbatim; the new code must agree with it on the shipped
starter corpus, the mail fixtures' texts and generated texts.
"""

from __future__ import annotations

import csv
import re
import sys
import unicodedata
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ack import loops, thanks
from bot.models import Ticket
from bot.rules import BusinessHoursSpec
from bot.rules.keywords import words
from classifier.starter import corpus_files, shipped_corpus
from bot.sla import BusinessHours, add_business_hours
from classifier.text import MAX_CHARS
from tests.test_loops import CUSTOMER, THANKS

BOUNDED = settings(max_examples=300, deadline=None, derandomize=True, database=None)
_OLD_WORD = re.compile(r"[^\W_]+")
_TY = re.compile(r"\bty\b")


def old_words(text: str) -> list[str]:
    text = text[:MAX_CHARS]
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _OLD_WORD.findall(text.lower())


def old_may_thank(text: str) -> bool:
    low = text.lower()
    return any(part in low for part in thanks._THANKS_PARTS) or _TY.search(low) is not None


def old_own_words(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith(">")]
    first = thanks._WORD.findall(lines[0].lower()) if lines else []
    if first and first[0] in thanks._GREETING and len(first) <= 6 and not thanks._THANKS.intersection(first):
        lines = lines[1:]
    for index, line in enumerate(lines):
        if thanks._CLOSING.match(line):
            return "\n".join(lines[:index])
    last_thanks = max((i for i, line in enumerate(lines)
                       if thanks._THANKS.intersection(thanks._WORD.findall(line.lower()))), default=-1)
    tail = lines[last_thanks + 1:]
    if 0 < len(tail) <= 5 and all(thanks._SIGNATURE_LINE.match(line) for line in tail):
        return "\n".join(lines[:last_thanks + 1])
    return "\n".join(lines)


def old_is_thanks_only(ticket: Ticket) -> bool:
    if not old_may_thank(ticket.subject) and not old_may_thank(ticket.text or ticket.body):
        return False
    text = old_own_words(ticket.text or ticket.body)
    if not ticket.references and not thanks._REPLY_PREFIX.match(ticket.subject):
        text += "\n" + ticket.subject
    else:
        text = text or thanks._REPLY_PREFIX.sub("", ticket.subject)
    if "?" in text or "¿" in text:
        return False
    names = {w for w in thanks._WORD.findall(f"{ticket.sender_name} {ticket.sender.split('@')[0]}".lower())}
    found = thanks._WORD.findall(text.lower())
    if not found or len(found) > thanks._MAX_WORDS or not thanks._THANKS.intersection(found):
        return False
    return all(w in thanks._THANKS or w in thanks._PRAISE or w in thanks._GREETING or w in names for w in found)


def _corpus_rows() -> list[tuple[str, str]]:
    rows = []
    for file in corpus_files(shipped_corpus()):
        with file.open(encoding="utf-8-sig", newline="") as handle:
            rows += [(row.get("subject") or "", row["body"]) for row in csv.DictReader(handle) if row.get("body")]
    return rows


CORPUS = _corpus_rows()
SUBJECTS = ["Thank you!", "Re: [SUP-000042] We received your request", "Danke", "Question?", "Order 4411",
            "AW: Rechnung", ""]
TEXTS = [text for text, _ in THANKS] + ["Thanks Anna", "Thanks\n> old question?\nAnna", "ty!", "security fix"]


def test_no_white_space_is_alphanumeric_and_the_word_pattern_is_isalnum() -> None:
    chars = [chr(n) for n in range(sys.maxunicode + 1) if not 0xD800 <= n <= 0xDFFF]
    assert not [c for c in chars if c.isalnum() and len(f"a{c}b".split()) > 1]
    joined = "".join(chars)
    assert "".join(_OLD_WORD.findall(joined)) == "".join(c for c in chars if c.isalnum())


def test_words_agree_on_the_corpus() -> None:
    for subject, body in CORPUS:
        text = f"{subject}\n{body}"
        assert words(text) == old_words(text)


_SAMPLES = [*"ab Ä1_.,;:!?()[]\"'-\n\t\u00a0\u2003ﬁ½²", "é", "ß", "İ", "Σ"]
# Latin-1's own letters, digits, signs and spaces, the typographic marks words() sets aside, and a letter beyond both
_LATIN1 = [*"ªµºÿ×÷¹¼\x85\xad\x1c¿«»", *"\u2019\u2018\u201c\u201d\u201e\u2013\u2014\u2026\u2022\u20ac\u200b", "œ", "ő"]


@BOUNDED
@given(st.text(alphabet=st.sampled_from(_SAMPLES), max_size=80)
       | st.text(alphabet=st.sampled_from(_SAMPLES[:12] + _LATIN1), max_size=80)
       | st.text(max_size=80))
def test_words_agree_on_generated_text(text: str) -> None:
    assert words(text) == old_words(text)


def _tickets(subject: str, text: str) -> list[Ticket]:
    new = replace(CUSTOMER, subject=subject, text=text, body=text, references=())
    return [new, replace(new, references=("<ack.42@deskbot.test>",)), replace(new, sender_name="Anna Lee")]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_thanks_only_agrees_on_fixture_texts(subject: str) -> None:
    for text in TEXTS:
        for ticket in _tickets(subject, text):
            assert thanks.is_thanks_only(ticket) == old_is_thanks_only(ticket), (subject, text)


def test_thanks_only_agrees_on_the_corpus() -> None:
    for subject, body in CORPUS:
        for ticket in _tickets(subject, body) + _tickets("Thanks!", body):
            assert thanks.is_thanks_only(ticket) == old_is_thanks_only(ticket)


_VOCABULARY = sorted(thanks._THANKS | thanks._GREETING) + ["but", "order", "anna", "lee", "?", "¿", "!", ",", "\n",
                                                           "> quoted", "Kind regards", "Cheers", "ty", "security"]


@BOUNDED
@given(st.lists(st.sampled_from(_VOCABULARY), max_size=40), st.lists(st.sampled_from(_VOCABULARY), max_size=6),
       st.booleans())
def test_thanks_only_agrees_on_generated_mail(body: list[str], subject: list[str], reply: bool) -> None:
    ticket = replace(CUSTOMER, subject=("Re: " if reply else "") + " ".join(subject), text=" ".join(body),
                     body=" ".join(body), sender_name="Anna Lee")
    assert thanks.is_thanks_only(ticket) == old_is_thanks_only(ticket)


_LINES = ["Thanks!", "Hi Sarah,", "thank you so much", "Anna Lee", "Acme GmbH", "Phone +49 30 1234567", "> quoted",
          "Kind regards,", "it still fails", "Danke", "", "   ", "-- ", "Head of Operations | Acme"]


@BOUNDED
@given(st.lists(st.sampled_from(_LINES), max_size=14))
def test_own_words_agree_on_generated_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert thanks._own_words(text) == old_own_words(text)


def test_own_words_agree_on_the_corpus() -> None:
    for _, body in CORPUS:
        assert thanks._own_words(body) == old_own_words(body)


def test_without_headers_no_header_check_finds_anything() -> None:
    """automated_reason() and spam_verdict() skip their header checks for a mail without headers."""
    bare = replace(CUSTOMER, headers=(), content_types=())
    h = loops._Headers(bare)
    for check in (loops._auto_submitted, loops._report, loops._auto_reply_headers, loops._list_mail):
        assert check(bare, h, frozenset({"support@deskbot.test"})) is None
    strict = loops.SpamThresholds(spamassassin_score=0.0, rspamd_score=0.0, scl=-1)
    for spam_check in (loops._spamassassin, loops._rspamd, loops._microsoft):
        assert spam_check(h, strict) is None


# --- due times: add_business_hours() against the day-by-day loop it replaced ------------------------------------

def old_add_business_hours(start: datetime, hours: float, calendar: BusinessHours) -> datetime:
    if calendar.always:
        return (start.astimezone(timezone.utc) + timedelta(hours=hours)).astimezone(calendar.zone)
    current = start.astimezone(calendar.zone)
    left = timedelta(hours=hours)
    for _ in range(3 * 366):
        day = current.date()
        if day.weekday() in calendar.weekdays and not (calendar.holidays is not None and day in calendar.holidays):
            current = max(current, calendar.opening(day))
            available = calendar.closing(day).astimezone(timezone.utc) - current.astimezone(timezone.utc)
            if available > timedelta(0):
                if left <= available:
                    return (current.astimezone(timezone.utc) + left).astimezone(calendar.zone)
                left -= available
        current = calendar.opening(day + timedelta(days=1))
    raise ValueError("no working time")


CALENDARS = [BusinessHours.from_spec(spec) for spec in (
    BusinessHoursSpec(timezone="Europe/Berlin", start=time(9), end=time(17), holidays="DE", holiday_subdivision="BE"),
    BusinessHoursSpec(timezone="America/New_York", start=time(8, 30), end=time(18), days=["mon", "wed", "sat"]),
    BusinessHoursSpec(timezone="Europe/Berlin", start=time(2, 30), end=time(3, 15)),  # inside the DST switches
    BusinessHoursSpec(timezone="Australia/Lord_Howe", start=time(0), end=time(23, 59), holidays="AU"),
)]


@BOUNDED
@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31),
                    timezones=st.sampled_from([timezone.utc, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")])),
       st.floats(min_value=0, max_value=200, allow_nan=False), st.sampled_from(range(len(CALENDARS))))
def test_due_times_agree(start: datetime, hours: float, which: int) -> None:
    calendar = CALENDARS[which]
    due = add_business_hours(start, hours, calendar)
    expected = old_add_business_hours(start, hours, calendar)
    assert (due, due.utcoffset(), due.fold) == (expected, expected.utcoffset(), expected.fold)
