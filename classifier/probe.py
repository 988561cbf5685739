"""A self-check saved with a model: a few of its training texts and what it said of them.

A model saved under other library versions may still mean exactly the same (a patch release of
numpy changes no weights), or it may not (a new stemmer changes the input). Loading it then replays
the stored texts: if labels agree and probabilities move less than TOLERANCE, the model is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from bot.models import Prediction

PROBE_SIZE = 32
PROBE_CHARS = 300  # short: the sidecar stays small and shows little of anyone's mail
DECIMALS = 4
TOLERANCE = 0.005  # float32 sums in another order move probabilities by ~1e-6; a real change by far more


class Predicts(Protocol):
    """What the self-check needs of a model."""

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]: ...


def choose(texts: Sequence[str], departments: Sequence[str], *, size: int = PROBE_SIZE) -> list[str]:
    """Up to `size` non-empty training texts, taken from each department in turn (seeded: reproducible)."""
    order = np.random.default_rng(0).permutation(len(texts))
    by_department: dict[str, list[str]] = {}
    for i in order.tolist():
        if texts[i].strip():
            by_department.setdefault(departments[i], []).append(texts[i][:PROBE_CHARS])
    chosen: list[str] = []
    queues = [by_department[d] for d in sorted(by_department)]
    while len(chosen) < size and any(queues):
        for queue in queues:
            if queue and len(chosen) < size:
                chosen.append(queue.pop())
    return chosen


def _outputs(predictions: Sequence[Prediction]) -> dict[str, list[Any]]:
    """Labels and rounded probabilities of both targets, in a JSON-ready shape."""
    return {"departments": [p.department for p in predictions],
            "department_scores": [[round(s, DECIMALS) for s in p.department_scores.values()] for p in predictions],
            "priorities": [p.priority for p in predictions],
            "priority_scores": [[round(s, DECIMALS) for s in p.priority_scores.values()] for p in predictions]}


def record(model: Predicts, texts: Sequence[str]) -> dict[str, Any]:
    """The probe to store in the sidecar: texts and what `model` says of them now."""
    return {"texts": list(texts), **_outputs(model.predict_many(list(texts)))}


def differences(model: Predicts, probe: object) -> list[str]:
    """What `model` now says differently of the stored probe texts; empty when the self-check passes."""
    if not isinstance(probe, dict) or not isinstance(probe.get("texts"), list) or not probe["texts"]:
        return ["the sidecar holds no usable self-check"]
    now = _outputs(model.predict_many([str(t) for t in probe["texts"]]))
    found: list[str] = []
    for key in ("departments", "priorities"):
        stored = probe.get(key) or []
        changed = [i for i, (a, b) in enumerate(zip(stored, now[key])) if a != b]
        if changed:
            found.append(f"{len(changed)} of {len(now[key])} {key} changed (first: probe text {changed[0]}, "
                         f"{stored[changed[0]]!r} -> {now[key][changed[0]]!r})")
        elif len(stored) != len(now[key]):
            found.append(f"{len(stored)} {key} stored for {len(now[key])} probe texts")
    for key in ("department_scores", "priority_scores"):
        try:
            gap = float(np.max(np.abs(np.asarray(probe.get(key), dtype=float) - np.asarray(now[key])), initial=0.0))
        except (TypeError, ValueError):  # another shape: other labels or a damaged sidecar
            found.append(f"{key} have another shape than stored")
            continue
        if gap > TOLERANCE:
            found.append(f"{key} moved by up to {gap:.4f} (tolerance {TOLERANCE})")
    return found
