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
        """The index of (n-gram, column) pairs: stems joined by single spaces.

        Built one depth at a time for all n-grams at once: the (node, next stem) keys of a depth are
        numbered by np.unique, so n-grams sharing a prefix share its node.
        """
        pairs = list(terms)
        paths = [term.split(JOIN) for term, _ in pairs]
        stems = dict.fromkeys(itertools.chain.from_iterable(paths))  # in order of first use
        stem_ids = dict(zip(stems, range(len(stems))))
        width = max(len(stem_ids), 1)
        lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
        flat = np.fromiter(map(stem_ids.__getitem__, itertools.chain.from_iterable(paths)), dtype=np.int64)
        starts = np.cumsum(lengths) - lengths
        nodes = flat[starts]  # each n-gram's node so far: its first stem
        keys, children, count = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], len(stem_ids)
        for depth in range(1, int(lengths.max(initial=1))):
            longer = np.flatnonzero(lengths > depth)
            unique, inverse = np.unique(nodes[longer] * width + flat[starts[longer] + depth], return_inverse=True)
            keys.append(unique)
            children.append(np.arange(count, count + len(unique), dtype=np.int64))
            nodes[longer] = count + inverse.reshape(-1)
            count += len(unique)
        columns = np.full(count, -1, dtype=np.int64)
        columns[nodes] = np.fromiter((column for _, column in pairs), dtype=np.int64, count=len(pairs))
        all_keys = np.concatenate(keys)
        order = np.argsort(all_keys)
        return cls(stem_ids, all_keys[order], np.concatenate(children)[order], columns)

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
