"""Mail that must never be acknowledged: automated mail, spam verdicts, and thanks that need no answer.

Answering robots is how mail loops start (RFC 3834 section 2); answering spam with a forged
sender is backscatter that gets our mail server blocklisted. Every check is pure and returns
the reason, so the decision log says why no acknowledgement went out.

    no_ack_reason(ticket, ...) -> NoAck("automated" | "spam", reason) | None
        automated_reason(...)  auto-replies, reports (RFC 3464/3798/5965), lists, robots, our own mail
        spam_verdict(...)      SpamAssassin, rspamd, Microsoft SCL of the server in front of us
    is_thanks_only(ticket)     a message that only says thanks (bot.ack.thanks)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.ack.thanks import is_thanks_only
from bot.models import Ticket

__all__ = ["AUTOMATED", "SPAM", "NoAck", "SpamThresholds", "auto_reply_reason", "automated_reason",
           "is_thanks_only", "no_ack_reason", "spam_verdict"]

AUTOMATED = "automated"
SPAM = "spam"


@dataclass(frozen=True)
class NoAck:
    """Why a mail gets no acknowledgement: its category (AUTOMATED or SPAM) and the reason logged."""

    category: str
    reason: str


@dataclass(frozen=True)
class SpamThresholds:
    """When the verdict of the mail server in front of us counts as spam (None: that score is not used)."""

    enabled: bool = True
    scl: int = 5  # Microsoft SCL -1..9; Exchange's junk-mail threshold is 5
    spamassassin_score: float | None = None  # besides X-Spam-Flag / "X-Spam-Status: Yes"
    rspamd_score: float | None = None  # besides rspamd's own action
    rspamd_actions: frozenset[str] = frozenset({"reject", "add header", "rewrite subject"})


def no_ack_reason(
    ticket: Ticket, *, own_addresses: frozenset[str] = frozenset(), own_message_id_domain: str = "",
    spam: SpamThresholds = SpamThresholds(),
) -> NoAck | None:
    """Why this mail must get no acknowledgement, or None if it may get one (thanks-only is asked apart)."""
    headers = _Headers(ticket)  # one table for both kinds of check
    reason = automated_reason(ticket, own_addresses=own_addresses, own_message_id_domain=own_message_id_domain,
                              headers=headers)
    if reason:
        return NoAck(AUTOMATED, reason)
    verdict = spam_verdict(ticket, spam, headers=headers)
    return NoAck(SPAM, verdict) if verdict else None


def auto_reply_reason(ticket: Ticket, *, own_addresses: frozenset[str] = frozenset()) -> str | None:
    """Why this mail must not get an automatic answer, or None if it may (kept for existing callers)."""
    return automated_reason(ticket, own_addresses=own_addresses)


def automated_reason(
    ticket: Ticket, *, own_addresses: frozenset[str] = frozenset(), own_message_id_domain: str = "",
    headers: _Headers | None = None,
) -> str | None:
    """Why this mail was written by a machine (or is our own), or None for a person's mail."""
    h = _Headers(ticket) if headers is None else headers
    if h or ticket.content_types:  # every check but the sender's reads headers or MIME parts: none, no answer
        for check in (_auto_submitted, _report, _auto_reply_headers, _list_mail):
            reason = check(ticket, h, own_addresses)
            if reason:
                return reason
    return _sender_reason(ticket, h, own_addresses, own_message_id_domain.lower().lstrip("@"))


_LOWER: dict[str, str] = {}  # header name -> its lower case: mail repeats a few dozen names (bounded below)


def _lowered(name: str) -> str:
    if len(_LOWER) >= 4096:  # names made up per message (some bulk senders do) must not grow it without end
        _LOWER.clear()
    low = _LOWER[name] = name.lower()
    return low


class _Headers(dict[str, str]):
    """The first value of each header by lower-case name: one pass instead of one scan per question."""

    def __init__(self, ticket: Ticket) -> None:
        # backwards, so that each name's first (topmost) value is the one left standing; a known name's lower
        # case is looked up (its hash is then known too), which halves the cost of the table
        known = _LOWER.get
        super().__init__({known(name) or _lowered(name): value for name, value in reversed(ticket.headers)})


def _auto_submitted(ticket: Ticket, h: _Headers, own: frozenset[str]) -> str | None:
    """RFC 3834 section 5: any value but "no" marks mail sent by a program."""
    value = h.get("auto-submitted", "").strip().lower()
    if value and not value.startswith("no"):
        return f"auto-submitted mail (Auto-Submitted: {value})"
    return None


_REPORT_KINDS = {"delivery-status": "delivery report (bounce)", "disposition-notification": "read receipt",
                 "feedback-report": "abuse or feedback report (ARF)"}
_LOOSE_REPORTS = {"message/delivery-status": "delivery-status", "message/global-delivery-status": "delivery-status",
                  "message/disposition-notification": "disposition-notification",
                  "message/global-disposition-notification": "disposition-notification",
                  "message/feedback-report": "feedback-report"}
_FORWARD = re.compile(r"^\s*(fwd?|fw|wg|tr|rv|enc|i)\s*:", re.I)


def _report(ticket: Ticket, h: _Headers, own: frozenset[str]) -> str | None:
    """A report of RFC 3464 (delivery), 3798 (read) or 5965 (ARF) anywhere in the mail's own MIME tree.

    Parts under message/rfc822 belong to a forwarded mail: a person forwarding a bounce is
    answered. ARF reports are the exception: feedback loops wrap them, people do not forward them.
    """
    top = h.get("content-type", "").lower().replace(" ", "")
    forwarded = bool(_FORWARD.match(ticket.subject))
    for label in ticket.content_types or ((top,) if top else ()):
        nested, ctype, kind = label.startswith(">"), label.lstrip(">"), ""
        if ctype.startswith("multipart/report"):
            kind = next((k for k in _REPORT_KINDS if f"report-type={k}" in ctype), "unknown")
        elif ctype in _LOOSE_REPORTS and not forwarded:
            kind = _LOOSE_REPORTS[ctype]
        if kind and (not nested or kind == "feedback-report" and not forwarded):
            what = _REPORT_KINDS.get(kind, "delivery or read report")
            return f"{what} (multipart/report; report-type={kind})"
    return None


_AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply", "X-Autogenerated",
                       "X-Mail-Autoreply", "X-FC-MachineGenerated", "X-MS-Exchange-Inbox-Rules-Loop", "X-Loop")
_AUTO_REPLY_LOWER = frozenset(name.lower() for name in _AUTO_REPLY_HEADERS)  # most mail has none: one set test


def _auto_reply_headers(ticket: Ticket, h: _Headers, own: frozenset[str]) -> str | None:
    """Headers auto-responders, Exchange inbox rules and loop-aware robots (procmail, RT, Sieve) set."""
    if not h.keys().isdisjoint(_AUTO_REPLY_LOWER):
        for name in _AUTO_REPLY_HEADERS:
            value = h.get(name.lower(), "").strip()
            if value and value.lower() not in ("no", "false", "0"):
                return f"auto-reply ({name} header)" if name != "X-Loop" else f"mail loop marker (X-Loop: {value})"
    suppress = h.get("x-auto-response-suppress", "").lower()
    if any(word in suppress for word in ("all", "autoreply", "oof")):  # Microsoft [MS-OXCMAIL] 2.2.3.2.14
        return f"sender asked for no auto-responses (X-Auto-Response-Suppress: {suppress})"
    if h.get("return-path", "").strip() in ("<>", "<<>>"):
        return "bounce (empty Return-Path)"
    return None


_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post", "List-Help", "List-Subscribe", "List-Owner",
                 "List-Archive", "Mailing-List", "X-Mailing-List", "X-BeenThere")
_LIST_LOWER = frozenset(name.lower() for name in _LIST_HEADERS)


def _list_mail(ticket: Ticket, h: _Headers, own: frozenset[str]) -> str | None:
    """Bulk and list mail (RFC 2369, RFC 2919, Precedence of RFC 3834 section 2), unless the list is ours.

    A support address that is itself a group (Google Groups, Mailman) stamps list headers on
    every customer's mail; its List-Id is the address with "@" as "." (RFC 2919 section 3).
    """
    list_id = h.get("list-id", "").lower()
    if any(f"<{address.replace('@', '.')}>" in list_id for address in own):
        return None
    precedence = (h.get("precedence", "") or h.get("x-precedence", "")).strip().lower()
    if precedence in {"bulk", "list", "junk", "auto_reply"}:
        return f"bulk or list mail (Precedence: {precedence})"
    if h.keys().isdisjoint(_LIST_LOWER):
        return None
    for name in _LIST_HEADERS:
        if h.get(name.lower(), ""):
            return f"mailing-list mail ({name} header)"
    return None


# RFC 3834 section 2 and RFC 2142: robots' and list managers' addresses (after any +tag or VERP part).
_SYSTEM_LOCALPART = re.compile(
    r"^(mailer[-_.]?daemon|post[-_.]?master|(.+[-_])?(no|do[-_.]?not|dont)[-_.]?reply([-_.].*)?|noreply.*|bounces?([-_.].*)?|"
    r"listserv|majordomo|mailman|sympa|ecartis|listar|lyris|ezmlm|smartlist|mlmmj|owner-.+|"
    r".+-(admin|request|owner|bounces?)|microsoftexchange[0-9a-f]{32})$", re.I)
_AUTO_SUBJECT = re.compile(
    r"^\s*((auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheits?notiz|automatische antwort|"
    r"r[ée]ponse automatique|respuesta autom[aá]tica|resposta autom[aá]tica|fuera de la oficina|"
    r"automatisch antwoord|risposta automatica|automatisk svar|autosvar|"
    r"undeliverable|undelivered mail( returned to sender)?|delivery status notification|unzustellbar|"
    r"nicht zustellbar|mail delivery (failed|failure|subsystem)|returned mail|failure notice)"
    r"\s*(?=[:\-\u2013(\[!.]|$)|(loop alert|you are not (a )?member)\b|"  # list managers' error mails
    r"complaint about message from \d{1,3}(\.\d{1,3}){3}\b)",  # Microsoft JMRP: its report is a plain attached mail
    re.I,
)


def _sender_reason(ticket: Ticket, h: _Headers, own: frozenset[str], own_domain: str) -> str | None:
    """Robots by address or subject, and our own mail coming back."""
    sender = ticket.sender.lower()
    if not sender:
        return "no sender address to answer"
    if own and (sender in own or h.get("sender", "").strip("<> ").lower() in own - {""}):
        return "mail from our own address (would loop)"
    if own_domain and ticket.message_id.lower().rstrip(">").endswith("@" + own_domain):
        return f"our own message came back (Message-ID {ticket.message_id})"
    if "@" not in sender:
        return f"local system sender without a domain ({sender})"
    if _SYSTEM_LOCALPART.match(sender.rsplit("@", 1)[0].split("+", 1)[0]):
        return f"automated sender address ({sender})"
    if _AUTO_SUBJECT.match(ticket.subject):
        return "subject of an automatic reply or bounce"
    return None


def spam_verdict(ticket: Ticket, thresholds: SpamThresholds = SpamThresholds(), *,
                 headers: _Headers | None = None) -> str | None:
    """The spam verdict of the server in front of us, or None.

    Only a header's first (topmost) occurrence counts: our server prepends its own, while
    anything further down was written by the sender or a server on the way.
    """
    if not thresholds.enabled or not ticket.headers and "" not in thresholds.rspamd_actions:
        return None  # every verdict is a header's
    h = _Headers(ticket) if headers is None else headers
    if h.keys().isdisjoint(_SPAM_HEADERS) and "" not in thresholds.rspamd_actions:
        return None  # most mail carries none of the verdict headers below
    for check in (_spamassassin, _rspamd, _microsoft):
        reason = check(h, thresholds)
        if reason:
            return f"spam verdict of the receiving server ({reason})"
    return None


_SPAM_HEADERS = frozenset({"x-spam-flag", "x-spam-status", "x-spam", "deliver-to", "x-spam-action", "x-rspamd-action",
                           "x-spamd-result", "x-rspamd-score", "x-forefront-antispam-report",
                           "x-ms-exchange-organization-scl"})  # every header the three checks read
_SCORE = re.compile(r"\bscore=(-?\d+(?:\.\d+)?)", re.I)
_SPAMD_RESULT = re.compile(r"default:\s*(true|false)\s*\[\s*(-?\d+(?:\.\d+)?)", re.I)
_MS_FIELD = re.compile(r"(?:^|;)\s*(SCL|SFV):\s*([-\w]+)", re.I)


def _spamassassin(h: _Headers, thresholds: SpamThresholds) -> str | None:
    """SpamAssassin's X-Spam-Flag and X-Spam-Status (rspamd's milter writes the same X-Spam-Status)."""
    if h.get("x-spam-flag", "").strip().lower() in ("yes", "true"):
        return "X-Spam-Flag: YES"
    status = h.get("x-spam-status", "").strip()
    if status.lower().startswith("yes"):
        return f"X-Spam-Status: {status[:40]}"
    score = _SCORE.search(status)
    if score and thresholds.spamassassin_score is not None and float(score.group(1)) >= thresholds.spamassassin_score:
        return f"X-Spam-Status score {score.group(1)} >= {thresholds.spamassassin_score:g}"
    return None


def _rspamd(h: _Headers, thresholds: SpamThresholds) -> str | None:
    """rspamd: the proxy's X-Spam, the action headers, X-Spamd-Result of its milter_headers module."""
    if h.get("x-spam", "").strip().lower() in ("yes", "true"):
        return "X-Spam: yes"
    if h.get("deliver-to", "").strip().lower() == "junk":  # the default of milter_headers' spam-header routine
        return "Deliver-To: Junk"
    for name in ("X-Spam-Action", "X-Rspamd-Action"):
        action = h.get(name.lower(), "").strip().lower().replace("_", " ")
        if action in thresholds.rspamd_actions:
            return f"{name}: {action}"
    result = _SPAMD_RESULT.search(h.get("x-spamd-result", ""))
    if result and result.group(1).lower() == "true":
        return "X-Spamd-Result: default: True"
    raw = result.group(2) if result else h.get("x-rspamd-score", "").strip()
    try:
        score = float(raw)
    except ValueError:
        return None
    if thresholds.rspamd_score is not None and score >= thresholds.rspamd_score:
        return f"rspamd score {score:g} >= {thresholds.rspamd_score:g}"
    return None


def _microsoft(h: _Headers, thresholds: SpamThresholds) -> str | None:
    """Exchange / Microsoft 365: SCL -1..9 ([MS-OXCSPAM] 2.2.1.3), SFV:SPM or SKS (filtered as spam)."""
    fields = {k.upper(): v.upper() for k, v in _MS_FIELD.findall(h.get("x-forefront-antispam-report", ""))}
    for name, value in (("X-MS-Exchange-Organization-SCL", h.get("x-ms-exchange-organization-scl", "").strip()),
                        ("X-Forefront-Antispam-Report SCL", fields.get("SCL", ""))):
        if re.fullmatch(r"-?\d+", value) and int(value) >= thresholds.scl:
            return f"{name} {value} >= {thresholds.scl}"
    if fields.get("SFV") in ("SPM", "SKS"):
        return f"X-Forefront-Antispam-Report SFV:{fields['SFV']}"
    return None
