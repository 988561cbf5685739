"""Log lines as JSON (`[logging] format = "json"`): one object per line, for journald, Loki or Elastic.

Each line has `time` (ISO 8601, UTC), `level`, `logger` and `message`; `exception` with the traceback
when there is one; and any `extra=` fields the call gave. A few lines of our own rather than a
dependency: the standard library's Formatter does the work, we only choose the shape.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Literal

# What every LogRecord has; anything else on a record came from `extra=` and is kept.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """A record as one line of JSON; never more than one line, whatever the message holds."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's fields as a JSON object (json.dumps escapes newlines inside strings)."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        return json.dumps(line, default=str, ensure_ascii=False)


def use_format(kind: Literal["text", "json"], *, logger: logging.Logger | None = None) -> None:
    """Give every handler of the root logger (or `logger`) the chosen line format."""
    formatter = JsonLines() if kind == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(formatter)
