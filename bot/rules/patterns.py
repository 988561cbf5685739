"""`if_regex` patterns: compiled once, and refused when they could backtrack catastrophically.

Python's `re` backtracks; `(a+)+$` against thirty a's and a b takes minutes, and a rules file must not
be able to hang the daemon. We refuse such patterns when the file is loaded, with the reason, instead of
running them under a timeout: a timeout would make `decide()` depend on the machine's load (the same
ticket could match on a quiet machine and not on a busy one), and it would need a second regex engine.
The check is the well-known "star height" test (safe-regex, Davis et al. 2018) plus two relatives, on the
parse tree of Python's own parser; refused are:

- a nested quantifier: a group repeated more than once that contains another quantifier repeating more
  than once, e.g. `(a+)+`, `(\\w*\\s?)*`, `(x{2,})*`;
- a repeated alternation whose branches can begin with the same character, e.g. `(a|ab)*c`, `(\\w|\\d)+`;
- a backreference (`(a)\\1`): matching with them is NP-hard.

What remains runs in polynomial time; the text searched is capped at MAX_CHARS (the classifier's cap),
which bounds that too. Atomic groups and possessive quantifiers (`(?>...)`, `a++`) never backtrack and pass.
"""

from __future__ import annotations

import functools
import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from classifier.text import MAX_CHARS

FLAGS = re.IGNORECASE
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)
_UNKNOWN = None  # a branch whose first character we do not work out: assume it can overlap


class UnsafePattern(ValueError):
    """A pattern that could make matching take exponential time."""


def check_pattern(pattern: str) -> re.Pattern[str]:
    """Compile `pattern` (case-insensitive) or raise re.error / UnsafePattern saying why."""
    compiled = re.compile(pattern, FLAGS)
    reason = _walk(sre_parse.parse(pattern, FLAGS), repeated=False)
    if reason:
        raise UnsafePattern(reason)
    return compiled


@functools.lru_cache(maxsize=8192)
def compiled(pattern: str) -> tuple[re.Pattern[str], str]:
    """The compiled form of a pattern the rules file was checked with, and a literal every match contains."""
    return re.compile(pattern, FLAGS), required_literal(sre_parse.parse(pattern, FLAGS))


def search(pattern: str, text: str, folded: str) -> re.Match[str] | None:
    """The first match in the capped text, or None. `folded` is fold(text): a text without the pattern's
    required literal cannot match, which one substring test says far faster than the regex engine."""
    regex, literal = compiled(pattern)
    if literal and literal not in folded:
        return None
    return regex.search(text[:MAX_CHARS])


class PatternSet:
    """One condition's patterns, compiled with their required literals."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = tuple(patterns)
        self.compiled = tuple(compiled(p) for p in patterns)

    def in_text(self, facts: Any) -> bool:
        """The if_regex test: whether any pattern matches subject + body (each distinct pattern searched once
        per ticket, however many rules use it)."""
        folded, searched = facts.folded, facts.searched
        for regex, literal in self.compiled:
            if literal and literal not in folded:
                continue
            found = searched.get(regex)
            if found is None:
                found = searched[regex] = regex.search(facts.full_text[:MAX_CHARS]) is not None
            if found:
                return True
        return False


# re.IGNORECASE also equates these with ASCII letters; casefold() alone does not (Python's sre _ignorecase_fixes).
_FOLD_FIXES = str.maketrans({"\u0131": "i", "\u017f": "s", "\u212a": "k", "\u212b": "\u00e5"})


def fold(text: str) -> str:
    """The capped text case-folded for the literal pre-check."""
    return text[:MAX_CHARS].casefold().translate(_FOLD_FIXES)


def required_literal(nodes: Any) -> str:
    """The longest run of plain ASCII characters (folded) that every match must contain, or '' if none is sure.

    Only the pattern's top level (and groups there, and the first pass of a repeat of at least one) count:
    a literal inside an alternation or an optional part is not required.
    """
    best, run = "", ""
    for op, arg in nodes:
        if op is sre.LITERAL and arg < 128 and chr(arg).isprintable():
            run += chr(arg).casefold()
            continue
        best, run = max(best, run, key=len), ""
        if op is sre.SUBPATTERN:
            best = max(best, required_literal(arg[3]), key=len)
        elif op in _REPEATS and arg[0] >= 1:
            best = max(best, required_literal(arg[2]), key=len)
    return max(best, run, key=len)


def _walk(nodes: Any, *, repeated: bool) -> str:
    """The first reason found in a parsed (sub)pattern, or ''."""
    for op, arg in nodes:
        reason = _node(op, arg, repeated=repeated)
        if reason:
            return reason
    return ""


def _node(op: Any, arg: Any, *, repeated: bool) -> str:
    if op in _REPEATS:
        low, high, sub = arg
        many = high is sre.MAXREPEAT or high > 1
        if many and repeated:
            return "a nested quantifier (a repeated group containing a repeat, like (a+)+) can backtrack " \
                   "catastrophically; repeat the inner part only, or make it atomic (?>...) or possessive (a++)"
        return _walk(sub, repeated=repeated or many)
    if op is sre.SUBPATTERN:
        return _walk(arg[3], repeated=repeated)
    if op is sre.BRANCH:
        if repeated and _overlapping(arg[1]):
            return "a repeated alternation whose branches can start with the same character (like (a|ab)*) can " \
                   "backtrack catastrophically; make the branches start differently"
        return next((r for branch in arg[1] if (r := _walk(branch, repeated=repeated))), "")
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return _walk(arg[1], repeated=repeated)
    if op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
        return "backreferences (\\1, (?P=name)) are not allowed: they can make matching take exponential time"
    return ""  # literals, classes, anchors; ATOMIC_GROUP and POSSESSIVE_REPEAT never backtrack into themselves


def _overlapping(branches: list[Any]) -> bool:
    """Can two branches begin with the same character (or is one empty or unknown)?"""
    seen: set[str] = set()
    for branch in branches:
        first = _first_chars(branch)
        if first is _UNKNOWN or first & seen:
            return True
        seen |= first
    return False


def _first_chars(branch: list[Any]) -> set[str] | None:
    """The lowercase characters a branch can begin with, when it begins with literals or a simple set."""
    if not branch:
        return _UNKNOWN
    op, arg = branch[0]
    if op is sre.LITERAL:
        return {chr(arg).lower()}
    if op is sre.IN and all(kind is sre.LITERAL for kind, _ in arg):
        return {chr(value).lower() for _, value in arg}
    if op is sre.SUBPATTERN:
        return _first_chars(arg[3])
    return _UNKNOWN
