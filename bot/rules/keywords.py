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

from classifier.text import MAX_CHARS, stemmer_for

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The lowercase words (letters and digits) of a text, NFKC-normalised."""
    return _WORD.findall(unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower())


class Stemmed:
    """A text as a string of its stems between spaces: a phrase matches as " stem stem " in it."""

    def __init__(self, text: str, language: str) -> None:
        self.language = language
        stem = stemmer_for(language)
        self.padded = " " + " ".join(stem(word) for word in words(text)) + " "

    def has_any(self, keywords: Iterable[str]) -> str | None:
        """The first keyword found (as whole words, by stem), or None."""
        for keyword in keywords:
            stems = keyword_stems(keyword, self.language)
            if stems and stems in self.padded:
                return keyword
        return None


@functools.lru_cache(maxsize=65536)
def keyword_stems(keyword: str, language: str) -> str:
    """The keyword's stems in `language`, padded like Stemmed.padded ('' when it has no word at all)."""
    stem = stemmer_for(language)
    found = [stem(word) for word in words(keyword)]
    return " " + " ".join(found) + " " if found else ""
