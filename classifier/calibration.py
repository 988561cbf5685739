"""Calibrated probabilities of a fitted linear model, computed without sklearn's per-call checks.

CalibratedClassifierCV.predict_proba validates its input and dispatches on array namespaces on
every call: for one ticket that took over a third of the prediction time (bench/classifier.py,
single-ticket latency). With temperature scaling a probability is softmax(beta * (x.W + b)), a few
numpy operations on arrays taken out of the fitted model once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

Proba = Callable[[sp.csr_matrix], np.ndarray]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by each row's maximum so exp never overflows."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def proba_function(estimator: Any) -> Proba:
    """estimator.predict_proba, as plain arithmetic where the estimator is ours: one linear model
    calibrated by temperature; anything else keeps sklearn's own method."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if calibrated is None or len(calibrated) != 1 or calibrated[0].method != "temperature":
        return estimator.predict_proba
    linear, (scaling,) = calibrated[0].estimator, calibrated[0].calibrators
    weights, intercept, beta = np.asarray(linear.coef_).T, np.asarray(linear.intercept_), scaling.beta_
    return lambda matrix: temperature_proba(matrix, weights, intercept, beta)


def temperature_proba(matrix: sp.csr_matrix, weights: np.ndarray, intercept: np.ndarray, beta: float) -> np.ndarray:
    """Probabilities of each row of `matrix`, one column per class: softmax(beta * (x.W + b)), as sklearn."""
    decision = np.asarray(matrix @ weights) + intercept
    if decision.shape[1] == 1:  # binary: sklearn's logits are (-x, x)
        decision = np.hstack([-decision, decision])
    proba = softmax(beta * decision)
    proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0  # as sklearn: rounding never exceeds 1
    return proba
