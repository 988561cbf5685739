"""What a request's text is once cleaned, and whether any of it can be seen.

A subject of U+200B, NUL or a right-to-left mark is no subject: each field is NFKC-normalised and
stripped of control (but tab, CR and LF), format and surrogate characters before it is checked,
classified, recorded or put into an acknowledgement. A text "has text" when something other than
whitespace is left. The OpenAPI schema says the same with `visible_pattern()`, a character class of
every code point that is nothing once cleaned, built from this Python's Unicode tables, so the
schema and the server cannot disagree on a single character.
"""

from __future__ import annotations

import functools
import re
import unicodedata

KEPT = frozenset("\t\n\r")
REMOVED = frozenset({"Cc", "Cf", "Cs"})  # control, format (U+200B, U+202E, U+FEFF…), lone surrogates
SPACES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})  # every character str.isspace() knows is in one of these
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() splits on


def clean_text(text: str) -> str:
    """NFKC, without control (but tab, CR, LF), format and surrogate characters."""
    return _removed().sub("", unicodedata.normalize("NFKC", text))


@functools.cache
def _removed() -> re.Pattern[str]:
    """The characters `clean_text` drops, as one class: a regex drops them at C speed (a loop over the
    characters cost 40 µs a ticket); built once, from this Python's Unicode tables."""
    points = [p for p in range(0x110000) if unicodedata.category(chr(p)) in REMOVED and chr(p) not in KEPT]
    return re.compile(_character_class(points))


def has_text(text: str) -> bool:
    """Whether anything but whitespace is left of `text` once cleaned."""
    return bool(clean_text(text).strip())


def one_line_pattern() -> str:
    """A JSON Schema pattern (ECMA 262 and Python alike) for text without line breaks."""
    return "^[^" + "".join(_escaped(ord(c)) for c in LINE_BREAKS) + "]*$"


@functools.cache
def visible_pattern() -> str:
    """A JSON Schema pattern that matches exactly the texts `has_text` accepts (surrogates aside:
    JSON parsers refuse them, and Rust's and ECMA's regexes cannot name them)."""
    return "[^" + _character_class(_invisible_points())[1:]


def _character_class(points: list[int]) -> str:
    """`[...]` of the code points given in ascending order, as ranges."""
    ranges: list[list[int]] = []
    for point in points:
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return "[" + "".join(_escaped(a) if a == b else f"{_escaped(a)}-{_escaped(b)}" for a, b in ranges) + "]"


def _invisible_points() -> list[int]:
    """Code points that clean to nothing but whitespace; only those that clean or strip can change are tried."""
    found = []
    for point in range(0x110000):
        if 0xD800 <= point <= 0xDFFF:
            continue
        char = chr(point)
        category = unicodedata.category(char)
        if category in ("Cn", "Co") or category not in SPACES and unicodedata.is_normalized("NFKC", char):
            continue  # unassigned, private use, or a character that cleaning keeps as it is
        if not has_text(char):
            found.append(point)
    return found


def _escaped(point: int) -> str:
    return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"
