"""Reading labelled tickets: CSV and JSON lines, and errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.dataset import DatasetError, read_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "tickets-small.csv"


def test_reads_fixture_csv() -> None:
    data = read_dataset(FIXTURE)
    assert len(data.texts) == len(data.departments) == 60
    assert data.priorities is not None and set(data.priorities) == {"low", "medium", "high"}
    assert data.texts[0].startswith("Charged twice for my invoice\nI was charged twice")


def test_reads_json_lines_with_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rows = [{"title": "a", "text": "b", "queue": "Billing"}, {"title": "", "text": "c", "queue": "IT"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    data = read_dataset(path, text_columns=["title", "text"], department_column="queue")
    assert data.texts == ["a\nb", "c"]
    assert data.departments == ["Billing", "IT"]
    assert data.priorities is None  # no priority column: department model only


@pytest.mark.parametrize(("content", "message"), [
    ("subject,body,department\n", "no rows"),
    ("", "empty file"),
    ("subject,text,department\na,b,c\n", "no column 'body'"),
    ("subject,body,department,priority\na,b,billing,\n", "row 2: column 'priority' is empty"),
    ("subject,body,department\na,b,billing\nc,d,\n", "row 3: column 'department' is empty"),
])
def test_csv_errors_name_file_row_and_column(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message) as info:
        read_dataset(path)
    assert str(path) in str(info.value)


def test_json_lines_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"subject": "a", "body": "b", "department": "x"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="line 2: not valid JSON"):
        read_dataset(path)


def test_missing_file_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_dataset(tmp_path / "nope.csv")
    binary = tmp_path / "blob.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(DatasetError, match="not UTF-8"):
        read_dataset(binary)
