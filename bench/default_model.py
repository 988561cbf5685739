"""How well the default model, built from the shipped starter corpus, routes: held-out scores and the demo mails.

    .venv/bin/python bench/default_model.py [--holdout 0.25] [--plot-dir DIR]

1. Splits classifier/corpus/ (stratified by department, seed 42), runs `deskbot train` on the rest and
   `deskbot evaluate` on the held-out part: the report an admin reads before trusting a model.
   With 77 held-out tickets one split's macro-F1 moves by several points with the rows it draws, so
   4-fold cross-validation over the whole corpus, under three seeds, follows it.
2. Builds the default model from the whole corpus, as `deskbot demo` does, and predicts the demo
   mails (parsed as the bot parses them) beside the department and priority that
   bot/demo/mail/README.md expects of each.
"""

from __future__ import annotations

import argparse
import csv
import importlib.resources
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

EXPECTED = re.compile(r"(\d\d) (\w+)/(\w+)")  # "01 technical/high" in the demo README


def split_corpus(holdout: float, folder: Path) -> tuple[Path, Path]:
    """The starter corpus as two CSV files: training rows and held-out rows."""
    from sklearn.model_selection import train_test_split

    from classifier.starter import corpus_files, shipped_corpus

    rows: list[dict[str, str]] = []
    for file in corpus_files(shipped_corpus()):
        with file.open("r", encoding="utf-8", newline="") as stream:
            rows += list(csv.DictReader(stream))
    kept, held = train_test_split(rows, test_size=holdout, random_state=42, stratify=[r["department"] for r in rows])
    paths = folder / "train.csv", folder / "holdout.csv"
    for path, part in zip(paths, (kept, held)):
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
    return paths


def cross_validate(seeds: tuple[int, ...] = (0, 1, 42), folds: int = 4) -> None:
    """Macro-F1 of both targets over the whole corpus, per seed: the spread a single split hides."""
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from classifier.model import train
    from classifier.starter import corpus_files, read_corpus, shipped_corpus

    data, _ = read_corpus(corpus_files(shipped_corpus()))
    departments, priorities = np.array(data.departments), np.array(data.priorities)
    for seed in seeds:
        found_d, found_p = np.empty(len(data.texts), dtype=object), np.empty(len(data.texts), dtype=object)
        for kept, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(data.texts, departments):
            model = train([data.texts[i] for i in kept], list(departments[kept]), list(priorities[kept]))
            predictions = model.predict_many([data.texts[i] for i in held])
            found_d[held] = [p.department for p in predictions]
            found_p[held] = [p.priority for p in predictions]
        print(f"seed {seed:2}: department macro-F1 {f1_score(departments, found_d.astype(str), average='macro'):.3f}, "
              f"priority macro-F1 {f1_score(priorities, found_p.astype(str), average='macro'):.3f}")


def route_demo_mails(cache: Path) -> None:
    """Predict every demo mail with the default model and print it beside its expected labels."""
    from bot.demo import sample_mails
    from classifier.model import load_default
    from classifier.text import ticket_text
    from connectors.mail import parse_mail

    readme = (importlib.resources.files("bot") / "demo" / "mail" / "README.md").read_text(encoding="utf-8")
    expected = {number: (department, priority) for number, department, priority in EXPECTED.findall(readme)}
    model = load_default(cache)
    right_department = right_priority = 0
    mails = sample_mails()
    print(f"{'mail':32} {'expected':18} {'predicted':18} {'conf':>5}  top terms")
    for name, data in mails:
        ticket = parse_mail(data, source="demo", ref=name)
        prediction = model.predict(ticket_text(ticket.subject, ticket.text))
        want = expected.get(name[:2], ("?", "?"))
        right_department += prediction.department == want[0]
        right_priority += prediction.priority == want[1]
        terms = ", ".join(t.term for t in prediction.top_terms[:4])
        print(f"{name[:32]:32} {'/'.join(want):18} {prediction.department + '/' + str(prediction.priority):18} "
              f"{prediction.confidence:5.2f}  {terms}")
    print(f"\ndepartment as expected: {right_department}/{len(mails)}; priority as expected: "
          f"{right_priority}/{len(mails)} "
          "(before rules: the shipped rules raise urgent words and VIPs)")


def main(argv: list[str] | None = None) -> int:
    """Held-out report, then the demo mails."""
    from bot.cli import main as deskbot

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holdout", type=float, default=0.25, help="share of the corpus held out (default 0.25)")
    parser.add_argument("--plot-dir", type=Path, default=None, help="where evaluate writes its confusion PNGs "
                        "(default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        train, held = split_corpus(args.holdout, folder)
        print(f"== deskbot train (starter corpus less {args.holdout:.0%}) ==", flush=True)
        deskbot(["train", str(train), "--out", str(folder / "model")])
        print(f"\n== deskbot evaluate (the held-out {args.holdout:.0%}) ==", flush=True)
        deskbot(["evaluate", str(held), "--model", str(folder / "model"),
                 "--plot-dir", str(args.plot_dir or folder / "plots")])
        print("\n== 4-fold cross-validation over the whole starter corpus ==", flush=True)
        cross_validate()
        print("\n== the default model (whole corpus) on the demo mails ==", flush=True)
        route_demo_mails(folder / "cache")
    return 0


if __name__ == "__main__":
    sys.exit(main())
