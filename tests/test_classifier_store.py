"""Saving and loading models: round trip, and refusing anything we cannot trust."""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import skops.io as sio

from bot.errors import ModelError
from classifier import sidecar
from classifier.dataset import read_dataset
from classifier.model import TicketClassifier, load, save, train
from classifier.starter import load_default

FIXTURE = Path(__file__).parent / "fixtures" / "tickets-small.csv"


class Trap:
    """A type no model contains; loading it would run this module's code."""

    built = 0

    def __setstate__(self, state: dict[str, object]) -> None:
        Trap.built += 1


TEXTS = ["I was charged twice, refund please", "Das Paket ist nicht angekommen", ""]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[TicketClassifier, Path]:
    data = read_dataset(FIXTURE)
    model = train(data.texts, data.departments, data.priorities)
    return model, save(model, tmp_path_factory.mktemp("model") / "m")


@pytest.fixture
def copy(saved: tuple[TicketClassifier, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved[1], tmp_path / "copy"))


def _rewrite_sidecar(directory: Path, **changes: object) -> None:
    path = directory / sidecar.SIDECAR_FILE
    content = json.loads(path.read_text(encoding="utf-8"))
    content.update(changes)
    path.write_text(json.dumps(content), encoding="utf-8")


def test_round_trip_predicts_the_same(saved: tuple[TicketClassifier, Path]) -> None:
    model, directory = saved
    loaded = load(directory)
    assert loaded.version == model.version
    assert loaded.departments == model.departments and loaded.priorities == model.priorities
    assert loaded.predict_many(TEXTS) == model.predict_many(TEXTS)


def test_sidecar_records_provenance(saved: tuple[TicketClassifier, Path]) -> None:
    content = json.loads((saved[1] / sidecar.SIDECAR_FILE).read_text(encoding="utf-8"))
    assert content["format"] == sidecar.FORMAT_VERSION
    assert set(sidecar.CHECKED_LIBRARIES) <= set(content["libraries"])
    assert content["departments"] == list(saved[0].departments)
    assert len(content["training_data_sha256"]) == 64 and content["created_at"]


def test_refuses_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="deskbot train"):
        load(tmp_path / "nowhere")


@pytest.mark.parametrize("name", [sidecar.MODEL_FILE, sidecar.SIDECAR_FILE])
def test_refuses_missing_file(copy: Path, name: str) -> None:
    (copy / name).unlink()
    with pytest.raises(ModelError, match="missing.*retrain"):
        load(copy)


def test_refuses_truncated_model_file(copy: Path) -> None:
    path = copy / sidecar.MODEL_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match="truncated, corrupt or replaced"):
        load(copy)


def test_refuses_corrupt_sidecar(copy: Path) -> None:
    (copy / sidecar.SIDECAR_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="corrupt"):
        load(copy)


def _other_versions(directory: Path) -> None:
    """Make the sidecar say the model was saved under an older scikit-learn."""
    _rewrite_sidecar(directory, libraries={**sidecar.library_versions(), "scikit-learn": "0.24.2"})


def test_other_library_versions_load_when_the_self_check_passes(
        saved: tuple[TicketClassifier, Path], copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    _other_versions(copy)
    with caplog.at_level(logging.WARNING, logger="classifier.model"):
        loaded = load(copy)
    assert loaded.predict_many(TEXTS) == saved[0].predict_many(TEXTS)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "scikit-learn 0.24.2 (installed: " in record.getMessage()
    assert "self-check on 32 stored texts passed" in record.getMessage()


def test_refuses_other_library_versions_without_a_self_check(copy: Path) -> None:
    content = json.loads((copy / sidecar.SIDECAR_FILE).read_text(encoding="utf-8"))
    del content["probe"]
    (copy / sidecar.SIDECAR_FILE).write_text(json.dumps(content), encoding="utf-8")
    _other_versions(copy)
    with pytest.raises(ModelError, match=r"no usable self-check.*scikit-learn 0\.24\.2 \(installed: .*retrain"):
        load(copy)


def _edit_probe(directory: Path, key: str, edit: Callable[[list], None]) -> None:
    content = json.loads((directory / sidecar.SIDECAR_FILE).read_text(encoding="utf-8"))
    edit(content["probe"][key])
    (directory / sidecar.SIDECAR_FILE).write_text(json.dumps(content), encoding="utf-8")


@pytest.mark.parametrize(("key", "edit", "message"), [
    ("departments", lambda v: v.__setitem__(3, "nowhere"), r"1 of 32 departments changed \(first: probe text 3, "
     r"'nowhere' -> '\w+'\)"),
    ("priority_scores", lambda v: v[5].__setitem__(0, v[5][0] + 0.02), r"priority_scores moved by up to 0\.02"),
    ("department_scores", lambda v: v[0].pop(), "department_scores have another shape"),
])
def test_refuses_other_library_versions_when_the_self_check_fails(copy: Path, key: str,
                                                                   edit: Callable[[list], None], message: str) -> None:
    _edit_probe(copy, key, edit)
    load(copy)  # same versions: the probe is not consulted
    _other_versions(copy)
    with pytest.raises(ModelError, match=f"failed its self-check: {message}.*scikit-learn 0\\.24\\.2.*retrain"):
        load(copy)


def test_objects_that_no_longer_fit_the_installed_library_are_refused_with_the_retrain_message(copy: Path) -> None:
    path = copy / sidecar.MODEL_FILE
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    # as if the installed scikit-learn had renamed an attribute its old objects still carry
    members["schema.json"] = members["schema.json"].replace(b'"coef_"', b'"coef0_"')
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    _rewrite_sidecar(copy, files={sidecar.MODEL_FILE: sidecar.file_sha256(path)})
    _other_versions(copy)
    with pytest.raises(ModelError, match=r"incomplete model.*scikit-learn 0\.24\.2 \(installed: .*retrain it with"):
        load(copy)


def test_refuses_other_format_version(copy: Path) -> None:
    _rewrite_sidecar(copy, format=99)
    with pytest.raises(ModelError, match="format 99"):
        load(copy)


def test_refuses_file_that_is_not_a_model_even_with_matching_hash(copy: Path) -> None:
    path = copy / sidecar.MODEL_FILE
    path.write_bytes(b"PK\x03\x04 this is not a zip archive at all")
    _rewrite_sidecar(copy, files={sidecar.MODEL_FILE: sidecar.file_sha256(path)})
    with pytest.raises(ModelError, match="not a model file"):
        load(copy)


def test_refuses_untrusted_types_without_loading_them(copy: Path) -> None:
    path = copy / sidecar.MODEL_FILE
    sio.dump({"department": Trap()}, path)
    _rewrite_sidecar(copy, files={sidecar.MODEL_FILE: sidecar.file_sha256(path)})
    with pytest.raises(ModelError, match="does not trust.*Trap.*nothing was loaded"):
        load(copy)
    assert Trap.built == 0


def test_refuses_a_valid_skops_file_of_something_else(copy: Path) -> None:
    path = copy / sidecar.MODEL_FILE
    sio.dump({"department": [1, 2, 3]}, path)
    _rewrite_sidecar(copy, files={sidecar.MODEL_FILE: sidecar.file_sha256(path)})
    with pytest.raises(ModelError, match="does not hold a deskbot model"):
        load(copy)


def test_default_model_is_built_once_then_cached(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(FIXTURE, corpus / "starter-en.csv")
    cache = tmp_path / "cache"
    first = load_default(cache, corpus_dir=corpus)
    [entry] = list(cache.iterdir())
    second = load_default(cache, corpus_dir=corpus)
    assert second.version == first.version  # loaded, not retrained
    (entry / sidecar.MODEL_FILE).write_bytes(b"garbage")
    third = load_default(cache, corpus_dir=corpus)  # unusable cache: rebuilt
    assert third.predict("refund my payment").department == "billing"
    assert load(entry).version == third.version


def test_default_model_needs_a_corpus(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no corpus files"):
        load_default(tmp_path / "cache", corpus_dir=tmp_path)


def test_default_model_is_served_when_the_cache_cannot_be_written(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(FIXTURE, corpus / "starter-en.csv")
    (tmp_path / "afile").write_text("a file, not a folder", encoding="utf-8")
    cache = tmp_path / "afile" / "cache"  # mkdir fails even for root, as for a service user without a home
    with caplog.at_level(logging.WARNING, logger="classifier.starter"):
        model = load_default(cache, corpus_dir=corpus)
    assert model.predict("refund my payment").department == "billing"
    [record] = caplog.records
    assert f"cannot cache the default model in {cache}" in record.getMessage()
    assert "[paths] cache in deskbot.toml, or XDG_CACHE_HOME" in record.getMessage()
