"""Builds everything a run needs from the config, and runs it: once, or one scheduled job per source."""

from __future__ import annotations

import functools
import gc
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import parseaddr
from pathlib import Path

from bot.ack.message import AckRenderer, check_templates
from bot.config.file import Config
from bot.errors import AuthError, ConfigError, DeskbotError
from bot.log.store import Store, utc_now
from bot.ops import login, status
from bot.ops.health import health_of, polled_sources
from bot.ops.metrics import Metrics
from bot.ops.reload import LiveReload, Watched, pin
from bot.pipeline import SourceReport, run_source, seed_references
from bot.rules import RulesContext, RuleSet, load_rules, log_warnings
from bot.sla import BusinessHours
from bot.triage import Triage
from bot.watch import Watchers
from classifier.text import keep_language_tables_in
from connectors.registry import Needs, Scheduled, build_sources

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 30
CLIENT_POLL_SECONDS = 60  # how often an API client's acknowledgements that could not go out are retried


def default_cache_dir() -> Path:
    """Where built models are cached: $XDG_CACHE_HOME/deskbot, else ~/.cache/deskbot.

    A service user may have no home at all (no passwd entry, HOME unset): then a folder of this user's in
    the system's temporary folder, so the model is still built once and reused while the machine runs.
    """
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "deskbot"
    try:
        return Path.home() / ".cache" / "deskbot"
    except RuntimeError:
        return Path(tempfile.gettempdir()) / f"deskbot-cache-{os.getuid()}"


def load_classifier(model_dir: Path | None, cache_dir: Path | None) -> object:
    """A trained model from `model_dir`, else the default one (built from the shipped corpus once)."""
    from classifier.loading import load  # the prediction-only form: no scikit-learn or skops to import
    from classifier.starter import load_default

    if model_dir is not None:
        return load(model_dir)
    return load_default(cache_dir or default_cache_dir())


def live_classifier(config: Config) -> object:
    """The model the models folder's CURRENT names, switched for the next ticket when CURRENT changes; else
    the configured or default model (bot/learning/live.py)."""
    from bot.learning.live import LiveClassifier
    from bot.learning.registry import ModelRegistry

    fallback = functools.cache(functools.partial(load_classifier, config.resolve(config.paths.model),
                                                 config.resolve(config.paths.cache)))
    return LiveClassifier(ModelRegistry(config.resolve(config.learning.models) or Path("models")), fallback)


def warn_about_model(classifier: object, rules: RuleSet) -> None:
    """Log what makes the model and the rules a poor pair (departments not routed, review always)."""
    unknown = unknown_departments(classifier, rules)
    if unknown:
        log.warning("the model predicts departments the rules do not define (%s): their tickets go to review; "
                    "add [departments.<name>] to the rules", ", ".join(unknown))
    unreachable = review_unreachable(classifier, rules)
    if unreachable:
        log.warning("%s", unreachable)


def own_addresses(config: Config) -> frozenset[str]:
    """Addresses whose mail is our own coming back (never answered)."""
    from_address = config.smtp.from_ if config.smtp else ""
    own = {parseaddr(from_address)[1].lower()} | {m.username.lower() for m in config.mailbox if "@" in m.username}
    return frozenset(own - {""})


def build_triage(config: Config, *, dry_run: bool = False, clock: Callable[[], datetime] = utc_now,
                 rules: RuleSet | None = None) -> Triage:
    """Load rules, templates (all rendered once, so a typo stops here), model and the decision log."""
    renderer = pin(AckRenderer(config.resolve(config.paths.templates)))  # edits are taken by LiveReload
    if rules is None:
        rules = load_rules(config.resolve(config.paths.rules), context=rules_context(config, renderer.directory))
        log_warnings(rules)
    check_templates(renderer, rules)
    keep_language_tables_in(config.resolve(config.paths.cache) or default_cache_dir())  # unpacked once
    classifier = live_classifier(config)
    classifier.warm(then=functools.partial(warn_about_model, rules=rules))  # loads while the sources log in
    prefix = rules.acknowledgement.reference_prefix
    numbers = Metrics()
    triage = Triage(
        classifier=classifier,  # type: ignore[arg-type]
        rules=rules,
        calendar=BusinessHours.from_spec(rules.business_hours),
        store=Store.open(config.database_url(), reference_prefix=prefix, clock=clock),
        renderer=renderer,
        from_address=config.smtp.from_ if config.smtp else "",
        dry_run=dry_run,
        own_addresses=own_addresses(config),
        metrics=numbers,
    )
    numbers.watch(triage.store, classifier, list(polled_sources(config)))  # backlog, outbox, model: at each scrape
    return triage


def rules_context(config: Config, templates: Path | None) -> RulesContext:
    """What the config tells the rules check: its sources' names and the templates folder."""
    names = [f"imap:{m.name}" for m in config.mailbox] + [f"zendesk:{z.name}" for z in config.zendesk] + \
        [f"freshdesk:{f.name}" for f in config.freshdesk]
    return RulesContext(sources=tuple(names), templates=templates)


def live_reload(config: Config, triage: Triage, scheduled: list[Scheduled]) -> LiveReload:
    """The watcher that takes edits of the config's rules file and templates into the running daemon."""
    templates = triage.renderer.directory
    watched = Watched(config.resolve(config.paths.rules), templates, rules_context(config, templates))
    return LiveReload(watched, triage, [item.source for item in scheduled])


def sources_of(config: Config, triage: Triage, **kwargs: object) -> list[Scheduled]:
    """Every source of the config, built through the registry."""
    scheduled = build_sources(Needs(config=config, rules=triage.rules, clock=triage.store.clock, **kwargs))  # type: ignore[arg-type]
    if not triage.dry_run:  # learning from agents: each source reports what the team did with decided tickets
        from bot.learning.corrections import observer

        for item in scheduled:
            item.source.observe = observer(triage.store)  # type: ignore[attr-defined]
    return scheduled


def start_sources(scheduled: list[Scheduled], triage: Triage) -> None:
    """Log in to every source once before work starts: a configuration mistake found there (a helpdesk group
    the rules name but the helpdesk lacks) stops the run; a server that is down only delays its source.
    On a new decision log, the reference sequence is raised above what every reachable server shows."""
    for item in scheduled:
        source = item.source
        try:
            with source:
                if not triage.dry_run:
                    seed_references(source, triage)
        except ConfigError:
            raise
        except AuthError as exc:  # its cycles wait, with a growing pause, instead of trying again at once
            text, new = login.refused(triage.store, source, str(exc)) if not triage.dry_run else (str(exc), True)
            if new:
                log.error("%s: %s", source.name, text)
        except DeskbotError as exc:
            log.warning("%s: cannot log in yet (%s); its cycles will keep trying", source.name, exc)
    wait_ready = getattr(triage.classifier, "wait_ready", None)
    if wait_ready is not None:  # the model warmed while the sources logged in; one that cannot load stops here
        wait_ready()
    # What start-up built (libraries, the model and its word tables: ~260k objects) lives as long as the process:
    # frozen, the cyclic collector stops walking it at each full collection (5-7% of a busy cycle's CPU). `run`
    # keeps the collector off until here (0.1-0.2 s of a start); the few thousand objects of cyclic garbage left
    # from start-up are kept too, as a collection now would cost ~70 ms of the first mail's wait.
    gc.freeze()
    gc.enable()


def run_once(scheduled: list[Scheduled], triage: Triage, *, stop: threading.Event) -> list[SourceReport]:
    """One cycle over every source, one after the other, until done or asked to stop."""
    start_sources(scheduled, triage)
    reports = []
    try:
        for item in scheduled:
            if stop.is_set():
                break
            reports.append(run_source(item.source, triage, stop=stop))
    finally:
        release_sources(scheduled)
    return reports


def release_sources(scheduled: list[Scheduled]) -> None:
    """Close what sources keep between cycles (a helpdesk's HTTP connections)."""
    for item in scheduled:
        close = getattr(item.source, "close", None)
        if close is not None:
            close()


def serve(scheduled: list[Scheduled], triage: Triage, *, stop: threading.Event, reload: LiveReload | None = None) -> None:
    """Run until `stop` is set: one interval job per source (never two at once for the same source); each cycle
    first takes a changed rules file or template folder (`reload`)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    start_sources(scheduled, triage)
    owner, started = status.instance_id(), triage.store.now()
    if triage.store.engine.dialect.name != "sqlite":  # SQLite has its file lock: one instance at all
        triage.owner = owner  # a shared database: instances take a lease per source
    scheduler = BackgroundScheduler(timezone=timezone.utc,
                                    executors={"default": ThreadPoolExecutor(max(1, len(scheduled)))})
    # IMAP IDLE: a mailbox's cycle runs as soon as mail arrives; the job's guard keeps it to one cycle at a time
    watchers = Watchers(scheduler, stop)
    for item in scheduled:
        scheduler.add_job(watchers.job(item, _cycle), "interval", args=(item, triage, stop, reload),
                          seconds=item.poll_seconds,
                          id=item.source.name, next_run_time=datetime.now(timezone.utc), max_instances=2,
                          coalesce=True, misfire_grace_time=item.poll_seconds)
    scheduler.start()
    watchers.start(scheduled)
    log.info("deskbot running: %d source(s): %s; Ctrl-C or SIGTERM stops", len(scheduled),
             ", ".join(i.source.name for i in scheduled))
    try:
        while True:
            status.heartbeat(triage.store, owner, started=started)
            if stop.wait(HEARTBEAT_SECONDS):
                break
    finally:
        watchers.close()
        scheduler.shutdown(wait=True)  # each running cycle returns after the ticket in hand
        release_sources(scheduled)
        for item in scheduled:
            status.release(triage.store, item.source.name, owner)
        status.stopped(triage.store, owner)
        log.info("deskbot stopped")


def serve_with_api(config: Config, scheduled: list[Scheduled], triage: Triage, *, stop: threading.Event,
                   poll: bool = True, reload: LiveReload | None = None) -> None:
    """`serve`, and with an [api] table the HTTP API beside it in a thread, stopped by the same flag.

    Webhooks work through the very source objects the scheduler polls. Without `poll` (`deskbot serve`)
    the sources only serve webhooks; each API client's own cycle still resumes unsent acknowledgements.
    With a [metrics] table, the metrics listener (/metrics, /healthz) runs beside them too.
    """
    from bot.ops.exporter import listening

    with listening(config, triage, started=triage.store.now(), polls=poll):
        _serve_with_api(config, scheduled, triage, stop=stop, poll=poll, reload=reload)


def _serve_with_api(config: Config, scheduled: list[Scheduled], triage: Triage, *, stop: threading.Event,
                    poll: bool, reload: LiveReload | None) -> None:
    if config.api is None:
        serve(scheduled, triage, stop=stop, reload=reload)
        return
    from bot.api.app import build_app
    from bot.api.backend import build_backend
    from bot.api.server import ApiServer

    desks = [item for item in scheduled if hasattr(item.source, "fetch_one")]
    if not poll:
        start_sources(desks, triage)  # log in and seed references once, as a poll would
    backend = build_backend(config, triage, [item.source for item in desks])
    clients = [Scheduled(source, CLIENT_POLL_SECONDS) for source in backend.clients.values()]
    health = health_of(config, triage.store, table="api", started=triage.store.now(), polls=poll)
    with ApiServer(build_app(backend, config.api, health=health), config.api, stop=stop):
        serve([*(scheduled if poll else []), *clients], triage, stop=stop, reload=reload)


def _cycle(item: Scheduled, triage: Triage, stop: threading.Event, reload: LiveReload | None = None) -> None:
    """One scheduled cycle; never raises into the scheduler."""
    if stop.is_set():
        return
    if reload is not None:
        try:
            reload.check()
        except Exception:  # noqa: BLE001 - a reload that crashes keeps the running version
            log.exception("checking the rules and templates for changes failed")
    next_run = triage.store.now() + timedelta(seconds=item.poll_seconds)
    try:
        run_source(item.source, triage, stop=stop, next_run=next_run)
    except Exception:  # noqa: BLE001 - run_source reports its own errors; this is a last resort
        log.exception("%s: cycle failed", item.source.name)


def unknown_departments(classifier: object, rules: RuleSet) -> list[str]:
    """Departments the model predicts that the rules do not route."""
    return sorted(set(getattr(classifier, "departments", ())) - set(rules.departments))


def review_unreachable(classifier: object, rules: RuleSet) -> str | None:
    """Why every ticket would go to review: a review_below the model's confidence never reaches (or None)."""
    ceiling = float(getattr(classifier, "max_confidence", 1.0))
    if rules.triage.review_below < ceiling:
        return None
    return (f"[triage] review_below {rules.triage.review_below:.2f} is at or above the highest confidence this model "
            f"gives ({ceiling:.2f}), so every ticket goes to review: lower it in the rules file (the shipped rules "
            "use 0.50), or train a model on your own tickets")


def check_model_departments(classifier: object, rules: RuleSet) -> None:
    """`deskbot check`: every department the model predicts must be routed by the rules."""
    unknown = unknown_departments(classifier, rules)
    if unknown:
        raise rules.error_at(("departments",), f"the model predicts {', '.join(unknown)}, which the rules do not "
                             "define; add a [departments.<name>] table for each (or retrain the model)")


__all__ = ["ConfigError", "build_triage", "check_model_departments", "live_reload", "rules_context", "run_once", "serve",
           "serve_with_api", "sources_of"]
