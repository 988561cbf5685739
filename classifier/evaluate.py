"""How well a model routes a labelled dataset: per-class scores, confusion, costly errors, auto-routing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from tqdm import tqdm

from bot.models import Prediction
from bot.rules import PriorityGuard
from classifier.dataset import Dataset
from classifier.model import TicketClassifier

log = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
COSTS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)  # values of the rules' [priority] high_as_low_cost to compare
BATCH = 256
CORNER = "true \\ predicted"


@dataclass(frozen=True)
class TargetReport:
    """The scores of one target (department or priority) on one dataset."""

    target: str
    labels: list[str]
    per_class: dict[str, dict[str, float]]
    macro_f1: float
    weighted_f1: float
    accuracy: float
    confusion: list[list[int]]  # rows: true label, columns: predicted, in `labels` order
    thresholds: list[dict[str, float]]  # share auto-routed and accuracy at each confidence threshold
    costly: dict[str, float] = field(default_factory=dict)  # e.g. high-priority tickets predicted low
    ece: float = float("nan")  # expected calibration error of the confidence (10 equal bins)
    tradeoff: list[dict[str, float]] = field(default_factory=list)  # priority: per high_as_low_cost

    def to_json(self) -> dict[str, Any]:
        """The --json shape: the required keys first, the rest for those who want more."""
        return {"macro_f1": self.macro_f1, "weighted_f1": self.weighted_f1, "accuracy": self.accuracy,
                "per_class": self.per_class, "labels": self.labels, "confusion": self.confusion,
                "thresholds": self.thresholds, "costly_errors": self.costly,
                "expected_calibration_error": self.ece, "high_as_low_cost": self.tradeoff}


def auto_routing(truth: Sequence[str], predicted: Sequence[str], confidence: Sequence[float],
                 thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, float]]:
    """For each threshold: the share of tickets confident enough to route alone, and their accuracy."""
    right = np.asarray(truth) == np.asarray(predicted)
    conf = np.asarray(confidence, dtype=float)
    rows = []
    for threshold in thresholds:
        taken = conf >= threshold
        accuracy = float(right[taken].mean()) if taken.any() else float("nan")
        rows.append({"threshold": threshold, "share": float(taken.mean()), "accuracy": accuracy})
    return rows


def calibration_error(right: Sequence[bool], confidence: Sequence[float], bins: int = 10) -> float:
    """Expected calibration error: how far confidence is from accuracy, averaged over 10 equal-width bins."""
    right_a, conf = np.asarray(right, dtype=float), np.asarray(confidence, dtype=float)
    if not len(conf):
        return float("nan")
    which = np.minimum((conf * bins).astype(int), bins - 1)
    gaps = [abs(conf[which == b].mean() - right_a[which == b].mean()) * (which == b).mean()
            for b in range(bins) if (which == b).any()]
    return float(sum(gaps))


def priority_tradeoff(truth: Sequence[str], scores: Sequence[dict[str, float]],
                      costs: Sequence[float] = COSTS) -> list[dict[str, float]]:
    """For each [priority] high_as_low_cost: the priorities decide() would use, scored as the rules apply them."""
    present = sorted(set(truth))
    rows = []
    for cost in costs:
        guard = PriorityGuard(high_as_low_cost=cost)
        predicted = [guard.guard(max(s, key=s.__getitem__), s) for s in scores]
        misses = priority_misses(truth, predicted)
        low = np.asarray(truth) == "low"
        rows.append({"high_as_low_cost": cost, **misses,
                     "low_recall": float((np.asarray(predicted)[low] == "low").mean()) if low.any() else float("nan"),
                     "macro_f1": float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0))})
    return rows


def priority_misses(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """The priority errors that hurt: high predicted low (missed SLA) and low predicted high (noise)."""
    truth_a, pred_a = np.asarray(truth), np.asarray(predicted)
    high, low = truth_a == "high", truth_a == "low"
    if not high.any() and not low.any():
        return {}
    return {"high_as_low": int((high & (pred_a == "low")).sum()),
            "high_as_low_share": float((high & (pred_a == "low")).sum() / max(high.sum(), 1)),
            "low_as_high": int((low & (pred_a == "high")).sum()),
            "low_as_high_share": float((low & (pred_a == "high")).sum() / max(low.sum(), 1))}


def score_target(target: str, truth: Sequence[str], predicted: Sequence[str], confidence: Sequence[float],
                 scores: Sequence[dict[str, float]] = (), *, costs: Sequence[float] = COSTS) -> TargetReport:
    """All scores of one target; labels the model never predicts still get a row (zero, no warning)."""
    labels = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0)
    per_class = {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                 for label, p, r, f, s in zip(labels, precision, recall, f1, support)}
    present = sorted(set(truth))  # macro over the classes that exist, as the benchmark does
    return TargetReport(
        target=target, labels=labels, per_class=per_class,
        macro_f1=float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0)),
        weighted_f1=float(f1_score(truth, predicted, labels=present, average="weighted", zero_division=0)),
        accuracy=float(accuracy_score(truth, predicted)),
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
        thresholds=auto_routing(truth, predicted, confidence),
        costly=priority_misses(truth, predicted) if target == "priority" else {},
        ece=calibration_error(np.asarray(truth) == np.asarray(predicted), confidence),
        tradeoff=priority_tradeoff(truth, scores, costs) if target == "priority" and scores else [],
    )


def predict_all(model: TicketClassifier, texts: Sequence[str], *, progress: bool = False) -> list[Prediction]:
    """Predictions in batches, with a progress bar on request."""
    predictions: list[Prediction] = []
    with tqdm(total=len(texts), desc="predicting", unit="ticket", disable=not progress) as bar:
        for start in range(0, len(texts), BATCH):
            predictions += model.predict_many(texts[start:start + BATCH])
            bar.update(min(BATCH, len(texts) - start))
    return predictions


def evaluate(model: TicketClassifier, data: Dataset, *, progress: bool = False,
             chosen_cost: float | None = None) -> dict[str, TargetReport]:
    """Score the model's department (and priority, where both sides have it) on a labelled dataset; the
    priority trade-off always has a row for `chosen_cost` (the rules' own value), so it can be marked."""
    predictions = predict_all(model, data.texts, progress=progress)
    reports = {"department": score_target("department", data.departments,
                                          [p.department for p in predictions],
                                          [p.confidence for p in predictions])}
    if data.priorities is not None and model.priorities:
        reports["priority"] = score_target("priority", data.priorities,
                                           [str(p.priority) for p in predictions],
                                           [float(p.priority_confidence or 0.0) for p in predictions],
                                           [p.priority_scores for p in predictions],
                                           costs=tuple(sorted({*COSTS, *([chosen_cost] if chosen_cost else [])})))
    return reports


def format_confusion(report: TargetReport) -> str:
    """The confusion matrix as a text table; long labels are shortened in the header only."""
    short = [label[:10] for label in report.labels]
    width = max(len(label) for label in [*report.labels, CORNER])
    cell = max(6, *(len(s) for s in short))
    lines = [f"{CORNER:<{width}} " + " ".join(f"{s:>{cell}}" for s in short)]
    for label, row in zip(report.labels, report.confusion):
        lines.append(f"{label:<{width}} " + " ".join(f"{n:>{cell}}" for n in row))
    return "\n".join(lines)


def format_report(report: TargetReport, *, chosen_cost: float | None = None) -> str:
    """A readable report of one target: per-class table, summary, confusion, thresholds, costly errors and,
    for priority, the trade-off of [priority] high_as_low_cost (`chosen_cost`: the value the rules use)."""
    width = max(len(label) for label in report.labels + ["weighted F1"])
    lines = [f"== {report.target} ==", f"{'':<{width}} precision    recall        f1   support"]
    for label, s in report.per_class.items():
        lines.append(f"{label:<{width}} {s['precision']:9.3f} {s['recall']:9.3f} {s['f1']:9.3f} {s['support']:9d}")
    lines += [f"{'macro F1':<{width}} {report.macro_f1:29.3f}", f"{'weighted F1':<{width}} {report.weighted_f1:29.3f}",
              f"{'accuracy':<{width}} {report.accuracy:29.3f}",
              f"{'calibration error (ECE)':<{width}} {report.ece:29.3f}", "", format_confusion(report), "",
              "confidence >=   auto-routed   accuracy on those"]
    for row in report.thresholds:
        lines.append(f"{row['threshold']:>13.1f} {row['share']:>13.1%} {row['accuracy']:>19.3f}")
    if report.costly:
        c = report.costly
        lines += ["", f"high predicted low: {c['high_as_low']} ({c['high_as_low_share']:.1%} of high tickets)",
                  f"low predicted high: {c['low_as_high']} ({c['low_as_high_share']:.1%} of low tickets)"]
    if report.tradeoff:
        lines += ["", format_tradeoff(report.tradeoff, chosen_cost)]
    return "\n".join(lines)


def format_tradeoff(rows: list[dict[str, float]], chosen: float | None = None) -> str:
    """The priority trade-off per [priority] high_as_low_cost, as the rules would apply it."""
    lines = ["[priority] high_as_low_cost   high predicted low   low predicted high   low recall   macro F1"]
    for row in rows:
        mark = "  <- your rules" if chosen is not None and row["high_as_low_cost"] == chosen else ""
        lines.append(f"{row['high_as_low_cost']:>27g} {row.get('high_as_low', 0):>10} ({row.get('high_as_low_share', 0):5.1%})"
                     f" {row.get('low_as_high', 0):>10} ({row.get('low_as_high_share', 0):5.1%})"
                     f" {row['low_recall']:>12.3f} {row['macro_f1']:>10.3f}{mark}")
    lines.append("Higher costs keep urgent tickets out of low at the price of low recall; set it in the rules file.")
    return "\n".join(lines)


def plot_confusion(report: TargetReport, path: Path) -> Path:
    """Save the confusion matrix as a PNG (row-normalised colours, raw counts written in)."""
    import matplotlib  # imported here: only evaluate needs it, and it is slow to import

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    counts = np.asarray(report.confusion)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 2.5 + 0.6 * len(report.labels)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(report.labels)), report.labels, rotation=45, ha="right")
    axes.set_yticks(range(len(report.labels)), report.labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{report.target}: macro F1 {report.macro_f1:.3f}")
    for (i, j), n in np.ndenumerate(counts):
        axes.text(j, i, str(n), ha="center", va="center", color="white" if shares[i, j] > 0.5 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
