"""One TF-IDF block over the terms of one part of a ticket, fast because word-level terms are cached."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from classifier.text import PLACEHOLDERS

KINDS = ("words", "chars", "subject", "opening")
CACHE_LIMIT = 300_000  # distinct words kept per block; cleared when full (mail has a long tail)


class Doc(Protocol):
    """What a block reads of an analysed ticket (classifier.features.Analysis)."""

    language: str
    words: tuple[str, ...]
    stems: tuple[str, ...]
    subject_words: int


@functools.lru_cache(maxsize=500_000)
def char_grams(word: str, low: int, high: int) -> tuple[str, ...]:
    """Character n-grams of one space-padded word (like char_wb): German compounds share them."""
    if word in PLACEHOLDERS:
        return ()
    padded = f" {word} "
    return tuple(padded[i:i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1))


class TermBlock(BaseEstimator):
    """TF-IDF of one kind of term: stemmed word n-grams, or char n-grams of all/subject/opening words.

    `kind` is a name, not a function, so a saved model holds no code reference.
    """

    def __init__(self, *, kind: str = "words", ngrams: tuple[int, int] = (1, 2), min_df: int = 2,
                 max_features: int | None = None, weight: float = 1.0, opening_words: int = 30,
                 language_feature: bool = True, sublinear_tf: bool = True) -> None:
        self.kind = kind
        self.ngrams = ngrams
        self.min_df = min_df
        self.max_features = max_features
        self.weight = weight
        self.opening_words = opening_words
        self.language_feature = language_feature
        self.sublinear_tf = sublinear_tf

    def unit_words(self, doc: Doc) -> Sequence[str]:
        """The words whose char n-grams this block counts."""
        if self.kind == "subject":
            return doc.words[:doc.subject_words]
        if self.kind == "opening":
            return doc.words[doc.subject_words:doc.subject_words + self.opening_words]
        return doc.words

    def word_terms(self, doc: Doc) -> list[str]:
        """Stemmed word n-grams of the whole ticket, plus its language as one extra term."""
        low, high = self.ngrams
        stems = doc.stems
        terms = list(stems) if low <= 1 else []
        for n in range(max(low, 2), high + 1):
            terms.extend(" ".join(stems[i:i + n]) for i in range(len(stems) - n + 1))
        if self.language_feature:
            terms.append("lang=" + doc.language)
        return terms

    def terms(self, doc: Doc) -> list[str]:
        """Every term occurrence of this block in one ticket."""
        if self.kind == "words":
            return self.word_terms(doc)
        low, high = self.ngrams
        return [gram for word in self.unit_words(doc) for gram in char_grams(word, low, high)]

    def fit(self, docs: Sequence[Doc], y: object = None) -> TermBlock:
        """Choose the vocabulary (min_df, then the most frequent) and learn smoothed IDF weights."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(set(self.terms(doc)))
        min_df = self.min_df if len(docs) >= 10 * self.min_df else 1  # tiny corpora keep every term
        kept = sorted((t for t, n in df.items() if n >= min_df), key=lambda t: (-df[t], t))
        kept = sorted(kept[:self.max_features] if self.max_features else kept)
        self.vocabulary_ = {term: i for i, term in enumerate(kept)}
        counts = np.array([df[t] for t in kept], dtype=np.float64)
        self.idf_ = (np.log((1 + len(docs)) / (1 + counts)) + 1).astype(np.float32)
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Leave the per-word cache out of saved models."""
        state = super().__getstate__()
        state.pop("_cache", None)
        return state

    def _word_columns(self, word: str) -> np.ndarray:
        """Columns of one word's char n-grams, cached: most words recur, so this is a dict hit."""
        cache: dict[str, np.ndarray] | None = self.__dict__.get("_cache")
        if cache is None or len(cache) > CACHE_LIMIT:
            cache = self.__dict__["_cache"] = {}
        columns = cache.get(word)
        if columns is None:
            vocabulary = self.vocabulary_
            low, high = self.ngrams
            found = [vocabulary[g] for g in char_grams(word, low, high) if g in vocabulary]
            columns = cache[word] = np.array(found, dtype=np.int32)
        return columns

    def doc_columns(self, doc: Doc) -> np.ndarray:
        """Column of every in-vocabulary term occurrence of one ticket."""
        if self.kind == "words":
            vocabulary = self.vocabulary_
            return np.array([vocabulary[t] for t in self.word_terms(doc) if t in vocabulary], dtype=np.int32)
        parts = [self._word_columns(word) for word in self.unit_words(doc)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def transform(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        """Sublinear TF x IDF, L2-normalised per ticket, times the block weight."""
        check_is_fitted(self, "vocabulary_")
        columns = [self.doc_columns(doc) for doc in docs]
        lengths = np.fromiter((len(c) for c in columns), dtype=np.int64, count=len(columns))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int32)
        matrix = sp.csr_matrix((np.ones(len(flat), dtype=np.float32), flat, indptr),
                               shape=(len(docs), len(self.vocabulary_)))
        matrix.sum_duplicates()  # counts per term
        if self.sublinear_tf:
            np.log(matrix.data, out=matrix.data)
            matrix.data += 1
        matrix.data *= self.idf_[matrix.indices]
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        scale = np.repeat((self.weight / norms).astype(np.float32), np.diff(matrix.indptr))
        matrix.data *= scale
        return matrix

    def participations(self, doc: Doc) -> list[tuple[str, int]]:
        """(word, column) for every term occurrence: which words each feature of a ticket came from."""
        if self.kind != "words":
            return [(word, int(c)) for word in self.unit_words(doc) for c in self._word_columns(word)]
        vocabulary = self.vocabulary_
        low, high = self.ngrams
        pairs: list[tuple[str, int]] = []
        for n in range(low, high + 1):
            for i in range(len(doc.stems) - n + 1):
                column = vocabulary.get(" ".join(doc.stems[i:i + n]))
                if column is not None:
                    pairs.extend((doc.words[j], column) for j in range(i, i + n))
        return pairs
