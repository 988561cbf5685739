"""The report page: the sections an admin reads, in one HTML document with inline CSS and SVG, no script."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape
from typing import Any

from bot.report import svg
from bot.report.facts import SLA_BUCKETS, Facts

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:980px;
padding:24px;color:#1d1d1f;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
svg.chart{width:100%;height:auto;font-size:11px}svg .grid{stroke:#eee}svg text{fill:#444}
.legend{margin:4px 0 0}.key{display:inline-block;margin-right:12px}.key i{display:inline-block;width:10px;height:10px;
margin-right:4px;border-radius:2px}
"""


def render(facts: Facts) -> str:
    """The whole report as one self-contained HTML document."""
    weeks = [w.isoformat() for w in facts.weeks]
    sections = [_summary(facts), _volume(facts, weeks), _rates(facts, weeks), _agreement(facts, weeks),
                _confusion(facts), _shadow(facts), _sla(facts), _rules(facts), _acks(facts), _sources(facts)]
    period = f"{facts.since:%Y-%m-%d} to {facts.until:%Y-%m-%d %H:%M} UTC"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>deskbot report {escape(period)}</title><style>{CSS}</style></head><body>"
            f"<h1>deskbot report</h1><p class=\"muted\">Tickets decided {escape(period)}; weeks start on Monday.</p>"
            + "".join(sections) + "</body></html>\n")


def _section(title: str, body: str, note: str = "") -> str:
    return f"<section><h2>{escape(title)}</h2>" + (f'<p class="muted">{escape(note)}</p>' if note else "") + body + \
        "</section>"


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _summary(facts: Facts) -> str:
    decided = sum(w["tickets"] for w in facts.accuracy)
    review = sum(round((w["review_rate"] or 0) * w["tickets"]) for w in facts.accuracy)
    labelled = facts.corrections + facts.confirmations
    cards = [("tickets recorded", f"{facts.tickets:,}"), ("decided", f"{decided:,}"),
             ("auto-routed", _cell((decided - review) / decided if decided else None)),
             ("to review", _cell(review / decided if decided else None)),
             ("corrected by agents", f"{facts.corrections:,}"), ("confirmed", f"{facts.confirmations:,}"),
             ("agreement", _cell(facts.confirmations / labelled if labelled else None)),
             ("acknowledgements sent", f"{facts.acks_sent:,}")]
    return '<div class="cards">' + "".join(f'<div class="card"><b>{escape(v)}</b>{escape(k)}</div>'
                                           for k, v in cards) + "</div>"


def _series(counts: dict[str, Any], weeks: Sequence[str]) -> dict[str, list[int]]:
    order = sorted(counts, key=lambda name: -sum(counts[name].values()))
    return {name: [counts[name].get(date.fromisoformat(w), 0) for w in weeks] for name in order}


def _volume(facts: Facts, weeks: Sequence[str]) -> str:
    if not weeks:
        return _section("Ticket volume", "<p>No ticket was decided in this period.</p>")
    return _section("Ticket volume by department", svg.stacked(weeks, _series(facts.volume_by_department, weeks),
                                                               label="tickets per week by department")) + \
        _section("Ticket volume by priority", svg.stacked(weeks, _series(facts.volume_by_priority, weeks),
                                                          label="tickets per week by priority"))


def _rates(facts: Facts, weeks: Sequence[str]) -> str:
    series = {"auto-routed": [w["auto_route_rate"] for w in facts.accuracy],
              "to review": [w["review_rate"] for w in facts.accuracy]}
    return _section("Auto-route and review rates", svg.lines(weeks, series, label="auto-route and review rate per week"))


def _agreement(facts: Facts, weeks: Sequence[str]) -> str:
    series = {"department agreement": [w["department_agreement"] for w in facts.accuracy],
              "priority agreement": [w["priority_agreement"] for w in facts.accuracy],
              "high filed as low": [w["high_predicted_low_rate"] for w in facts.accuracy]}
    rows = [[w["week"], w["tickets"], w["labelled"], w["department_agreement"], w["priority_agreement"],
             w["high_predicted_low_rate"]] for w in facts.accuracy]
    table = _table(("week", "tickets", "corrected or confirmed", "department agreement", "priority agreement",
                    "high filed as low"), rows)
    departments = sorted({d for w in facts.accuracy for d in w["department_agreement_by_department"]})
    per_dept = _table(("week", *departments), [[w["week"], *(w["department_agreement_by_department"].get(d)
                                                             for d in departments)] for w in facts.accuracy])
    return _section("Agreement with agents", svg.lines(weeks, series, label="agreement with agents per week") + table
                    + "<h3>Department agreement by the team's department</h3>" + per_dept,
                    "Each ticket counts its latest correction or confirmation, in the week deskbot decided it.")


def _confusion(facts: Facts) -> str:
    if not facts.confusion:
        return _section("Confusion between departments", "<p>No correction or confirmation names a department yet.</p>")
    names = sorted({d for pair in facts.confusion for d in pair})
    peak = max(facts.confusion.values())
    rows = []
    for deskbot in names:
        cells = []
        for team in names:
            n = facts.confusion.get((deskbot, team), 0)
            tone = "#59a14f" if deskbot == team else "#e15759"
            alpha = 0.15 + 0.85 * n / peak if n else 0
            style = f' style="background:{tone}{int(alpha * 255):02x}"' if n else ""
            cells.append(f"<td{style}>{n or ''}</td>")
        rows.append(f"<tr><th>{escape(deskbot)}</th>{''.join(cells)}</tr>")
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    return _section("Confusion between departments", f"<table><thead><tr><th>deskbot \\ team</th>{head}</tr></thead>"
                    f"<tbody>{''.join(rows)}</tbody></table>", "Rows: what deskbot decided; columns: where agents put it.")


def _shadow(facts: Facts) -> str:
    if not facts.shadows:
        return ""
    rows = [[s["model_version"], s["tickets"], s["same_as_live"], s["labelled"], s["shadow_agreement"],
             s["live_agreement"]] for s in facts.shadows]
    return _section("Shadow models", _table(("shadow model", "tickets", "same department as live",
                                             "corrected or confirmed", "shadow agreed with agents",
                                             "live agreed with agents"), rows),
                    "Decided beside the live model by `deskbot run --shadow`, never acted on.")


def _sla(facts: Facts) -> str:
    order = ["none", *(f"≤ {e} h" for e in SLA_BUCKETS), f"> {SLA_BUCKETS[-1]} h"]
    chart = svg.bars([(b, facts.sla_buckets.get(b, 0)) for b in order], label="first-answer targets")
    answered = _table(("first answer", "tickets"), [[k, facts.answered.get(k, 0)]
                                                    for k in ("in time", "late", "not known")])
    return _section("SLA: first-answer targets", chart + answered,
                    "Targets in business hours; answered in time where the source says when the first answer went out.")


def _rules(facts: Facts) -> str:
    top = facts.rules.most_common(15)
    body = svg.bars(top, label="rules fired") if top else "<p>No rule fired.</p>"
    return _section("Top rules fired", body)


def _acks(facts: Facts) -> str:
    rows = [["sent", facts.acks_sent]] + [[f"not sent: {r}", n] for r, n in facts.acks_suppressed.most_common(12)]
    return _section("Acknowledgements", _table(("acknowledgements", "tickets"), rows))


def _sources(facts: Facts) -> str:
    rows = [[s["source"], s["tickets"], s["failed"], s["quarantined"], s["failed_actions"],
             _seconds(s["median_seconds"]), _seconds(s["p95_seconds"]), s["last_error"] or "–"] for s in facts.sources]
    return _section("Sources: slowest and most failing first", _table(
        ("source", "tickets", "failed", "quarantined", "failed actions", "median to done", "95% to done",
         "last error"), rows))


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min" if value < 7200 else f"{value / 3600:.1f} h"
