"""`deskbot why REF` (and `deskbot log --reference REF`): one ticket's whole story in plain words.

The mail, what the model said and why, each rule that fired, the decision, every action with its
outcome and time, its thread, the decisions `deskbot retry` replaced and the failures on the way,
read from the decision log alone (no server is asked).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot.log.records import as_utc
from bot.log.schema import ActionLog, Event, TicketLog
from bot.log.store import Store

_WIDTH = 11


def _when(moment: datetime | None) -> str:
    return f"{as_utc(moment):%Y-%m-%d %H:%M} UTC" if moment else "unknown"


def _line(label: str, text: str) -> str:
    """`Label:    text`; an empty label continues the lines above."""
    return f"{label + ':' if label else '':<{_WIDTH}}{text}"


def tell(store: Store, row: TicketLog) -> list[str]:
    """The lines of one ticket's story."""
    assert row.id is not None
    with store.session() as session:
        actions = list(session.exec(select(ActionLog).where(ActionLog.ticket_id == row.id).order_by(col(ActionLog.id))))
        events = list(session.exec(select(Event).where(Event.ticket_id == row.id).order_by(col(Event.id))))
        replies = list(session.exec(select(TicketLog).where(TicketLog.follow_up_of == row.id)
                                    .order_by(col(TicketLog.id))))
        parent = session.get(TicketLog, row.follow_up_of) if row.follow_up_of else None
        original = session.get(TicketLog, row.duplicate_of) if row.duplicate_of else None
    name = row.reference or f"#{row.id}"
    lines = [f"{name}: {row.status}" + (" (work left)" if row.pending else "") + (" (dry run)" if row.dry_run else "")]
    sender = f"{row.sender_name} <{row.sender}>" if row.sender_name else row.sender or "unknown sender"
    lines.append(_line("Mail", f"from {sender}, subject {row.subject!r}, received {_when(row.received_at)}"))
    lines.append(_line("Source", f"{row.source} {row.ref}" + (f", Message-ID {row.message_id}" if row.message_id else "")
                       + f"; recorded {_when(row.created_at)}"))
    lines += _prediction(row)
    lines += [_line("Why" if i == 0 else "", reason) for i, reason in enumerate(json.loads(row.reasons))]
    lines += _decision(row)
    lines += [_line("Action" if i == 0 else "", f"{a.kind:<12} {a.state:<8} {_when(a.updated_at)}"
                    + (f"  {a.detail}" if a.detail else "") + (f" ({a.attempts} tries)" if a.attempts > 1 else ""))
              for i, a in enumerate(actions)] or [_line("Actions", "none")]
    if row.retry_at is not None and row.pending:
        lines.append(_line("Next try", _when(row.retry_at)))
    if parent is not None:
        lines.append(_line("Thread", f"a follow-up in the thread of {parent.reference or '#' + str(parent.id)} "
                           f"({parent.subject!r})"))
    if original is not None:
        lines.append(_line("Copy", f"a second copy of {original.reference or '#' + str(original.id)}"))
    lines += [_line("Follow-up" if i == 0 else "", f"{_when(r.created_at)} from {r.sender}: {r.subject!r} ({r.status})")
              for i, r in enumerate(replies)]
    lines += [_line("Replaced" if i == 0 else "", _earlier(e))
              for i, e in enumerate(json.loads(row.earlier_decisions or "[]"))]
    lines += [_line("Event" if i == 0 else "", f"{_when(e.at)} {e.level}: {e.message}") for i, e in enumerate(events)]
    if row.error:
        lines.append(_line("Error", row.error + (f" (after {row.attempts} attempts)" if row.attempts else "")))
    return lines


def _prediction(row: TicketLog) -> list[str]:
    if not row.model_version:
        return [_line("Model", "not asked (" + ("unreadable input" if row.status == "unreadable" else "no decision")
                      + ")")]
    scores = sorted(json.loads(row.department_scores).items(), key=lambda kv: -kv[1])
    others = ", ".join(f"{d} {p:.2f}" for d, p in scores[1:4])
    priority = json.loads(row.priority_scores)
    lines = [_line("Model", f"{row.predicted_department} {row.confidence or 0:.2f}"
                   + (f" (then {others})" if others else "") + f"; model {row.model_version}")]
    if row.predicted_priority:
        lines.append(_line("", f"priority {row.predicted_priority} ("
                           + ", ".join(f"{p} {v:.2f}" for p, v in sorted(priority.items(), key=lambda kv: -kv[1]))
                           + ")"))
    terms = ", ".join(f"{t} ({w:+.2f})" for t, w in json.loads(row.top_terms)[:6])
    lines.append(_line("Top terms", terms or "none"))
    return lines


def _decision(row: TicketLog) -> list[str]:
    if not row.department:
        return [_line("Decision", "none")]
    tags = ", ".join(json.loads(row.tags)) or "no tags"
    text = (f"{row.department} / {row.priority or 'no priority'}, {tags}, "
            + (f"folder {row.folder}" if row.folder else f"group {row.group}" if row.group else "left in place")
            + (", needs review" if row.needs_review else "")
            + (f"; first answer due {_when(row.sla_due)}" if row.sla_due else ""))
    ack = (f"acknowledgement in {row.ack_language or 'the default language'} to {row.ack_to or row.sender}"
           if row.ack_template is not None else f"no acknowledgement: {row.ack_skip_reason or 'none wanted'}")
    return [_line("Decision", f"{text} ({row.kind})"), _line("", ack)]


def today_lines(today: dict[str, Any] | None, why_not: str = "") -> list[str]:
    """The section "today's rules would decide": the `today` object of `--json` in words, or why there is none."""
    if today is None:
        return [_line("Today", f"today's rules would decide: not asked ({why_not})")] if why_not else []
    ack = "acknowledgement" if today["acknowledge"] else \
        f"no acknowledgement: {today['ack_skip_reason'] or 'none wanted'}"
    lines = [_line("Today", f"today's rules would decide: {today['department']} / "
                   f"{today['priority'] or 'no priority'}, " + ("needs review" if today["needs_review"] else "no review")
                   + f", {ack}"),
             _line("", f"rules {today['rules_file']}; prediction: " + _PREDICTION[today["prediction"]])]
    if today["same"]:
        return [*lines, _line("", "the same as the recorded decision")]
    return [*lines, _line("", "differs from the recorded decision in " + ", ".join(
        _FIELD[name] for name in today["differences"]))]


_PREDICTION = {"recorded": "the one recorded with the ticket (the model was not asked again)",
               "model": "the model's, asked now (none was recorded: a rule had decided without it)",
               "none": "none needed (a before_model rule decides alone)"}
_FIELD = {"department": "department", "priority": "priority", "needs_review": "review",
          "acknowledge": "acknowledgement"}


def _earlier(entry: dict[str, object]) -> str:
    reasons = "; ".join(str(r) for r in entry.get("reasons", []))  # type: ignore[union-attr]
    return (f"until {entry.get('until', '?')}: {entry.get('department')} / {entry.get('priority') or '-'}, "
            f"folder {entry.get('folder') or '-'}" + (f" ({reasons})" if reasons else ""))
