"""A multilingual concept lexicon: words of five languages that name one support topic share a feature.

"Rechnung", "factura", "fatura" and "invoice" are different words to every other block; here each
is `invoice`. On v3 a queue has about a fifth of its examples in each language, so pooling them
raised queue macro-F1 by about 0.01 (bench/classifier.py). The lexicon is data (concepts.csv):
a row per concept, a column per language, each cell the folded word beginnings (3+ letters,
lowercase, no diacritics) of words that name it. A model stores the lexicon it was trained with.
"""

from __future__ import annotations

import csv
import importlib.resources
import re
from collections.abc import Iterable

from bot.errors import ModelError

SHIPPED = "concepts.csv"
MIN_BEGINNING = 3
PREFIX = "concept="  # a feature name no stem or prefix can have
_BEGINNING = re.compile(r"[a-zß]{%d,}" % MIN_BEGINNING)

Lexicon = dict[str, tuple[str, ...]]  # word beginning -> the concepts it names


def read_lexicon(lines: Iterable[str], name: str) -> Lexicon:
    """Parse concepts.csv, refusing (ModelError with file, line and column) a cell that cannot match."""
    rows = csv.reader(lines)
    header = next(rows, None)
    if not header or header[0].strip() != "concept" or len(header) < 2:
        raise ModelError(f"{name}:1: the header must be 'concept' followed by one column per language")
    lexicon: dict[str, list[str]] = {}
    for line, row in enumerate(rows, start=2):
        if not row or not row[0].strip():
            continue
        if len(row) > len(header):
            raise ModelError(f"{name}:{line}: {len(row)} fields, but the header names {len(header)}")
        concept = row[0].strip()
        for column, cell in zip(header[1:], row[1:]):
            for beginning in cell.split():
                if not _BEGINNING.fullmatch(beginning):
                    raise ModelError(f"{name}:{line}: {column}: {beginning!r} is not a word beginning of "
                                     f"{MIN_BEGINNING}+ lowercase letters without diacritics")
                named = lexicon.setdefault(beginning, [])
                if concept not in named:
                    named.append(concept)
    if not lexicon:
        raise ModelError(f"{name}: no concepts")
    return {beginning: tuple(concepts) for beginning, concepts in lexicon.items()}


def shipped_lexicon() -> Lexicon:
    """The lexicon that ships with deskbot (classifier/concepts.csv)."""
    resource = importlib.resources.files("classifier") / SHIPPED
    with resource.open("r", encoding="utf-8", newline="") as stream:
        return read_lexicon(stream, str(resource))


def serialise(lexicon: Lexicon) -> str:
    """One string ("beginning\\tconcept,concept" lines) a saved model stores cheaply and safely."""
    return "\n".join(f"{beginning}\t{','.join(concepts)}" for beginning, concepts in sorted(lexicon.items()))


def deserialise(text: str) -> Lexicon:
    """serialise() undone."""
    lexicon: Lexicon = {}
    for line in filter(None, text.split("\n")):
        beginning, _, concepts = line.partition("\t")
        lexicon[beginning] = tuple(concepts.split(","))
    return lexicon


def concepts_of(folded: str, lexicon: Lexicon) -> tuple[str, ...]:
    """The concepts a folded word names: every lexicon beginning it starts with, in order, once."""
    found: list[str] = []
    for end in range(MIN_BEGINNING, len(folded) + 1):
        for concept in lexicon.get(folded[:end], ()):
            if concept not in found:
                found.append(concept)
    return tuple(found)
