"""Shadow retraining: a candidate model from the training data plus what agents taught, scored beside the current
model on the most recent corrected or confirmed tickets the current model never learnt from, switched only when
it is better.

Both models are scored on the same tickets (a paired comparison). The candidate learns from every one of them, so
its score on them is cross-validated: the tickets are dealt into FOLDS folds and each fold is predicted by a model
trained as the candidate is, without that fold. Holding out a quarter of what was new used to leave about a
hundred tickets to compare on, where macro-F1 swings by several hundredths when one rare ticket goes either way,
so a better candidate was sometimes refused. The score is the mean of department and priority macro-F1 on those
tickets; a candidate is better when its score beats the current model's by `[learning] min_gain`.

A candidate that succeeds the current model (built by retrain from the same training data, plus every label the
current model learnt and newer ones) is given the benefit of the doubt: a few hundred tickets cannot tell a gain
of one hundredth from noise, and a model that learnt strictly more is expected to be at least as good. It is
refused only when the paired bootstrap interval of its gain (bot/learning/interval.py) lies wholly below
min_gain: when it is worse beyond what chance explains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sqlmodel import col, select

from bot.errors import DeskbotError
from bot.learning.interval import gain_interval
from bot.log.feedback import Correction
from bot.log.records import as_utc
from bot.log.schema import TicketLog
from bot.log.store import Store
from classifier.text import ticket_text

MIN_NEW = 8  # labelled tickets since the current model: fewer say too little to switch models on
FOLDS = 4  # cross-validation folds for the candidate's score: each fold model learns from the other three


@dataclass(frozen=True)
class Lessons:
    """Tickets labelled by the team (their latest correction or confirmation), oldest label first."""

    texts: list[str]
    departments: list[str]
    priorities: list[str]
    at: list[datetime]

    def take(self, index: Sequence[int]) -> Lessons:
        """The lessons at these positions."""
        return Lessons([self.texts[i] for i in index], [self.departments[i] for i in index],
                       [self.priorities[i] for i in index], [self.at[i] for i in index])


@dataclass(frozen=True)
class Scores:
    """How a model did on the evaluation tickets."""

    department_accuracy: float
    department_f1: float
    priority_accuracy: float
    priority_f1: float

    @property
    def score(self) -> float:
        """What candidates are compared on."""
        return (self.department_f1 + self.priority_f1) / 2


@dataclass
class Verdict:
    """Candidate against current, on the same tickets; `better` says whether it earns the switch."""

    current: Scores
    candidate: Scores
    evaluated: int
    learnt: int  # labelled tickets the candidate learnt from
    min_gain: float
    extra: dict[str, Any] = field(default_factory=dict)
    interval: tuple[float, float] | None = None  # paired bootstrap interval of the gain
    successor: bool = False  # the candidate learnt everything the current model learnt, and more

    @property
    def gain(self) -> float:
        """Candidate score minus current score."""
        return self.candidate.score - self.current.score

    @property
    def better(self) -> bool:
        """Better by at least min_gain; for a successor, not shown to fall short of min_gain."""
        if self.gain > 1e-12 and self.gain >= self.min_gain - 1e-12:
            return True
        return self.successor and self.interval is not None and self.interval[1] >= max(self.min_gain, 1e-12)


def lessons(store: Store) -> Lessons:
    """Every decided ticket's latest correction or confirmation, as labelled text (team value, else deskbot's)."""
    latest = select(Correction.ticket_id, Correction.id).order_by(col(Correction.ticket_id), col(Correction.id))
    with store.session() as session:
        last = dict(session.exec(latest).all())  # ticket id -> its latest row (ids grow)
        rows = session.exec(select(Correction, TicketLog.subject, TicketLog.text)
                            .join(TicketLog, col(TicketLog.id) == Correction.ticket_id)
                            .where(col(Correction.id).in_(list(last.values())) if last else col(Correction.id) < 0)
                            .order_by(col(Correction.at), col(Correction.id))).all()
    return Lessons([ticket_text(subject, text) for _, subject, text in rows],
                   [c.team_department or c.deskbot_department for c, _, _ in rows],
                   [c.team_priority or c.deskbot_priority for c, _, _ in rows], [as_utc(c.at) for c, _, _ in rows])


def evaluation(taught: Lessons, *, learnt_until: datetime | None, evaluate_last: int) -> list[int]:
    """Positions of the tickets to compare on: the most recent ones (at most `evaluate_last`) labelled after
    everything the current model learnt, so the current model has not seen them."""
    fresh = [i for i, at in enumerate(taught.at) if learnt_until is None or at > learnt_until]
    if not fresh:
        raise DeskbotError("no ticket was corrected or confirmed since the current model was trained: there is "
                           "nothing new to learn from or to evaluate on yet")
    if len(fresh) < MIN_NEW:
        raise DeskbotError(f"only {len(fresh)} ticket(s) were corrected or confirmed since the current model was "
                           f"trained; retraining needs at least {MIN_NEW} to compare the models on")
    return fresh[-evaluate_last:]


def folds(held: Sequence[int], count: int = FOLDS) -> list[list[int]]:
    """The held positions dealt into `count` folds in turn, so every fold spans the whole period."""
    count = max(2, min(count, len(held)))
    return [list(held[k::count]) for k in range(count)]


def cross_predictions(files: Sequence[Path], taught: Lessons, held: Sequence[int]) -> list[Any]:
    """Each held ticket's prediction by a candidate trained on everything but its fold (in `held` order)."""
    found: dict[int, Any] = {}
    for fold in folds(held):
        left_out = set(fold)
        model = build_candidate(files, taught.take([i for i in range(len(taught.texts)) if i not in left_out]))
        found.update(zip(fold, model.predict_many([taught.texts[i] for i in fold])))
    return [found[i] for i in held]


def score(predictions: Sequence[Any], held: Lessons) -> Scores:
    """Department and priority accuracy and macro-F1 of these predictions of the held tickets."""
    departments = [p.department for p in predictions]
    priorities = [p.priority or "" for p in predictions]
    return Scores(float(accuracy_score(held.departments, departments)),
                  float(f1_score(held.departments, departments, average="macro", zero_division=0)),
                  float(accuracy_score(held.priorities, priorities)),
                  float(f1_score(held.priorities, priorities, average="macro", zero_division=0)))


def base_data(files: Sequence[Path]) -> tuple[list[str], list[str], list[str], np.ndarray | None]:
    """The current training data: the given CSV/JSONL files, else the shipped corpus (with its calibration mask)."""
    from classifier.dataset import combine, read_dataset
    from classifier.starter import corpus_files, read_corpus, shipped_corpus

    if files:
        data = combine([read_dataset(f) for f in files])
        if data.priorities is None:
            raise DeskbotError(f"{data.source}: retraining needs a priority column in every training file")
        return data.texts, data.departments, data.priorities, None
    corpus, held_out = read_corpus(corpus_files(shipped_corpus()))
    assert corpus.priorities is not None
    return corpus.texts, corpus.departments, corpus.priorities, held_out


def build_candidate(files: Sequence[Path], learnt: Lessons) -> Any:
    """Train on the current training data plus the team's labels (calibrated as the default model is)."""
    from classifier.model import train
    from classifier.starter import STARTER_RECIPE

    texts, departments, priorities, held_out = base_data(files)
    mask = None if held_out is None else np.concatenate([held_out, np.zeros(len(learnt.texts), dtype=bool)])
    model = train(texts + learnt.texts, departments + learnt.departments, priorities + learnt.priorities,
                  held_out=mask, recipe=STARTER_RECIPE)
    model.metadata["learning"] = {"labelled_tickets": len(learnt.texts), "training_data": [str(f) for f in files],
                                  "learnt_until": max(learnt.at).isoformat() if learnt.at else None}
    return model


def learnt_until(model: Any) -> datetime | None:
    """The label time of the newest team ticket a model learnt from (None: none, e.g. the default model)."""
    value = (getattr(model, "metadata", {}).get("learning") or {}).get("learnt_until")
    return as_utc(datetime.fromisoformat(value)) if value else None


def compare(store: Store, current: Any, files: Sequence[Path], *, evaluate_last: int,
            min_gain: float) -> tuple[Any, Verdict]:
    """Build the candidate from every label and score it (cross-validated) beside the current model on the same
    tickets, which the current model never saw."""
    taught = lessons(store)
    held_at = evaluation(taught, learnt_until=learnt_until(current), evaluate_last=evaluate_last)
    held = taught.take(held_at)
    crossed = cross_predictions(files, taught, held_at)
    candidate = build_candidate(files, taught)
    predicted = current.predict_many(held.texts)
    interval = gain_interval((held.departments, held.priorities), _labels(predicted), _labels(crossed))
    verdict = Verdict(score(predicted, held), score(crossed, held), len(held.texts), len(taught.texts), min_gain,
                      {"folds": len(folds(held_at))}, interval, succeeds(current, files))
    candidate.metadata["learning"].update(score=round(verdict.candidate.score, 4), evaluated_on=verdict.evaluated,
                                          current_score=round(verdict.current.score, 4))
    return candidate, verdict


def _labels(predictions: Sequence[Any]) -> tuple[list[str], list[str]]:
    """(departments, priorities) of predictions, as score() reads them."""
    return [p.department for p in predictions], [p.priority or "" for p in predictions]


def succeeds(current: Any, files: Sequence[Path]) -> bool:
    """Whether a candidate from `files` plus every label learns all the current model learnt: the current model
    was built by retrain from the same training data (labels only accumulate)."""
    learnt = getattr(current, "metadata", {}).get("learning") or {}
    return learnt.get("training_data") == [str(f) for f in files]


def format_verdict(verdict: Verdict, current_version: str, candidate_version: str) -> str:
    """Both models side by side, and what the numbers mean for switching."""
    rows = [("department accuracy", "department_accuracy"), ("department macro-F1", "department_f1"),
            ("priority accuracy", "priority_accuracy"), ("priority macro-F1", "priority_f1")]
    width = max(len(current_version), len(candidate_version), 9) + 2
    lines = [f"evaluated on the {verdict.evaluated} most recent corrected or confirmed tickets the current model never "
             f"learnt from (the candidate cross-validated: {verdict.extra.get('folds', FOLDS)} folds, each predicted "
             f"by a model trained without it); the candidate learnt from {verdict.learnt} labelled tickets besides "
             f"the training data", "",
             f"{'':22}{'current':<{width}}{'candidate':<{width}}", f"{'':22}{current_version:<{width}}"
             f"{candidate_version:<{width}}"]
    for label, name in rows:
        lines.append(f"{label:22}{getattr(verdict.current, name):<{width}.3f}{getattr(verdict.candidate, name):<{width}.3f}")
    lines.append(f"{'score (mean macro-F1)':22}{verdict.current.score:<{width}.3f}{verdict.candidate.score:<{width}.3f}"
                 f"gain {verdict.gain:+.3f} (min_gain {verdict.min_gain:.3f})")
    if verdict.interval is not None:
        low, high = verdict.interval
        lines.append(f"gain 90% interval {low:+.3f} to {high:+.3f} (paired bootstrap over the {verdict.evaluated} "
                     f"tickets)" + ("; the candidate learnt everything the current model learnt and more, so it is "
                                    "refused only when the whole interval is below min_gain" if verdict.successor
                                    else ""))
    return "\n".join(lines)
