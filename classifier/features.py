"""Turn ticket texts into one sparse matrix: stemmed word n-grams, word prefixes and concepts shared across
languages, and char n-grams of the whole text, the subject line and the opening words (where the sender says who
they write to and how urgent it is)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from classifier.termblock import Block, TermBlock
from classifier.text import detect_language, normalise, stem_tokens, tokenise
from classifier.wordtable import WordTable, word_table


@dataclass(frozen=True, slots=True)
class Analysis:
    """What text preparation learns of one ticket; computed once, used by features and explanations."""

    language: str
    words: tuple[str, ...]  # normalised surface words, in order
    stems: tuple[str, ...]  # one per word
    subject_words: int  # how many of `words` come from the first line (the subject)


def analyse(text: str) -> Analysis:
    """Normalise, detect the language, tokenise and stem one text ("subject\\nbody")."""
    first, _, rest = text.partition("\n")
    first, rest = normalise(first), normalise(rest)
    subject = tokenise(first)
    words = tuple(subject + tokenise(rest))
    language = detect_language(f"{first} {rest}", words)
    return Analysis(language, words, tuple(stem_tokens(words, language)), len(subject))


class Encoded(NamedTuple):
    """A batch's feature matrix plus, per block, what it was built from."""

    table: WordTable
    blocks: list[Block]
    matrix: sp.csr_matrix
    coverage: np.ndarray  # per ticket: the lesser share of its char n-grams and content words the vocabulary knows


class TicketFeatures(TransformerMixin, BaseEstimator):
    """TF-IDF blocks side by side: stemmed word n-grams, word prefixes, concepts, char n-grams of all,
    subject and opening words."""

    def __init__(self, *, word_ngrams: tuple[int, int] = (1, 2), char_ngrams: tuple[int, int] = (2, 5),
                 min_df: int = 2, char_weight: float = 1.0, subject_weight: float = 0.5, opening_weight: float = 0.5,
                 opening_words: int = 30, language_feature: bool = True, prefix_weight: float = 0.5,
                 prefix_letters: int = 4, concept_weight: float = 0.3) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.char_weight = char_weight
        self.subject_weight = subject_weight
        self.opening_weight = opening_weight
        self.opening_words = opening_words
        self.language_feature = language_feature
        self.prefix_weight = prefix_weight
        self.prefix_letters = prefix_letters
        self.concept_weight = concept_weight

    def _blocks(self) -> list[TermBlock]:
        """The unfitted blocks; a zero weight leaves a block out."""
        chars = {"ngrams": tuple(self.char_ngrams), "min_df": self.min_df}
        blocks = [TermBlock(kind="words", ngrams=tuple(self.word_ngrams), min_df=self.min_df,
                            language_feature=self.language_feature),
                  TermBlock(kind="prefixes", ngrams=(1, 1), min_df=self.min_df, weight=self.prefix_weight,
                            language_feature=False, prefix_letters=self.prefix_letters),
                  TermBlock(kind="concepts", ngrams=(1, 1), min_df=self.min_df, weight=self.concept_weight,
                            language_feature=False),
                  TermBlock(kind="chars", weight=self.char_weight, **chars),
                  TermBlock(kind="subject", weight=self.subject_weight, **chars),
                  TermBlock(kind="opening", weight=self.opening_weight, opening_words=self.opening_words, **chars)]
        return [block for block in blocks if block.weight]

    @staticmethod
    def analyse_many(texts: Iterable[str]) -> list[Analysis]:
        """Text preparation of many texts."""
        return [analyse(text) for text in texts]

    def fit(self, X: Sequence[str], y: object = None) -> TicketFeatures:
        """Learn every block's vocabulary and IDF weights from raw texts."""
        return self.fit_analysed(self.analyse_many(X))

    def fit_analysed(self, docs: Sequence[Analysis]) -> TicketFeatures:
        """fit() on tickets already analysed (saves a second pass of text preparation)."""
        self.blocks_ = [block.fit(docs) for block in self._blocks()]
        self.offsets_ = [0]
        for block in self.blocks_:
            self.offsets_.append(self.offsets_[-1] + len(block.vocabulary_))
        return self

    def block_scale(self, factors: dict[str, float]) -> np.ndarray:
        """Per feature column, the factor of its block's kind (1 for kinds not named)."""
        check_is_fitted(self, "blocks_")
        scale = np.ones(self.offsets_[-1], dtype=np.float32)
        for block, start, stop in zip(self.blocks_, self.offsets_, self.offsets_[1:]):
            scale[start:stop] = factors.get(block.kind, 1.0)
        return scale

    def transform(self, X: Sequence[str]) -> sp.csr_matrix:
        """Feature matrix of raw texts."""
        return self.transform_analysed(self.analyse_many(X))

    def transform_analysed(self, docs: Sequence[Analysis]) -> sp.csr_matrix:
        """Feature matrix of analysed tickets, blocks side by side."""
        return self.encode(docs).matrix

    def encode(self, docs: Sequence[Analysis]) -> Encoded:
        """Features of a batch, keeping what explanations need (which word each feature came from)."""
        check_is_fitted(self, "blocks_")
        table = word_table(docs)
        built = [block.build(docs, table) for block in self.blocks_]
        matrix = sp.hstack([b.matrix for b in built], format="csr")
        coverage = np.ones(len(docs))
        for block, b in zip(self.blocks_, built):
            if block.kind in ("chars", "words") and b.known is not None and b.grams is not None:
                share = np.divide(b.known, b.grams, out=np.zeros(len(docs)), where=b.grams > 0)
                coverage = np.minimum(coverage, share)
        return Encoded(table, built, matrix, coverage)
