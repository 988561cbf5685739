"""Our temperature-scaled probabilities are sklearn's, for multi-class and binary models alike."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from classifier.calibration import proba_function
from classifier.evaluate import calibration_error
from classifier.dataset import read_dataset
from classifier.model import DEFAULT_RECIPE, train

FIXTURE = Path(__file__).parent / "fixtures" / "tickets-small.csv"
TEXTS = ["I was charged twice, please refund the invoice", "Die App stürzt beim Hochladen ab",
         "Where is my parcel?", "", "zzzz qqqq", "Bitte Rechnung korrigieren und Zugang sperren"]


@pytest.mark.parametrize("binary", [False, True])
def test_temperature_probabilities_equal_sklearns(binary: bool) -> None:
    data = read_dataset(FIXTURE)
    departments = [d if d == "billing" else "other" for d in data.departments] if binary else data.departments
    model = train(data.texts, departments, data.priorities)
    matrix = model.department_pipeline[0].transform(TEXTS)
    for pipeline in (model.department_pipeline, model.priority_pipeline):
        estimator = pipeline[-1]
        ours = proba_function(estimator)
        assert ours != estimator.predict_proba  # the fast path, not sklearn's method
        expected = estimator.predict_proba(matrix)
        assert ours(matrix).shape == expected.shape == (len(TEXTS), len(estimator.classes_))
        np.testing.assert_allclose(ours(matrix), expected, rtol=1e-6, atol=1e-9)
    assert len(model.departments) == (2 if binary else len(set(data.departments)))


def test_other_calibrations_keep_sklearns_method() -> None:
    data = read_dataset(FIXTURE)
    model = train(data.texts, data.departments, recipe=replace(DEFAULT_RECIPE, calibration="sigmoid"))
    estimator = model.department_pipeline[-1]
    assert proba_function(estimator) == estimator.predict_proba
    prediction = model.predict(TEXTS[0])
    assert prediction.department == "billing"
    assert sum(prediction.department_scores.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(("right", "confidence", "expected"), [
    ([True, False] * 50, [0.5] * 100, 0.0),  # right half the time at 0.5: honest
    ([True, False] * 50, [0.9] * 100, 0.4),  # right half the time at 0.9: 0.4 too sure
    ([True] * 80 + [False] * 20, [0.95] * 50 + [0.65] * 50, 0.05),  # 0.95: all right; 0.65: 60% right
])
def test_calibration_error_is_the_gap_between_confidence_and_accuracy(right: list[bool], confidence: list[float],
                                                                      expected: float) -> None:
    assert calibration_error(right, confidence) == pytest.approx(expected)
