"""Making the report: the facts of a period, rendered; shared by `deskbot report` and the API's /report."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.log.store import Store
from bot.report.facts import gather
from bot.report.page import render

DEFAULT_DAYS = 30


def build_report(store: Store, *, since: datetime | None = None, until: datetime | None = None) -> str:
    """The HTML report of tickets decided from `since` (default: 30 days ago) to `until` (default: now)."""
    end = until or store.now()
    return render(gather(store, since or end - timedelta(days=DEFAULT_DAYS), end))
