"""A saved model's prediction-only form: plain arrays in one .npz (read without pickle) that numpy and scipy.sparse
turn back into a TicketClassifier without scikit-learn or skops.

Importing those two costs a starting daemon 2-3 s and about 90 MiB, while prediction needs only each block's
terms and IDF weights and each target's weights, intercepts and temperature. save() writes this file beside
model.skops, which stays the model of record (training, `deskbot model`, the self-check under new library
versions): the fast form is used only when its checksum matches the sidecar and no checked library changed.
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bot.errors import ModelError
from classifier import sidecar
from classifier.blocks import FittedBlock
from classifier.calibration import temperature_proba
from classifier.encoding import FittedFeatures
from classifier.predictor import TicketClassifier

log = logging.getLogger(__name__)

RUNTIME_FILE = "runtime.npz"
RUNTIME_FORMAT = 1
TARGETS = ("department", "priority")
_BLOCK_PARAMS = tuple(p for p in inspect.signature(FittedBlock.__init__).parameters if p != "self")


class LinearHead:
    """One linear model calibrated by temperature scaling (what CalibratedClassifierCV holds), as arrays."""

    def __init__(self, classes: np.ndarray, coef: np.ndarray, intercept: np.ndarray, beta: np.generic) -> None:
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        self.beta_ = beta
        self._weights = coef.T  # the same view as calibration.proba_function: the same sums, the same figures

    def predict_proba(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Probabilities of each row, one column per class, as the calibrated estimator gives them."""
        return temperature_proba(matrix, self._weights, self.intercept_, self.beta_)


def head_arrays(estimator: Any) -> dict[str, np.ndarray] | None:
    """The arrays of a calibrated estimator with one linear model and temperature scaling; else None."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if calibrated is None or len(calibrated) != 1 or calibrated[0].method != "temperature":
        return None
    linear, (scaling,) = calibrated[0].estimator, calibrated[0].calibrators
    return {"classes": np.asarray([str(c) for c in estimator.classes_]), "coef": np.asarray(linear.coef_),
            "intercept": np.asarray(linear.intercept_), "beta": np.asarray(scaling.beta_)}


def write_runtime(department: Any, priority: Any, directory: Path) -> Path | None:
    """Write the fast form of two fitted pipelines into `directory`; None when they are not of the one
    shape it knows (a single temperature-calibrated linear model per target)."""
    arrays: dict[str, np.ndarray] = {"format": np.asarray(RUNTIME_FORMAT)}
    for name, pipeline in zip(TARGETS, (department, priority)):
        head = head_arrays(pipeline[-1]) if pipeline is not None else None
        if pipeline is not None and head is None:
            return None
        arrays.update({f"{name}.{key}": value for key, value in (head or {}).items()})
    features = department[0]
    blocks = []
    for i, block in enumerate(features.blocks_):
        blocks.append({param: getattr(block, param) for param in _BLOCK_PARAMS})
        arrays[f"block{i}.idf"] = np.asarray(block.idf_)
        arrays[f"block{i}.terms"] = _utf8(block.terms_)
        if "lexicon_" in block.__dict__:
            arrays[f"block{i}.lexicon"] = _utf8(block.lexicon_)
    arrays["features"] = _utf8(json.dumps({"offsets": list(features.offsets_), "blocks": blocks}))
    path = directory / RUNTIME_FILE
    with path.open("wb") as stream:
        np.savez_compressed(stream, **arrays)  # type: ignore[arg-type]
    return path


def read_runtime(directory: Path) -> TicketClassifier | None:
    """The model in `directory` from its fast form; None when it has none usable (then load it in full)."""
    content = sidecar.read_sidecar(directory)
    expected = (content.get("files") or {}).get(RUNTIME_FILE) if isinstance(content.get("files"), dict) else None
    path = directory / RUNTIME_FILE
    if not expected or not path.is_file() or sidecar.library_differences(content):
        return None
    sidecar.check_model_file(directory, content)  # the model of record must be whole too (a damaged cache is rebuilt)
    if sidecar.file_sha256(path) != expected:
        raise ModelError(f"{path} does not match its sidecar {sidecar.SIDECAR_FILE} (altered or incomplete): "
                         f"{sidecar.RETRAIN.format(directory=directory)}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != RUNTIME_FORMAT:
                return None
            return _model(dict(data.items()), content)
    except (KeyError, ValueError, TypeError, IndexError, OSError) as exc:
        raise ModelError(f"{path} could not be read ({type(exc).__name__}: {exc}): "
                         f"{sidecar.RETRAIN.format(directory=directory)}") from exc


def _model(data: dict[str, np.ndarray], content: dict[str, Any]) -> TicketClassifier:
    """A TicketClassifier from the arrays write_runtime() stored."""
    spec = json.loads(_text(data["features"]))
    features = FittedFeatures()
    features.blocks_ = [_block(params, i, data) for i, params in enumerate(spec["blocks"])]
    features.offsets_ = [int(o) for o in spec["offsets"]]
    heads = [None if f"{name}.classes" not in data else
             (features, LinearHead(data[f"{name}.classes"], data[f"{name}.coef"], data[f"{name}.intercept"],
                                   data[f"{name}.beta"][()])) for name in TARGETS]
    if heads[0] is None:
        raise ValueError("no department model")
    model = TicketClassifier(heads[0], heads[1], version=str(content.get("version", "")), metadata=content)
    if list(model.departments) != content.get("departments") or list(model.priorities) != content.get("priorities"):
        raise ValueError("it and its sidecar disagree on the labels")
    return model


def _block(params: dict[str, Any], i: int, data: dict[str, np.ndarray]) -> FittedBlock:
    """One fitted block from its parameters and arrays."""
    if params.get("ngrams") is not None:
        params = {**params, "ngrams": tuple(params["ngrams"])}
    block = FittedBlock(**params)
    block.terms_ = _text(data[f"block{i}.terms"])
    block.idf_ = data[f"block{i}.idf"]
    if f"block{i}.lexicon" in data:
        block.lexicon_ = _text(data[f"block{i}.lexicon"])
    return block


def _utf8(text: str) -> np.ndarray:
    """A string as bytes in an array (numpy's own unicode arrays take four bytes a character)."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _text(array: np.ndarray) -> str:
    return array.tobytes().decode("utf-8")
