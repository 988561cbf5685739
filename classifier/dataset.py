"""Read labelled tickets from CSV or JSON lines, with errors that name the file, row and column."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ModelError

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
MAX_FIELD = 64 * 1024 * 1024  # csv's default 128 KiB limit rejects the 5 MB bodies real mail has


class DatasetError(ModelError):
    """A training or evaluation file cannot be used; the message names file, row and column."""


@dataclass(frozen=True)
class Dataset:
    """Texts with their labels, ready for train() or evaluate()."""

    texts: list[str]
    departments: list[str]
    priorities: list[str] | None  # None: the file has no priority column
    source: str

    def sha256(self) -> str:
        """Hash of exactly what a model learns from, for the sidecar."""
        return hash_examples(self.texts, self.departments, self.priorities)


def combine(parts: Sequence[Dataset]) -> Dataset:
    """Several files read as one; all must have a priority column, or none is used."""
    if len(parts) == 1:
        return parts[0]
    with_priority = all(p.priorities is not None for p in parts)
    if not with_priority and any(p.priorities is not None for p in parts):
        log.info("not every file has a priority column: training the department model only")
    return Dataset([t for p in parts for t in p.texts], [d for p in parts for d in p.departments],
                   [x for p in parts for x in p.priorities or []] if with_priority else None,
                   ", ".join(p.source for p in parts))


def hash_examples(texts: Sequence[str], departments: Sequence[str], priorities: Sequence[str] | None) -> str:
    """Order-sensitive sha256 of texts and labels."""
    digest = hashlib.sha256()
    for i, (text, department) in enumerate(zip(texts, departments)):
        priority = priorities[i] if priorities is not None else ""
        digest.update(json.dumps([text, department, priority], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _csv_rows(stream: io.TextIOBase, name: str) -> Iterator[tuple[int, dict[str, object]]]:
    """Rows of a CSV file as dicts, numbered as a spreadsheet would (header is row 1)."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))
    reader = csv.DictReader(stream)
    if not reader.fieldnames:
        raise DatasetError(f"{name}: empty file or no header row")
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise DatasetError(f"{name}: line {reader.line_num}: not valid CSV ({exc})") from exc


def _json_rows(stream: io.TextIOBase, name: str) -> Iterator[tuple[int, dict[str, object]]]:
    """Rows of a JSON-lines file; blank lines are skipped."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{name}: line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"{name}: line {number}: expected a JSON object per line")
        yield number, row


def read_rows(stream: io.TextIOBase, name: str, *, text_columns: Sequence[str] = ("subject", "body"),
              department_column: str = "department", priority_column: str | None = "priority") -> Dataset:
    """Build a Dataset from an open text stream; `name` decides the format and appears in errors."""
    rows = _json_rows(stream, name) if name.lower().endswith(JSON_SUFFIXES) else _csv_rows(stream, name)
    return _collect(rows, name, tuple(text_columns), department_column, priority_column)


def read_dataset(path: Path | str, *, text_columns: Sequence[str] = ("subject", "body"),
                 department_column: str = "department", priority_column: str | None = "priority") -> Dataset:
    """Read a CSV or JSON-lines (.jsonl/.ndjson/.json) file of labelled tickets."""
    path = Path(path)
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as stream:
            return read_rows(stream, str(path), text_columns=text_columns,
                             department_column=department_column, priority_column=priority_column)
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _check_columns(name: str, number: int, row: dict[str, object], wanted: Iterable[str]) -> None:
    """Fail on the first row that lacks a required column, listing what is there."""
    missing = [column for column in wanted if column not in row]
    if missing:
        have = ", ".join(sorted(str(k) for k in row))
        raise DatasetError(f"{name}: row {number}: no column {', '.join(map(repr, missing))} "
                           f"(columns are: {have}); choose others with --text-columns, "
                           "--department-column or --priority-column")


def _label(name: str, number: int, row: dict[str, object], column: str) -> str:
    """A non-empty label as a string."""
    value = row.get(column)
    label = "" if value is None else str(value).strip()
    if not label:
        raise DatasetError(f"{name}: row {number}: column {column!r} is empty")
    return label


def _collect(rows: Iterable[tuple[int, dict[str, object]]], name: str, text_columns: tuple[str, ...],
             department_column: str, priority_column: str | None) -> Dataset:
    """Validate rows and gather texts and labels; a missing priority column means no priority model."""
    texts: list[str] = []
    departments: list[str] = []
    priorities: list[str] | None = None
    for number, row in rows:
        if not texts:
            _check_columns(name, number, row, (*text_columns, department_column))
            if priority_column and priority_column in row:
                priorities = []
            elif priority_column:
                log.info("%s has no column %r: training the department model only", name, priority_column)
        _check_columns(name, number, row, text_columns)
        parts = [str(row[c]).strip() for c in text_columns if row.get(c) not in (None, "")]
        texts.append("\n".join(p for p in parts if p))
        departments.append(_label(name, number, row, department_column))
        if priorities is not None:
            priorities.append(_label(name, number, row, str(priority_column)))
    if not texts:
        raise DatasetError(f"{name}: no rows")
    return Dataset(texts, departments, priorities, name)
