"""Top terms are exact: word scores add up to the linear score of the word-derived features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifier.dataset import read_dataset
from classifier.explain import block_weights, contrast_weights, linear_weights, pair_scores
from classifier.model import TicketClassifier, train
from classifier.termblock import LANGUAGE_PREFIX
from classifier.stopwords import FUNCTION_WORDS

FIXTURE = Path(__file__).parent / "fixtures" / "tickets-small.csv"
TEXTS = [
    "Refund please: I was charged twice for invoice 4411, see https://example.com/x",
    "Die App stürzt ab, Fehler beim Hochladen. Die App stürzt immer wieder ab!",
    "Where is my parcel? The order was shipped ten days ago.",
    "",
]


@pytest.fixture(scope="module")
def model() -> TicketClassifier:
    data = read_dataset(FIXTURE)
    return train(data.texts, data.departments, data.priorities)


def test_word_scores_add_up_to_the_linear_score(model: TicketClassifier) -> None:
    features = model.department_pipeline[0]
    weights = contrast_weights(linear_weights(model.department_pipeline[-1]))
    docs = features.analyse_many(TEXTS)
    encoded = features.encode(docs)
    for target in range(weights.shape[0]):  # every class, not only the predicted one
        classes = np.full(len(docs), target)
        scores = pair_scores(encoded, classes, block_weights(weights, features.offsets_))
        per_ticket = np.bincount(encoded.table.pair_doc, weights=scores, minlength=len(docs))
        linear = encoded.matrix @ weights[target]
        words = features.blocks_[0]
        for i, doc in enumerate(docs):  # the language term belongs to no word
            column = words.vocabulary_.get(LANGUAGE_PREFIX + doc.language)
            if column is not None:
                linear[i] -= encoded.matrix[i, column] * weights[target, column]
        np.testing.assert_allclose(per_ticket, linear, rtol=1e-4, atol=1e-5)


def test_same_text_same_terms_in_any_batch(model: TicketClassifier) -> None:
    alone = [model.predict(text) for text in TEXTS]
    for batch in (model.predict_many(TEXTS), model.predict_many(TEXTS[::-1])[::-1]):
        for one, many in zip(alone, batch):  # float32 sums may differ in the last bits
            assert (one.department, one.priority) == (many.department, many.priority)
            assert one.confidence == pytest.approx(many.confidence, abs=1e-5)
            assert [t.term for t in one.top_terms] == [t.term for t in many.top_terms]


def test_repeated_word_is_one_term(model: TicketClassifier) -> None:
    terms = [t.term for t in model.predict(TEXTS[1]).top_terms]
    assert len(terms) == len(set(terms))
    assert "app" in terms or "stürzt" in terms


@pytest.mark.parametrize("text", [
    "My invoice is wrong, please fix my invoice for my account",
    "Ihre Rechnung ist falsch und ich bitte um Korrektur der Rechnung",
    "Mein Drucker druckt nicht mehr, können Sie mir bitte helfen?",
    "Mi factura está mal, por favor corrijan su factura de mi cuenta",
    "Ma facture est fausse, merci de corriger ma facture sur mon compte",
    "A minha fatura está errada, por favor corrijam a sua fatura da minha conta",
])
def test_function_words_are_not_shown(model: TicketClassifier, text: str) -> None:
    terms = {t.term for t in model.predict(text).top_terms}
    assert terms and not terms & FUNCTION_WORDS
    assert {"mir", "my", "ihr", "su", "ma", "minha"} <= FUNCTION_WORDS
