"""Accuracy over time, shadow retraining (refusing a worse candidate, applying a better one), rollback, a switched
model used for the next ticket without a restart, and shadow decisions recorded without actions."""

from __future__ import annotations

import csv
import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from bot.cli import build_parser, main
from bot.daemon import build_triage
from bot.learning.accuracy import Decided, Label, weekly
from bot.learning.corrections import record_observation
from bot.learning.registry import ModelRegistry
from bot.learning.shadow import ShadowModel
from bot.log.feedback import ShadowDecision
from bot.log.store import Store
from bot.report.facts import gather
from bot.report.page import render
from classifier.dataset import read_dataset
from classifier.model import train
from connectors.base import Observation
from tests.test_decide import PREDICTION, TICKET, run
from tests.test_helpdesk_e2e import cycle, world  # noqa: F401 - the fixture of the end-to-end helpdesk tests

WRITTEN = Path(__file__).parents[1] / "classifier" / "corpus" / "written-en.csv"
DAY = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


def corpus_rows() -> list[dict[str, str]]:
    with WRITTEN.open(encoding="utf-8") as stream:
        return [r for r in csv.DictReader(stream) if r["department"] != "(not a request)"]


def tiny_model(rows: list[dict[str, str]], *, rotate: bool = False):  # noqa: ANN201
    """A model from a few rows; `rotate` gives every ticket the next department's label (always wrong)."""
    names = sorted({r["department"] for r in rows})
    departments = [names[(names.index(r["department"]) + rotate) % len(names)] for r in rows]
    return train([f"{r['subject']}\n{r['body']}" for r in rows], departments, [r["priority"] for r in rows])


def skewed_model(right: list[dict[str, str]], wrong: list[dict[str, str]]):  # noqa: ANN201
    """A model that learnt `right` with their labels and `wrong` with the next department's (mostly wrong)."""
    names = sorted({r["department"] for r in right + wrong})
    departments = [r["department"] for r in right] + [names[(names.index(r["department"]) + 1) % len(names)]
                                                      for r in wrong]
    return train([f"{r['subject']}\n{r['body']}" for r in right + wrong], departments,
                 [r["priority"] for r in right + wrong])


def teach(store: Store, rows: list[dict[str, str]]) -> None:
    """Decided tickets (all filed `general`, low) that agents corrected to their true labels, a day apart."""
    prediction = replace(PREDICTION, department="general", priority="low")
    decision = replace(run(), department="general", priority="low")
    for i, row in enumerate(rows):
        ticket = replace(TICKET, source="zendesk:acme", key=f"zendesk:acme:{i}", ref=str(i), subject=row["subject"],
                         body=row["body"], text=row["body"])
        store.record_decision(ticket, prediction, decision, kinds=(), cursor=None)
        record_observation(store, Observation(source="zendesk:acme", key=ticket.key, solved=True,
                                              departments=(("zendesk", row["department"]),), priority=row["priority"],
                                              at=DAY + timedelta(days=i)))


def write_config(tmp_path: Path, model_cache: Path, base_rows: list[dict[str, str]]) -> Path:
    with (tmp_path / "train.csv").open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["language", "department", "priority", "subject", "body"])
        writer.writeheader()
        writer.writerows(base_rows)
    path = tmp_path / "deskbot.toml"
    path.write_text(f"""
[database]
url = "sqlite:///log.sqlite3"
[[zendesk]]
name = "acme"
url = "https://acme.zendesk.com"
email = "bot@acme.example"
token_env = "UNUSED_IN_THESE_TESTS"
[paths]
cache = "{model_cache}"
[learning]
training_data = ["train.csv"]
evaluate_last = 10
min_gain = 0.01
""")
    return path


@pytest.fixture
def taught(tmp_path: Path, model_cache: Path) -> tuple[Path, ModelRegistry]:
    rows = corpus_rows()
    config = write_config(tmp_path, model_cache, rows[:60])
    teach(Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}"), rows[100:140])
    return config, ModelRegistry(tmp_path / "models")


def test_retrain_refuses_a_candidate_worse_than_the_current_model(taught, capsys) -> None:  # noqa: ANN001
    config, registry = taught
    assert main(["retrain", "--config", str(config), "--apply"]) == 1
    out = capsys.readouterr().out
    assert "evaluated on the 10 most recent corrected or confirmed tickets" in out
    assert "the candidate learnt from 40 labelled tickets" in out
    assert "refused: the candidate is not better" in out
    assert registry.current_name() is None, "the default model stays live"
    assert len(registry.versions()) == 1, "the candidate is kept as a version, not made live"


def test_retrain_applies_a_better_candidate_and_model_use_rolls_back(taught, capsys) -> None:  # noqa: ANN001
    config, registry = taught
    bad = registry.add(tiny_model(corpus_rows()[:40], rotate=True))
    registry.use(bad.name)
    assert main(["retrain", "--config", str(config)]) == 0
    assert "not switched (dry run)" in capsys.readouterr().out and registry.current_name() == bad.name

    assert main(["retrain", "--config", str(config), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "switched:" in out and f"deskbot model use {bad.name}" in out
    current = registry.current_name()
    assert current not in (None, bad.name)
    assert main(["model", "list", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert f"* {current}" in listing and f"  {bad.name}" in listing

    assert main(["model", "use", bad.name, "--config", str(config)]) == 0
    assert registry.current_name() == bad.name
    assert main(["model", "use", "no-such-version", "--config", str(config)]) == 1
    assert "no model version 'no-such-version'" in capsys.readouterr().err


def test_auto_apply_switches_by_itself_when_the_candidate_is_better(taught, capsys) -> None:  # noqa: ANN001
    config, registry = taught
    config.write_text(config.read_text() + "auto_apply = true\n")
    registry.use(registry.add(tiny_model(corpus_rows()[:40], rotate=True)).name)
    before = registry.current_name()
    assert main(["retrain", "--config", str(config)]) == 0
    assert registry.current_name() != before


def test_a_running_daemon_uses_a_switched_model_for_the_next_ticket(taught, tmp_path: Path) -> None:  # noqa: ANN001
    config_path, registry = taught
    from bot.config.file import load_config

    config = load_config(config_path, secrets=False)
    first, second = (registry.add(tiny_model(corpus_rows()[i:i + 40])) for i in (0, 40))
    registry.use(first.name)
    triage = build_triage(config)
    assert triage.classifier.predict("my invoice is wrong").model_version == first.name
    assert main(["model", "use", second.name, "--config", str(config_path)]) == 0
    assert triage.classifier.predict("my invoice is wrong").model_version == second.name
    main(["model", "use", "default", "--config", str(config_path)])
    assert triage.classifier.predict("my invoice is wrong").model_version not in (first.name, second.name)


def test_shadow_decisions_are_recorded_and_never_acted_on(world) -> None:  # noqa: ANN001,F811
    config, desks, clock = world
    triage = build_triage(config, clock=clock)
    shadow = tiny_model(corpus_rows()[:40], rotate=True)
    triage.shadow = ShadowModel(shadow, triage.store)
    cycle(config, triage, desks)
    with triage.store.session() as session:
        recorded = list(session.exec(select(ShadowDecision)))
    assert len(recorded) == 6 and {r.model_version for r in recorded} == {shadow.version}
    live = {r.key: triage.store.find_key(r.key) for r in recorded}
    assert all(r.live_model_version == live[r.key].model_version != shadow.version for r in recorded)
    assert any(r.department != live[r.key].department for r in recorded), "the shadow decided otherwise"
    for ticket_id, ticket in desks.zendesk.tickets.items():
        row = triage.store.find_key(f"zendesk:acme:{ticket_id}")
        wanted = desks.zendesk.group_id(row.group) if row.group else None
        assert ticket.group_id == wanted, "the helpdesk shows the live decision only"
    first = recorded[0]
    record_observation(triage.store, Observation(source="zendesk:acme", key=first.key, solved=True,
                                                 departments=(("zendesk", first.department),), priority=None, at=None))
    facts = gather(triage.store, clock() - timedelta(days=1), clock() + timedelta(days=1))
    [seen] = facts.shadows
    assert "<h2>Shadow models</h2>" in render(facts) and shadow.version in render(facts)
    assert (seen["model_version"], seen["tickets"], seen["labelled"], seen["shadow_agreement"]) == \
        (shadow.version, 6, 1, 1.0), "the report holds the shadow against what agents decided"


def test_run_takes_a_shadow_model_folder() -> None:
    args = build_parser().parse_args(["run", "--config", "deskbot.toml", "--shadow", "models/candidate"])
    assert args.shadow == Path("models/candidate")


def test_weekly_accuracy_counts_each_tickets_latest_label_in_the_week_it_was_decided() -> None:
    week1, week2 = date(2026, 11, 2), date(2026, 11, 9)
    decided = [Decided(1, week1, "billing", "low", False), Decided(2, week1, "billing", "high", True),
               Decided(3, week1, "sales", "low", False), Decided(4, week2, "sales", "medium", False),
               Decided(5, week2, "orders", "low", False)]
    labels = {1: Label("billing", "high"), 2: Label("billing", "high"), 3: Label("orders", ""),
              5: Label("orders", "low")}
    first, second = weekly(decided, labels)
    assert (first["week"], first["tickets"], first["labelled"]) == ("2026-11-02", 3, 3)
    assert (first["auto_route_rate"], first["review_rate"]) == (0.6667, 0.3333)
    assert first["department_agreement"] == 0.6667 and first["priority_agreement"] == 0.5
    assert first["high_predicted_low_rate"] == 0.5, "ticket 1: high for the team, low for deskbot"
    assert first["department_agreement_by_department"] == {"billing": 1.0, "orders": 0.0}
    assert (second["tickets"], second["labelled"], second["department_agreement"]) == (2, 1, 1.0)


def test_training_files_without_priorities_are_refused_with_the_file(tmp_path: Path) -> None:
    from bot.errors import DeskbotError
    from bot.learning.retrain import base_data

    path = tmp_path / "labels.csv"
    path.write_text("subject,body,department\nHi,My invoice,billing\nHo,My login,technical\n")
    assert read_dataset(path).priorities is None
    with pytest.raises(DeskbotError, match="labels.csv: retraining needs a priority column"):
        base_data([path])


def test_nothing_new_to_learn_from_says_so(tmp_path: Path, model_cache: Path, capsys) -> None:
    config = write_config(tmp_path, model_cache, corpus_rows()[:60])
    Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    assert main(["retrain", "--config", str(config)]) == 1
    assert "no ticket was corrected or confirmed since the current model was trained" in capsys.readouterr().err


def test_a_better_candidate_is_not_refused_because_the_newest_labels_happen_to_favour_the_current_model(
        tmp_path: Path, model_cache: Path, capsys) -> None:  # noqa: ANN001
    """The newest ten labels are tickets the current model gets right (it was built from their texts); on the
    thirty before them it is mostly wrong. Compared on the newest quarter alone, the candidate looked worse and
    was refused; compared on all forty (the candidate cross-validated), it is better and goes live."""
    rows = corpus_rows()
    random.Random(3).shuffle(rows)
    base, lessons = rows[:60], rows[60:100]
    config = write_config(tmp_path, model_cache, base)
    config.write_text(config.read_text().replace("evaluate_last = 10", "evaluate_last = 40"))
    teach(Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}"), lessons)
    registry = ModelRegistry(tmp_path / "models")
    current = registry.add(skewed_model(lessons[-10:], rows[100:140]))
    registry.use(current.name)
    assert main(["retrain", "--config", str(config), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "evaluated on the 40 most recent corrected or confirmed tickets" in out and "4 folds" in out
    assert "switched:" in out and registry.current_name() != current.name


def test_a_successor_is_refused_only_when_its_gain_is_surely_below_min_gain() -> None:
    from bot.learning.retrain import Scores, Verdict

    def verdict(candidate: float, interval: tuple[float, float], successor: bool) -> Verdict:
        return Verdict(Scores(0, 0.60, 0, 0.60), Scores(0, candidate, 0, candidate), 200, 900, 0.01,
                       interval=interval, successor=successor)

    assert verdict(0.62, (-0.01, 0.05), successor=False).better, "better by min_gain: switched, as before"
    assert not verdict(0.593, (-0.04, 0.03), successor=False).better, "a model from other data must show its gain"
    assert verdict(0.593, (-0.04, 0.03), successor=True).better, "noise: the model that learnt more goes live"
    assert not verdict(0.55, (-0.09, 0.005), successor=True).better, "surely short of min_gain: refused"


def test_the_gain_interval_is_paired_seeded_and_macro_f1_as_sklearn_computes_it() -> None:
    from sklearn.metrics import f1_score

    from bot.learning.interval import gain_interval, macro_f1

    truth = (["a", "b", "c", "a"] * 25, ["low", "high"] * 50)
    same = gain_interval(truth, truth, truth)
    assert same == (0.0, 0.0), "the same predictions: no gain on any resample"
    worse = (["a"] * 100, ["low"] * 100)
    low, high = gain_interval(truth, truth, worse)
    assert low <= high < -0.3 and gain_interval(truth, truth, worse) == (low, high)
    guess = ["a", "c", "c", "b", "a", "a"]
    codes = {"a": 0, "b": 1, "c": 2}
    real = np.array([[codes[v] for v in ["a", "b", "c", "b", "a", "b"]]])
    assert macro_f1(real, np.array([[codes[v] for v in guess]]), 3)[0] == pytest.approx(
        f1_score(["a", "b", "c", "b", "a", "b"], guess, average="macro", zero_division=0))


def test_retrain_records_its_training_data_so_the_next_retrain_knows_its_successor(tmp_path: Path) -> None:
    from bot.learning.retrain import Lessons, build_candidate, succeeds

    rows = corpus_rows()[::3]
    files = [tmp_path / "train.csv"]
    with files[0].open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["language", "department", "priority", "subject", "body"])
        writer.writeheader()
        writer.writerows(rows)
    model = build_candidate(files, Lessons([], [], [], []))
    assert succeeds(model, files) and not succeeds(model, []) and not succeeds(tiny_model(rows), files)
