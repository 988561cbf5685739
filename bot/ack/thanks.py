"""A message that only says thanks (EN/DE/ES/FR/PT) needs no acknowledgement with a promised answer time.

The test is strict on purpose: after greetings, closings and the signature are set aside,
every remaining word must come from a small vocabulary of thanks and praise. Any other word
("but", "still", "aber", "pero", "mais", "mas", "ainda") or a question mark means the
customer says something more, and a missed thanks costs one needless acknowledgement while
a missed question costs a customer.
"""

from __future__ import annotations

import re

from bot.models import Ticket

_THANKS = frozenset("""
thank thanks thx tnx ty thankyou danke dank dankeschön dankeschoen dankesehr gracias merci obrigado obrigada obg
agradezco agradecemos agradecida agradecido agradeço remercie remercions valeu grato grata""".split())
_PRAISE = frozenset("""
you so much very a lot lots many again for the your all quick fast prompt swift kind help reply response answer
support assistance effort efforts that this it works worked now perfect great awesome excellent wonderful brilliant
fantastic super ok okay fine solved sorted fixed resolved helped is was really truly appreciated appreciate i we
and everything good guys team folks everyone have nice day weekend much indeed million heaps tons got info
update information explanation
vielen herzlichen besten lieben tausend schön sehr für fuer die den das ihre eure deine schnelle rasche hilfe
antwort rückmeldung unterstützung mühe es funktioniert klappt jetzt wieder alles perfekt prima toll klasse gut
vielmals nochmals noch mal ihnen euch dir hat geklappt gelöst erledigt sie haben mir uns geholfen und ein einen
schönen tag wochenende info infos informationen
muchas muchísimas mil por la su tu vuestra ayuda respuesta rápida pronta atención todo funciona ya ahora perfecto
genial excelente estupendo muy amable amables de nuevo otra vez solucionado resuelto equipo es usted ustedes le
les mucho y buen día fin semana información
beaucoup mille infiniment bien pour votre vos ton aide réponse rapide retour tout fonctionne marche maintenant
parfait génial encore une fois c est ça résolu réglé équipe à vous très et bonne journée je l d
information informations
muito muitíssimo pela pelo sua seu ajuda resposta atenção suporte tudo funcionou agora já perfeito ótimo otimo
resolvido mais uma vez equipe equipa o vocês e bom dia ótima informação""".split())
_GREETING = frozenset("""
hi hello hey dear hallo liebe lieber liebes sehr geehrte geehrter damen herren guten morgen abend moin servus
hola estimado estimada estimados buenos buenas días tardes bonjour bonsoir salut cher chère chers madame monsieur
olá ola oi prezado prezada prezados caro cara boa tarde support zusammen everyone pessoal""".split())
_CLOSING = re.compile(
    r"^(best|kind|warm|many)?\s*(regards|wishes)|^cheers|^best\W*$|^(mit )?(freundlichen|besten|vielen|lieben|herzlichen)"
    r" gr(ü|ue)(ß|ss)en|^(viele|liebe|beste|herzliche) gr(ü|ue)(ß|ss)e|^(mfg|lg|vg|gruß|grüße)\b|^(un )?saludos?|"
    r"^atentamente|^cordialement|^bien (à|a) vous|^(bien )?cordialement|^salutations|^atenciosamente|"
    r"^abra(ç|c)os?|^cumprimentos|^sent from my|^enviado desde|^envoyé de mon|^von meinem \w+ gesendet|^-- ?$",
    re.I,
)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|wg|fwd?|tr|rv|res|enc|sv)\s*:\s*|\[[^\]]*\]\s*)+", re.I)
_SIGNATURE_LINE = re.compile(r"^([A-ZÀ-Þ][\w'.-]*|of|and|und|de|da|do|der|von|van|y|e|&|\||[-+()\d\s/.,@:]+)"
                             r"(\s+([A-ZÀ-Þ][\w'.-]*|of|and|und|de|da|do|der|von|van|y|e|&|\||[-+()\d\s/.,@:]+))*$")
_WORD = re.compile(r"[^\W\d_]+")
_MAX_WORDS = 30
_MAX_SIGNATURE = 5  # lines of a name block after the thanks
# Every thanks-only message contains a thanks word: a few substring tests spare most mail the parsing below.
# "ty" is a part of too many words ("security") to be tested as a substring: it is looked for as a word.
_THANKS_PARTS = tuple(w for w in sorted(_THANKS) if w != "ty" and not any(o not in (w, "ty") and o in w for o in _THANKS))
_TY = re.compile(r"\bty\b")


def _alternation(parts: tuple[str, ...]) -> re.Pattern[str]:
    """One regex finding any of `parts`, grouped by first letter so the engine tries few branches per position."""
    by_first: dict[str, list[str]] = {}
    for part in parts:
        by_first.setdefault(part[0], []).append(re.escape(part[1:]))
    return re.compile("|".join(f"{re.escape(first)}(?:{'|'.join(rest)})" for first, rest in sorted(by_first.items())))


_MAY_THANK = _alternation(_THANKS_PARTS)
_VOCABULARY = _THANKS | _PRAISE | _GREETING


def _may_thank(text: str) -> bool:
    """False only when no thanks word can be in `text`."""
    low = text.lower()
    return _MAY_THANK.search(low) is not None or "ty" in low and _TY.search(low) is not None


def is_thanks_only(ticket: Ticket) -> bool:
    """True when the mail says nothing but thanks (with greetings and a signature at most)."""
    new = not ticket.references and not _REPLY_PREFIX.match(ticket.subject)
    if new and not _only_thanks_words(ticket.subject, ticket):
        return False  # a new mail's subject is part of what it says: a question or one word more says more
    if not _may_thank(ticket.subject) and not _may_thank(ticket.text or ticket.body):
        return False
    text = _own_words(ticket.text or ticket.body)
    if new:
        text += "\n" + ticket.subject  # a new mail may say everything in its subject
    else:
        text = text or _REPLY_PREFIX.sub("", ticket.subject)
    # Most texts fail the word-by-word reading at one of their first words: it goes first, the whole text's
    # words are only read for a text made of thanks, praise, greetings and names.
    return _only_thanks_words(text, ticket) and not _THANKS.isdisjoint(_WORD.findall(text.lower()))


def _only_thanks_words(text: str, ticket: Ticket) -> bool:
    """No question, at most _MAX_WORDS words, each a word of thanks, praise, greeting or the sender's name.

    Read word by word: most texts fail at one of their first words.
    """
    if "?" in text or "¿" in text:
        return False
    signed, rest = "", []
    for count, match in enumerate(_WORD.finditer(text.lower()), 1):
        word = match.group()
        if count > _MAX_WORDS:
            return False
        if word in _VOCABULARY:
            continue
        signed = signed or f"{ticket.sender_name} {ticket.sender.split('@')[0]}".lower()
        if word not in signed:
            return False  # each of the sender's names is a part of this string: most words are not
        rest.append(word)
    return not rest or set(_WORD.findall(signed)).issuperset(rest)


def _own_words(text: str) -> str:
    """The text without its closing and signature: cut at the closing line, or at a name block after thanks."""
    lines = [line for line in map(str.strip, text.splitlines()) if line and line[0] != ">"]
    opening = _WORD.search(lines[0].lower()) if lines else None
    if opening and opening.group() in _GREETING:  # the whole line is read only when it opens with a greeting
        first = _WORD.findall(lines[0].lower())
        if len(first) <= 6 and not _THANKS.intersection(first):
            lines = lines[1:]  # "Hi Sarah," / "Sehr geehrte Frau Weber,": whom it greets is no message
    for index, line in enumerate(lines):
        if _CLOSING.match(line):
            return "\n".join(lines[:index])
    # A name block is at most _MAX_SIGNATURE lines after the last thanks: only the last lines need reading.
    last_thanks = next((i for i in range(len(lines) - 1, max(len(lines) - _MAX_SIGNATURE - 2, -1), -1)
                        if _may_thank(lines[i]) and _THANKS.intersection(_WORD.findall(lines[i].lower()))), -1)
    tail = lines[last_thanks + 1:]
    if 0 < len(tail) <= _MAX_SIGNATURE and all(_SIGNATURE_LINE.match(line) for line in tail):
        return "\n".join(lines[:last_thanks + 1])
    return "\n".join(lines)
