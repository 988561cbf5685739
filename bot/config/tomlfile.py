"""TOML files whose validation errors name the file, the line and the key.

tomllib reports syntax errors with a line but forgets positions once parsed; pydantic
reports a key path but no line. `TomlFile` keeps both, so an admin reading
`rules/default.toml:14: rules[2].min_priority: ...` knows where to look.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from bot.errors import ConfigError

_HEADER = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_.\-"' ]+?)\s*\]\]?\s*(#.*)?$""")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_LINE_IN_MESSAGE = re.compile(r"\(at line (\d+), column \d+\)")

Model = TypeVar("Model", bound=pydantic.BaseModel)


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return tuple(p.strip("\"'") for p in parts)


@dataclass
class TomlFile:
    """A parsed TOML document plus the first line of every key path in it."""

    path: str
    data: dict[str, Any]
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, path: str) -> TomlFile:
        """Parse `text`; a syntax error becomes a ConfigError with the line."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = _LINE_IN_MESSAGE.search(str(exc))
            line = int(match.group(1)) if match else None
            reason = _LINE_IN_MESSAGE.sub("", str(exc)).strip()
            raise ConfigError(f"not valid TOML: {reason}", path=path, line=line) from None
        return cls(path=path, data=data, lines=_index_lines(text))

    @classmethod
    def read(cls, path: Path) -> TomlFile:
        """Read and parse the file at `path`."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read file: {exc}", path=str(path)) from None
        return cls.parse(text, str(path))

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        """The line of the longest known prefix of `loc`."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def validate(self, model: type[Model]) -> Model:
        """Validate against a pydantic model; every error is named with its line and key (the first leads)."""
        try:
            return model.model_validate(self.data)
        except pydantic.ValidationError as exc:
            errors = [ConfigError(_describe(e), path=self.path, line=self.line_of(tuple(e["loc"])),
                                  key=dotted(tuple(e["loc"]))) for e in exc.errors()]
            raise combined(errors) from None

    def error(self, message: str, loc: tuple[str | int, ...]) -> ConfigError:
        """A ConfigError for a check pydantic cannot do (cross-references)."""
        return ConfigError(message, path=self.path, line=self.line_of(loc), key=dotted(loc))


def combined(errors: list[ConfigError]) -> ConfigError:
    """One ConfigError for many: the first one's place and reason, then every other one on its own line."""
    first = errors[0]
    if len(errors) == 1:
        return first
    more = "".join(f"\n  {error}" for error in errors[1:])
    return ConfigError(f"{first.reason}\n  and {len(errors) - 1} more error(s):{more}", path=first.path,
                       line=first.line, key=first.key)


def dotted(loc: tuple[str | int, ...]) -> str:
    """('mailbox', 0, 'port') -> 'mailbox[0].port'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see the reference in README.md)"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"])


def _index_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each table and key path (and every prefix of a dotted key) to the line where it first appears."""
    lines: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    arrays: dict[tuple[str, ...], tuple[str | int, ...]] = {}  # [[x.y]] names -> path of its latest element
    counts: dict[tuple[str | int, ...], int] = {}
    in_string = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_string:
            in_string = "" if raw.count(in_string) % 2 else in_string
            continue
        header = _HEADER.match(raw)
        if header:
            names = _split_key(header.group(2))
            if header.group(1) == "[[":
                base = _resolve(names[:-1], arrays, last_too=True) + (names[-1],)
                counts[base] = counts.get(base, -1) + 1
                table = arrays[names] = base + (counts[base],)
                lines.setdefault(base, number)
            else:
                table = _resolve(names, arrays, last_too=False)
            lines.setdefault(table, number)
            continue
        key = _KEY.match(raw)
        if key:
            parts = _split_key(key.group(1))
            for end in range(1, len(parts) + 1):
                lines.setdefault(table + parts[:end], number)
        for quote in ('"""', "'''"):
            if raw.count(quote) % 2:
                in_string = quote  # a multi-line string opens here: its lines are not TOML
    return lines


def _resolve(names: tuple[str, ...], arrays: dict[tuple[str, ...], tuple[str | int, ...]], *,
             last_too: bool) -> tuple[str | int, ...]:
    """[a.b] under the latest [[a]] means a[n].b; with last_too, [[a]] itself resolves to a[n]."""
    out: list[str | int] = []
    for i, name in enumerate(names):
        prefix = names[: i + 1]
        if prefix in arrays and (i + 1 < len(names) or last_too):
            out = list(arrays[prefix])
        else:
            out.append(name)
    return tuple(out)
