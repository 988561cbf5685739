"""Exact per-word contributions of a linear model's score, so a person can see why a ticket went where."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import scipy.sparse as sp

from bot.models import Term
from classifier.features import Analysis, TicketFeatures
from classifier.text import PLACEHOLDERS

TOP_TERMS = 8


def linear_weights(estimator: object) -> np.ndarray:
    """Weight matrix (n_classes x n_features) of a linear classifier, calibrated or not."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if calibrated is not None:
        coefs = [np.asarray(c.estimator.coef_) for c in calibrated]
        coef = np.mean(coefs, axis=0)  # one model unless ensemble=True; a mean of linear models is linear
    else:
        coef = np.asarray(estimator.coef_)
    if coef.shape[0] == 1:  # binary: sklearn keeps only the positive class's row
        coef = np.vstack([-coef[0], coef[0]])
    return coef


def contrast_weights(coef: np.ndarray) -> np.ndarray:
    """Each class's weights minus the class average: what pushes towards it rather than the others."""
    return (coef - coef.mean(axis=0, keepdims=True)).astype(np.float32)


def top_terms(doc: Analysis, row: sp.csr_matrix, weights: np.ndarray, features: TicketFeatures, *,
              limit: int = TOP_TERMS) -> tuple[Term, ...]:
    """Words whose features raised the class score most, largest first.

    Each feature's contribution (value x weight) is shared among the words it came from, in
    proportion to how often each produced it, so the word scores add up exactly to the score
    of all word-derived features (only the language term belongs to no word).
    """
    contribution = dict(zip(row.indices.tolist(), (row.data * weights[row.indices]).tolist()))
    pairs = features.participations(doc)
    share = Counter(column for _, column in pairs)
    scores: dict[str, float] = defaultdict(float)
    for word, column in pairs:
        scores[word] += contribution.get(column, 0.0) / share[column]
    ranked = sorted(((s, w) for w, s in scores.items() if s > 0 and w not in PLACEHOLDERS), reverse=True)
    return tuple(Term(word, round(score, 6)) for score, word in ranked[:limit])
