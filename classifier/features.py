"""The TicketFeatures estimator: which blocks a model has and fitting them (prediction is classifier/encoding.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.base import BaseEstimator, TransformerMixin

from classifier.encoding import Analysis, Encoded, FittedFeatures, analyse  # noqa: F401 - re-exported
from classifier.termblock import TermBlock


class TicketFeatures(FittedFeatures, TransformerMixin, BaseEstimator):
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
