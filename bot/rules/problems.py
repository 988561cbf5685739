"""What is wrong in a rules file, all at once: each problem with its file, line, rule and what is allowed.

pydantic stops at nothing (it reports every field error of a model), and the cross-checks add theirs,
so an admin fixes a file in one pass instead of one error per start. A rule's problem reads
`rules.toml:33: rule 'legal-threats': unknown key 'if_keyword' (did you mean 'if_keywords'?)`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import pydantic

from bot.config.tomlfile import TomlFile, dotted
from bot.errors import ConfigError

Loc = tuple[str | int, ...]
_UNION_MEMBERS = ("float", "int", "bool", "str")


@dataclass(frozen=True)
class Problem:
    """One finding: an error stops deskbot, a warning (a rule that can never fire) is only reported."""

    path: str
    line: int | None
    where: str  # "rule 'vip-senders'" or a key path such as "sla_hours.high"
    message: str  # what is wrong (what is allowed)
    key: str = ""  # the dotted key path, for ConfigError.key
    warning: bool = False

    def __str__(self) -> str:
        place = f"{self.path}:{self.line}" if self.line is not None else self.path
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{place}: {'warning: ' if self.warning else ''}{text}" if place else text


class RulesError(ConfigError):
    """A rules file with errors: every one of them, one per line; the first fills ConfigError's fields."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(first.message, path=first.path, line=first.line, key=first.key)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class Findings:
    """Collects the problems of one rules file, placing each at its line and naming its rule."""

    def __init__(self, toml: TomlFile) -> None:
        self.toml = toml
        self.problems: list[Problem] = []

    def add(self, loc: Loc, message: str, *, warning: bool = False) -> None:
        """A problem at `loc` (a key path like ('rules', 2, 'if_regex', 0))."""
        where = self.rule_label(loc)
        if where and len(loc) > 2 and str(loc[2]) not in message:
            message = f"{dotted(loc[2:])}: {message}"
        where = where or dotted(loc)
        self.problems.append(Problem(self.toml.path, self.toml.line_of(loc), where, message, dotted(loc), warning))

    def rule_label(self, loc: Loc) -> str:
        """"rule 'NAME'" for a key inside [[rules]] (its index when it has no usable name), else ''."""
        if len(loc) < 2 or loc[0] != "rules" or not isinstance(loc[1], int):
            return ""
        rules = self.toml.data.get("rules")
        table = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else {}
        name = table.get("name") if isinstance(table, dict) else None
        return f"rule {name!r}" if isinstance(name, str) and name else f"rule #{loc[1] + 1}"

    def add_validation(self, error: pydantic.ValidationError, model: type[pydantic.BaseModel], prefix: Loc) -> None:
        """Every error pydantic found, with the nearest valid key for an unknown one."""
        seen = set()
        for item in error.errors():
            relative = tuple(part for part in item["loc"] if part not in _UNION_MEMBERS)
            message = describe(item, model, relative)
            if (relative, message) not in seen:  # a union (float or int) reports each member's error
                seen.add((relative, message))
                self.add(prefix + relative, message)

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop deskbot."""
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        """The problems that are only reported."""
        return [p for p in self.problems if p.warning]


def describe(item: Any, model: type[pydantic.BaseModel], loc: Loc) -> str:
    """pydantic's message in an admin's words: what is wrong (what is allowed)."""
    kind, key = item["type"], loc[-1] if loc else ""
    if kind == "extra_forbidden":
        allowed = fields_at(model, loc[:-1])
        near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(allowed)}"
        return f"unknown key {key!r} ({hint})"
    if kind == "missing":
        return f"required key {key!r} is missing" if len(loc) > 1 else "required key is missing"
    if kind in ("bool_type", "bool_parsing"):
        return f"{key} must be true or false (got {item.get('input')!r})"
    if kind in ("float_type", "int_type", "float_parsing", "int_parsing", "int_from_float"):
        return f"{key} must be a number (got {item.get('input')!r})"
    if kind == "string_pattern_mismatch" and key == "ack_template":
        return "ack_template must be a template name: letters, digits, - and _ (e.g. 'ack-vip')"
    if kind in ("list_type",):
        return f"{key} must be a list of strings, e.g. [\"a\", \"b\"] (got {item.get('input')!r})"
    if kind in ("string_type",):
        return f"{dotted(loc[-2:] if isinstance(key, int) else loc[-1:])} must be a string (got {item.get('input')!r})"
    if kind == "string_pattern_mismatch" and key == "name":
        return "name must be kebab-case: lowercase letters and digits joined by single dashes (e.g. 'vip-senders')"
    if kind == "literal_error":
        return f"{item.get('input')!r} is not allowed ({item['msg'].removeprefix('Input should be ')})"
    return str(item["msg"]).removeprefix("Value error, ")


def fields_at(model: type[pydantic.BaseModel], loc: Loc) -> list[str]:
    """The keys a table at `loc` may hold: walks nested models (skipping list indexes and dict keys)."""
    current: Any = model
    skip_key = False
    for part in loc:
        if isinstance(part, int) or skip_key:
            skip_key = False
            continue
        if not (isinstance(current, type) and issubclass(current, pydantic.BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        skip_key = getattr(field.annotation, "__origin__", None) is dict
        current = _inner_model(field.annotation)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, pydantic.BaseModel) else []


def _inner_model(annotation: Any) -> Any:
    """The model inside list[Model], dict[str, Model] or Model."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
