"""`deskbot train --from zendesk:acme`: the team's own solved tickets as a training set.

Text is what deskbot reads of a new ticket (subject plus the customer's first message, quotes cut);
the department label is the ticket's final group, named after the rules' department whose `group`
it is, else after the group itself (listed with a ready-to-paste [departments.…] stanza); the
priority label is the helpdesk's priority read back through the rules' priority mapping.
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
_SINCE = re.compile(r"^(\d+)([dw])$")


@dataclass(frozen=True)
class Example:
    """One labelled ticket, in the columns `deskbot train` reads by default."""

    subject: str
    body: str
    department: str
    priority: str


def training_files(args: argparse.Namespace) -> list[Path]:
    """The DATA files of `deskbot train`, plus the export of `--from SOURCE` when given."""
    files = list(args.data or [])
    if getattr(args, "source", None):
        files.append(export_source(args.source, config_path=args.config, since=args.since, out=args.out))
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
                  now: datetime | None = None, source: HelpdeskSource | None = None) -> Path:
    """Write the solved tickets of a helpdesk as JSON lines into `out`; print what became which label."""
    source = source or open_source(name, config_path)
    start = parse_since(since, now=now or datetime.now().astimezone())
    api = source.connect()
    try:
        examples = list(tqdm(history(source, api, start), desc=f"reading {source.name}", unit=" tickets",
                             disable=None))
    finally:
        api.close()
    if not examples:
        raise DatasetError(f"{source.name}: no solved or closed ticket with a group since {start:%Y-%m-%d}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / EXPORT_FILE
    with path.open("w", encoding="utf-8") as stream:
        for example in examples:
            stream.write(json.dumps(asdict(example), ensure_ascii=False) + "\n")
    print(summary(examples, source.rules, source.name))
    return path


def history(source: HelpdeskSource, api: ApiClient, start: datetime) -> Iterator[Example]:
    """Solved and closed tickets changed since `start`, with a group, as examples."""
    names = {gid: name for name, gid in (zendesk_api.groups(api) if source.kind == "zendesk"
                                         else freshdesk_api.groups(api)).items()}
    departments = {route.group: dept for dept, route in source.rules.departments.items() if route.group}
    ours = {value: priority for priority, value in reversed(source.priorities.items())}
    tickets = zendesk_history(api, start) if source.kind == "zendesk" else freshdesk_history(api, start)
    for ticket, first_message in tickets:
        group = names.get(ticket.get("group_id"))  # type: ignore[arg-type]
        if group is None:
            continue
        priority = ours.get(ticket.get("priority"), source.rules.default_priority)  # type: ignore[arg-type]
        yield Example(str(ticket.get("subject") or ""), strip_quotes(first_message),
                      departments.get(group, group), priority)


def zendesk_history(api: ApiClient, start: datetime) -> Iterator[tuple[dict[str, Any], str]]:
    """Solved and closed Zendesk tickets from the incremental export (its description is the first comment)."""
    for page in zendesk_api.export(api, start_time=int(start.timestamp())):
        for ticket in page.tickets:
            if ticket.get("status") in ("solved", "closed"):
                yield ticket, str(ticket.get("description") or "")


def freshdesk_history(api: ApiClient, start: datetime) -> Iterator[tuple[dict[str, Any], str]]:
    """Resolved and closed Freshdesk tickets, the watermark moved page by page as when pulling."""
    seen: set[int] = set()
    since, page = start, 1
    while True:
        tickets, more = freshdesk_api.list_updated(api, since, page=page)
        for ticket in tickets:
            if ticket.get("status") in freshdesk_api.CLOSED_STATUSES and int(ticket["id"]) not in seen:
                yield ticket, str(ticket.get("description_text") or "")
        seen.update(int(t["id"]) for t in tickets)
        newest = max((parse_time(t.get("updated_at")) or since for t in tickets), default=since)
        if not more:
            return
        page, since = (page + 1, since) if newest <= since else (1, newest)


def summary(examples: list[Example], rules: RuleSet, source: str) -> str:
    """Tickets per label, and a stanza for each group the rules do not route to yet."""
    counts = Counter(e.department for e in examples)
    lines = [f"{source}: {len(examples)} solved tickets exported"]
    lines += [f"  {label}: {count}" for label, count in counts.most_common()]
    new = sorted(label for label in counts if label not in rules.departments)
    if new:
        lines.append("groups that no department of the rules names yet; paste into the rules file:")
        for group in new:
            lines.append(f"\n[departments.{_key(group)}]\ngroup = {json.dumps(group)}")
    return "\n".join(lines)


def _key(name: str) -> str:
    """The department's TOML key: the group name itself, quoted unless it is a bare key."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)
