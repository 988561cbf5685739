"""What a starting daemon imports and holds (issue 20: start to first mail, peak RSS): no plotting, web or
training library on the daemon's path, the model in its prediction-only form, one model per process."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.daemon import build_triage, run_once, sources_of
from bot.errors import ModelError
from bot.ops.loopback import SmtpSink
from bot.pipeline import NEVER
from classifier import loading, runtime, sidecar
from classifier.dataset import read_dataset
from classifier.model import TicketClassifier, load, save, train
from tests.api_world import api_config, bearer, test_client
from tests.conftest import Clock, Mailbox

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "tickets-small.csv"
# Never on the daemon's path: plotting (evaluate), the HTTP stack (serve), training and skops (model files).
HEAVY = ("matplotlib", "fastapi", "uvicorn", "pandas", "sklearn", "skops", "nltk")
TEXTS = ["I was charged twice, refund please", "Das Paket ist nicht angekommen", "",
         "Hola, no puedo acceder a mi cuenta", "asdf qwerty zxcv"]


def imported_by(code: str, *args: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running `code`."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))", *args],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[TicketClassifier, Path]:
    data = read_dataset(FIXTURE)
    model = train(data.texts, data.departments, data.priorities)
    return model, save(model, tmp_path_factory.mktemp("model") / "m")


def test_the_daemon_and_its_text_preparation_import_no_heavy_library() -> None:
    loaded = imported_by("import bot.cli, bot.commands, bot.daemon\nfrom classifier.text import stem_tokens\n"
                         "assert stem_tokens(['invoices', 'rechnungen'], 'de') == ['invoic', 'rechnung']")
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)
    # Only helpdesk sources and OAuth token requests need an HTTP client (httpx pulls in rich and click for its
    # command line where those are installed); the decision log's migrations need alembic only to migrate.
    assert loaded.isdisjoint(("httpx", "rich", "alembic")), loaded & {"httpx", "rich", "alembic"}


def test_run_help_imports_no_heavy_library() -> None:
    loaded = imported_by("import contextlib, io\nfrom bot.cli import main\n"
                         "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
                         "    main(['run', '--once', '--help'])")
    assert loaded.isdisjoint((*HEAVY, "numpy", "scipy")), loaded & {*HEAVY, "numpy", "scipy"}


def test_the_daemon_loads_and_predicts_without_scikit_learn(saved: tuple[TicketClassifier, Path]) -> None:
    model, directory = saved
    expected = [p.department for p in model.predict_many(TEXTS)]
    loaded = imported_by("import sys, json\nfrom pathlib import Path\nfrom bot.daemon import load_classifier\n"
                         "model = load_classifier(Path(sys.argv[1]), None)\n"
                         f"assert [p.department for p in model.predict_many({TEXTS!r})] == {expected!r}",
                         str(directory))
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


def test_the_stemmer_is_nltks_and_nltk_still_imports_in_full_afterwards() -> None:
    imported_by("from classifier.text import stemmer_for\nimport sys\n"
                "mine = [stemmer_for(l)(w) for l, w in [('de', 'rechnungen'), ('en', 'invoices'), ('fr', 'factures')]]\n"
                "assert 'nltk' not in sys.modules and 'sklearn' not in sys.modules\n"
                "import nltk\nfrom nltk.stem.snowball import SnowballStemmer\n"
                "assert [SnowballStemmer(n).stem(w) for n, w in [('german', 'rechnungen'), ('english', 'invoices'), "
                "('french', 'factures')]] == mine\n"
                "assert callable(nltk.word_tokenize) and 'sklearn' in sys.modules")


def test_the_runtime_form_predicts_exactly_as_the_full_model(saved: tuple[TicketClassifier, Path]) -> None:
    model, directory = saved
    fast = runtime.read_runtime(directory)
    assert fast is not None and isinstance(fast.department_pipeline, tuple)
    texts = TEXTS + read_dataset(FIXTURE).texts
    assert fast.predict_many(texts) == load(directory).predict_many(texts) == model.predict_many(texts)
    assert fast.version == model.version and fast.max_confidence == model.max_confidence


def test_a_model_loaded_for_prediction_only_is_not_saved_again(saved: tuple[TicketClassifier, Path],
                                                              tmp_path: Path) -> None:
    fast = loading.load(saved[1])
    with pytest.raises(ModelError, match="prediction-only form and cannot be saved again"):
        save(fast, tmp_path / "again")
    assert not (tmp_path / "again").exists()


def test_an_altered_runtime_file_is_refused(saved: tuple[TicketClassifier, Path], tmp_path: Path) -> None:
    copy = Path(shutil.copytree(saved[1], tmp_path / "copy"))
    with np.load(copy / runtime.RUNTIME_FILE) as data:
        arrays = dict(data.items())
    arrays["department.intercept"] = arrays["department.intercept"] + 1  # same shape, other decisions
    np.savez_compressed(copy / runtime.RUNTIME_FILE, **arrays)
    with pytest.raises(ModelError, match="does not match its sidecar"):
        loading.load(copy)


def test_a_model_saved_before_the_runtime_form_or_under_other_libraries_loads_in_full(
        saved: tuple[TicketClassifier, Path], tmp_path: Path) -> None:
    older = Path(shutil.copytree(saved[1], tmp_path / "older"))
    (older / runtime.RUNTIME_FILE).unlink()
    content = json.loads((older / sidecar.SIDECAR_FILE).read_text(encoding="utf-8"))
    del content["files"][runtime.RUNTIME_FILE]
    (older / sidecar.SIDECAR_FILE).write_text(json.dumps(content), encoding="utf-8")
    assert runtime.read_runtime(older) is None
    assert loading.load(older).predict_many(TEXTS) == saved[0].predict_many(TEXTS)

    other = Path(shutil.copytree(saved[1], tmp_path / "other"))
    content = json.loads((other / sidecar.SIDECAR_FILE).read_text(encoding="utf-8"))
    content["libraries"]["numpy"] = "0.0.1"  # features may differ: the full load's self-check decides
    (other / sidecar.SIDECAR_FILE).write_text(json.dumps(content), encoding="utf-8")
    assert runtime.read_runtime(other) is None


def test_the_model_is_warm_before_the_first_poll_and_a_broken_one_stops_the_start(
        tmp_path: Path, model_cache: Path, smtp_sink: SmtpSink, clock: Clock, mailbox: Mailbox,
        saved: tuple[TicketClassifier, Path]) -> None:
    config = api_config(tmp_path, model_cache, sink=smtp_sink, mailbox=[mailbox.config])
    triage = build_triage(config, clock=clock)
    gc.disable()  # as `deskbot run` starts
    run_once(sources_of(config, triage), triage, stop=NEVER)  # no mail: only the start
    assert triage.classifier._model is not None  # type: ignore[attr-defined]  # loaded though no ticket came
    assert gc.isenabled() and gc.get_freeze_count() > 0, "start-up's objects frozen, the collector on for the rest"

    broken = Path(shutil.copytree(saved[1], tmp_path / "broken"))
    (broken / sidecar.MODEL_FILE).write_bytes(b"not a model")
    (broken / runtime.RUNTIME_FILE).write_bytes(b"not a model either")
    config = config.model_copy(update={"paths": config.paths.model_copy(update={"model": str(broken)})})
    triage = build_triage(config, clock=clock)
    with pytest.raises(ModelError, match="does not match its sidecar"):
        run_once(sources_of(config, triage), triage, stop=NEVER)


def test_serve_holds_one_model_for_the_api_and_the_daemon(tmp_path: Path, model_cache: Path, smtp_sink: SmtpSink,
                                                          clock: Clock) -> None:
    gc.collect()
    before = {id(o) for o in gc.get_objects() if isinstance(o, TicketClassifier)}
    config = api_config(tmp_path, model_cache, sink=smtp_sink)
    triage = build_triage(config, clock=clock)
    client, backend = test_client(config, triage)
    with client:
        response = client.post("/v1/predict", headers=bearer("widget"), json={"subject": "Refund", "body": "x"})
        assert response.status_code == 200, response.text
    triage.classifier.predict("Refund please, I was charged twice")
    assert backend.triage.classifier is triage.classifier
    gc.collect()
    loaded = [o for o in gc.get_objects() if isinstance(o, TicketClassifier) and id(o) not in before]
    assert len(loaded) == 1


@pytest.mark.parametrize("kept_bytes", [None, 512], ids=["kept-entries", "kept-entries-cleared-when-full"])
def test_the_mapped_language_identifier_scores_as_py3langids_own(monkeypatch: pytest.MonkeyPatch,
                                                                kept_bytes: int | None) -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from classifier import identifier
    from classifier.identifier import Table, language_identifier

    if kept_bytes is not None:
        monkeypatch.setattr(identifier, "KEPT_BYTES", kept_bytes)
    texts = [*TEXTS, "Привет, как дела у вас сегодня", "日本語のテキストです", "Goedemorgen, mijn factuur klopt niet",
             "Buongiorno, il mio ordine non è arrivato", read_dataset(FIXTURE).texts[0]]
    mapped, own = language_identifier(), LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    assert isinstance(mapped.nb_ptc, Table) and isinstance(mapped.tk_nextmove, Table)  # read where used, not copied
    expected = [own.classify(t) for t in texts]
    assert [mapped.classify(t) for t in texts] == expected
    assert [mapped.classify(t) for t in reversed(texts)] == expected[::-1], "the same from the entries kept"
    assert 0 < len(mapped.tk_nextmove._kept) <= mapped.tk_nextmove._keep


def test_the_language_tables_are_unpacked_once_into_the_kept_folder_and_mapped_from_there(tmp_path: Path) -> None:
    from classifier import identifier

    texts = ["Bonjour, je voudrais annuler ma commande", "Guten Tag, meine Rechnung ist falsch"]
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "py3langid-0.1.0-1-2.npz").write_bytes(b"an older py3langid's tables")
    first = identifier.language_identifier(tmp_path / "cache")
    kept = list((tmp_path / "cache").glob("py3langid-*.npz"))
    assert len(kept) == 1 and not list((tmp_path / "cache").glob(".py3langid-*"))  # no half-written file left
    assert kept[0].name != "py3langid-0.1.0-1-2.npz"  # an upgrade's leftover is removed
    assert os.fstat(first.nb_ptc.file.fd).st_ino == kept[0].stat().st_ino  # read from the kept file
    stamp = kept[0].stat().st_mtime_ns
    second = identifier.language_identifier(tmp_path / "cache")
    assert kept[0].stat().st_mtime_ns == stamp  # read again, not unpacked again
    assert [second.classify(t) for t in texts] == [first.classify(t) for t in texts]
    assert [lang for lang, _ in map(first.classify, texts)] == ["fr", "de"]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    third = identifier.language_identifier(blocked / "cache")  # cannot be made: unpacked for this process only
    assert os.fstat(third.nb_ptc.file.fd).st_ino != kept[0].stat().st_ino
    assert [third.classify(t) for t in texts] == [first.classify(t) for t in texts]


def test_run_turns_the_cyclic_collector_back_on_when_its_start_fails(tmp_path: Path) -> None:
    (tmp_path / "deskbot.toml").write_text("[database]\nurl = 42\n")
    assert main(["run", "--once", "--config", str(tmp_path / "deskbot.toml")]) == 2
    assert gc.isenabled()
