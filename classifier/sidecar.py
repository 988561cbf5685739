"""The JSON sidecar of a saved model: what made it, and the checks that refuse a model we cannot trust."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bot.errors import ModelError

FORMAT_VERSION = 2  # 2: char n-grams of folded words (no diacritics), prefix block
MODEL_FILE = "model.skops"
SIDECAR_FILE = "model.json"
# Features depend on these too: a new stemmer or language model silently changes the input.
CHECKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "skops", "nltk", "py3langid")
RETRAIN = "retrain it with `deskbot train DATA --out {directory}`"

# Types outside skops' defaults that our models are made of. Anything else in a file is refused.
TRUSTED_TYPES = frozenset({
    "classifier.features.TicketFeatures",
    "classifier.termblock.TermBlock",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._TemperatureScaling",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
})


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a saved model depends on."""
    found: dict[str, str] = {}
    for name in CHECKED_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_sidecar(directory: Path, content: dict[str, Any]) -> None:
    """Write model.json last and atomically, so a half-saved model is never taken for whole."""
    target = directory / SIDECAR_FILE
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(target)


def read_sidecar(directory: Path) -> dict[str, Any]:
    """model.json of `directory`, if this deskbot reads its format; ModelError says what to do."""
    retrain = RETRAIN.format(directory=directory)
    if not directory.is_dir():
        raise ModelError(f"no model directory at {directory}: train one with "
                         f"`deskbot train DATA --out {directory}`")
    path = directory / SIDECAR_FILE
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{path} is missing, so {directory} is not a complete model: {retrain}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is unreadable or corrupt ({exc}): {retrain}") from exc
    if not isinstance(content, dict) or content.get("format") != FORMAT_VERSION:
        found = content.get("format") if isinstance(content, dict) else None
        raise ModelError(f"{path} has model format {found!r}, this deskbot reads {FORMAT_VERSION}: {retrain}")
    if not isinstance(content.get("libraries"), dict):
        raise ModelError(f"{path} does not record library versions: {retrain}")
    return content


def library_differences(content: dict[str, Any]) -> list[str]:
    """The checked libraries whose installed version differs from the one the model was saved with."""
    current, saved = library_versions(), content.get("libraries") or {}
    return [f"{name} {saved.get(name)} (installed: {current[name]})"
            for name in CHECKED_LIBRARIES if saved.get(name) != current[name]]


def check_model_file(directory: Path, content: dict[str, Any]) -> Path:
    """The model file, if it exists and is byte for byte the one the sidecar describes."""
    retrain = RETRAIN.format(directory=directory)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"{path} is missing: {retrain}")
    expected = content.get("files", {}).get(MODEL_FILE) if isinstance(content.get("files"), dict) else None
    if not expected or file_sha256(path) != expected:
        raise ModelError(f"{path} does not match its sidecar (truncated, corrupt or replaced): {retrain}")
    return path
