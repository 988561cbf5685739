"""Exact per-word contributions of a linear model's score, so a person can see why a ticket went where."""

from __future__ import annotations

import numpy as np
from bot.models import Term
from classifier.encoding import Encoded
from classifier.stopwords import FUNCTION_WORDS
from classifier.text import PLACEHOLDERS
from classifier.wordtable import WordTable

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


def block_weights(weights: np.ndarray, offsets: list[int]) -> list[np.ndarray]:
    """Per feature block, its (features x classes) weights, contiguous: sliced once, not per call."""
    return [np.ascontiguousarray(weights[:, start:stop].T) for start, stop in zip(offsets, offsets[1:])]


def pair_scores(encoded: Encoded, classes: np.ndarray, weights: list[np.ndarray]) -> np.ndarray:
    """Each (ticket, distinct word) pair's share of the ticket's score for its class.

    Word n-gram features are split equally among the words of each occurrence; char n-gram
    features are sums over words by construction. So a ticket's word scores add up exactly to the
    score of all its word-derived features; only the language term belongs to no word.
    """
    table = encoded.table
    scores = np.zeros(len(table.pair_doc))
    for block, own in zip(encoded.blocks, weights):
        if not len(block.pairs):
            continue
        docs = table.pair_doc[block.pairs]
        if block.words is None:
            columns = block.matrix.indices[block.entry]
            contribution = block.matrix.data[block.entry] * own[columns, classes[docs]] * block.share
        else:
            per_word = np.asarray(block.words @ own)  # each distinct word's score for every class
            contribution = block.share * per_word[block.entry, classes[docs]]
        scores += np.bincount(block.pairs, weights=contribution, minlength=len(scores))
    return scores


def top_terms(table: WordTable, scores: np.ndarray, n_docs: int, *,
              limit: int = TOP_TERMS) -> list[tuple[Term, ...]]:
    """Per ticket, the words that raised its class score most, largest first.

    Placeholders and function words ("my", "ihr") are left out: their scores are real, but they tell
    an agent nothing about why the ticket went where it did.
    """
    hidden = PLACEHOLDERS | FUNCTION_WORDS
    placeholder = np.fromiter((w in hidden for w in table.words), dtype=bool, count=len(table.words))
    placeholder = placeholder[table.pair_word]
    candidates = np.flatnonzero((scores > 0) & ~placeholder)
    order = candidates[np.lexsort((-scores[candidates], table.pair_doc[candidates]))]
    docs = table.pair_doc[order]
    rank = np.arange(len(order)) - np.searchsorted(docs, docs, side="left")
    chosen: list[list[Term]] = [[] for _ in range(n_docs)]
    for pair in order[rank < limit].tolist():
        chosen[table.pair_doc[pair]].append(Term(table.words[table.pair_word[pair]], round(float(scores[pair]), 6)))
    return [tuple(terms) for terms in chosen]


def explain_many(encoded: Encoded, classes: np.ndarray, weights: list[np.ndarray]) -> list[tuple[Term, ...]]:
    """Top terms of each ticket of a batch towards the class chosen for it (weights: block_weights())."""
    return top_terms(encoded.table, pair_scores(encoded, classes, weights), len(classes))
