"""Forms of one word that other words share: without diacritics, its first letters, its char n-grams."""

from __future__ import annotations

import functools
import unicodedata

from classifier.text import PLACEHOLDERS

# Distinct words remembered: a day of mail has a few thousand, the caches of a daemon that runs for months
# must not grow with the long tail (a word's char n-grams take ~800 bytes).
WORDS_REMEMBERED = 30_000


@functools.lru_cache(maxsize=WORDS_REMEMBERED)
def fold(word: str) -> str:
    """The word without diacritics: 'sécurité', 'seguridad' and 'security' then share more n-grams.

    Sharing across languages is worth it: on v3 each of five languages holds only a fifth of a queue's
    examples, and folding alone raised queue macro-F1 by about 0.005 (bench/classifier.py).
    """
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


@functools.lru_cache(maxsize=WORDS_REMEMBERED)
def prefix(word: str, letters: int) -> str:
    """The word's first letters, folded: a stemmer that works alike in every language ('probl', 'servi')."""
    return fold(word)[:letters]


@functools.lru_cache(maxsize=WORDS_REMEMBERED)
def char_grams(word: str, low: int, high: int) -> tuple[str, ...]:
    """Character n-grams of one space-padded, folded word (like char_wb): German compounds share them."""
    if word in PLACEHOLDERS:
        return ()
    padded = f" {fold(word)} "
    return tuple(padded[i:i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1))
