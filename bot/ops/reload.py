"""Live edits: the running daemon takes a changed rules file or template folder without a restart.

Each cycle (and at once after SIGHUP) the daemon compares the files' sizes and modification times
with what it runs. On a change it validates the whole new version (rules, every template rendered)
before anything uses it, and switches for the next ticket. An invalid edit changes nothing: the last
good version keeps running and the errors are logged once, at WARNING, with file and line, until
the files change again. No ticket waits for a restart, none is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.ack.check import check_templates
from bot.ack.templates import AckRenderer
from bot.errors import ConfigError
from bot.rules import RulesContext, load_rules, log_warnings, shipped_rules_path
from bot.sla import BusinessHours
from bot.triage import Triage

log = logging.getLogger(__name__)
Stamp = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class Watched:
    """The files a running daemon's policy comes from."""

    rules: Path | None  # None: the shipped rules
    templates: Path  # the templates folder
    context: RulesContext = RulesContext()


def pin(renderer: AckRenderer) -> AckRenderer:
    """Keep the templates this renderer has compiled (check_templates compiles them all) instead of re-reading a
    changed file at its next use: a broken edit must not reach a customer's mail before it is validated."""
    renderer.env.auto_reload = False
    return renderer


class LiveReload:
    """Reloads rules and templates into a running Triage when their files change (or on request)."""

    def __init__(self, watched: Watched, triage: Triage, sources: Sequence[object] = ()) -> None:
        self.watched, self.triage, self.sources = watched, triage, list(sources)
        self.requested = threading.Event()  # set by SIGHUP
        self._lock = threading.Lock()  # cycles of several sources may look at the same moment
        self._running = self._failed = self.stamp()

    def stamp(self) -> Stamp:
        """Name, size and modification time of the rules file and of every template file."""
        files = [self.watched.rules or shipped_rules_path()]
        if self.watched.templates.is_dir():
            files += sorted(p for p in self.watched.templates.iterdir() if p.is_file())
        out = []
        for path in files:
            try:
                info = path.stat()
                out.append((str(path), info.st_mtime_ns, info.st_size))
            except OSError:
                out.append((str(path), -1, -1))
        return tuple(out)

    def request(self) -> None:
        """Check at the next opportunity even if nothing seems changed (SIGHUP)."""
        self.requested.set()

    def hangup(self) -> None:
        """SIGHUP: check now, whatever the files' times say."""
        self.request()
        self.check()

    def check(self) -> bool:
        """Reload when the files changed (or a reload was requested); True when a new version now runs."""
        with self._lock:
            stamp, asked = self.stamp(), self.requested.is_set()
            self.requested.clear()
            if not asked and (stamp == self._running or stamp == self._failed):
                return False
            try:
                rules = load_rules(self.watched.rules, context=self.watched.context)
                renderer = pin(AckRenderer(self.watched.templates))
                check_templates(renderer, rules)
                priorities = self._priority_tables(rules)
            except ConfigError as exc:
                self._failed = stamp
                log.warning("rules or templates changed but are not valid; still running the last good version:\n%s",
                            exc)
                return False
            self._switch(rules, renderer, priorities)
            self._running = self._failed = stamp
            log.info("rules and templates reloaded: %s (%d rules)", rules.path or "shipped rules", len(rules.rules))
            log_warnings(rules)
            return True

    def _priority_tables(self, rules: object) -> dict[int, object]:
        """Each helpdesk source's priority table under the new rules (a priority it cannot map is an error)."""
        from connectors.helpdesk import priority_table

        return {id(source): priority_table(rules, source.kind)  # type: ignore[arg-type, attr-defined]
                for source in self.sources if hasattr(source, "priorities") and getattr(source, "kind", "")}

    def _switch(self, rules: object, renderer: AckRenderer, priorities: dict[int, object]) -> None:
        """The next ticket uses the new version; sources that keep rules (folders, helpdesk groups) follow."""
        triage = self.triage
        triage.calendar = BusinessHours.from_spec(rules.business_hours)  # type: ignore[attr-defined]
        triage.renderer = renderer
        triage.rules = rules  # type: ignore[assignment]
        for source in self.sources:
            if hasattr(source, "rules"):
                source.rules = rules  # type: ignore[attr-defined]
            if id(source) in priorities:
                source.priorities = priorities[id(source)]  # type: ignore[attr-defined]
            if getattr(source, "groups", None) is not None:
                source.groups = None  # type: ignore[attr-defined]  # resolved again at the next login
