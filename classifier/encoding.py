"""Turn ticket texts into one sparse matrix (fitted features, as prediction uses them, without scikit-learn;
classifier/features.py adds fitting): stemmed word n-grams, word prefixes and concepts shared across
languages, and char n-grams of the whole text, the subject line and the opening words (where the sender says who
they write to and how urgent it is)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from classifier.blocks import Block, FittedBlock
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


class FittedFeatures:
    """TF-IDF blocks side by side, fitted: `blocks_` and each block's first column in `offsets_`."""

    blocks_: list[FittedBlock]
    offsets_: list[int]

    def _check_fitted(self) -> None:
        if "blocks_" not in self.__dict__:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit() first")

    @staticmethod
    def analyse_many(texts: Iterable[str]) -> list[Analysis]:
        """Text preparation of many texts."""
        return [analyse(text) for text in texts]

    def block_scale(self, factors: dict[str, float]) -> np.ndarray:
        """Per feature column, the factor of its block's kind (1 for kinds not named)."""
        self._check_fitted()
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
        self._check_fitted()
        table = word_table(docs)
        built = [block.build(docs, table) for block in self.blocks_]
        matrix = sp.hstack([b.matrix for b in built], format="csr")
        coverage = np.ones(len(docs))
        for block, b in zip(self.blocks_, built):
            if block.kind in ("chars", "words") and b.known is not None and b.grams is not None:
                share = np.divide(b.known, b.grams, out=np.zeros(len(docs)), where=b.grams > 0)
                coverage = np.minimum(coverage, share)
        return Encoded(table, built, matrix, coverage)
