"""`deskbot status` as text for a person and as JSON for a monitor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.log.records import as_utc
from bot.log.schema import Instance
from bot.ops.status import SourceSummary, is_dead

ALIVE_SECONDS = 120  # a heartbeat older than this means the daemon died without a clean stop


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - as_utc(moment)).total_seconds())
    when = f"{as_utc(moment):%Y-%m-%d %H:%M:%S} UTC"
    if seconds < 0:
        return f"{when} (in {-seconds} s)"
    return f"{when} ({seconds} s ago)" if seconds < 3600 else f"{when} ({seconds // 3600} h ago)"


def is_alive(instance: Instance, now: datetime) -> bool:
    """A recent heartbeat from a process that still exists (a killed daemon on this host is dead at once)."""
    recent = (now - as_utc(instance.heartbeat_at)).total_seconds() < ALIVE_SECONDS
    return recent and not is_dead(f"{instance.host}:{instance.pid}")


def render_status(summaries: list[SourceSummary], instances: list[Instance], now: datetime) -> str:
    """A few lines per source, after one line on the daemon."""
    lines = []
    alive = [i for i in instances if is_alive(i, now)]
    if alive:
        lines += [f"daemon: running (pid {i.pid} on {i.host}, since {as_utc(i.started_at):%Y-%m-%d %H:%M} UTC, "
                  f"heartbeat {int((now - as_utc(i.heartbeat_at)).total_seconds())} s ago)" for i in alive]
    else:
        lines.append("daemon: not running" + (" (a daemon stopped without a clean exit)" if instances else ""))
    for summary in summaries:
        state, counts = summary.state, summary.counts
        lines.append(f"\n{summary.source}")
        if state is None:
            lines.append("  never polled")
        else:
            ok = "ok" if state.last_poll_at and state.last_success_at == state.last_poll_at else "FAILED"
            lines.append(f"  last poll:         {_ago(state.last_poll_at, now)}: {ok}")
            lines.append(f"  last success:      {_ago(state.last_success_at, now)}")
            lines.append(f"  next run:          {_ago(state.next_run_at, now) if state.next_run_at else 'not scheduled'}")
            if state.auth_failures:
                lines.append(f"  LOGIN REFUSED:     {state.auth_failures} time(s) in a row; next try "
                             f"{_ago(state.auth_retry_at, now)}; see the last error below")
            backlog = "unknown" if state.backlog is None else str(state.backlog)
            lines.append(f"  backlog:           {backlog} unread by deskbot on the server at the last poll")
        lines.append(f"  pending:           {counts.get('pending', 0)} (in flight: {summary.inflight})")
        lines.append(f"  failed:            {counts.get('failed', 0)}    quarantined: {counts.get('quarantined', 0)}"
                     f"    unreadable: {counts.get('unreadable', 0)}")
        lines.append(f"  done:              {counts.get('done', 0)}    duplicates: {counts.get('duplicate', 0)}"
                     f"    gone: {counts.get('gone', 0)}    given up: {counts.get('given-up', 0)}")
        if counts.get("outbox"):
            lines.append(f"  outbox:            {counts['outbox']} filed, their acknowledgements wait for the mail server")
        for event in summary.recent_errors:
            lines.append(f"  {as_utc(event.at):%Y-%m-%d %H:%M} {event.level}: {event.message[:160]}")
    if any(s.counts.get("failed") or s.counts.get("quarantined") for s in summaries):
        lines.append("\nSee them with `deskbot log --status failed` (or quarantined); after fixing the cause: "
                     "`deskbot retry --failed`.")
    return "\n".join(lines)


def status_json(summaries: list[SourceSummary], instances: list[Instance], now: datetime) -> dict[str, Any]:
    """The same as JSON values."""
    def when(moment: datetime | None) -> str | None:
        return as_utc(moment).isoformat() if moment else None

    return {
        "now": now.isoformat(),
        "daemons": [{"pid": i.pid, "host": i.host, "started_at": when(i.started_at),
                     "heartbeat_at": when(i.heartbeat_at),
                     "alive": is_alive(i, now)} for i in instances],
        "sources": [{
            "source": s.source,
            "last_poll_at": when(s.state.last_poll_at) if s.state else None,
            "last_success_at": when(s.state.last_success_at) if s.state else None,
            "next_run_at": when(s.state.next_run_at) if s.state else None,
            "backlog": s.state.backlog if s.state else None,
            "last_error": (s.state.last_error or None) if s.state else None,
            "login_refusals": s.state.auth_failures if s.state else 0,
            "login_retry_at": when(s.state.auth_retry_at) if s.state else None,
            "tickets": s.counts, "inflight": s.inflight,
            "recent_errors": [{"at": when(e.at), "level": e.level, "message": e.message} for e in s.recent_errors],
        } for s in summaries],
    }
