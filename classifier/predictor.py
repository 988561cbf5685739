"""A trained ticket classifier: predictions with calibrated scores and the words that caused them."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.models import Prediction, Term
from classifier.calibration import proba_function
from classifier.explain import block_weights, contrast_weights, explain_many, linear_weights
from classifier.encoding import Analysis, FittedFeatures
from classifier.text import PLACEHOLDERS

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FULL_COVERAGE = 0.5  # below this share of known char n-grams or content words, scores are shrunk (trust())
# A training label, never a department: mail that asks support nothing (adverts, newsletters, spam). The
# default model learns it so that such mail gets a low confidence instead of a confident department.
NOT_A_REQUEST = "(not a request)"


def as_text(text: object) -> str:
    """Accept str (and bytes, decoded leniently); refuse anything else with a clear ValueError."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", errors="replace")
    raise ValueError(f"a ticket text must be str, not {type(text).__name__}")


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A batch allocates many short-lived tuples (freed by refcounting anyway), which triggers cyclic
    collections that walk the model's large word caches: pausing them is about 5% faster."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class TicketClassifier:
    """Predicts department and priority of ticket texts, with calibrated scores and the words why."""

    def __init__(self, department: Pipeline | Sequence[Any], priority: Pipeline | Sequence[Any] | None, *, version: str,
                 metadata: dict[str, Any] | None = None) -> None:
        self.version = version
        self.metadata = dict(metadata or {})
        self.department_pipeline = department
        self.priority_pipeline = priority
        classes = [str(c) for c in department[-1].classes_]
        self._requests = np.array([c != NOT_A_REQUEST for c in classes])
        self.departments: tuple[str, ...] = tuple(c for c in classes if c != NOT_A_REQUEST)
        self.priorities: tuple[str, ...] = tuple(str(c) for c in priority[-1].classes_) if priority else ()
        self._features: FittedFeatures = department[0]  # a Pipeline's steps, or (features, head) (runtime.py)
        weights = linear_weights(department[-1])[self._requests]
        self._weights = block_weights(contrast_weights(weights), self._features.offsets_)
        self._label_noise = float((self.metadata.get("recipe") or {}).get("label_noise", 0.0))
        self._department_proba = proba_function(department[-1])
        self._priority_proba = proba_function(priority[-1]) if priority else None

    @property
    def max_confidence(self) -> float:
        """The highest department confidence this model can give: below 1 when it was built with label noise."""
        return 1 - self._label_noise + self._label_noise / len(self.departments)

    def predict(self, text: str) -> Prediction:
        """Department, priority and reasons for one ticket text."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """predict() for many texts at once: one matrix, one call per target."""
        if isinstance(texts, str | bytes):
            raise ValueError("predict_many() takes a sequence of texts; use predict() for one")
        with _cyclic_gc_paused():
            return self._predict_many(texts)

    def _predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """predict_many() itself."""
        docs = self._features.analyse_many([as_text(t) for t in texts])
        if not docs:
            return []
        encoded = self._features.encode(docs)
        matrix = encoded.matrix
        department = self.asking(self._department_proba(matrix))
        priority = self._priority_proba(matrix) if self._priority_proba else None
        trust = self.trust(docs, encoded.coverage)
        keep = trust * (1 - self._label_noise)  # label noise is the queues' doing: priority is left alone
        department = keep * department + (1 - keep) / department.shape[1]
        if priority is not None:
            priority = trust * priority + (1 - trust) / priority.shape[1]
        best = np.argmax(department, axis=1)  # all equal: the first department
        terms = explain_many(encoded, best, self._weights)
        return [self._prediction(docs[i], best[i], terms[i], department[i],
                                 None if priority is None else priority[i]) for i in range(len(docs))]

    def asking(self, proba: np.ndarray) -> np.ndarray:
        """Department scores, shrunk towards uniform by the probability that the mail asks nothing at all.

        The share of NOT_A_REQUEST is spread evenly: the scores still sum to 1 and rank the departments
        as before, but an advert gets a confidence near 1/len(departments), below any review threshold.
        """
        if self._requests.all():
            return proba
        nothing = proba[:, ~self._requests].sum(axis=1, keepdims=True)
        asked = proba[:, self._requests]
        asked = asked / np.maximum(asked.sum(axis=1, keepdims=True), np.finfo(float).tiny)
        return (1 - nothing) * asked + nothing / asked.shape[1]

    def trust(self, docs: Sequence[Analysis], coverage: np.ndarray) -> np.ndarray:
        """How far to believe the calibrated scores, per ticket (column vector in [0, 1]).

        Calibration was learnt on tickets like the training data; on garbage, an unseen language or
        words of another world ("the quick brown fox") the intercepts alone would look confident. Scores
        are shrunk towards uniform when few of the ticket's character n-grams or content words are
        known, and fully when it has no words at all: numbers and
        single letters (decoded binary is full of 'ÿ', which folds to a known 'y') are no topic.
        """
        trust = np.clip(coverage / FULL_COVERAGE, 0.0, 1.0)
        trust[[all(w in PLACEHOLDERS or len(w) < 2 for w in doc.words) for doc in docs]] = 0.0
        return trust[:, np.newaxis]

    def _prediction(self, doc: Analysis, best: int, terms: tuple[Term, ...], department: np.ndarray,
                    priority: np.ndarray | None) -> Prediction:
        """One Prediction from one row of probabilities."""
        priority_best = int(np.argmax(priority)) if priority is not None else None
        return Prediction(
            department=self.departments[best],
            priority=self.priorities[priority_best] if priority_best is not None else None,
            confidence=float(department[best]),
            priority_confidence=float(priority[priority_best]) if priority_best is not None else None,
            department_scores={d: float(p) for d, p in zip(self.departments, department)},
            priority_scores={p: float(s) for p, s in zip(self.priorities, priority)} if priority is not None else {},
            top_terms=terms,
            language=doc.language,
            model_version=self.version,
        )
