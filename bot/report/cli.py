"""`deskbot report`: write the report of a period to one HTML file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bot.config.where import database_options


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `report`."""
    report = sub.add_parser("report", help="write an HTML report: volume, routing, agreement with agents, SLA, sources",
                            description="Write one self-contained HTML file (inline SVG charts, no script, nothing "
                            "loaded from elsewhere): ticket volume by department and priority per week, auto-route "
                            "and review rates, agreement with agents, confusion between departments from corrections, "
                            "SLA targets and answers in time, top rules, acknowledgements sent and not sent, and the "
                            "slowest and most failing sources. Reads only the database. `deskbot serve` also serves "
                            "it at /report to tokens with the `report` scope.")
    database_options(report)
    report.add_argument("--since", default="30d", help="a span back from now (48h, 30d, 12w) or a date (default 30d)")
    report.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file (default report.html; "
                        "- for standard output)")
    report.set_defaults(handler=write_report)


def write_report(args: argparse.Namespace) -> int:
    """`deskbot report`: written to a temporary file beside --out, then renamed (never half a report)."""
    from bot.ops.admin import open_log
    from bot.learning.period import parse_since
    from bot.report.document import build_report

    store = open_log(args).store
    html = build_report(store, since=parse_since(args.since, store.now()))  # type: ignore[arg-type,attr-defined]
    if str(args.out) == "-":
        sys.stdout.write(html)
        return 0
    staging = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    staging.write_text(html, encoding="utf-8")
    os.replace(staging, args.out)
    print(f"wrote {args.out} ({len(html.encode()) / 1024:.0f} KiB)", file=sys.stderr)
    return 0
