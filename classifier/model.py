"""The ticket classifier: build and fit one pipeline per target, predict with reasons, save and load safely."""

from __future__ import annotations

import datetime as dt
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from bot.errors import ModelError
from classifier import probe, runtime, sidecar
from classifier.dataset import hash_examples
from classifier.predictor import TicketClassifier, as_text
from classifier.recipe import DEFAULT_RECIPE, Recipe, check_labels, compact, fit_calibrated, fit_emphasised

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_RECIPE", "Recipe", "TicketClassifier", "load", "save", "train"]


def train(texts: Sequence[str], departments: Sequence[str], priorities: Sequence[str] | None = None, *,
          progress: bool = False, recipe: Recipe = DEFAULT_RECIPE,
          held_out: Sequence[bool] | None = None) -> TicketClassifier:
    """Fit the shared features once, then one calibrated linear classifier per target.

    `held_out` marks tickets to calibrate confidence on rather than by folds (see Recipe.estimator):
    tickets written in another style than the rest.
    """
    texts = [as_text(t) for t in texts]
    if not texts:
        raise ModelError("no training texts")
    mask = None if held_out is None else np.asarray(held_out, dtype=bool)
    check_labels(texts, departments, "department", mask)
    check_labels(texts, priorities, "priority", mask)
    features = recipe.features()
    docs = features.analyse_many(tqdm(texts, desc="preparing text", unit="ticket", disable=not progress))
    steps = tqdm(total=3 if priorities is not None else 2, desc="fitting", disable=not progress)
    matrix = features.fit_analysed(docs).transform_analysed(docs)
    steps.update()
    department = Pipeline([("features", features),
                           ("classifier", recipe.estimator(departments, recipe.department_c, mask))])
    compact(fit_calibrated(department[-1], matrix, departments))
    steps.update()
    priority = None
    if priorities is not None:
        priority = Pipeline([("features", features),
                             ("classifier", recipe.estimator(priorities, recipe.priority_c, mask))])
        scale = features.block_scale({"subject": recipe.priority_subject_emphasis})
        compact(fit_emphasised(priority[-1], matrix, priorities, scale))
        steps.update()
    steps.close()
    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    data_hash = hash_examples(texts, departments, priorities)
    metadata = {"created_at": created.isoformat(), "training_data_sha256": data_hash,
                "training_tickets": len(texts), "recipe": asdict(recipe), "metrics": {}}
    model = TicketClassifier(department, priority, version=f"{created:%Y%m%dT%H%M%SZ}-{data_hash[:8]}",
                             metadata=metadata)
    model.metadata["probe"] = probe.record(model, probe.choose(texts, departments))
    return model


def save(model: TicketClassifier, directory: Path | str) -> Path:
    """Write model.skops (no pickle) and then its model.json sidecar into `directory`."""
    if not isinstance(model.department_pipeline, Pipeline):
        raise ModelError(f"model {model.version} was loaded in its prediction-only form and cannot be saved again: "
                         "copy its folder instead")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / sidecar.MODEL_FILE
    sio.dump({"department": model.department_pipeline, "priority": model.priority_pipeline}, path,
             compression=zipfile.ZIP_DEFLATED)
    files = {sidecar.MODEL_FILE: sidecar.file_sha256(path)}
    fast = runtime.write_runtime(model.department_pipeline, model.priority_pipeline, directory)
    if fast is not None:
        files[fast.name] = sidecar.file_sha256(fast)
    content = {**model.metadata, "format": sidecar.FORMAT_VERSION, "version": model.version,
               "libraries": sidecar.library_versions(), "departments": list(model.departments),
               "priorities": list(model.priorities), "files": files}
    sidecar.write_sidecar(directory, content)
    log.info("saved model %s to %s", model.version, directory)
    return directory


def load(directory: Path | str) -> TicketClassifier:
    """Load a saved model, refusing (ModelError) anything incomplete, altered, foreign or untrusted."""
    directory = Path(directory)
    content = sidecar.read_sidecar(directory)
    path = sidecar.check_model_file(directory, content)
    retrain = sidecar.RETRAIN.format(directory=directory)
    differ = sidecar.library_differences(content)
    if differ:  # the likely cause of any refusal below, so every refusal names it
        retrain = f"it was saved with other library versions ({'; '.join(differ)}): {retrain}"
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises zipfile/JSON/KeyError alike on a non-model file
        raise ModelError(f"{path} is not a model file ({type(exc).__name__}): {retrain}") from exc
    unknown = sorted(untrusted - sidecar.TRUSTED_TYPES)
    if unknown:
        raise ModelError(f"{path} contains types deskbot does not trust ({', '.join(unknown)}); "
                         f"nothing was loaded: {retrain}")
    try:
        payload = sio.load(path, trusted=sorted(untrusted))
    except Exception as exc:  # any failure to rebuild the objects means the file is not ours
        raise ModelError(f"{path} could not be read as a model ({type(exc).__name__}): {retrain}") from exc
    model = _from_payload(payload, content, path, retrain)
    if differ:
        _self_check(model, content, path, differ, retrain)
    return model


def _self_check(model: TicketClassifier, content: dict[str, Any], path: Path, differ: list[str],
                retrain: str) -> None:
    """Accept a model saved under other library versions only if it still predicts its stored probe the same."""
    try:
        problems = probe.differences(model, content.get("probe"))
    except Exception as exc:  # under new versions prediction may fail anywhere inside a library
        problems = [f"predicting failed ({type(exc).__name__}: {exc})"]
    if problems:
        raise ModelError(f"{path} failed its self-check: {'; '.join(problems)}; {retrain}")
    log.warning("%s was saved with other library versions (%s); its self-check on %d stored texts passed, "
                "so it is used as is", path, "; ".join(differ), len(content["probe"]["texts"]))


def _from_payload(payload: object, content: dict[str, Any], path: Path, retrain: str) -> TicketClassifier:
    """Check the loaded objects are the shape save() writes and agree with the sidecar."""
    if not isinstance(payload, dict) or not isinstance(payload.get("department"), Pipeline):
        raise ModelError(f"{path} does not hold a deskbot model: {retrain}")
    priority = payload.get("priority")
    if priority is not None and not isinstance(priority, Pipeline):
        raise ModelError(f"{path} holds an unexpected priority model: {retrain}")
    try:
        model = TicketClassifier(payload["department"], priority, version=str(content.get("version", "")),
                                 metadata=content)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path} holds an incomplete model ({exc}): {retrain}") from exc
    if list(model.departments) != content.get("departments") or list(model.priorities) != content.get(
            "priorities"):
        raise ModelError(f"{path} and its sidecar disagree on the labels: {retrain}")
    return model
