"""Which rules of a stage can fire for a ticket at all, found without running them: an index of the rules'
keywords (by stem, per language) and of their regexes' required literals.

A rule with `if_keywords` cannot fire unless one of its keywords' stems is among the ticket's; a rule whose
every `if_regex` pattern needs a literal cannot fire unless one of those literals is in the text. With
hundreds of rules most are ruled out by a few set and substring tests instead of one call each. Rules are
still run in file order; only rules that would surely not fire are skipped (`deskbot rules test` runs all).
"""

from __future__ import annotations

from typing import Any

from bot.rules.conditions import Facts
from bot.rules.keywords import KeywordSet
from bot.rules.patterns import PatternSet


class Gates:
    """The rules of one stage by what they need to be able to fire."""

    def __init__(self, entries: list[tuple[Any, list[Any]]]) -> None:
        self.size = len(entries)
        self.open: list[int] = []  # rules no index can rule out
        self.keywords: dict[int, KeywordSet] = {}
        self.literals: dict[str, list[int]] = {}
        for index, (_, checks) in enumerate(entries):
            values = {key: value for key, value, _, _ in checks}
            words, patterns = values.get("if_keywords"), values.get("if_regex")
            if isinstance(words, KeywordSet):
                self.keywords[index] = words
            elif isinstance(patterns, PatternSet) and all(literal for _, literal in patterns.compiled):
                for literal in {literal for _, literal in patterns.compiled}:
                    self.literals.setdefault(literal, []).append(index)
            else:
                self.open.append(index)
        self._by_language: dict[str, dict[str, list[int]]] = {}

    def candidates(self, facts: Facts) -> list[int]:
        """The indexes, in file order, of the rules that may fire for this ticket."""
        live = set(self.open)
        if self.keywords:
            index = self._keyword_index(facts.stem_language)
            for stem in facts.text.stems:  # the ticket's few stems, looked up in the index (not the other way)
                rules = index.get(stem)
                if rules:
                    live.update(rules)
        if self.literals:
            folded = facts.folded
            for literal, rules in self.literals.items():
                if literal in folded:
                    live.update(rules)
        return sorted(live)

    def _keyword_index(self, language: str) -> dict[str, list[int]]:
        """Stem -> rules one of whose keywords has it (a phrase is filed under its first stem: it needs them all)."""
        index = self._by_language.get(language)
        if index is None:
            index = {}
            for rule, words in self.keywords.items():
                singles, phrases = words.prepared(language)
                for stem in singles | {min(stems) for stems, _ in phrases if stems}:
                    index.setdefault(stem, []).append(rule)
            self._by_language[language] = index
        return index
