"""`deskbot ack preview`: the acknowledgement a mail would get, decided as `deskbot run` decides it.

No server is contacted and nothing is recorded: the mail is parsed, classified and judged by the
pipeline's own `judge()`, which reads the decision log (if there is one) only to recognise a
follow-up to a ticket it already holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.ack.message import build_ack
from bot.ack.templates import AckRenderer
from bot.config.file import Config
from bot.errors import BadInputError
from bot.judge import for_source, judge, new_ack_id
from bot.log.schema import Counter
from bot.log.store import Store, format_reference, utc_now
from bot.models import Decision, Prediction
from bot.rules import load_rules
from bot.sla import BusinessHours
from bot.triage import Triage
from connectors.base import Ack, Source, Wire
from connectors.imap import ImapSource
from connectors.mail import parse_mail
from connectors.smtp import SmtpMailer

PLACEHOLDER_FROM = "Support <support@example.com>"  # without --config there is no [smtp] from


@dataclass(frozen=True)
class Preview:
    """What would happen to one mail's acknowledgement, and why."""

    prediction: Prediction | None
    decision: Decision | None
    ack: Ack | None  # None: no acknowledgement would be sent
    reason: str  # why none would be sent ("" when one would)
    templates: tuple[str, ...] = ()  # the template files the acknowledgement is rendered from


@dataclass(frozen=True)
class PreviewSetup:
    """Everything a preview needs; built from a config like `deskbot run` builds its triage."""

    triage: Triage
    source: str  # the source the mail is taken to come from ("imap:<first mailbox>")
    mailbox: Source | None  # that mailbox (never entered: it only says what it would do), None without one
    notes: tuple[str, ...]  # what the preview assumes, to be said beside the result


def load_setup(config: Config | None, *, clock: Callable[[], datetime] = utc_now) -> PreviewSetup:
    """Rules, templates, model and (read only) decision log of a config, or the shipped ones without one."""
    from bot.daemon import load_classifier, own_addresses

    rules_path, templates, model, cache = (
        (config.resolve(config.paths.rules), config.resolve(config.paths.templates), config.resolve(config.paths.model),
         config.resolve(config.paths.cache)) if config else (None, None, None, None))
    rules = load_rules(rules_path)
    store, log_note = _decision_log(config, rules.acknowledgement.reference_prefix, clock)
    triage = Triage(
        classifier=load_classifier(model, cache),  # type: ignore[arg-type]
        rules=rules, calendar=BusinessHours.from_spec(rules.business_hours), store=store,
        renderer=AckRenderer(templates), dry_run=True,
        from_address=config.smtp.from_ if config and config.smtp else PLACEHOLDER_FROM,
        own_addresses=own_addresses(config) if config else frozenset(),
    )
    notes = [log_note, "the mail is taken as arriving now"]
    if config is None or not config.mailbox:
        notes.insert(0, "no --config: shipped rules and templates, default model, From " + PLACEHOLDER_FROM
                     if config is None else "the config has no [[mailbox]]: the mail is taken as one with [smtp]")
        return PreviewSetup(triage, "imap:preview", None, tuple(notes))
    mailbox = ImapSource(config.mailbox[0], rules=rules, mailer=SmtpMailer(config.smtp) if config.smtp else None)
    return PreviewSetup(triage, mailbox.name, mailbox, tuple(notes))


def _decision_log(config: Config | None, prefix: str, clock: Callable[[], datetime]) -> tuple[Store, str]:
    """The config's decision log opened without migrating it (nothing is written), or an empty one in memory."""
    from bot.log.database import open_engine, sqlite_path

    url = config.database_url() if config else ""
    path = sqlite_path(url) if url else None
    if url and (path is None or path.exists()):
        engine = open_engine(url, reference_prefix=prefix, migrate=False)
        return Store(engine, clock=clock, reference_prefix=prefix), f"follow-ups recognised from the decision log {url}"
    return Store.open("sqlite://", reference_prefix=prefix, clock=clock), \
        "no decision log yet: the mail cannot be a follow-up to a recorded ticket"


def preview_ack(data: bytes, setup: PreviewSetup) -> Preview:
    """Parse, classify and decide like `deskbot run`; the message it would send, or why none."""
    triage = setup.triage
    try:
        ticket = parse_mail(data, source=setup.source, ref="preview")
    except BadInputError as exc:
        return Preview(None, None, None, f"the mail cannot be read ({exc}); it would be set aside for a person")
    prediction, decision = judge(ticket, triage)
    if setup.mailbox is not None:
        decision = for_source(decision, setup.mailbox)
    if decision.ack_template is None:
        return Preview(prediction, decision, None, decision.ack_skip_reason or "the decision sends none")
    choice = triage.renderer.choose(decision.ack_template, decision.department, decision.language,
                                    fallback=triage.rules.acknowledgement.default_language)
    ack = build_ack(ticket, decision, reference=next_reference(triage.store), message_id=new_ack_id(triage),
                    rules=triage.rules, from_address=triage.from_address, renderer=triage.renderer,
                    now=triage.store.clock())
    names = tuple(str(t.name) for t in (choice.text, choice.html) if t is not None)
    return Preview(prediction, decision, ack, "", names)


def wire_text(wire: Wire) -> str:
    """The message as the mailer hands it to the SMTP server, with \\n line ends: SMTPUTF8 (raw UTF-8 headers)
    when an address needs it, else encoded words."""
    return wire.data.replace(b"\r\n", b"\n").decode("utf-8", "replace")


def next_reference(store: Store) -> str:
    """The reference the next recorded ticket would get (read, not taken)."""
    with store.session() as session:
        counter = session.get(Counter, "reference")
    return format_reference(store.reference_prefix, (counter.value if counter else 0) + 1)


def describe(preview: Preview, setup: PreviewSetup) -> list[str]:
    """What was decided and assumed, for the terminal beside the message itself."""
    lines = []
    if preview.prediction is not None and preview.decision is not None:
        d = preview.decision
        due = d.sla_due.astimezone(setup.triage.calendar.zone).strftime("%Y-%m-%d %H:%M %Z") if d.sla_due else "none"
        lines.append(f"decision: {d.department} / {d.priority}{' (needs review)' if d.needs_review else ''}, "
                     f"confidence {preview.prediction.confidence:.2f}, language {d.language}, first answer due {due}")
        lines.append("why: " + "; ".join(d.reasons))
    if preview.templates:
        lines.append("templates: " + " + ".join(preview.templates))
    lines += [f"assumed: {note}" for note in setup.notes]
    return lines
