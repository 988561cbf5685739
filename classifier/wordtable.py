"""The words of a batch of tickets, numbered once: every block and the explanations read this table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np


class Doc(Protocol):
    """What a block reads of an analysed ticket (classifier.features.Analysis)."""

    language: str
    words: tuple[str, ...]
    stems: tuple[str, ...]
    subject_words: int


class WordTable(NamedTuple):
    """The words of a batch: distinct words, the (ticket, word) pairs, and each position's pair."""

    words: list[str]  # distinct words of the batch
    pair_doc: np.ndarray  # ticket of each (ticket, distinct word) pair
    pair_word: np.ndarray  # index into `words` of each pair
    pair_count: np.ndarray  # how often the pair's word occurs in its ticket
    positions: np.ndarray  # the pair of every word position of the batch, ticket after ticket
    position_doc: np.ndarray  # each position's ticket
    within: np.ndarray  # each position's place in its ticket (0 for its first word)


def word_table(docs: Sequence[Doc]) -> WordTable:
    """Number the distinct words of a batch and the (ticket, word) pairs, in order of first occurrence."""
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(word, len(index)) for doc in docs for word in doc.words), dtype=np.int64)
    lengths = np.fromiter((len(doc.words) for doc in docs), dtype=np.int64, count=len(docs))
    doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    keys = doc_of * max(len(index), 1) + ids
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first)  # tickets are contiguous, so this numbers each ticket's pairs as its words come
    number = np.empty_like(order)
    number[order] = np.arange(len(order))
    within = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return WordTable(list(index), doc_of[first[order]], ids[first[order]], counts[order].astype(np.float64),
                     number[inverse.reshape(-1)], doc_of, within)
