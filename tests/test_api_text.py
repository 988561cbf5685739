"""The server's idea of "some text" (bot/api/text.py) and the pattern its OpenAPI document gives agree on
every string, as Python reads the pattern and as Schemathesis' validator (Rust, jsonschema-rs) reads it."""

from __future__ import annotations

import re
import unicodedata

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.api.text import clean_text, has_text, one_line_pattern, visible_pattern

ODD = [chr(c) for c in (0, 9, 10, 13, 0x1F, 0x7F, 0x85, 0xA0, 0xA8, 0xAD, 0x61C, 0x1680, 0x180E, 0x200B, 0x200D,
                        0x2028, 0x202E, 0x2060, 0x3000, 0x3164, 0xFEFF, 0xFFFB, 0x110BD, 0x1D173, 0xE0001, 0xE0041)]
texts = st.text(alphabet=st.sampled_from(ODD) | st.characters(exclude_categories=["Cs"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_the_documented_pattern_and_the_server_agree(text: str) -> None:
    rust = jsonschema_rs.validator_for({"type": "string", "pattern": visible_pattern()})
    assert bool(re.search(visible_pattern(), text)) == has_text(text) == rust.is_valid(text)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_cleaning_is_done_once_for_all(text: str) -> None:
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned and unicodedata.is_normalized("NFKC", cleaned)
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in cleaned if c not in "\t\n\r")


def test_one_line_means_no_line_break_that_python_knows() -> None:
    breaks = [c for c in map(chr, range(0x3000)) if len(f"a{c}b".splitlines()) > 1]
    assert all(not re.fullmatch(one_line_pattern(), f"a{c}b") for c in breaks) and len(breaks) == 10
    assert re.fullmatch(one_line_pattern(), "Charged twice \u200b\t for invoice 4411")
