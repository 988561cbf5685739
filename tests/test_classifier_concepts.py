"""Words of different languages that name one topic meet in one feature: folding, prefixes, concepts."""

from __future__ import annotations

import csv
import importlib.resources

import pytest

from bot.errors import ModelError
from classifier import concepts
from classifier.features import analyse
from classifier.termblock import TermBlock
from classifier.wordforms import char_grams, fold, prefix

LANGUAGES = ("en", "de", "es", "fr", "pt")


def test_fold_drops_diacritics_only() -> None:
    assert fold("sécurité") == "securite"
    assert fold("rückerstattung") == "ruckerstattung"
    assert fold("não") == "nao"
    assert fold("plain") == "plain"


def test_char_grams_and_prefixes_are_folded() -> None:
    assert " seg" in char_grams("segurança", 2, 5) and "anca " in char_grams("segurança", 2, 5)
    assert prefix("problème", 4) == prefix("problem", 4) == "prob"
    assert char_grams("numtok", 2, 5) == ()  # placeholders carry no letters worth sharing


def test_shipped_lexicon_names_every_concept_in_every_language() -> None:
    resource = importlib.resources.files("classifier") / concepts.SHIPPED
    with resource.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) >= 30
    for row in rows:
        assert all(row[language].split() for language in LANGUAGES), row["concept"]
    lexicon = concepts.shipped_lexicon()
    assert concepts.deserialise(concepts.serialise(lexicon)) == lexicon


@pytest.mark.parametrize(("word", "expected"), [
    ("invoices", ("invoice",)),
    ("rechnungen", ("invoice",)),
    ("facturación", ("invoice",)),
    ("fatura", ("invoice",)),
    ("rückerstattung", ("refund",)),
    ("the", ()),
    ("", ()),
])
def test_concepts_of_a_word(word: str, expected: tuple[str, ...]) -> None:
    assert concepts.concepts_of(fold(word), concepts.shipped_lexicon()) == expected


def test_a_word_names_each_concept_once() -> None:
    lexicon = concepts.read_lexicon(["concept,en,pt", "payment,pay payment,pagamento", "payroll,payroll,pagamento"],
                                    "t.csv")
    assert concepts.concepts_of("payments", lexicon) == ("payment",)
    assert concepts.concepts_of("pagamentos", lexicon) == ("payment", "payroll")


@pytest.mark.parametrize(("lines", "message"), [
    (["name,en", "x,abc"], "t.csv:1: the header must be 'concept'"),
    (["concept,en", "refund,rückgabe"], "t.csv:2: en: 'rückgabe' is not a word beginning"),
    (["concept,en,de", "", "refund,refund,ab"], "t.csv:3: de: 'ab' is not a word beginning of 3+"),
    (["concept,en", "refund,Refund"], "t.csv:2: en: 'Refund'"),
    (["concept,en", "refund,refund,extra"], "t.csv:2: 3 fields, but the header names 2"),
    (["concept,en"], "t.csv: no concepts"),
])
def test_bad_lexicon_names_file_line_and_column(lines: list[str], message: str) -> None:
    with pytest.raises(ModelError) as caught:
        concepts.read_lexicon(lines, "t.csv")
    assert message in str(caught.value)


def test_english_and_german_billing_tickets_share_a_concept_feature() -> None:
    docs = [analyse(text) for text in (
        "Wrong invoice\nThe invoice charges us twice.",
        "Falsche Rechnung\nDie Rechnung ist doppelt.",
        "Printer broken\nThe printer does not print.",
        "Drucker defekt\nDer Drucker druckt nicht.",
    )]
    block = TermBlock(kind="concepts", ngrams=(1, 1), min_df=1, language_feature=False).fit(docs)
    matrix = block.transform(docs).toarray()
    invoice = block.vocabulary_[concepts.PREFIX + "invoice"]
    hardware = block.vocabulary_[concepts.PREFIX + "hardware"]
    assert matrix[0, invoice] > 0 and matrix[1, invoice] > 0
    assert matrix[2, invoice] == 0 and matrix[3, invoice] == 0
    assert matrix[2, hardware] > 0 and matrix[3, hardware] > 0
    assert concepts.deserialise(block.lexicon_) == concepts.shipped_lexicon()  # the model keeps its lexicon
