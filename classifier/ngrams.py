"""Integer keys for the stemmed word n-grams of a vocabulary, so a batch looks them up with numpy.

Building a string per bigram of a batch and looking it up in a dict took as long as the rest of the
words block (bench/classifier.py). Here every vocabulary n-gram is a path in a trie of integers: a
stem's id, then one (parent node, next stem) key per further word. A batch maps each word's stem to
its id once, then walks one level per n with a vectorised search. The columns found are exactly
those of the string lookup.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

JOIN = " "  # how a vocabulary n-gram joins its stems; a stem is a run of letters, never a space


class NgramIndex(NamedTuple):
    """The trie: stem ids (the first level's nodes), the child of each (node, stem) key, each node's column."""

    stem_ids: dict[str, int]
    keys: np.ndarray  # sorted: parent node * len(stem_ids) + stem id
    children: np.ndarray  # the child node of each key
    columns: np.ndarray  # per node: the vocabulary column of the n-gram it spells, or -1 (a prefix only)

    @classmethod
    def build(cls, terms: Iterable[tuple[str, int]]) -> NgramIndex:
        """The index of (n-gram, column) pairs: stems joined by single spaces."""
        paths = [(term.split(JOIN), column) for term, column in terms]
        stem_ids: dict[str, int] = {}
        for stems, _ in paths:
            for stem in stems:
                stem_ids.setdefault(stem, len(stem_ids))
        width = max(len(stem_ids), 1)
        columns = [-1] * len(stem_ids)
        child: dict[int, int] = {}
        for stems, column in paths:
            node = stem_ids[stems[0]]
            for stem in stems[1:]:
                node = child.setdefault(node * width + stem_ids[stem], len(columns))
                if node == len(columns):
                    columns.append(-1)
            columns[node] = column
        keys = np.array(sorted(child), dtype=np.int64)
        children = np.array([child[key] for key in keys.tolist()], dtype=np.int64)
        return cls(stem_ids, keys, children, np.array(columns, dtype=np.int64))

    def ids(self, stems: Sequence[str]) -> np.ndarray:
        """The id of each stem (-1 for a stem no vocabulary n-gram has)."""
        return np.fromiter(map(self.stem_ids.get, stems, itertools.repeat(-1)), dtype=np.int64, count=len(stems))

    def walk(self, nodes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Each node's child through the stem id beside it (-1 where either is -1 or there is no child)."""
        if not len(self.keys):  # a vocabulary of unigrams only
            return np.full(len(nodes), -1, dtype=np.int64)
        keys = nodes * max(len(self.stem_ids), 1) + ids
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = (nodes >= 0) & (ids >= 0) & (self.keys[at] == keys)
        return np.where(found, self.children[at], -1)

    def columns_of(self, nodes: np.ndarray) -> np.ndarray:
        """The vocabulary column of each node (-1 for -1 and for nodes that are only a prefix)."""
        if not len(self.columns):  # no stems at all: every node is -1
            return np.full(len(nodes), -1, dtype=np.int64)
        return np.where(nodes >= 0, self.columns[np.maximum(nodes, 0)], -1)

    def occurrences(self, ids: np.ndarray, low: int, high: int) -> Iterable[tuple[int, np.ndarray]]:
        """Per n from low to high, the column of the n-gram starting at each position (-1: none)."""
        nodes = ids
        for n in range(1, high + 1):
            if n > 1:
                nodes = self.walk(nodes[:max(len(ids) - n + 1, 0)], ids[n - 1:])
            if n >= low:
                yield n, self.columns_of(nodes)
