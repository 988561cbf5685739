"""`deskbot train` and `deskbot evaluate`, through the argparse commands classifier/cli.py registers."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from bot.rules import shipped_rules_path
from classifier.cli import add_commands
from classifier.dataset import DatasetError
from classifier.model import load

FIXTURE = Path(__file__).parent / "fixtures" / "tickets-small.csv"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="deskbot")
    add_commands(parser.add_subparsers(required=True))
    args = parser.parse_args([str(a) for a in argv])
    return int(args.handler(args))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli") / "model"
    assert run("train", FIXTURE, "--out", directory, "--holdout", "0.3") == 0
    return directory


def test_train_saves_a_model_with_holdout_scores(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sidecar = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    holdout = sidecar["metrics"]["holdout"]
    assert set(holdout) == {"department", "priority"}
    assert 0.0 <= holdout["department"]["macro_f1"] <= 1.0
    assert load(model_dir).priorities == ("high", "low", "medium")


def test_evaluate_json(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("evaluate", FIXTURE, "--model", model_dir, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    for target in ("department", "priority"):
        assert {"macro_f1", "weighted_f1", "accuracy", "per_class"} <= set(report[target])
        assert sum(c["support"] for c in report[target]["per_class"].values()) == 60
    assert report["department"]["per_class"]["billing"]["recall"] > 0.5
    assert "high_as_low" in report["priority"]["costly_errors"]
    assert 0.0 <= report["department"]["expected_calibration_error"] <= 1.0
    tradeoff = report["priority"]["high_as_low_cost"]
    assert [row["high_as_low_cost"] for row in tradeoff] == [1, 1.5, 2, 3, 4, 5, 6, 8]
    assert tradeoff[0]["high_as_low"] == report["priority"]["costly_errors"]["high_as_low"]  # 1: the model as is
    misses = [row["high_as_low"] for row in tradeoff]
    assert misses == sorted(misses, reverse=True)  # a higher cost never files more high tickets low


def test_evaluate_text_report_and_png(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(shipped_rules_path().read_text(encoding="utf-8").replace("high_as_low_cost = 5",
                                                                              "high_as_low_cost = 4"))
    assert run("evaluate", FIXTURE, "--model", model_dir, "--plot-dir", tmp_path, "--rules", rules) == 0
    out = capsys.readouterr().out
    for expected in ("== department ==", "== priority ==", "macro F1", "weighted F1", "true \\ predicted",
                     "auto-routed", "high predicted low", "calibration error (ECE)", "[priority] high_as_low_cost"):
        assert expected in out
    [chosen] = [line for line in out.splitlines() if line.endswith("<- your rules")]
    assert chosen.split()[0] == "4"
    for target in ("department", "priority"):
        assert (tmp_path / f"confusion-{target}.png").read_bytes().startswith(b"\x89PNG")


def test_evaluate_marks_the_shipped_rules_cost(model_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run("evaluate", FIXTURE, "--model", model_dir, "--plot-dir", tmp_path) == 0
    [chosen] = [line for line in capsys.readouterr().out.splitlines() if line.endswith("<- your rules")]
    assert chosen.split()[0] == "5", "the shipped high_as_low_cost = 5 has its row"


def test_department_only_from_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(FIXTURE.read_text(encoding="utf-8"))))
    data = tmp_path / "tickets.jsonl"
    data.write_text("".join(json.dumps({"title": r["subject"], "text": r["body"], "queue": r["department"]}) + "\n"
                            for r in rows), encoding="utf-8")
    out = tmp_path / "model"
    assert run("train", data, "--out", out, "--text-columns", "title,text", "--department-column", "queue") == 0
    assert "no priority model" in capsys.readouterr().out
    assert run("evaluate", data, "--model", out, "--text-columns", "title,text", "--department-column", "queue",
               "--json") == 0
    assert set(json.loads(capsys.readouterr().out)) == {"department"}


def test_bad_data_names_file_and_column(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"tickets-small\.csv: row 2: no column 'queue'"):
        run("train", FIXTURE, "--out", tmp_path / "m", "--department-column", "queue")
