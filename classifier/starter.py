"""The default model: built from the corpus shipped in classifier/corpus/ on first use, then cached.

The corpus has two kinds of files. composed-<language>.csv are written by classifier/corpus/compose.py
from hand-written parts: many tickets, in a family likeness. written-<language>.csv are tickets written
one by one, each in its own words. Confidence is calibrated on the written tickets as judged by a model
that learnt from the composed ones (Recipe.estimator), so it means what it says on text unlike the
corpus; then the model learns from both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ModelError
from classifier import loading, runtime, sidecar
from classifier.dataset import Dataset, combine, read_rows
from classifier.predictor import TicketClassifier
from classifier.recipe import DEFAULT_RECIPE

log = logging.getLogger(__name__)

CALIBRATION_PREFIX = "written-"  # corpus files whose tickets calibrate confidence
# Recipe.label_noise of the default model: the share of realistic tickets whose queue their words do not
# decide. It minimises the log-loss of the default model's department scores on the mapped v4 and v5
# samples (bench/default_model.py, "label noise"); v3 is the test it was not chosen on.
LABEL_NOISE = 0.24
STARTER_RECIPE = dataclasses.replace(DEFAULT_RECIPE, label_noise=LABEL_NOISE)


def shipped_corpus() -> Any:
    """The folder of the corpus the default model is built from (a Traversable: works from a wheel)."""
    return importlib.resources.files("classifier") / "corpus"


def corpus_files(corpus_dir: Any) -> list[Any]:
    """The corpus CSV files (Traversables, so this works from a wheel too), in a stable order."""
    files = sorted((f for f in corpus_dir.iterdir() if f.name.endswith(".csv")), key=lambda f: f.name)
    if not files:
        raise ModelError(f"no corpus files (*.csv) in {corpus_dir}: reinstall deskbot, or train a model "
                         "with `deskbot train DATA --out DIR` and pass --model DIR")
    return files


def read_corpus(files: list[Any]) -> tuple[Dataset, np.ndarray]:
    """All corpus files as one dataset, and which of its tickets calibrate (a mask; see the module)."""
    parts = []
    for file in files:
        with file.open("r", encoding="utf-8-sig", newline="") as stream:
            parts.append(read_rows(stream, file.name))
    held_out = np.concatenate([np.full(len(p.texts), p.source.startswith(CALIBRATION_PREFIX)) for p in parts])
    return combine(parts), held_out


def build(files: list[Any]) -> TicketClassifier:
    """Train the default model from corpus files, calibrated on the written ones when there are both kinds."""
    from classifier.model import train  # scikit-learn: only to build

    data, held_out = read_corpus(files)
    log.info("building the default model from %d corpus tickets", len(data.texts))
    usable = 0 < held_out.sum() < len(held_out)
    return train(data.texts, data.departments, data.priorities, held_out=held_out if usable else None,
                 recipe=STARTER_RECIPE)


def _cache_key(files: list[Any]) -> str:
    """Changes with the corpus, the recipe, the model format and every checked library version."""
    # runtime.RUNTIME_FORMAT: a cache from before the fast form (or of another one) is built anew
    digest = hashlib.sha256(f"{STARTER_RECIPE}|{sidecar.FORMAT_VERSION}|{runtime.RUNTIME_FORMAT}|"
                            f"{sorted(sidecar.library_versions().items())}".encode())
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def load_default(cache_dir: Path | str, *, corpus_dir: Any = None) -> TicketClassifier:
    """The model built from the shipped corpus: built on first use, then loaded from the cache."""
    files = corpus_files(corpus_dir if corpus_dir is not None else shipped_corpus())
    target = Path(cache_dir) / _cache_key(files)
    cached = _load_cached(target)
    if cached is not None:
        return cached
    model = build(files)
    _store_cached(model, target)
    return model


def _load_cached(target: Path) -> TicketClassifier | None:
    """The cached default model, or None when there is none (or none usable: it is rebuilt)."""
    try:
        if not target.exists():
            return None
        return loading.load(target)
    except (ModelError, OSError) as exc:  # OSError: a cache folder this user may not read
        log.warning("cached default model unusable, rebuilding: %s", exc)
        return None


def _store_cached(model: TicketClassifier, target: Path) -> None:
    """Save to the cache; a cache that cannot be written costs a rebuild at each start, not the service."""
    from classifier.model import save

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
