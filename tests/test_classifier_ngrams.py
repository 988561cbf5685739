"""The integer n-gram index finds exactly the vocabulary columns a plain string lookup finds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from classifier.dataset import read_dataset
from classifier.features import Analysis, analyse
from classifier.ngrams import NgramIndex
from classifier.termblock import TermBlock
from classifier.wordtable import word_table

FIXTURE = Path(__file__).parent / "fixtures" / "tickets-small.csv"


def string_lookup(block: TermBlock, docs: list[Analysis]) -> Counter[tuple[int, int, int]]:
    """How often each (ticket, n, column) occurs, found by joining stems: the reference."""
    found: Counter[tuple[int, int, int]] = Counter()
    for ticket, doc in enumerate(docs):
        for n in range(block.ngrams[0], block.ngrams[1] + 1):
            for start in range(len(doc.stems) - n + 1):
                column = block.vocabulary_.get(" ".join(doc.stems[start:start + n]))
                if column is not None:
                    found[ticket, n, column] += 1
    return found


def index_lookup(block: TermBlock, docs: list[Analysis]) -> Counter[tuple[int, int, int]]:
    """The same, as the words block finds it through the index."""
    table = word_table(docs)
    found: Counter[tuple[int, int, int]] = Counter()
    for occurrences in block._ngram_occurrences(docs, table, block.stem_ids(docs)):
        assert all(len({int(table.pair_doc[p]) for p in column}) == 1 for column in occurrences.pairs.T)
        for pair, column in zip(occurrences.pairs[0], occurrences.columns):
            found[int(table.pair_doc[pair]), len(occurrences.pairs), int(column)] += 1
    return found


@pytest.fixture(scope="module")
def docs() -> list[Analysis]:
    return [analyse(text) for text in read_dataset(FIXTURE).texts]


@pytest.mark.parametrize("ngrams,max_features", [((1, 1), None), ((1, 2), None), ((1, 3), None), ((2, 3), None),
                                                 ((1, 3), 150)])
def test_index_finds_what_the_string_lookup_finds(docs: list[Analysis], ngrams: tuple[int, int],
                                                  max_features: int | None) -> None:
    block = TermBlock(kind="words", ngrams=ngrams, min_df=1, max_features=max_features).fit(docs)
    expected = string_lookup(block, docs)
    assert {n for _, n, _ in expected} == set(range(ngrams[0], ngrams[1] + 1))  # every n is exercised
    assert index_lookup(block, docs) == expected


def test_a_capped_vocabulary_keeps_bigrams_whose_words_were_cut() -> None:
    index = NgramIndex.build([("late", 0), ("deliveri late", 1)])  # 'deliveri' alone is no term
    ids = index.ids(["deliveri", "late", "deliveri"])
    found = dict(index.occurrences(ids, 1, 2))
    assert found[1].tolist() == [-1, 0, -1]
    assert found[2].tolist() == [1, -1]


def test_no_ngram_spans_two_tickets() -> None:
    def doc(*stems: str) -> Analysis:
        return Analysis("en", stems, stems, 0)

    docs = [doc("refund"), doc("invoic", "pleas"), doc("refund", "invoic")]
    block = TermBlock(kind="words", ngrams=(1, 2), min_df=1).fit(docs)
    # Ticket 3's bigram is in the vocabulary; the end of ticket 1 and the start of ticket 2 spell it too.
    assert "refund invoic" in block.vocabulary_
    assert index_lookup(block, docs) == string_lookup(block, docs)
    assert not any(ticket == 0 and n == 2 for ticket, n, _ in index_lookup(block, docs))


@pytest.mark.parametrize("stems", [[], ["unknown"], ["unknown", "words", "only"]])
def test_unknown_or_empty_input_finds_nothing(stems: list[str]) -> None:
    index = NgramIndex.build([("refund", 0), ("refund invoic", 1)])
    for n, columns in index.occurrences(index.ids(stems), 1, 3):
        assert len(columns) == max(len(stems) - n + 1, 0)
        assert (columns == -1).all()


def test_a_unigram_vocabulary_has_no_longer_ngrams() -> None:
    index = NgramIndex.build([("refund", 0)])
    found = dict(index.occurrences(index.ids(["refund", "refund"]), 1, 2))
    assert found[1].tolist() == [0, 0]
    assert found[2].tolist() == [-1]
