"""The TermBlock estimator: fitting a block's vocabulary and IDF weights (prediction is classifier/blocks.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from classifier import concepts
from classifier.blocks import (  # noqa: F401 - re-exported: saved models and callers name them here
    CACHE_LIMIT, KINDS, LANGUAGE_PREFIX, SEPARATOR, WORD_KINDS, Block, FittedBlock, Occurrences, _ngram_keys,
)
from classifier.wordforms import char_grams
from classifier.wordtable import Doc


class TermBlock(FittedBlock, BaseEstimator):
    """TF-IDF of one kind of term: stemmed word n-grams, word prefixes, concepts, or char n-grams of
    all/subject/opening words.

    Char blocks damp repeats per word (1 + log count of the word) rather than per n-gram, which
    keeps every feature a sum over words: cheap to compute and exactly attributable to words.
    `kind` is a name, not a function, so a saved model holds no code reference.
    """

    def terms(self, doc: Doc) -> list[str]:
        """Every term occurrence of this block in one ticket (as strings, for fitting)."""
        low, high = self.ngrams
        if self.kind == "concepts":
            return [concept for word in doc.words for concept in self.concepts_of(word)]
        if self.kind in WORD_KINDS:
            extra = [LANGUAGE_PREFIX + doc.language] if self.language_feature else []
            units = self.units(doc)
            return [key for n in range(low, high + 1) for key in _ngram_keys(units, n)] + extra
        start, stop = self.word_range(doc)
        return [gram for word in doc.words[start:stop] for gram in char_grams(word, low, high)]

    def fit(self, docs: Sequence[Doc], y: object = None) -> TermBlock:
        """Choose the vocabulary (min_df, then the most frequent) and learn smoothed IDF weights."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind == "concepts":
            self.lexicon_ = concepts.serialise(concepts.shipped_lexicon())
            self.__dict__.pop("_lexicon", None)
            self.__dict__.pop("_concepts", None)
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(set(self.terms(doc)))
        min_df = self.min_df if len(docs) >= 10 * self.min_df else 1  # tiny corpora keep every term
        kept = sorted((t for t, n in df.items() if n >= min_df), key=lambda t: (-df[t], t))
        kept = sorted(kept[:self.max_features] if self.max_features else kept)
        # One string, not a dict: skops writes a dict of 50,000 ints as 80 MB of JSON.
        self.terms_ = SEPARATOR.join(kept)
        for derived in ("_vocabulary", "_ngrams", "_cache"):
            self.__dict__.pop(derived, None)
        counts = np.array([df[t] for t in kept], dtype=np.float64)
        self.idf_ = (np.log((1 + len(docs)) / (1 + counts)) + 1).astype(np.float32)
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Leave the derived vocabulary, lexicon and per-word caches out of saved models."""
        state = super().__getstate__()
        for derived in ("_cache", "_vocabulary", "_ngrams", "_lexicon", "_concepts"):
            state.pop(derived, None)
        return state
