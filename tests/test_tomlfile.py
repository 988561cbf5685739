"""TomlFile: the line of every key path, so validation errors can say where to look."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from bot.config.tomlfile import TomlFile, dotted
from bot.errors import ConfigError

DOCUMENT = """\
# [commented.table] is not a table
title = "deskbot"   # a trailing comment
server.name = "imap"
server.tls.verify = true
"quoted key" = 1

[paths]   # comment after a header
rules = "rules.toml"
tags = [
  "one",   # a comment inside the array
  "two = three",
  "[not.a.table]",
]
after = 1

[business_hours.extra]
zone = "UTC"

[[mailbox]]
name = "support"

[[mailbox]]
name = "billing"

[mailbox.tls]
verify = false

[ "spaced table" ]
x = 1
"""

LINES = [
    (("title",), 2),
    (("server", "name"), 3),
    (("server", "tls", "verify"), 4),
    (("quoted key",), 5),
    (("paths",), 7),
    (("paths", "rules"), 8),
    (("paths", "tags"), 9),
    (("paths", "after"), 14),
    (("business_hours", "extra"), 16),
    (("business_hours", "extra", "zone"), 17),
    (("mailbox",), 19),
    (("mailbox", 0), 19),
    (("mailbox", 0, "name"), 20),
    (("mailbox", 1), 22),
    (("mailbox", 1, "name"), 23),
    (("mailbox", 1, "tls"), 25),
    (("mailbox", 1, "tls", "verify"), 26),
    (("spaced table",), 28),
    (("spaced table", "x"), 29),
]


@pytest.fixture(scope="module")
def toml() -> TomlFile:
    return TomlFile.parse(DOCUMENT, "doc.toml")


@pytest.mark.parametrize(("loc", "line"), LINES, ids=[dotted(loc) for loc, _ in LINES])
def test_line_of_each_key(toml: TomlFile, loc: tuple, line: int) -> None:
    assert toml.line_of(loc) == line


def test_comments_and_array_items_are_not_keys(toml: TomlFile) -> None:
    assert ("commented", "table") not in toml.lines
    assert ("not", "a", "table") not in toml.lines
    assert ("paths", "two") not in toml.lines
    assert toml.data["paths"]["tags"] == ["one", "two = three", "[not.a.table]"]


def test_line_of_falls_back_to_the_enclosing_table(toml: TomlFile) -> None:
    assert toml.line_of(("mailbox", 1, "port")) == 22  # a missing key: its [[mailbox]] header
    assert toml.line_of(("paths", "tags", 1)) == 9  # an array item: the array's key
    assert toml.line_of(("nowhere",)) is None


@pytest.mark.parametrize(("loc", "text"), [
    (("mailbox", 0, "port"), "mailbox[0].port"),
    (("rules", 2, "if_keywords", 0), "rules[2].if_keywords[0]"),
    (("sla_hours",), "sla_hours"),
    ((), ""),
])
def test_dotted(loc: tuple, text: str) -> None:
    assert dotted(loc) == text


@pytest.mark.parametrize(("text", "line"), [
    ('a = 1\nb = "unterminated\n', 2),
    ("a = 1\n\n\n[table\n", 4),
    ("a = 1\na = 2\n", 2),
])
def test_syntax_error_has_the_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        TomlFile.parse(text, "bad.toml")
    assert (caught.value.path, caught.value.line) == ("bad.toml", line)
    assert "(at line" not in caught.value.reason  # the position is in .line, not repeated


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Box(_Strict):
    name: str
    port: int = 993


class Doc(_Strict):
    title: str = ""
    mailbox: list[Box]


@pytest.mark.parametrize(("text", "line", "key"), [
    ('[[mailbox]]\nname = "a"\n\n[[mailbox]]\nname = "b"\nport = "x"\n', 6, "mailbox[1].port"),
    ('[[mailbox]]\nname = "a"\n\n[[mailbox]]\nport = 1\n', 4, "mailbox[1].name"),
    ('title = 5\n[[mailbox]]\nname = "a"\n', 1, "title"),
    ('[[mailbox]]\nname = "a"\n[mailbox.tls]\nx = 1\n', 3, "mailbox[0].tls"),
    ('mailbox = [\n  { name = "a" },\n  { name = "b", prot = 1 },\n]\n', 1, "mailbox[1].prot"),
])
def test_validate_names_line_and_key(text: str, line: int, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TomlFile.parse(text, "doc.toml").validate(Doc)
    assert (caught.value.line, caught.value.key) == (line, key)


def test_validate_returns_the_model() -> None:
    doc = TomlFile.parse('[[mailbox]]\nname = "a"\nport = 143\n', "doc.toml").validate(Doc)
    assert doc == Doc(mailbox=[Box(name="a", port=143)])


def test_unknown_dotted_key_has_its_own_line() -> None:
    text = '[[mailbox]]\nname = "a"\n\ntls.verify = false\n'
    with pytest.raises(ConfigError) as caught:
        TomlFile.parse(text, "doc.toml").validate(Doc)
    assert (caught.value.line, caught.value.key) == (4, "mailbox[0].tls")


def test_multiline_string_does_not_change_the_table() -> None:
    toml = TomlFile.parse('[a]\ntext = """\n[b]\n"""\nkey = 1\n', "doc.toml")
    assert toml.data == {"a": {"text": "[b]\n", "key": 1}}
    assert toml.line_of(("a", "key")) == 5


def test_nested_array_of_tables() -> None:
    toml = TomlFile.parse("[[a]]\nx = 1\n[[a.b]]\ny = 1\n[[a]]\nx = 2\n[[a.b]]\ny = 2\n", "doc.toml")
    assert toml.data == {"a": [{"x": 1, "b": [{"y": 1}]}, {"x": 2, "b": [{"y": 2}]}]}
    assert toml.line_of(("a", 1, "b", 0, "y")) == 8
