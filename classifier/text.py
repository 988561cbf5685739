"""Text preparation shared by training and prediction: normalise, detect language, tokenise, stem."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from classifier.snowball import snowball_stemmer_class

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

MAX_CHARS = 20_000  # a 5 MB body says nothing more than its first pages, and must stay fast
LANGUAGES = ("en", "de", "es", "fr", "pt", "it", "nl")
UNDETERMINED = "und"
MIN_LETTERS = 12  # below this py3langid guesses; say 'und' instead
MIN_LANGUAGE_CONFIDENCE = 0.4
LANGUAGE_SAMPLE = 120  # on v3 99.8% right (the whole text: 99.9%), and 6x faster
PLACEHOLDERS = frozenset({"urltok", "emailtok", "numtok"})

_SNOWBALL_NAMES = {
    "en": "english", "de": "german", "es": "spanish", "fr": "french",
    "pt": "portuguese", "it": "italian", "nl": "dutch",
}
# Frequent function words. A ticket of ordinary length names its language with several of them,
# which settles about 95% of tickets (v3, v5) in a quarter of py3langid's time; py3langid decides the rest.
_FUNCTION_WORDS = {
    "en": "the and to of is for my you with this that it are have not can please we our your from at was will i",
    "de": "der die das und ist nicht ich sie wir mit für auf den dem des ein eine einen zu von bei mein meine ihr "
          "ihre bitte haben wird auch sehr",
    "es": "el los las del y en un una por para con es mi su se al lo como pero muy gracias estoy usted",
    "fr": "le les des du et est un une pour qui dans pas je vous nous avec sur mon ma mes votre merci ce cette",
    "pt": "o os as do da dos das e em um uma para com não é meu minha seu sua por obrigado estou você",
    "it": "il gli di della che è un una per con non sono ho grazie questo questa nel alla",
    "nl": "het een van ik je niet dat op te met voor zijn mijn uw wij bij graag dank",
}


def _index_function_words() -> dict[str, tuple[str, ...]]:
    """Each function word with the languages that use it ("un" is French, Spanish and Italian)."""
    index: dict[str, tuple[str, ...]] = {}
    for language, words in _FUNCTION_WORDS.items():
        for word in words.split():
            index[word] = (*index.get(word, ()), language)
    return index


_LANGUAGES_OF = _index_function_words()
FUNCTION_WORDS = frozenset(_LANGUAGES_OF)  # real contributions, but no reason an agent can act on
VOTE_WORDS = 200  # enough words to vote on; the rest of a long mail changes nothing
_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\d[\d.,:/-]*")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]+")  # controls and U+FFFD (undecodable bytes)
_TOKEN = re.compile(r"[^\W\d_]+")


def ticket_text(subject: str, body: str) -> str:
    """The one way subject and body become the classifier's input, in training and in the bot."""
    return f"{subject or ''}\n{body or ''}".strip()


def normalise(text: str) -> str:
    """NFKC, lowercase, URLs/emails/numbers as placeholder words, no control characters, one space."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
    if "\\n" in text and "\n" not in text:  # newlines escaped by an export ("line one\\nline two")
        text = text.replace("\\r", " ").replace("\\n", " ")
    # The cheap `in` tests skip regexes that cannot match; most tickets have no URL or address.
    if "://" in text or "www." in text:
        text = _URL.sub(" urltok ", text)
    if "@" in text:
        text = _EMAIL.sub(" emailtok ", text)
    text = " ".join(_NUMBER.sub(" numtok ", text).split())
    # Controls are never printable and U+FFFD is; a printable text without it has none to replace.
    if not text.isprintable() or "\ufffd" in text:
        text = " ".join(_CONTROL.sub(" ", text).split())
    return text


def tokenise(normalised: str) -> list[str]:
    """Words of an already normalised text: runs of letters (digits are placeholders by now)."""
    words: list[str] = []
    for chunk in normalised.split(" "):  # most chunks are one word: isalpha() is cheaper than the regex
        if chunk.isalpha():
            words.append(chunk)
        else:
            words += _TOKEN.findall(chunk)
    return words


_KEPT_TABLES: list[Path] = []  # where py3langid's tables are kept unpacked between runs, once a daemon names it


def keep_language_tables_in(folder: Path | None) -> None:
    """Keep py3langid's unpacked tables in `folder` (the model cache): only the first start unpacks them (half a
    second). Call it before the first ticket is read."""
    _KEPT_TABLES[:] = [folder] if folder is not None else []


@functools.lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    """The py3langid model ships inside the package (no download); load it once (and import py3langid, which
    imports numpy, only when a ticket's function words do not settle its language)."""
    from classifier.identifier import language_identifier

    return language_identifier(_KEPT_TABLES[0] if _KEPT_TABLES else None)


def warm_identifier() -> None:
    """Load py3langid's model now (from a start-up warm-up), not for the first ticket that needs it."""
    _identifier()


def _vote(words: Sequence[str]) -> str | None:
    """The language whose function words clearly dominate (4+ hits, twice the runner-up), else None."""
    hits: Counter[str] = Counter()
    # One C-level count of the function words, then a few additions: a Python loop per word was slower.
    for word, count in Counter(filter(_LANGUAGES_OF.__contains__, words[:VOTE_WORDS])).items():
        for language in _LANGUAGES_OF[word]:
            hits[language] += count
    ranked = hits.most_common(2)
    if not ranked:
        return None
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    return best if top >= 4 and top >= 2 * second else None


def detect_language(text: str, words: Sequence[str] | None = None) -> str:
    """ISO 639-1 code of `text` among LANGUAGES, or 'und' when too short, garbage, foreign or unsure.

    `words` are the text's tokens when the caller already has them (saves tokenising twice).
    """
    if words is None:
        words = tokenise(normalise(text[:MAX_CHARS]))
    voted = _vote(words)
    if voted:
        return voted
    sample = text[:LANGUAGE_SAMPLE]
    if sum(map(str.isalpha, sample)) < MIN_LETTERS:
        return UNDETERMINED
    # All of py3langid's languages compete, so Russian or noise ('zxx') is not forced into ours.
    language, confidence = _identifier().classify(sample)
    if language not in LANGUAGES or confidence < MIN_LANGUAGE_CONFIDENCE:
        return UNDETERMINED
    return str(language)


STEM_CACHE_LIMIT = 30_000  # distinct words per language; cleared when full (mail has a long tail)


class _Stems(dict[str, str]):
    """Stems of one language's words, computed on first sight: Snowball is pure Python, and tickets repeat
    words, so a dict lookup (a C call per token) serves almost every token."""

    def __init__(self, stem: Callable[[str], str]) -> None:
        super().__init__()
        self.stem = stem

    def __missing__(self, word: str) -> str:
        if len(self) >= STEM_CACHE_LIMIT:
            self.clear()
        found = self[word] = self.stem(word)
        return found


@functools.lru_cache(maxsize=len(_SNOWBALL_NAMES) + 1)
def _stems_for(language: str) -> _Stems:
    """The stem cache of `language`."""
    name = _SNOWBALL_NAMES.get(language)
    return _Stems(snowball_stemmer_class()(name).stem if name else str)


def stemmer_for(language: str) -> Callable[[str], str]:
    """A cached Snowball stem function for `language`; identity where Snowball has none."""
    return _stems_for(language).__getitem__


def stem_tokens(tokens: Sequence[str], language: str) -> list[str]:
    """Stems of `tokens` in `language` (unchanged for an undetermined or unsupported language)."""
    return list(map(_stems_for(language).__getitem__, tokens))
