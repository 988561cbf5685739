"""Exact per-word contributions of a linear model's score, so a person can see why a ticket went where."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import scipy.sparse as sp

from bot.models import Term
from classifier.features import Analysis, char_terms_of_word
from classifier.text import PLACEHOLDERS

TOP_TERMS = 8


def linear_weights(estimator: object) -> np.ndarray:
    """Weight matrix (n_classes x n_features) of a linear classifier, calibrated or not."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if calibrated is not None:
        coefs = [np.asarray(c.estimator.coef_) for c in calibrated]
        coef = np.mean(coefs, axis=0)  # averaging the folds' linear models is itself linear
    else:
        coef = np.asarray(estimator.coef_)
    if coef.shape[0] == 1:  # binary: sklearn keeps only the positive class's row
        coef = np.vstack([-coef[0], coef[0]])
    return coef


def contrast_weights(coef: np.ndarray) -> np.ndarray:
    """Each class's weights minus the class average: what pushes towards it rather than the others."""
    return (coef - coef.mean(axis=0, keepdims=True)).astype(np.float32)


def word_participations(doc: Analysis, word_index: dict[str, int],
                        char_index: dict[str, int]) -> list[tuple[str, int]]:
    """Every (word, feature column) pair: which words each active feature came from."""
    pairs: list[tuple[str, int]] = []
    low, high = doc.word_ngrams
    stems, words = doc.stems, doc.words
    for n in range(low, high + 1):
        for i in range(len(stems) - n + 1):
            column = word_index.get(" ".join(stems[i:i + n]))
            if column is not None:
                pairs.extend((words[j], column) for j in range(i, i + n))
    char_low, char_high = doc.char_ngrams
    for word, count in Counter(words).items():
        for gram in char_terms_of_word(word, char_low, char_high):
            column = char_index.get(gram)
            if column is not None:
                pairs.extend([(word, column)] * count)
    return pairs


def top_terms(doc: Analysis, row: sp.csr_matrix, weights: np.ndarray, word_index: dict[str, int],
              char_index: dict[str, int], *, limit: int = TOP_TERMS) -> tuple[Term, ...]:
    """Words whose features raised the class score most, largest first.

    Each feature's contribution (value x weight) is shared among the words it came from, in
    proportion to how often each produced it, so the word scores add up exactly to the score
    of all word-derived features.
    """
    contribution = dict(zip(row.indices.tolist(), (row.data * weights[row.indices]).tolist()))
    pairs = word_participations(doc, word_index, char_index)
    share = Counter(column for _, column in pairs)
    scores: dict[str, float] = defaultdict(float)
    for word, column in pairs:
        scores[word] += contribution.get(column, 0.0) / share[column]
    ranked = sorted(((s, w) for w, s in scores.items() if s > 0 and w not in PLACEHOLDERS), reverse=True)
    return tuple(Term(word, round(score, 6)) for score, word in ranked[:limit])
