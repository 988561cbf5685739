"""The ticket classifier: build and fit one pipeline per target, predict with reasons, save and load safely."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.resources
import logging
import os
import shutil
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from tqdm import tqdm

from bot.errors import ModelError
from classifier import probe, sidecar
from classifier.dataset import Dataset, combine, hash_examples, read_rows
from classifier.features import TicketFeatures
from classifier.predictor import TicketClassifier, as_text

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_RECIPE", "Recipe", "TicketClassifier", "load", "load_default", "save", "train"]


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

    def features(self) -> TicketFeatures:
        """The feature step shared by both targets (fitted once: half the time and size)."""
        return TicketFeatures(word_ngrams=self.word_ngrams, char_ngrams=self.char_ngrams, min_df=self.min_df,
                              char_weight=self.char_weight, subject_weight=self.subject_weight,
                              opening_weight=self.opening_weight, prefix_weight=self.prefix_weight,
                              prefix_letters=self.prefix_letters, concept_weight=self.concept_weight)

    def estimator(self, labels: Sequence[str], c: float) -> CalibratedClassifierCV:
        """A linear SVM per target, balanced because macro-F1 values small queues, then calibrated."""
        smallest = min(Counter(labels).values())
        svm = LinearSVC(C=c, class_weight="balanced", random_state=0)  # liblinear shuffles: same data, same model
        return CalibratedClassifierCV(svm, method=self.calibration, ensemble=False,
                                      cv=StratifiedKFold(min(self.calibration_folds, smallest), shuffle=True,
                                                         random_state=0))


DEFAULT_RECIPE = Recipe()


def _compact(estimator: CalibratedClassifierCV) -> CalibratedClassifierCV:
    """Store linear weights as float32: half the file, and the features are float32 anyway."""
    for calibrated in estimator.calibrated_classifiers_:
        svm = calibrated.estimator
        svm.coef_ = svm.coef_.astype(np.float32)
        svm.intercept_ = svm.intercept_.astype(np.float32)
    return estimator


def _fit_emphasised(estimator: CalibratedClassifierCV, matrix: Any, labels: Sequence[str],
                    scale: np.ndarray) -> CalibratedClassifierCV:
    """Fit on features whose columns are scaled, then fold the scale into the weights.

    A linear model on X·diag(s) with weights w is the model on X with weights w·s, so the pipeline
    keeps the shared, unscaled features and only this target sees some blocks louder.
    """
    estimator.fit(matrix @ sp.diags(scale), list(labels))
    for calibrated in estimator.calibrated_classifiers_:
        calibrated.estimator.coef_ = calibrated.estimator.coef_ * scale
    return estimator


def _check_labels(texts: Sequence[str], labels: Sequence[str] | None, name: str) -> None:
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


def train(texts: Sequence[str], departments: Sequence[str], priorities: Sequence[str] | None = None, *,
          progress: bool = False, recipe: Recipe = DEFAULT_RECIPE) -> TicketClassifier:
    """Fit the shared features once, then one calibrated linear classifier per target."""
    texts = [as_text(t) for t in texts]
    if not texts:
        raise ModelError("no training texts")
    _check_labels(texts, departments, "department")
    _check_labels(texts, priorities, "priority")
    features = recipe.features()
    docs = features.analyse_many(tqdm(texts, desc="preparing text", unit="ticket", disable=not progress))
    steps = tqdm(total=3 if priorities is not None else 2, desc="fitting", disable=not progress)
    matrix = features.fit_analysed(docs).transform_analysed(docs)
    steps.update()
    department = Pipeline([("features", features), ("classifier", recipe.estimator(departments, recipe.department_c))])
    _compact(department[-1].fit(matrix, list(departments)))
    steps.update()
    priority = None
    if priorities is not None:
        priority = Pipeline([("features", features), ("classifier", recipe.estimator(priorities, recipe.priority_c))])
        scale = features.block_scale({"subject": recipe.priority_subject_emphasis})
        _compact(_fit_emphasised(priority[-1], matrix, priorities, scale))
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
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / sidecar.MODEL_FILE
    sio.dump({"department": model.department_pipeline, "priority": model.priority_pipeline}, path,
             compression=zipfile.ZIP_DEFLATED)
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


def corpus_files(corpus_dir: Any) -> list[Any]:
    """The corpus CSV files (Traversables, so this works from a wheel too), in a stable order."""
    files = sorted((f for f in corpus_dir.iterdir() if f.name.endswith(".csv")), key=lambda f: f.name)
    if not files:
        raise ModelError(f"no corpus files (*.csv) in {corpus_dir}: reinstall deskbot, or train a model "
                         "with `deskbot train DATA --out DIR` and pass --model DIR")
    return files


def _cache_key(files: list[Any]) -> str:
    """Changes with the corpus, the recipe, the model format and every checked library version."""
    digest = hashlib.sha256(f"{DEFAULT_RECIPE}|{sidecar.FORMAT_VERSION}|{sorted(sidecar.library_versions().items())}"
                            .encode())
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def read_corpus(files: list[Any]) -> Dataset:
    """All corpus files as one dataset (subject, body, department, priority columns)."""
    parts = []
    for file in files:
        with file.open("r", encoding="utf-8-sig", newline="") as stream:
            parts.append(read_rows(stream, file.name))
    return combine(parts)


def shipped_corpus() -> Any:
    """The folder of the corpus the default model is built from (a Traversable: works from a wheel)."""
    return importlib.resources.files("classifier") / "corpus"


def load_default(cache_dir: Path | str, *, corpus_dir: Any = None) -> TicketClassifier:
    """The model built from the shipped corpus: built on first use, then loaded from the cache."""
    files = corpus_files(corpus_dir if corpus_dir is not None else shipped_corpus())
    target = Path(cache_dir) / _cache_key(files)
    cached = _load_cached(target)
    if cached is not None:
        return cached
    data = read_corpus(files)
    log.info("building the default model from %d corpus tickets", len(data.texts))
    model = train(data.texts, data.departments, data.priorities)
    _store_cached(model, target)
    return model


def _load_cached(target: Path) -> TicketClassifier | None:
    """The cached default model, or None when there is none (or none usable: it is rebuilt)."""
    try:
        if not target.exists():
            return None
        return load(target)
    except (ModelError, OSError) as exc:  # OSError: a cache folder this user may not read
        log.warning("cached default model unusable, rebuilding: %s", exc)
        return None


def _store_cached(model: TicketClassifier, target: Path) -> None:
    """Save to the cache; a cache that cannot be written costs a rebuild at each start, not the service."""
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        save(model, staging)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        log.warning("cannot cache the default model in %s (%s): it will be rebuilt at every start; set "
                    "[paths] cache in deskbot.toml, or XDG_CACHE_HOME, to a folder this user can write",
                    target.parent, exc.strerror or exc)
        return
    shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:  # another process saved the same model first; its copy is as good
        shutil.rmtree(staging, ignore_errors=True)
