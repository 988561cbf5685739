"""Loading a saved model for prediction: its fast form when it has a usable one, else in full.

Above both forms (classifier.runtime reads the arrays, classifier.model the skops file), so neither
imports the other; scikit-learn and skops are imported only when the full form is needed.
"""

from __future__ import annotations

from pathlib import Path

from classifier.predictor import TicketClassifier
from classifier.runtime import read_runtime


def load(directory: Path | str) -> TicketClassifier:
    """A saved model: its fast form when it has a usable one, else in full (classifier.model.load)."""
    directory = Path(directory)
    model = read_runtime(directory)
    if model is not None:
        return model
    from classifier.model import load as load_full  # scikit-learn and skops: only when needed

    return load_full(directory)


__all__ = ["load"]
