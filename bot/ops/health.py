"""Is deskbot healthy? Every polled source has polled successfully within `unhealthy_after`.

Read from the decision log (bot/ops/status.py records each source's last good poll), so a `deskbot serve`
in front and a `deskbot run` behind, or several instances on one database, all answer the same. The API's
`/healthz` and the metrics listener's both use `Health.answer()`: 200 `{"status": "ok"}`, or 503 with an
RFC 9457 problem whose `stale` member names each stale source and its last good poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import col, select

from bot.config.file import Config
from bot.log.records import as_utc
from bot.log.schema import SourceState
from bot.log.store import Store

MINIMUM = timedelta(minutes=5)  # the default never calls a source stale sooner than this
RETRY_SECONDS = 30


def polled_sources(config: Config) -> dict[str, int]:
    """Each source of the config that deskbot polls, with its poll interval in seconds."""
    tables = [("imap", config.mailbox), ("zendesk", config.zendesk), ("freshdesk", config.freshdesk)]
    return {f"{kind}:{table.name}": table.poll_seconds for kind, found in tables for table in found}


def unhealthy_after(config: Config, table: Literal["metrics", "api"]) -> timedelta:
    """The listener's own table's `unhealthy_after`, else the other table's, else 3x the slowest poll (>= 5 min)."""
    tables = [config.metrics, config.api] if table == "metrics" else [config.api, config.metrics]
    for found in tables:
        if found is not None and found.unhealthy_after is not None:
            return timedelta(seconds=found.unhealthy_after)
    slowest = max(polled_sources(config).values(), default=0)
    return max(MINIMUM, timedelta(seconds=3 * slowest))


@dataclass(frozen=True)
class Health:
    """What /healthz checks: these sources, this window, counted from `started` for a source never polled."""

    store: Store
    sources: tuple[str, ...]
    window: timedelta
    started: datetime
    polls: bool = True  # this process polls them; else (`serve`) only sources some instance has polled count

    def stale(self) -> list[dict[str, Any]]:
        """Each source whose last good poll is older than the window, oldest first."""
        now = self.store.now()
        with self.store.session() as session:
            rows = {r.source: r for r in session.exec(select(SourceState).where(col(SourceState.source)
                                                                                 .in_(self.sources)))}
        found = []
        for source in self.sources:
            row = rows.get(source)
            last = as_utc(row.last_success_at) if row is not None and row.last_success_at else None
            if last is None and not self.polls and (row is None or row.last_poll_at is None):
                continue  # nobody polls it (yet): `serve` alone only takes webhooks
            since = last or as_utc(self.started)
            if now - since > self.window:
                found.append({"source": source, "last_success": last.isoformat() if last else None,
                              "seconds_since": int((now - since).total_seconds())})
        return sorted(found, key=lambda s: -s["seconds_since"])

    def answer(self) -> tuple[int, dict[str, Any]]:
        """(200, {"status": "ok"}) or (503, a problem document naming the stale sources)."""
        stale = self.stale()
        if not stale:
            return 200, {"status": "ok"}
        names = ", ".join(s["source"] for s in stale)
        detail = (f"{names}: no successful poll for more than {_span(self.window)} (unhealthy_after); "
                  "`deskbot status` shows the last errors")
        return 503, {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail,
                     "stale": stale}


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 and seconds >= 60 else f"{seconds} s"


def health_of(config: Config, store: Store, *, table: Literal["metrics", "api"], started: datetime,
              polls: bool) -> Health:
    """The health check of one listener of `config`."""
    return Health(store, tuple(polled_sources(config)), unhealthy_after(config, table), started, polls)
