"""The daemon's Prometheus metrics: what was decided, done, sent, suppressed and failed, and how long it took.

One `Metrics` per run, in a registry of its own (no global state: tests read their own instance with
`metrics.registry.get_sample_value`). The pipeline, the acting and judging code call the small functions
below with their `Triage`; each does nothing when the triage carries no metrics. Backlog, outbox and the
model's version are read at scrape time (`watch`): from the decision log, so every instance shows the same.
Label values come from closed sets (sources and departments of the config, action kinds, the fixed
`SUPPRESSED` reasons), never from free text, so the number of series stays bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from time import perf_counter
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import select

from bot.errors import DeskbotError
from bot.log.records import as_utc
from bot.log.schema import SourceState, TicketLog

if TYPE_CHECKING:
    from bot.log.store import Store
    from bot.models import Decision, Prediction
    from bot.triage import SourceReport, Triage

log = logging.getLogger(__name__)
# Why an acknowledgement was not sent, as a label: the first pattern found in the decision's
# ack_skip_reason (written by bot/decide.py, bot/ack/loops.py, bot/judge.py) names it; else "other".
SUPPRESSED = (
    ("disabled", "acknowledgements are disabled"), ("follow-up", "follow-up to"), ("rule", "rule "),
    ("too-old", "too late to acknowledge"), ("thanks-only", "only says thanks"),
    ("rate-limit", "acknowledgements to this address in the last"), ("bounced", "bounced"),
    ("bounced", "refused it for good"), ("no-channel", "sends no acknowledgements"),
    ("not-from-customer", "no public reply"),
)
ERROR_OUTCOMES = ("retry", "failed", "quarantined", "unreadable")  # a ticket's outcome that counts as an error
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
LATENCY = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0)
CLASSIFY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    """Every metric deskbot exports, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.decisions = Counter("deskbot_decisions", "Tickets decided, by source, department, priority and "
                                 "whether a person must review them", ["source", "department", "priority", "review"],
                                 registry=reg)
        self.actions = Counter("deskbot_actions", "Actions on tickets (write_back, acknowledge, move, flag...) by "
                               "kind and outcome (done, skipped, failed, outbox, gone, pending)", ["kind", "outcome"],
                               registry=reg)
        self.acks_sent = Counter("deskbot_acknowledgements_sent", "Acknowledgements sent to customers",
                                 ["source"], registry=reg)
        self.acks_suppressed = Counter("deskbot_acknowledgements_suppressed", "Decisions that send no "
                                       "acknowledgement, by reason", ["source", "reason"], registry=reg)
        self.errors = Counter("deskbot_errors", "Errors by source and kind (a failed cycle: auth, unavailable, refused, "
                              "config, model, internal; a ticket's own: retry, failed, quarantined, unreadable)", ["source", "kind"], registry=reg)
        self.poll_seconds = Histogram("deskbot_poll_duration_seconds", "Duration of one cycle of a source",
                                      ["source"], buckets=SECONDS, registry=reg)
        self.classify_seconds = Histogram("deskbot_classification_duration_seconds", "Duration of one model "
                                          "prediction", buckets=CLASSIFY, registry=reg)
        self.ack_latency = Histogram("deskbot_arrival_to_ack_seconds", "From a ticket's arrival (received_at) to "
                                     "its acknowledgement being sent", ["source"], buckets=LATENCY, registry=reg)
        self._watched: Collector | None = None

    def watch(self, store: Store, classifier: object, sources: Sequence[str]) -> None:
        """Export backlog, outbox and model version, read from `store` and `classifier` at each scrape."""
        if self._watched is not None:
            self.registry.unregister(self._watched)
        self._watched = LogGauges(store, classifier, tuple(sources))
        self.registry.register(self._watched)


def suppression_reason(skip_reason: str | None, kind: str = "ticket") -> str:
    """The short, fixed label for why no acknowledgement goes out (automated and spam mail by their kind)."""
    if kind in ("automated", "spam"):
        return kind
    text = (skip_reason or "").lower()
    return next((label for label, pattern in SUPPRESSED if pattern in text), "other")


def count_decision(triage: Triage, source: str, decision: Decision) -> None:
    """A ticket decided (and recorded): its route, and an acknowledgement suppressed with its reason."""
    metrics = triage.metrics
    if metrics is None or triage.dry_run:
        return
    metrics.decisions.labels(source, decision.department or "-", decision.priority or "-",
                             "true" if decision.needs_review else "false").inc()
    if decision.ack_template is None:
        metrics.acks_suppressed.labels(source, suppression_reason(decision.ack_skip_reason, decision.kind)).inc()


def count_action(triage: Triage, source: str, kind: str, outcome: str, row: TicketLog) -> None:
    """An action's outcome; a sent acknowledgement also counts, with its arrival-to-ack latency."""
    metrics = triage.metrics
    if metrics is None:
        return
    metrics.actions.labels(kind, outcome).inc()
    if kind == "acknowledge" and outcome == "done":
        metrics.acks_sent.labels(source).inc()
        if row.received_at is not None:
            waited = (triage.store.now() - as_utc(row.received_at)).total_seconds()
            metrics.ack_latency.labels(source).observe(max(waited, 0.0))


def count_cycle(triage: Triage, report: SourceReport, seconds: float | None) -> None:
    """A finished cycle of one source: its duration (None: it did not run), and its errors (of the source, and
    of its tickets)."""
    metrics = triage.metrics
    if metrics is None:
        return
    if seconds is not None:
        metrics.poll_seconds.labels(report.name).observe(seconds)
    if report.error:
        metrics.errors.labels(report.name, report.error_kind or "internal").inc()
    for outcome in report.outcomes:
        if outcome.status in ERROR_OUTCOMES:
            metrics.errors.labels(report.name, outcome.status).inc()


def predict(triage: Triage, text: str) -> Prediction:
    """The live model's prediction, timed into the classification histogram."""
    started = perf_counter()
    prediction = triage.classifier.predict(text)
    if triage.metrics is not None:
        triage.metrics.classify_seconds.observe(perf_counter() - started)
    return prediction


class LogGauges(Collector):
    """Backlog and outbox per source from the decision log, and the live model's version, at scrape time."""

    def __init__(self, store: Store, classifier: object, sources: tuple[str, ...]) -> None:
        self.store, self.classifier, self.sources = store, classifier, sources

    def describe(self) -> list[Metric]:
        """Nothing up front: describing must not query the database at registration."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the log once per scrape (two grouped queries and a table of a row per source)."""
        backlog = GaugeMetricFamily("deskbot_backlog", "Items waiting: left on the server at the last poll, plus "
                                    "recorded tickets with unfinished work", labels=["source"])
        outbox = GaugeMetricFamily("deskbot_outbox", "Tickets whose acknowledgement waits for the mail server "
                                   "(status outbox)", labels=["source"])
        try:
            waiting, unsent = self._read()
        except DeskbotError as exc:  # the counters are still worth a scrape; the gauges go missing, not wrong
            log.warning("metrics: backlog and outbox not read: %s", exc)
        else:
            for source in sorted(set(self.sources) | set(waiting) | set(unsent)):
                backlog.add_metric([source], waiting.get(source, 0))
                outbox.add_metric([source], unsent.get(source, 0))
        yield backlog
        yield outbox
        model = InfoMetricFamily("deskbot_model", "The model deciding now: the models folder's CURRENT version, "
                                 "else the configured or default model")
        model.add_metric([], {"version": model_version(self.classifier)})
        yield model

    def _read(self) -> tuple[dict[str, int], dict[str, int]]:
        # Only tickets with work left are counted (the outbox's too are pending), through ix_ticket_pending.
        with self.store.session() as session:
            on_server = {s.source: s.backlog or 0 for s in session.exec(select(SourceState))}
            counts = session.exec(select(TicketLog.source, TicketLog.status, func.count()).where(
                TicketLog.pending == True, TicketLog.dry_run == False)  # noqa: E712
                .group_by(TicketLog.source, TicketLog.status)).all()
        waiting, unsent = dict(on_server), {}
        for source, state, number in counts:
            if state == "outbox":
                unsent[source] = unsent.get(source, 0) + number
            elif state != "quarantined":
                waiting[source] = waiting.get(source, 0) + number
        return waiting, unsent


def model_version(classifier: object) -> str:
    """The name CURRENT gives in the models folder (without loading the model), else "default"."""
    registry = getattr(classifier, "registry", None)
    name = registry.current_name() if registry is not None else None
    if registry is not None:
        return str(name or "default")
    return str(getattr(classifier, "version", "") or "default")
