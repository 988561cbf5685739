"""The ticket classifier: build and fit one pipeline per target, predict with reasons, save and load safely."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.resources
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from bot.errors import ModelError
from bot.models import Prediction
from classifier import sidecar
from classifier.dataset import Dataset, hash_examples, read_rows
from classifier.explain import contrast_weights, linear_weights, top_terms
from classifier.features import Analysis, TicketFeatures

log = logging.getLogger(__name__)

# Bumped whenever the defaults below change, so cached default models are rebuilt.
RECIPE = "tfidf-word12-char25+logreg-balanced/1"


def build_features() -> TicketFeatures:
    """The feature step shared by both targets (fitted once: half the time and size)."""
    return TicketFeatures()


def build_estimator(target: str) -> LogisticRegression:
    """The linear classifier of one target; balanced weights because macro-F1 values small queues."""
    return LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000)


def _as_text(text: object) -> str:
    """Accept str (and bytes, decoded leniently); refuse anything else with a clear ValueError."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", errors="replace")
    raise ValueError(f"a ticket text must be str, not {type(text).__name__}")


class TicketClassifier:
    """Predicts department and priority of ticket texts, with calibrated scores and the words why."""

    def __init__(self, department: Pipeline, priority: Pipeline | None, *, version: str,
                 metadata: dict[str, Any] | None = None) -> None:
        self.version = version
        self.metadata = dict(metadata or {})
        self.department_pipeline = department
        self.priority_pipeline = priority
        self.departments: tuple[str, ...] = tuple(str(c) for c in department[-1].classes_)
        self.priorities: tuple[str, ...] = tuple(str(c) for c in priority[-1].classes_) if priority else ()
        self._features: TicketFeatures = department[0]
        self._weights = contrast_weights(linear_weights(department[-1]))

    def predict(self, text: str) -> Prediction:
        """Department, priority and reasons for one ticket text."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """predict() for many texts at once: one matrix, one call per target."""
        if isinstance(texts, str | bytes):
            raise ValueError("predict_many() takes a sequence of texts; use predict() for one")
        docs = self._features.analyse_many([_as_text(t) for t in texts])
        if not docs:
            return []
        matrix = self._features.transform_analysed(docs)
        department = self.department_pipeline[-1].predict_proba(matrix)
        priority = self.priority_pipeline[-1].predict_proba(matrix) if self.priority_pipeline else None
        return [self._prediction(docs[i], matrix[i], department[i], None if priority is None else priority[i])
                for i in range(len(docs))]

    def _prediction(self, doc: Analysis, row: Any, department: np.ndarray,
                    priority: np.ndarray | None) -> Prediction:
        """One Prediction from one row of probabilities."""
        best = int(np.argmax(department))
        terms = top_terms(doc, row, self._weights[best], self._features)
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


def _check_labels(texts: Sequence[str], labels: Sequence[str] | None, name: str) -> None:
    """Refuse label lists that cannot train a classifier, saying why."""
    if labels is None:
        return
    if len(labels) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(labels)} {name} labels")
    if len(set(labels)) < 2:
        raise ModelError(f"training needs at least two distinct {name} values, found {sorted(set(labels))}")


def train(texts: Sequence[str], departments: Sequence[str], priorities: Sequence[str] | None = None, *,
          progress: bool = False) -> TicketClassifier:
    """Fit the shared features once, then one linear classifier per target."""
    texts = [_as_text(t) for t in texts]
    if not texts:
        raise ModelError("no training texts")
    _check_labels(texts, departments, "department")
    _check_labels(texts, priorities, "priority")
    features = build_features()
    docs = features.analyse_many(tqdm(texts, desc="preparing text", unit="ticket", disable=not progress))
    steps = tqdm(total=3 if priorities is not None else 2, desc="fitting", disable=not progress)
    matrix = features.fit_analysed(docs).transform_analysed(docs)
    steps.update()
    department = Pipeline([("features", features), ("classifier", build_estimator("department"))])
    department[-1].fit(matrix, list(departments))
    steps.update()
    priority = None
    if priorities is not None:
        priority = Pipeline([("features", features), ("classifier", build_estimator("priority"))])
        priority[-1].fit(matrix, list(priorities))
        steps.update()
    steps.close()
    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    data_hash = hash_examples(texts, departments, priorities)
    metadata = {"created_at": created.isoformat(), "training_data_sha256": data_hash,
                "training_tickets": len(texts), "recipe": RECIPE, "metrics": {}}
    return TicketClassifier(department, priority, version=f"{created:%Y%m%dT%H%M%SZ}-{data_hash[:8]}",
                            metadata=metadata)


def save(model: TicketClassifier, directory: Path | str) -> Path:
    """Write model.skops (no pickle) and then its model.json sidecar into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / sidecar.MODEL_FILE
    sio.dump({"department": model.department_pipeline, "priority": model.priority_pipeline}, path)
    content = {**model.metadata, "format": sidecar.FORMAT_VERSION, "version": model.version,
               "libraries": sidecar.library_versions(), "departments": list(model.departments),
               "priorities": list(model.priorities),
               "files": {sidecar.MODEL_FILE: sidecar.file_sha256(path)}}
    sidecar.write_sidecar(directory, content)
    log.info("saved model %s to %s", model.version, directory)
    return directory


def load(directory: Path | str) -> TicketClassifier:
    """Load a saved model, refusing (ModelError) anything incomplete, altered, foreign or untrusted."""
    directory = Path(directory)
    content = sidecar.read_sidecar(directory)
    path = sidecar.check_model_file(directory, content)
    retrain = sidecar.RETRAIN.format(directory=directory)
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
    return _from_payload(payload, content, path, retrain)


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


def _corpus_files(corpus_dir: Any) -> list[Any]:
    """The corpus CSV files (Traversables, so this works from a wheel too), in a stable order."""
    files = sorted((f for f in corpus_dir.iterdir() if f.name.endswith(".csv")), key=lambda f: f.name)
    if not files:
        raise ModelError(f"no corpus files (*.csv) in {corpus_dir}: reinstall deskbot, or train a model "
                         "with `deskbot train DATA --out DIR` and pass --model DIR")
    return files


def _cache_key(files: list[Any]) -> str:
    """Changes with the corpus, the recipe, the model format and every checked library version."""
    digest = hashlib.sha256(f"{RECIPE}|{sidecar.FORMAT_VERSION}|{sorted(sidecar.library_versions().items())}"
                            .encode())
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _read_corpus(files: list[Any]) -> Dataset:
    """All corpus files as one dataset (subject, body, department, priority columns)."""
    texts: list[str] = []
    departments: list[str] = []
    priorities: list[str] = []
    for file in files:
        with file.open("r", encoding="utf-8-sig", newline="") as stream:
            part = read_rows(stream, file.name)
        texts += part.texts
        departments += part.departments
        priorities += part.priorities or []
        if part.priorities is None:
            raise ModelError(f"corpus file {file.name} has no priority column")
    return Dataset(texts, departments, priorities, "corpus")


def load_default(cache_dir: Path | str, *, corpus_dir: Any = None) -> TicketClassifier:
    """The model built from the shipped corpus: built on first use, then loaded from the cache."""
    corpus_dir = corpus_dir if corpus_dir is not None else importlib.resources.files("classifier") / "corpus"
    files = _corpus_files(corpus_dir)
    target = Path(cache_dir) / _cache_key(files)
    if target.exists():
        try:
            return load(target)
        except ModelError as exc:
            log.warning("cached default model unusable, rebuilding: %s", exc)
    data = _read_corpus(files)
    log.info("building the default model from %d corpus tickets", len(data.texts))
    model = train(data.texts, data.departments, data.priorities)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    save(model, staging)
    shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:  # another process saved the same model first; its copy is as good
        shutil.rmtree(staging, ignore_errors=True)
    return model
