"""Keyword matching on whole words and their stems, in the ticket's language.

A keyword is split into words the way the ticket is, and each word is reduced to its Snowball stem in
the ticket's language (classifier/text.py: the classifier's own stemmer, no network), so "ausfall"
matches "Ausfälle" and "outage" matches "outages", while "down" never matches "download". A keyword of
several words is a phrase: its stems must follow each other in the ticket.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from classifier.text import MAX_CHARS, stemmer_for

_WORD = re.compile(r"[^\W_]+")  # a run of characters for which str.isalnum() holds
_PUNCTUATION = ".,;:!?()[]\"'"
_LATIN1_WORDS = bytes(c if chr(c).isalnum() else 0x20 for c in range(256))  # a bytes.translate table
_TYPOGRAPHIC = "\u2019\u2018\u201c\u201d\u201e\u2013\u2014\u2026\u2022\u20ac\u200b"  # ’‘“”„–—…•€ and zero width space
assert not any(mark.isalnum() for mark in _TYPOGRAPHIC)


def words(text: str) -> list[str]:
    """The lowercase words (letters and digits) of a text, NFKC-normalised: _WORD.findall of it.

    Most mail is Latin-1 once its typographic punctuation is set aside: there every character that is not a
    letter or digit becomes a space in one bytes.translate, and str.split finds the words, which costs half
    of reading the text piece by piece in Python. Other text is read piece by piece (_pieces).
    """
    text = text[:MAX_CHARS]
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    low = text.lower()
    try:
        raw = low.encode("latin-1")
    except UnicodeEncodeError:
        for mark in _TYPOGRAPHIC:
            if mark in low:
                low = low.replace(mark, " ")  # not a letter or digit: a space in its place splits the same
        try:
            raw = low.encode("latin-1")
        except UnicodeEncodeError:
            return _pieces(low)
    return raw.translate(_LATIN1_WORDS).decode("latin-1").split()


def _pieces(low: str) -> list[str]:
    """_WORD.findall(low), split at white space first (no white space is alphanumeric, so no word spans
    it): most pieces are a word, or a word with punctuation around it, which str methods say faster than
    the regex engine."""
    found: list[str] = []
    for piece in low.split():
        if piece.isalnum():
            found.append(piece)
            continue
        piece = piece.strip(_PUNCTUATION)
        if piece.isalnum():
            found.append(piece)
        elif piece:
            found += _WORD.findall(piece)
    return found


class KeywordSet:
    """One condition's keywords, stemmed once per language: all one-word keywords are a single set test."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self.keywords = tuple(keywords)
        self._by_language: dict[str, tuple[frozenset[str], list[tuple[frozenset[str], str]]]] = {}

    def prepared(self, language: str) -> tuple[frozenset[str], list[tuple[frozenset[str], str]]]:
        found = self._by_language.get(language)
        if found is None:
            singles: set[str] = set()
            phrases = []
            for keyword in self.keywords:
                stems, phrase = keyword_stems(keyword, language)
                if phrase is None:
                    singles |= stems
                else:
                    phrases.append((stems, phrase))
            found = self._by_language[language] = (frozenset(singles), phrases)
        return found

    def matches(self, text: Stemmed) -> bool:
        """Whether any keyword is in the text (whole words, by stem; phrases in order)."""
        singles, phrases = self._by_language.get(text.language) or self.prepared(text.language)
        if not singles.isdisjoint(text.stems):
            return True
        for stems, phrase in phrases:
            if stems <= text.stems and phrase in text.padded:
                return True
        return False

    def in_text(self, facts: Any) -> bool:
        """The if_keywords test: subject or body."""
        return self.matches(facts.text)

    def in_subject(self, facts: Any) -> bool:
        """The if_subject_keywords test."""
        return self.matches(facts.subject)

    def first(self, text: Stemmed) -> str | None:
        """The first keyword (in the file's order) found in the text, or None: for saying why."""
        return text.has_any(self.keywords)


class Stemmed:
    """A text as its set of stems (a one-word keyword is one lookup) and, built only when a phrase's stems are
    all there, as a string of stems between spaces (a phrase matches as " stem stem " in it)."""

    def __init__(self, text: str, language: str) -> None:
        self.language = language
        self._words = words(text)
        self._stem = stemmer_for(language)
        self.stems = frozenset(map(self._stem, self._words))  # a repeated word is one more dict lookup

    @functools.cached_property
    def padded(self) -> str:
        return " " + " ".join(map(self._stem, self._words)) + " "

    def has_any(self, keywords: Iterable[str]) -> str | None:
        """The first keyword found (as whole words, by stem), or None."""
        for keyword in keywords:
            stems, phrase = keyword_stems(keyword, self.language)
            if stems and self.stems.issuperset(stems) and (phrase is None or phrase in self.padded):
                return keyword
        return None


@functools.lru_cache(maxsize=65536)
def keyword_stems(keyword: str, language: str) -> tuple[frozenset[str], str | None]:
    """The keyword's stems in `language`, and for a phrase its stems padded like Stemmed.padded."""
    found = list(map(stemmer_for(language), words(keyword)))
    return frozenset(found), (" " + " ".join(found) + " " if len(found) > 1 else None)
