"""Text preparation: what the classifier sees of a ticket."""

from __future__ import annotations

import pytest

from classifier.text import (
    MAX_CHARS, detect_language, normalise, stem_tokens, stemmer_for, ticket_text, tokenise,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("  Hello\tWORLD \n\n again ", "hello world again"),
    ("Ｆｕｌｌｗｉｄｔｈ ﬁle", "fullwidth file"),  # NFKC folds compatibility forms
    ("see https://example.com/a?b=1 now", "see urltok now"),
    ("mail me: jane.doe+x@example.co.uk", "mail me: emailtok"),
    ("order 12345 costs 19,99", "order numtok costs numtok"),
    ("null\x00byte\x07bell", "null byte bell"),
    ("Dear team,\\n\\nmy printer", "dear team, my printer"),  # newlines escaped by an export
    ("C:\\new\nfolder", "c:\\new folder"),  # a real newline: backslashes are text
    ("", ""),
])
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_caps_huge_input() -> None:
    assert len(normalise("word " * 2_000_000)) <= MAX_CHARS


def test_tokenise_keeps_letters_only() -> None:
    assert tokenise(normalise("Rechnung #42: Überweisung fehlgeschlagen!")) == [
        "rechnung", "numtok", "überweisung", "fehlgeschlagen"]


@pytest.mark.parametrize(("text", "language"), [
    ("My printer stopped working after the update, please help", "en"),
    ("Meine Rechnung ist falsch, bitte korrigieren Sie den Betrag", "de"),
    ("Bonjour, je voudrais savoir pourquoi ma commande est en retard", "fr"),
    ("Hola, no puedo acceder a mi cuenta desde ayer por la tarde", "es"),
    ("Olá, não consigo acessar minha conta desde ontem à tarde", "pt"),
    ("Hola, buenos días. Tengo un problema con mi cuenta y no puedo entrar, por favor ayúdenme", "es"),
    ("Olá, bom dia. Estou com um problema na minha conta e não consigo entrar, obrigado", "pt"),
    ("Buongiorno, ho un problema con il mio account e non riesco ad accedere, grazie", "it"),
    ("Hallo, ik heb een probleem met mijn account en kan niet inloggen, graag hulp", "nl"),
    ("", "und"),
    ("ok", "und"),
    ("12345 67890 !!!! ????", "und"),
    ("xkcd qwrt plmk zzzz vbnm", "und"),
    ("Привет, как дела у тебя сегодня, мой друг?", "und"),  # outside our languages
])
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_stemming_per_language() -> None:
    assert stem_tokens(["invoices", "charged"], "en") == ["invoic", "charg"]
    assert stem_tokens(["rechnungen"], "de") == ["rechnung"]
    assert stem_tokens(["invoices"], "und") == ["invoices"]
    assert stemmer_for("xx")("words") == "words"


def test_ticket_text_joins_subject_and_body() -> None:
    assert ticket_text("Subject", "Body") == "Subject\nBody"
    assert ticket_text("", "Body") == "Body"
