"""The `deskbot train` and `deskbot evaluate` commands (registered by bot/cli.py)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TRAIN_HELP = """\
Train a department model (and a priority model, when DATA has a priority column) from labelled
tickets and save it to DIR as model.skops (no pickle) plus model.json. DATA is CSV (with a header
row) or JSON lines (.jsonl/.ndjson/.json, one object per line). Use the model with
`deskbot classify --model DIR` or `model = "DIR"` in deskbot.toml."""

EVALUATE_HELP = """\
Score a trained model on labelled tickets: per-class precision/recall/F1, macro and weighted F1,
accuracy, calibration error, the confusion matrix (text and PNG), high-priority tickets predicted low,
how many tickets each confidence threshold would route automatically, with their accuracy, and what each
value of the rules' [priority] high_as_low_cost would trade: fewer urgent tickets filed low, fewer lows."""


def _columns(value: str) -> list[str]:
    """--text-columns: comma-separated column names."""
    columns = [c.strip() for c in value.split(",") if c.strip()]
    if not columns:
        raise argparse.ArgumentTypeError("name at least one text column")
    return columns


def _add_data_options(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """The options shared by train and evaluate that say where the text and labels are."""
    parser.add_argument("data", type=Path, nargs="*" if optional else "+", metavar="DATA",
                        help="labelled tickets: CSV or JSON lines (several files are read as one)")
    parser.add_argument("--text-columns", type=_columns, default=["subject", "body"], metavar="A,B",
                        help="columns joined into the ticket text (default: subject,body)")
    parser.add_argument("--department-column", default="department", metavar="NAME",
                        help="the label to route by (default: department; e.g. queue)")
    parser.add_argument("--priority-column", default="priority", metavar="NAME",
                        help="priority label (default: priority; if DATA lacks it, no priority model)")


def add_commands(subparsers: Any) -> None:
    """Register `train` and `evaluate` on the deskbot sub-command parser."""
    train = subparsers.add_parser("train", help="train a model from labelled tickets", description=TRAIN_HELP,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_options(train, optional=True)
    train.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to save the model")
    train.add_argument("--from", dest="source", metavar="SOURCE", help="also learn from the solved tickets of a "
                       "helpdesk of --config (zendesk:NAME or freshdesk:NAME); their export is kept in DIR")
    train.add_argument("--config", type=Path, metavar="FILE", help="deskbot.toml, for --from")
    train.add_argument("--since", default="180d", metavar="AGE", help="with --from: tickets changed within "
                       "this many days or weeks, or since a date (default: 180d)")
    train.add_argument("--holdout", type=float, default=0.0, metavar="FRACTION",
                       help="keep this share of DATA out of training and record scores on it in model.json "
                       "(default: 0, train on everything)")
    train.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser("evaluate", help="score a model on labelled tickets",
                                     description=EVALUATE_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_options(evaluate)
    evaluate.add_argument("--model", type=Path, required=True, metavar="DIR", help="a model from `deskbot train`")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON only")
    evaluate.add_argument("--rules", type=Path, default=None, metavar="FILE",
                          help="rules file whose [priority] high_as_low_cost to mark in the priority trade-off "
                          "(default: the shipped rules)")
    evaluate.add_argument("--plot-dir", type=Path, default=None, metavar="DIR",
                          help="where to write confusion-<target>.png (default: the current directory; "
                          "with --json: none)")
    evaluate.set_defaults(handler=run_evaluate)


def _read(args: argparse.Namespace) -> Any:
    """The dataset named on the command line."""
    from classifier.dataset import combine, read_dataset

    return combine([read_dataset(path, text_columns=args.text_columns, department_column=args.department_column,
                                 priority_column=args.priority_column) for path in args.data])


def _split(data: Any, fraction: float) -> tuple[Any, Any]:
    """A stratified train/holdout split, seeded so a rerun gives the same model."""
    from sklearn.model_selection import train_test_split

    from classifier.dataset import Dataset, DatasetError

    if not 0.0 < fraction < 0.9:
        raise DatasetError(f"--holdout must be between 0 and 0.9, not {fraction}")
    index = list(range(len(data.texts)))
    try:
        kept, held = train_test_split(index, test_size=fraction, random_state=42, stratify=data.departments)
    except ValueError as exc:  # a class with a single ticket cannot be stratified
        raise DatasetError(f"{data.source}: cannot hold out {fraction:.0%} per department ({exc})") from exc

    def subset(rows: list[int], name: str) -> Dataset:
        """The rows `rows` of data."""
        priorities = [data.priorities[i] for i in rows] if data.priorities is not None else None
        return Dataset([data.texts[i] for i in rows], [data.departments[i] for i in rows], priorities, name)

    return subset(kept, data.source), subset(held, f"{data.source} (holdout)")


def run_train(args: argparse.Namespace) -> int:
    """deskbot train: read, (hold out,) fit, (score,) save."""
    from classifier.evaluate import evaluate
    from classifier.model import save, train
    from connectors.export import training_files

    args.data = training_files(args)
    data = _read(args)
    held = None
    if args.holdout:
        data, held = _split(data, args.holdout)
    started = time.perf_counter()
    model = train(data.texts, data.departments, data.priorities, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - started
    if held is not None:
        reports = evaluate(model, held)
        model.metadata["metrics"] = {"holdout": {k: r.to_json() for k, r in reports.items()},
                                     "holdout_tickets": len(held.texts)}
    model.metadata["training_source"] = [str(path) for path in args.data]
    save(model, args.out)
    print(f"trained on {len(data.texts)} tickets in {seconds:.1f} s: departments {', '.join(model.departments)}"
          + (f"; priorities {', '.join(model.priorities)}" if model.priorities else "; no priority model"))
    if held is not None:
        scores = model.metadata["metrics"]["holdout"]
        summary = ", ".join(f"{target} macro F1 {report['macro_f1']:.3f}" for target, report in scores.items())
        print(f"holdout ({len(held.texts)} tickets): {summary}")
    print(f"saved to {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """deskbot evaluate: score a saved model on a labelled file."""
    from bot.rules import load_rules
    from classifier.evaluate import evaluate, format_report, plot_confusion
    from classifier.model import load

    chosen = load_rules(args.rules).priority.high_as_low_cost
    model = load(args.model)
    data = _read(args)
    unknown = sorted(set(data.departments) - set(model.departments))
    if unknown:
        print(f"note: the model has never seen the departments {', '.join(unknown)}", file=sys.stderr)
    reports = evaluate(model, data, progress=sys.stderr.isatty(), chosen_cost=chosen)
    if args.json:
        print(json.dumps({name: report.to_json() for name, report in reports.items()}, indent=2))
    else:
        print(f"model {model.version} on {data.source} ({len(data.texts)} tickets)\n")
        print("\n\n".join(format_report(report, chosen_cost=chosen) for report in reports.values()))
    plot_dir = args.plot_dir if args.plot_dir is not None or args.json else Path(".")
    if plot_dir is not None:
        plot_dir.mkdir(parents=True, exist_ok=True)
        for name, report in reports.items():
            path = plot_confusion(report, plot_dir / f"confusion-{name}.png")
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0
