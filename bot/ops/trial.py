"""`deskbot rules test`: the whole decision for one ticket, changing nothing and sending nothing.

The ticket comes from flags (subject, body, sender, ...), an .eml file, or the decision log (`--ticket REF`).
It is decided as a new ticket (no thread, no per-address limits): the model's scores, each rule in
order with fired or not and why, the final route, the acknowledgement and the SLA due time with its calendar.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TextIO

from bot.decide import Verdict, evaluate, needs_model
from bot.errors import ConfigError, DeskbotError
from bot.models import Prediction, Ticket
from bot.ops.inspection import rules_source
from bot.rules import RuleSet, load_rules
from classifier.text import detect_language, ticket_text


@dataclass(frozen=True)
class Trial:
    """One ticket decided for the admin: the verdict, the prediction (None: not asked), and the time zone."""

    ticket: Ticket
    verdict: Verdict
    prediction: Prediction | None
    acknowledge: bool
    ack_note: str


def rules_test(args: argparse.Namespace, out: TextIO) -> int:
    """Decide one ticket with the config's (or --rules) rules and model; print it, or --json."""
    from bot.config.file import load_config
    from bot.daemon import load_classifier

    config = load_config(args.config, secrets=False)
    path, context = rules_source(args.config, args.rules)
    rules = load_rules(path, context=context)
    now = _moment(args.at) if args.at else datetime.now(timezone.utc)
    ticket = _ticket(args, config, now)
    prediction = None
    if needs_model(ticket, rules, now=now):
        model = load_classifier(config.resolve(config.paths.model), config.resolve(config.paths.cache))
        prediction = model.predict(ticket_text(ticket.subject, ticket.text))  # type: ignore[attr-defined]
    verdict = evaluate(ticket, prediction, rules, now=now)
    acknowledge, note = _acknowledgement(verdict, config, ticket)
    trial = Trial(ticket, verdict, prediction, acknowledge, note)
    if args.json:
        out.write(json.dumps(as_json(trial, rules), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write("\n".join(as_lines(trial, rules)) + "\n")
    return 0


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--at {value!r} is not an ISO 8601 time (e.g. 2026-12-05T14:30+01:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _ticket(args: argparse.Namespace, config: Any, now: datetime) -> Ticket:
    """The ticket the flags, the .eml file or the decision log describe."""
    default_source = f"imap:{config.mailbox[0].name}" if config.mailbox else "imap:test"
    source = args.source or default_source
    if args.eml is not None:
        from connectors.mail import parse_mail

        try:
            return parse_mail(args.eml.read_bytes(), source=source, ref="test", received_at=now)
        except (OSError, DeskbotError) as exc:
            raise DeskbotError(f"cannot read {args.eml}: {exc}") from None
    if args.ticket:
        return _recorded(config, args.ticket)
    from connectors.mail import strip_quotes

    body = args.body or ""
    headers = (("To", args.to),) if args.to else ()
    return Ticket(source=source, key="test", ref="test", sender=(args.from_ or "").lower(), sender_name="",
                  subject=args.subject or "", body=body, text=strip_quotes(body),
                  language=detect_language(f"{args.subject or ''}\n{body}"), received_at=now, headers=headers,
                  attachments=tuple((name, "application/octet-stream", 0) for name in args.attachment or ()))


def _recorded(config: Any, reference: str) -> Ticket:
    """The ticket the decision log recorded under this reference (SUP-000042) or id, read read-only."""
    from sqlmodel import col, select

    from bot.log.records import row_ticket
    from bot.log.schema import TicketLog
    from bot.ops.simulation import open_readonly

    wanted = reference.strip().upper()
    query = select(TicketLog).where(col(TicketLog.id) == int(wanted)) if wanted.isdigit() else \
        select(TicketLog).where(col(TicketLog.reference) == wanted)
    with open_readonly(config) as session:
        row = session.exec(query).first()
    if row is None:
        raise DeskbotError(f"no ticket {reference} in the decision log {config.database_url()}")
    return row_ticket(row)


def _acknowledgement(verdict: Verdict, config: Any, ticket: Ticket) -> tuple[bool, str]:
    decision = verdict.decision
    if decision.ack_template is None:
        return False, decision.ack_skip_reason or "the decision sends none"
    if ticket.source.startswith("imap:") and config.smtp is None:
        return False, "the config has no [smtp] server to send it"
    return True, f"template {decision.ack_template} in {decision.language}"


def as_json(trial: Trial, rules: RuleSet) -> dict[str, Any]:
    """The machine-readable decision (the keys issue 19 names, and a few more)."""
    d, v, p = trial.verdict.decision, trial.verdict, trial.prediction
    return {
        "department": d.department, "priority": d.priority, "group": d.group, "folder": d.folder,
        "tags": list(d.tags), "needs_review": d.needs_review, "acknowledge": trial.acknowledge,
        "ack_template": d.ack_template if trial.acknowledge else None, "ack_note": trial.ack_note,
        "sla_hours": d.sla_hours, "sla_due": d.sla_due.isoformat() if d.sla_due else None,
        "calendar": v.calendar or None, "model_asked": v.model_asked,
        "model": None if p is None else {"version": p.model_version, "department": p.department,
                                         "confidence": p.confidence, "department_scores": p.department_scores,
                                         "priority": p.priority, "priority_scores": p.priority_scores},
        "rules": [{"name": r.name, "stage": r.stage, "fired": r.fired, "why": r.why} for r in v.rules],
        "language": trial.ticket.language, "reasons": list(d.reasons), "rules_file": rules.path or "shipped",
    }


def as_lines(trial: Trial, rules: RuleSet) -> list[str]:
    """The decision in words, top to bottom in the order it was made."""
    d, v, p = trial.verdict.decision, trial.verdict, trial.prediction
    lines = [f"ticket: from {trial.ticket.sender or '-'} via {trial.ticket.source}, language {trial.ticket.language}, "
             f"subject {trial.ticket.subject!r}"]
    if p is None:
        lines.append("model: not asked (a before_model rule decided the department and stopped)")
    else:
        lines.append(f"model {p.model_version}: " + _scores(p.department_scores))
        lines.append("  priority: " + _scores(p.priority_scores))
    lines.append(f"rules ({rules.path or 'shipped'}):")
    lines += [f"  {'FIRED' if r.fired else 'no   '} {r.name} [{r.stage}]: {r.why}" for r in v.rules] or ["  (none)"]
    due = d.sla_due.isoformat(timespec="minutes") if d.sla_due else "none"
    lines += [f"department: {d.department}", f"priority:   {d.priority}", f"group:      {d.group or '-'}",
              f"folder:     {d.folder or '-'}", f"tags:       {', '.join(d.tags) or '-'}",
              f"review:     {'yes' if d.needs_review else 'no'}",
              f"acknowledgement: {'sent' if trial.acknowledge else 'not sent'}: {trial.ack_note}",
              f"first answer due: {due} ({d.sla_hours:g} h in calendar {v.calendar or '-'})"]
    return lines


def _scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{name} {score:.2f}" for name, score in sorted(scores.items(), key=lambda kv: -kv[1]))
