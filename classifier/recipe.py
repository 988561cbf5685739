"""How a model is made: hyper-parameters, and fitting one calibrated linear classifier per target."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.errors import ModelError

if TYPE_CHECKING:  # scikit-learn is imported by what trains, not by what only names a recipe (the model cache)
    from sklearn.calibration import CalibratedClassifierCV

    from classifier.features import TicketFeatures


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of a model; the defaults were chosen on v3 by 5-fold CV (bench/classifier.py)."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 2
    char_weight: float = 1.0
    subject_weight: float = 0.5
    opening_weight: float = 0.5
    prefix_weight: float = 0.5
    prefix_letters: int = 4
    concept_weight: float = 0.3
    department_c: float = 0.8  # the queue gains from weaker regularisation, priority does not (v3 CV)
    priority_c: float = 0.5
    # Senders say how urgent it is in the subject ("URGENT: ..."): the priority model reads the subject block
    # this many times louder than the department model does (v3 priority macro-F1 +0.005; queue loses at 2x).
    priority_subject_emphasis: float = 2.0
    calibration: str = "temperature"  # one softmax temperature keeps top terms exact; "sigmoid": per class
    calibration_folds: int = 3  # temperature scaling never changes the argmax; 3 folds suffice for T
    # Real helpdesks file some tickets in another queue than their words suggest, and no model can see why.
    # A model calibrated on its own clean corpus cannot know how often: department scores are mixed with
    # uniform by this share (the argmax never changes). 0 for a team's own tickets, whose calibration folds
    # hold their own disagreement; the default model's value is classifier.starter.LABEL_NOISE.
    label_noise: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_noise < 1.0:
            raise ValueError(f"label_noise must be at least 0 and below 1, not {self.label_noise}")

    def features(self) -> TicketFeatures:
        """The feature step shared by both targets (fitted once: half the time and size)."""
        from classifier.features import TicketFeatures

        return TicketFeatures(word_ngrams=self.word_ngrams, char_ngrams=self.char_ngrams, min_df=self.min_df,
                              char_weight=self.char_weight, subject_weight=self.subject_weight,
                              opening_weight=self.opening_weight, prefix_weight=self.prefix_weight,
                              prefix_letters=self.prefix_letters, concept_weight=self.concept_weight)

    def estimator(self, labels: Sequence[str], c: float, held_out: np.ndarray | None = None) -> CalibratedClassifierCV:
        """A linear SVM per target, balanced because macro-F1 values small queues, then calibrated.

        Without `held_out` the calibration comes from folds of the training data. With it (a mask), the
        SVM that the calibration judges learns from the other tickets and is judged on these, which are
        written in another style: confidence then says how often the model is right on text unlike its
        own, not on its own easy corpus. fit_calibrated() then refits the SVM on every ticket.
        """
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import LinearSVC

        svm = LinearSVC(C=c, class_weight="balanced", random_state=0)  # liblinear shuffles: same data, same model
        if held_out is not None:
            split = [(np.flatnonzero(~held_out), np.flatnonzero(held_out))]
            return CalibratedClassifierCV(svm, method=self.calibration, ensemble=True, cv=split)
        smallest = min(Counter(labels).values())
        return CalibratedClassifierCV(svm, method=self.calibration, ensemble=False,
                                      cv=StratifiedKFold(min(self.calibration_folds, smallest), shuffle=True,
                                                         random_state=0))


DEFAULT_RECIPE = Recipe()


def fit_calibrated(estimator: CalibratedClassifierCV, matrix: Any, labels: Sequence[str]) -> CalibratedClassifierCV:
    """Fit; a model calibrated on held-out tickets then learns its weights from every ticket."""
    from sklearn.base import clone

    estimator.fit(matrix, list(labels))
    if isinstance(estimator.cv, list):  # Recipe.estimator(held_out=...): keep the temperature, refit the SVM
        for calibrated in estimator.calibrated_classifiers_:
            calibrated.estimator = clone(calibrated.estimator).fit(matrix, list(labels))
    return estimator


def fit_emphasised(estimator: CalibratedClassifierCV, matrix: Any, labels: Sequence[str],
                   scale: np.ndarray) -> CalibratedClassifierCV:
    """Fit on features whose columns are scaled, then fold the scale into the weights.

    A linear model on X·diag(s) with weights w is the model on X with weights w·s, so the pipeline
    keeps the shared, unscaled features and only this target sees some blocks louder.
    """
    import scipy.sparse as sp

    fit_calibrated(estimator, matrix @ sp.diags(scale), labels)
    for calibrated in estimator.calibrated_classifiers_:
        calibrated.estimator.coef_ = calibrated.estimator.coef_ * scale
    return estimator


def compact(estimator: CalibratedClassifierCV) -> CalibratedClassifierCV:
    """Store linear weights as float32: half the file, and the features are float32 anyway."""
    for calibrated in estimator.calibrated_classifiers_:
        svm = calibrated.estimator
        svm.coef_ = svm.coef_.astype(np.float32)
        svm.intercept_ = svm.intercept_.astype(np.float32)
    return estimator


def check_labels(texts: Sequence[str], labels: Sequence[str] | None, name: str,
                 held_out: np.ndarray | None = None) -> None:
    """Refuse label lists that cannot train a classifier, saying why."""
    if labels is None:
        return
    if len(labels) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(labels)} {name} labels")
    counts = Counter(labels)
    if len(counts) < 2:
        raise ModelError(f"training needs at least two distinct {name} values, found {sorted(counts)}")
    single = sorted(label for label, n in counts.items() if n < 2)
    if single:
        raise ModelError(f"{name} {', '.join(map(repr, single))} has a single ticket: a class needs at least "
                         "two examples to be learned and calibrated; add examples or remove it")
    if held_out is not None:
        if not 0 < held_out.sum() < len(held_out):
            raise ModelError("calibrating on held-out tickets needs some tickets held out and some not")
        missing = sorted(set(counts) - set(np.asarray(labels, dtype=object)[~held_out]))
        if missing:
            raise ModelError(f"calibrating on held-out tickets needs every {name} among the others; "
                             f"only held out: {', '.join(missing)}")
