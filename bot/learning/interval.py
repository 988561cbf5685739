"""How sure a retrain comparison is: a paired bootstrap interval of the candidate's gain in mean macro-F1.

Both models predicted the same tickets, so the tickets are resampled together (with replacement) and the gain is
recomputed on each resample: the spread says how much of the gain a few tickets going either way could make.
Macro-F1 as sklearn's f1_score(average="macro", zero_division=0): the mean over the labels present in the
sample's truth or predictions. Seeded, so the same comparison always gives the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 1000
LEVEL = 0.90  # two-sided: the gain is below the interval's lower end 5% of the time


def macro_f1(truth: np.ndarray, guess: np.ndarray, labels: int) -> np.ndarray:
    """Macro-F1 of each row of `truth`/`guess` (integer labels below `labels`, one resample a row)."""
    scores = np.zeros(truth.shape[0])
    present = np.zeros(truth.shape[0])
    for label in range(labels):
        is_true, is_guess = truth == label, guess == label
        hits = (is_true & is_guess).sum(axis=1)
        seen = is_true.sum(axis=1) + is_guess.sum(axis=1)  # 2 tp + fp + fn
        scores += np.divide(2 * hits, seen, out=np.zeros_like(scores), where=seen > 0)
        present += seen > 0
    return np.divide(scores, present, out=np.zeros_like(scores), where=present > 0)


def _codes(*columns: Sequence[str]) -> tuple[list[np.ndarray], int]:
    """The columns as integer codes over their common labels, and how many labels there are."""
    names = {name: code for code, name in enumerate(sorted({v for column in columns for v in column}))}
    return [np.array([names[v] for v in column], dtype=np.int64) for column in columns], len(names)


def gain_interval(truth: tuple[Sequence[str], Sequence[str]], current: tuple[Sequence[str], Sequence[str]],
                  candidate: tuple[Sequence[str], Sequence[str]], *, resamples: int = RESAMPLES,
                  level: float = LEVEL, seed: int = 0) -> tuple[float, float]:
    """The `level` interval of (candidate - current) mean of department and priority macro-F1; each argument is
    (departments, priorities) of the same tickets in the same order."""
    size = len(truth[0])
    rows = np.random.default_rng(seed).integers(0, size, size=(resamples, size))
    gain = np.zeros(resamples)
    for target in (0, 1):
        (real, old, new), labels = _codes(truth[target], current[target], candidate[target])
        gain += (macro_f1(real[rows], new[rows], labels) - macro_f1(real[rows], old[rows], labels)) / 2
    low, high = np.quantile(gain, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
