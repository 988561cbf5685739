"""One fitted TF-IDF block over the terms of one part of a ticket, built for a whole batch with numpy/scipy
(no scikit-learn: the daemon predicts without importing it; classifier/termblock.py adds fitting).

Python touches each word once; char n-grams come from a per-word cache and are summed by a sparse
product (tickets x words) @ (words x n-grams), so a batch costs little more than its word count.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from classifier import concepts
from classifier.ngrams import JOIN, NgramIndex
from classifier.stopwords import FUNCTION_WORDS
from classifier.text import PLACEHOLDERS
from classifier.wordforms import char_grams, fold, prefix
from classifier.wordtable import Doc, WordTable, word_table

KINDS = ("words", "prefixes", "concepts", "chars", "subject", "opening")
WORD_KINDS = ("words", "prefixes", "concepts")  # terms of per-word units; the others are char n-grams
LANGUAGE_PREFIX = "lang="
SEPARATOR = "\n"  # never inside a term: normalise() turns every whitespace run into one space
CACHE_LIMIT = 30_000  # distinct words kept per block (~250 bytes each); cleared when full (mail has a long tail)


class Occurrences(NamedTuple):
    """Term occurrences of a batch: the (ticket, word) pairs of each (n x m), its column, its count."""

    pairs: np.ndarray
    columns: np.ndarray
    weights: np.ndarray


class Block(NamedTuple):
    """One block's matrix for a batch, and what an exact explanation of it needs."""

    matrix: sp.csr_matrix
    # words block: per n-gram occurrence, its matrix entry, word pair and share (1/n, over its count)
    # char blocks: per word pair, its row of `words` (the block's words x n-grams), pair and share
    entry: np.ndarray
    pairs: np.ndarray
    share: np.ndarray
    words: sp.csr_matrix | None = None
    known: np.ndarray | None = None  # per ticket: char n-grams (words: content words) the vocabulary knows
    grams: np.ndarray | None = None  # per ticket: all char n-gram occurrences (words: all content words)


def _ngram_keys(stems: Sequence[str], n: int) -> list[str]:
    """The n-gram terms of a stem sequence (the stems themselves for n = 1)."""
    return list(stems) if n == 1 else [JOIN.join(stems[i:i + n]) for i in range(len(stems) - n + 1)]


def _normalise_rows(matrix: sp.csr_matrix, weight: float) -> np.ndarray:
    """Scale each row to L2 norm `weight` in place; returns the original norms (1 for empty rows)."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(rows, weights=matrix.data.astype(np.float64) ** 2, minlength=matrix.shape[0]))
    norms[norms == 0] = 1
    matrix.data *= (weight / norms).astype(np.float32)[rows]
    return norms


class FittedBlock:
    """A fitted TF-IDF block as prediction uses it (classifier.termblock.TermBlock adds fitting): stemmed word
    n-grams, word prefixes, concepts, or char n-grams of all/subject/opening words.

    Char blocks damp repeats per word (1 + log count of the word) rather than per n-gram, which
    keeps every feature a sum over words: cheap to compute and exactly attributable to words.
    `kind` is a name, not a function, so a saved model holds no code reference.
    """

    def __init__(self, *, kind: str = "words", ngrams: tuple[int, int] = (1, 2), min_df: int = 2,
                 max_features: int | None = None, weight: float = 1.0, opening_words: int = 30,
                 language_feature: bool = True, prefix_letters: int = 4) -> None:
        self.kind = kind
        self.ngrams = ngrams
        self.min_df = min_df
        self.max_features = max_features
        self.weight = weight
        self.opening_words = opening_words
        self.language_feature = language_feature
        self.prefix_letters = prefix_letters

    def units(self, doc: Doc) -> Sequence[str]:
        """What a word-level block makes n-grams of: the stems, or the folded prefixes of the words."""
        if self.kind == "prefixes":
            return [prefix(word, self.prefix_letters) for word in doc.words]
        return doc.stems

    def concepts_of(self, word: str) -> tuple[str, ...]:
        """The concept terms of one word, cached (the lexicon is the one stored at fit time)."""
        cache: dict[str, tuple[str, ...]] | None = self.__dict__.get("_concepts")
        if cache is None or len(cache) > CACHE_LIMIT:
            cache = self.__dict__["_concepts"] = {}
        found = cache.get(word)
        if found is None:
            lexicon = self.__dict__.get("_lexicon")
            if lexicon is None:
                lexicon = self.__dict__["_lexicon"] = concepts.deserialise(self.lexicon_)
            found = cache[word] = tuple(concepts.PREFIX + c for c in concepts.concepts_of(fold(word), lexicon))
        return found

    def word_range(self, doc: Doc) -> tuple[int, int]:
        """Which of the ticket's words this block reads: [start, stop)."""
        if self.kind == "subject":
            return 0, doc.subject_words
        if self.kind == "opening":
            return doc.subject_words, doc.subject_words + self.opening_words
        return 0, len(doc.words)

    @property
    def vocabulary_(self) -> dict[str, int]:
        """Column of each term, rebuilt from terms_ on first use after fit or load."""
        vocabulary = self.__dict__.get("_vocabulary")
        if vocabulary is None:
            terms = self.terms_.split(SEPARATOR) if self.terms_ else []
            vocabulary = self.__dict__["_vocabulary"] = {term: i for i, term in enumerate(terms)}
        return vocabulary

    @property
    def ngram_index(self) -> NgramIndex:
        """The word n-grams of the vocabulary as an integer trie, built on first use after fit or load."""
        index = self.__dict__.get("_ngrams")
        if index is None:
            terms = ((t, c) for t, c in self.vocabulary_.items() if not t.startswith(LANGUAGE_PREFIX))
            index = self.__dict__["_ngrams"] = NgramIndex.build(terms)
        return index

    def build(self, docs: Sequence[Doc], table: WordTable) -> Block:
        """This block's matrix for a batch, with what explanations need."""
        if "terms_" not in self.__dict__:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit() first")
        return self._build_words(docs, table) if self.kind in WORD_KINDS else self._build_chars(docs, table)

    def transform(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        """The block's feature matrix of analysed tickets."""
        return self.build(docs, word_table(docs)).matrix

    def _word_grams(self, words: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """(distinct words x n-grams) counts x IDF; per word, its known and all n-gram occurrences."""
        cache: dict[str, tuple[np.ndarray, int]] | None = self.__dict__.get("_cache")
        if cache is None or len(cache) > CACHE_LIMIT:
            cache = self.__dict__["_cache"] = {}
        vocabulary, (low, high) = self.vocabulary_, self.ngrams
        entries = []
        for word in words:
            entry = cache.get(word)
            if entry is None:  # a repeated n-gram stays twice in the row; sparse products add it up
                grams = char_grams(word, low, high)
                entry = cache[word] = (np.array([vocabulary[g] for g in grams if g in vocabulary], np.int32),
                                       len(grams))
            entries.append(entry)
        lengths = np.fromiter((len(e[0]) for e in entries), dtype=np.int64, count=len(entries))
        columns = np.concatenate([e[0] for e in entries]) if entries else np.zeros(0, np.int32)
        matrix = sp.csr_matrix((self.idf_[columns], columns, np.concatenate([[0], np.cumsum(lengths)])),
                               shape=(len(words), len(self.idf_)))
        return matrix, lengths.astype(np.float64), np.fromiter((e[1] for e in entries), np.float64, len(entries))

    def _build_chars(self, docs: Sequence[Doc], table: WordTable) -> Block:
        """Char n-grams: (tickets x words, 1 + log count) @ (words x n-grams, count x IDF), normalised."""
        if self.kind == "chars":  # every word: the table has it all
            pairs, repeats = np.arange(len(table.pair_doc)), table.pair_count
            words_of, words_used = table.pair_word, table.words
        else:
            ranges = np.array([self.word_range(doc) for doc in docs], dtype=np.int64).reshape(-1, 2)
            ticket = table.position_doc
            inside = (table.within >= ranges[ticket, 0]) & (table.within < ranges[ticket, 1])
            pairs, repeats = np.unique(table.positions[inside], return_counts=True)
            repeats = repeats.astype(np.float64)
            used, words_of = np.unique(table.pair_word[pairs], return_inverse=True)  # this block's words only
            words_used = [table.words[w] for w in used.tolist()]
        words, known, grams = self._word_grams(words_used)
        docs_of = table.pair_doc[pairs]
        damped = 1 + np.log(repeats)
        tickets = sp.csr_matrix((damped.astype(np.float32), (docs_of, words_of)), shape=(len(docs), len(words_used)))
        matrix = (tickets @ words).tocsr()
        norms = _normalise_rows(matrix, self.weight)
        return Block(matrix, words_of, pairs, damped * self.weight / norms[docs_of], words,
                     np.bincount(docs_of, weights=repeats * known[words_of], minlength=len(docs)),
                     np.bincount(docs_of, weights=repeats * grams[words_of], minlength=len(docs)))

    def _ngram_occurrences(self, docs: Sequence[Doc], table: WordTable, ids: np.ndarray) -> list[Occurrences]:
        """Per n, every known stemmed n-gram occurrence: its n word pairs and its column (ids: stem_ids())."""
        index = self.ngram_index
        pair_of = table.positions
        lengths = np.bincount(table.position_doc, minlength=len(docs))
        room = lengths[table.position_doc] - table.within  # words from here to the end of the ticket
        found = []
        for n, columns in index.occurrences(ids, *self.ngrams):
            starts = np.flatnonzero((columns >= 0) & (room[:len(columns)] >= n))  # none across two tickets
            pairs = np.stack([pair_of[starts + j] for j in range(n)])
            found.append(Occurrences(pairs, columns[starts], np.ones(len(starts), dtype=np.float32)))
        return found

    def stem_ids(self, docs: Sequence[Doc]) -> np.ndarray:
        """Each word position's stem id in the n-gram index (-1: a stem the vocabulary has never seen)."""
        return self.ngram_index.ids([stem for doc in docs for stem in doc.stems])

    def _unit_occurrences(self, table: WordTable) -> list[Occurrences]:
        """Prefix and concept terms, looked up once per distinct word and counted once per (ticket, word)."""
        cache: dict[str, np.ndarray] | None = self.__dict__.get("_cache")
        if cache is None or len(cache) > CACHE_LIMIT:
            cache = self.__dict__["_cache"] = {}
        get, empty = self.vocabulary_.get, np.zeros(0, np.int64)
        per_word = []
        for word in table.words:
            columns = cache.get(word)
            if columns is None:
                terms = self.concepts_of(word) if self.kind == "concepts" else (prefix(word, self.prefix_letters),)
                known = [column for column in map(get, terms, itertools.repeat(-1)) if column >= 0]
                columns = cache[word] = np.array(known, dtype=np.int64) if known else empty
            per_word.append(columns)
        lengths = np.fromiter(map(len, per_word), dtype=np.int64, count=len(per_word))
        flat = np.concatenate(per_word) if per_word else empty
        starts = np.cumsum(lengths) - lengths
        pair_lengths = lengths[table.pair_word]  # each (ticket, word) pair brings all of its word's terms
        pairs = np.repeat(np.arange(len(table.pair_word)), pair_lengths)
        offset = np.arange(len(pairs)) - np.repeat(np.cumsum(pair_lengths) - pair_lengths, pair_lengths)
        columns = flat[starts[table.pair_word[pairs]] + offset]
        return [Occurrences(pairs[np.newaxis, :], columns, table.pair_count[pairs].astype(np.float32))]

    def _build_words(self, docs: Sequence[Doc], table: WordTable) -> Block:
        """Word-level terms: sublinear TF x IDF per ticket, normalised, plus the language term."""
        vocabulary, width = self.vocabulary_, len(self.idf_)
        ids = self.stem_ids(docs) if self.kind == "words" else None
        found = self._ngram_occurrences(docs, table, ids) if ids is not None else self._unit_occurrences(table)
        keys = [np.zeros(0, np.int64)] + [table.pair_doc[o.pairs[0]] * width + o.columns for o in found]
        weights = [np.zeros(0, np.float32)] + [o.weights for o in found]
        if self.language_feature:
            language = np.array([vocabulary.get(LANGUAGE_PREFIX + d.language, -1) for d in docs], dtype=np.int64)
            keys.append(np.flatnonzero(language >= 0) * width + language[language >= 0])
            weights.append(np.ones(len(keys[-1]), dtype=np.float32))
        unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        count = np.bincount(inverse, weights=np.concatenate(weights)).astype(np.float32)
        rows, columns = unique // width, unique % width
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(docs)))])
        matrix = sp.csr_matrix(((1 + np.log(count)) * self.idf_[columns], columns, indptr), shape=(len(docs), width))
        _normalise_rows(matrix, self.weight)
        entry, pairs, share, done = [], [], [], 0
        for o in found:  # a term's value is shared by its occurrences, each by its n words
            mine = inverse[done:done + len(o.columns)]
            done += len(o.columns)
            n = len(o.pairs)
            for j in range(n):
                entry.append(mine)
                pairs.append(o.pairs[j])
                share.append(o.weights / (n * count[mine]))
        known, content = _known_content_words(table, ids, len(docs)) if ids is not None else (None, None)
        if not entry:
            return Block(matrix, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), known=known, grams=content)
        return Block(matrix, np.concatenate(entry), np.concatenate(pairs), np.concatenate(share).astype(np.float64),
                     known=known, grams=content)


def _known_content_words(table: WordTable, ids: np.ndarray, tickets: int) -> tuple[np.ndarray, np.ndarray]:
    """Per ticket: how many of its content words (no function words, placeholders or single letters) have a
    stem the vocabulary knows, and how many content words it has."""
    content = np.fromiter((len(w) > 1 and w not in FUNCTION_WORDS and w not in PLACEHOLDERS for w in table.words),
                          dtype=bool, count=len(table.words))[table.pair_word[table.positions]]
    return (np.bincount(table.position_doc, weights=content & (ids >= 0), minlength=tickets),
            np.bincount(table.position_doc, weights=content, minlength=tickets))
