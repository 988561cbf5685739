"""Turn ticket texts into one sparse matrix: stemmed word n-grams plus character n-grams of each word."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from classifier.text import PLACEHOLDERS, detect_language, normalise, stem_tokens, tokenise

LANGUAGE_PREFIX = "lang="


@dataclass(frozen=True, slots=True)
class Analysis:
    """What text preparation learns of one ticket; computed once, used by features and explanations."""

    language: str
    words: tuple[str, ...]  # normalised surface words, in order
    stems: tuple[str, ...]  # one per word
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    language_feature: bool = True


def analyse(text: str, *, word_ngrams: tuple[int, int] = (1, 2), char_ngrams: tuple[int, int] = (2, 5),
            language_feature: bool = True) -> Analysis:
    """Normalise, detect the language, tokenise and stem one text."""
    clean = normalise(text)
    language = detect_language(clean)
    words = tuple(tokenise(clean))
    return Analysis(language, words, tuple(stem_tokens(list(words), language)),
                    word_ngrams, char_ngrams, language_feature)


def word_terms(doc: Analysis) -> list[str]:
    """Stemmed word n-grams of a ticket, plus its language as one extra term."""
    low, high = doc.word_ngrams
    stems = doc.stems
    terms = list(stems) if low <= 1 else []
    for n in range(max(low, 2), high + 1):
        terms.extend(" ".join(stems[i:i + n]) for i in range(len(stems) - n + 1))
    if doc.language_feature:
        terms.append(LANGUAGE_PREFIX + doc.language)
    return terms


@functools.lru_cache(maxsize=500_000)
def char_terms_of_word(word: str, low: int, high: int) -> tuple[str, ...]:
    """Character n-grams of one space-padded word (like char_wb); German compounds share them."""
    if word in PLACEHOLDERS:
        return ()
    padded = f" {word} "
    return tuple(padded[i:i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1))


def char_terms(doc: Analysis) -> list[str]:
    """Character n-grams of every word of a ticket, cached per distinct word."""
    low, high = doc.char_ngrams
    terms: list[str] = []
    for word in doc.words:
        terms.extend(char_terms_of_word(word, low, high))
    return terms


class TicketFeatures(TransformerMixin, BaseEstimator):
    """TF-IDF of stemmed word n-grams and of per-word character n-grams, side by side."""

    def __init__(self, *, word_ngrams: tuple[int, int] = (1, 2), char_ngrams: tuple[int, int] = (2, 5),
                 min_df: int = 2, max_word_features: int | None = None,
                 max_char_features: int | None = None, char_weight: float = 1.0,
                 language_feature: bool = True, sublinear_tf: bool = True) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.char_weight = char_weight
        self.language_feature = language_feature
        self.sublinear_tf = sublinear_tf

    def analyse_many(self, texts: Sequence[str]) -> list[Analysis]:
        """Text preparation with this transformer's n-gram settings."""
        return [analyse(text, word_ngrams=tuple(self.word_ngrams), char_ngrams=tuple(self.char_ngrams),
                        language_feature=self.language_feature) for text in texts]

    def _vectoriser(self, analyzer: object, max_features: int | None, n_docs: int) -> TfidfVectorizer:
        """One TF-IDF block; min_df falls back to 1 on tiny corpora so they still get a vocabulary."""
        min_df = self.min_df if n_docs >= 10 * self.min_df else 1
        return TfidfVectorizer(analyzer=analyzer, min_df=min_df, max_features=max_features,
                               sublinear_tf=self.sublinear_tf, dtype=np.float32)

    def fit(self, X: Sequence[str], y: object = None) -> TicketFeatures:
        """Learn both vocabularies and their IDF weights."""
        self.fit_analysed(self.analyse_many(X))
        return self

    def fit_analysed(self, docs: list[Analysis]) -> TicketFeatures:
        """fit() on tickets already analysed (saves a second pass of text preparation)."""
        self.words_ = self._vectoriser(word_terms, self.max_word_features, len(docs)).fit(docs)
        self.chars_ = self._vectoriser(char_terms, self.max_char_features, len(docs)).fit(docs)
        self.n_word_features_ = len(self.words_.vocabulary_)
        return self

    def transform(self, X: Sequence[str]) -> sp.csr_matrix:
        """Feature matrix of raw texts."""
        return self.transform_analysed(self.analyse_many(X))

    def transform_analysed(self, docs: list[Analysis]) -> sp.csr_matrix:
        """Feature matrix of analysed tickets: word block, then weighted char block."""
        check_is_fitted(self, "words_")
        words = self.words_.transform(docs)
        chars = self.chars_.transform(docs)
        if self.char_weight != 1.0:
            chars = chars * np.float32(self.char_weight)
        return sp.hstack([words, chars], format="csr", dtype=np.float32)

    def feature_index(self) -> tuple[dict[str, int], dict[str, int]]:
        """Column of each word term and of each char term (char columns already offset)."""
        check_is_fitted(self, "words_")
        offset = self.n_word_features_
        return self.words_.vocabulary_, {t: i + offset for t, i in self.chars_.vocabulary_.items()}
