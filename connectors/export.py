"""`deskbot train --from zendesk:acme`: the team's own solved tickets as a training set.

Text is what deskbot reads of a new ticket (subject plus the customer's first message, quotes cut);
the department label is the ticket's final group, named after the rules' department whose `group`
it is, else after the group itself (listed with a ready-to-paste [departments.…] stanza); the
priority label is the helpdesk's priority read back through the rules' priority mapping. A ticket
without a priority (most real Zendesk tickets: `priority: null`) gets no priority label, never a
default: it goes to a second file without a priority column, which trains the department model only.
Each ticket counts once (the export lists a ticket again after each change: its last state wins);
the summary says how many tickets each label has and how many were dropped and why.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.config.file import load_config
from bot.errors import ConfigError
from bot.rules import RuleSet, load_rules
from classifier.dataset import DatasetError
from connectors import freshdesk_api, zendesk_api
from connectors.freshdesk import FreshdeskSource
from connectors.helpdesk import HelpdeskSource, parse_time
from connectors.http import ApiClient
from connectors.mail import strip_quotes
from connectors.zendesk import ZendeskSource

EXPORT_FILE = "training-data.jsonl"
DEPARTMENT_ONLY_FILE = "training-data-no-priority.jsonl"  # tickets without a priority: no priority column
NO_GROUP = "no group"
NOT_SOLVED = "not solved or closed yet"
_SINCE = re.compile(r"^(\d+)([dw])$")


@dataclass(frozen=True)
class Example:
    """One labelled ticket, in the columns `deskbot train` reads by default."""

    subject: str
    body: str
    department: str
    priority: str  # "" : the ticket had none (it trains the department model only)


def training_files(args: argparse.Namespace) -> list[Path]:
    """The DATA files of `deskbot train`, plus the export of `--from SOURCE` when given."""
    files = list(args.data or [])
    if getattr(args, "source", None):
        files += export_source(args.source, config_path=args.config, since=args.since, out=args.out)
    if not files:
        raise DatasetError("name the labelled DATA files, or a helpdesk with --from zendesk:NAME --config FILE")
    return files


def parse_since(value: str, *, now: datetime) -> datetime:
    """`180d`, `26w` or a date (2026-05-01) -> the moment solved tickets are taken from."""
    match = _SINCE.match(value.strip())
    if match:
        days = int(match[1]) * (7 if match[2] == "w" else 1)
        return now - timedelta(days=days)
    moment = parse_time(value.strip() if "T" in value else f"{value.strip()}T00:00:00Z")
    if moment is None:
        raise DatasetError(f"--since {value!r}: use a number of days or weeks (180d, 26w) or a date (2026-05-01)")
    return moment


def open_source(name: str, config_path: Path | None) -> HelpdeskSource:
    """The [[zendesk]] or [[freshdesk]] table `name` (zendesk:acme) of a config file."""
    if config_path is None:
        raise ConfigError("--from needs --config deskbot.toml (where the helpdesk and its credentials are)")
    kind, _, table = name.partition(":")
    config = load_config(config_path)
    rules = load_rules(config.resolve(config.paths.rules))
    tables = {"zendesk": (config.zendesk, ZendeskSource), "freshdesk": (config.freshdesk, FreshdeskSource)}
    if kind not in tables:
        raise ConfigError(f"--from {name!r}: use zendesk:NAME or freshdesk:NAME")
    found, make = tables[kind]
    for entry in found:
        if entry.name == table:
            return make(entry, rules=rules)  # type: ignore[arg-type]
    known = ", ".join(f"{kind}:{e.name}" for e in found) or "none"
    raise ConfigError(f"{config_path}: no [[{kind}]] table named {table!r} (known: {known})")


def export_source(name: str, *, config_path: Path | None, since: str, out: Path,
                  now: datetime | None = None, source: HelpdeskSource | None = None) -> list[Path]:
    """Write the solved tickets of a helpdesk as JSON lines into `out`; print what became which label.
    Returns the file with priorities and, when some tickets had none, the department-only file."""
    source = source or open_source(name, config_path)
    start = parse_since(since, now=now or datetime.now().astimezone())
    api = source.connect()
    dropped: Counter[str] = Counter()
    try:
        examples = list(tqdm(history(source, api, start, dropped), desc=f"reading {source.name}",
                             unit=" tickets", disable=None))
    finally:
        api.close()
    if not examples:
        raise DatasetError(f"{source.name}: no solved or closed ticket with a group since {start:%Y-%m-%d}")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for file, part in ((EXPORT_FILE, [e for e in examples if e.priority]),
                       (DEPARTMENT_ONLY_FILE, [e for e in examples if not e.priority])):
        path = out / file
        path.unlink(missing_ok=True)
        if part:
            with path.open("w", encoding="utf-8") as stream:
                for example in part:
                    row = asdict(example) if example.priority else {k: v for k, v in asdict(example).items()
                                                                    if k != "priority"}
                    stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            paths.append(path)
    print(summary(examples, source.rules, source.name, dropped))
    return paths


def history(source: HelpdeskSource, api: ApiClient, start: datetime,
            dropped: Counter[str] | None = None) -> Iterator[Example]:
    """Solved and closed tickets changed since `start`, with a group, as examples (each ticket once,
    in its last state); `dropped` counts the tickets left out, by reason."""
    dropped = Counter() if dropped is None else dropped
    names = {gid: name for name, gid in (zendesk_api.groups(api) if source.kind == "zendesk"
                                         else freshdesk_api.groups(api)).items()}
    departments = {route.group: dept for dept, route in source.rules.departments.items() if route.group}
    ours = {value: priority for priority, value in reversed(source.priorities.items())}
    tickets = (zendesk_history if source.kind == "zendesk" else freshdesk_history)(api, start, dropped)
    for ticket, first_message in tickets:
        group = names.get(ticket.get("group_id"))  # type: ignore[arg-type]
        if group is None:
            dropped[NO_GROUP] += 1
            continue
        priority = ours.get(ticket.get("priority"), "")  # type: ignore[arg-type]
        yield Example(str(ticket.get("subject") or ""), strip_quotes(first_message),
                      departments.get(group, group), priority)


def zendesk_history(api: ApiClient, start: datetime,
                    dropped: Counter[str]) -> Iterator[tuple[dict[str, Any], str]]:
    """Solved and closed Zendesk tickets from the incremental export, each once in its last state (the export
    lists a ticket again after each change); its description is the first comment."""
    latest: dict[int, dict[str, Any]] = {}
    for page in zendesk_api.export(api, start_time=int(start.timestamp())):
        for ticket in page.tickets:
            if int(ticket["id"]) in latest:
                dropped["listed again (kept its last state)"] += 1
            latest.pop(int(ticket["id"]), None)
            latest[int(ticket["id"])] = ticket
    for ticket in latest.values():
        if ticket.get("status") in ("solved", "closed"):
            yield ticket, str(ticket.get("description") or "")
        else:
            dropped[NOT_SOLVED] += 1


def freshdesk_history(api: ApiClient, start: datetime,
                      dropped: Counter[str]) -> Iterator[tuple[dict[str, Any], str]]:
    """Resolved and closed Freshdesk tickets, each once, the watermark moved page by page as when pulling
    (asked from a second before it: `updated_since` may exclude its own second; never past page 300)."""
    seen: set[int] = set()
    since, page = start, 1
    while page <= freshdesk_api.MAX_PAGE:
        tickets, more = freshdesk_api.list_updated(api, since - timedelta(seconds=1), page=page)
        for ticket in tickets:
            if int(ticket["id"]) in seen:
                continue
            if ticket.get("status") in freshdesk_api.CLOSED_STATUSES:
                yield ticket, str(ticket.get("description_text") or "")
            else:
                dropped[NOT_SOLVED] += 1
        seen.update(int(t["id"]) for t in tickets)
        newest = max((parse_time(t.get("updated_at")) or since for t in tickets), default=since)
        if not more:
            return
        page, since = (page + 1, since) if newest <= since else (1, newest)


def summary(examples: list[Example], rules: RuleSet, source: str, dropped: Counter[str] | None = None) -> str:
    """Tickets per label, what was dropped and why, and a stanza for each group the rules do not route to yet."""
    counts = Counter(e.department for e in examples)
    lines = [f"{source}: {len(examples)} solved tickets exported", "departments:"]
    lines += [f"  {label}: {count}" for label, count in counts.most_common()]
    priorities = Counter(e.priority or "(none)" for e in examples)
    lines.append("priorities:")
    lines += [f"  {label}: {count}" for label, count in priorities.most_common()]
    if priorities["(none)"]:
        lines.append(f"{priorities['(none)']} ticket(s) without a priority are in {DEPARTMENT_ONLY_FILE}: they "
                     "train the department model only (and while any ticket lacks one, deskbot train fits no "
                     "priority model; give DATA with priorities for that)")
    if dropped:
        lines.append("dropped: " + ", ".join(f"{count} {why}" for why, count in dropped.most_common()))
    new = sorted(label for label in counts if label not in rules.departments)
    if new:
        lines.append("groups that no department of the rules names yet; paste into the rules file:")
        for group in new:
            lines.append(f"\n[departments.{_key(group)}]\ngroup = {json.dumps(group)}")
    return "\n".join(lines)


def _key(name: str) -> str:
    """The department's TOML key: the group name itself, quoted unless it is a bare key."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)
