"""RFC 5322 / MIME mail -> Ticket, with the stdlib `email` parser and our own charset handling.

The parser runs with `policy.compat32`, which leaves header values as the raw text it read:
`policy.default`'s header objects cost about 2 ms a mail and turn mislabelled charsets into
replacement characters, so headers, encoded words and filenames are decoded here
(`mail_charset`) and the MIME tree is walked once (`mail_mime`). The body is text/plain when
there is one, HTML turned into text when HTML is all there is. Quoted replies and signatures
are cut from what the classifier reads (they describe the *earlier* message) but the whole
body is kept for the record.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, quote

import inscriptis
from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage as ReplyMessage

from bot.errors import BadInputError
from bot.models import Ticket
from classifier.text import detect_language
from connectors.mail_charset import decode_8bit, decode_header
from connectors.mail_mime import MimeContent, read_parts

_MSGID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_LOOSE_ADDRESS = re.compile(r"[^\s<>\"'(),;:@]+@[^\s<>\"'(),;:@]+\.[^\s<>\"'(),;:@]+")
_BARE_MSGID = re.compile(r"^\s*([^<>\s@]+@[^<>\s@]+)\s*$")
_REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv"]


class _ReplyReader:
    """mailparser_reply's parser with its three regexes built once. The library builds their patterns again for
    every mail (a third of its time), though they depend on the languages only; it takes them ready-made as the
    fields of its message (a library without those fields fails here, at import, not mail by mail)."""

    def __init__(self, languages: list[str]) -> None:
        self.languages = EmailReplyParser(languages=languages).languages
        first = ReplyMessage(text="", languages=list(self.languages))
        self.patterns = {"_header_regex": first.HEADER_REGEX, "_disclaimers_regex": first.DISCLAIMERS_REGEX,
                         "_signature_regex": first.SIGNATURE_REGEX}
        ReplyMessage(text="", languages=list(self.languages), **self.patterns)

    def read(self, text: str) -> ReplyMessage:
        """The message split into its replies, as `EmailReplyParser.read` splits it."""
        return ReplyMessage(text=text, languages=list(self.languages), **self.patterns).read()


_reply_parser = _ReplyReader(_REPLY_LANGUAGES)
_PARSER = BytesParser(policy=policy.compat32)
# The reply parser's regexes take seconds on megabytes; what a customer writes anew is at the top.
_READ_CHARS = 32_768
# What the stdlib parser and codecs raise on input they cannot make sense of.
_UNREADABLE = (ValueError, TypeError, LookupError, UnicodeError, IndexError, AttributeError, AssertionError,
               RecursionError)


@dataclass(frozen=True)
class Mail:
    """What one raw mail says, decoded, before it becomes a Ticket."""

    headers: tuple[tuple[str, str], ...]
    sender: str
    sender_name: str
    reply_to: str
    subject: str
    date: str
    message_id: str
    references: tuple[str, ...]
    body: str
    attachments: tuple[tuple[str, str, int], ...]
    content_types: tuple[str, ...]
    defects: tuple[str, ...]  # what the MIME parser found broken (missing boundaries, bad base64...)
    repairs: tuple[str, ...]  # where a declared charset did not serve and another was used
    report: tuple[tuple[str, str], ...] = ()  # what a bounce says: the mail it is about, who failed for good


def raw_key(data: bytes) -> str:
    """Identity of input that cannot be parsed at all: the hash of its bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def mail_key(*, message_id: str, sender: str, date: str, subject: str, body: str) -> str:
    """Ticket key of a mail: its Message-ID and its content, never per-mailbox delivery headers.

    The same mail delivered to two mailboxes differs only in Received, Delivered-To,
    Return-Path...; it gets one key. Two mails that share a Message-ID (broken mailers,
    templated ids) differ in content and get two. Whitespace is normalised because relays
    rewrap lines and line endings.
    """
    content = "\0".join((sender, " ".join(date.split()), " ".join(subject.split()), " ".join(body.split())))
    digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
    return "mail:" + hashlib.sha256(f"{message_id}\0{digest}".encode("utf-8", "surrogatepass")).hexdigest()


def parse_mail(data: bytes, *, source: str, ref: str, received_at: datetime | None = None) -> Ticket:
    """Parse raw mail bytes into a Ticket; BadInputError says why when that is impossible."""
    return ticket_from_mail(read_mail(data), source=source, ref=ref, received_at=received_at)


def ticket_from_mail(mail: Mail, *, source: str, ref: str, received_at: datetime | None = None) -> Ticket:
    """The Ticket of a decoded mail: the classifier's text without quotes, its language, its key."""
    try:
        text = strip_quotes(mail.body[:_READ_CHARS])
        language = detect_language(f"{mail.subject}\n{text}")
    except _UNREADABLE as exc:
        raise BadInputError(f"mail text cannot be read: {type(exc).__name__}: {exc}") from None
    return Ticket(
        source=source,
        key=mail_key(message_id=mail.message_id, sender=mail.sender, date=mail.date, subject=mail.subject,
                     body=mail.body),
        ref=ref,
        sender=mail.sender,
        sender_name=mail.sender_name,
        subject=mail.subject,
        body=mail.body,
        text=text,
        language=language,
        received_at=received_at,
        message_id=mail.message_id,
        references=mail.references,
        headers=mail.headers,
        reply_to=mail.reply_to,
        attachments=mail.attachments,
        content_types=mail.content_types,
        meta=mail.report,
    )


def read_mail(data: bytes) -> Mail:
    """Decode raw mail bytes; BadInputError when they hold no mail we can read."""
    if not data.strip():
        raise BadInputError("empty message")
    try:
        message = _PARSER.parsebytes(data)
        if not message.keys():
            raise BadInputError("no mail headers found (not an RFC 5322 message)")
        parts = read_parts(message)
        return _mail(message, parts)
    except _UNREADABLE as exc:
        raise BadInputError(f"mail cannot be parsed: {type(exc).__name__}: {exc}") from None


def _mail(message: Message, parts: MimeContent) -> Mail:
    hints = tuple(dict.fromkeys(c for c in parts.charsets if c != "ascii"))
    headers = tuple((name, _unfold(decode_header(value, hints=hints)))
                    for name, value in message.raw_items())  # type: ignore[attr-defined]
    sender_name, sender = _sender(message, hints)
    subject = " ".join(_first(headers, "Subject").split())
    body = extract_body(parts)
    if not body.strip() and not subject:
        raise BadInputError("neither a subject nor a readable text body")
    refs = _MSGID.findall(_raw(message, "References")) + _MSGID.findall(_raw(message, "In-Reply-To"))
    return Mail(
        headers=headers, sender=sender, sender_name=sender_name, reply_to=_reply_to(message, hints),
        subject=subject, date=" ".join(_raw(message, "Date").split()), message_id=_message_id(message),
        references=tuple(dict.fromkeys(refs)), body=body, attachments=tuple(parts.attachments),
        content_types=tuple(parts.content_types), defects=_defects(message), repairs=tuple(parts.notes),
        report=_report(message, parts),
    )


def _report(message: Message, parts: MimeContent) -> tuple[tuple[str, str], ...]:
    """For Ticket.meta: the Message-IDs a delivery report is about and the recipients that failed for good
    (RFC 3464 parts; Exim's X-Failed-Recipients header where there is no report part)."""
    failed = list(parts.failed_recipients) or [a.strip().lower() for a in _raw(message, "X-Failed-Recipients").split(",")
                                               if "@" in a]
    out = []
    if parts.reported_ids:
        out.append(("reported_message_ids", " ".join(dict.fromkeys(parts.reported_ids))))
    if failed:
        out.append(("failed_recipients", " ".join(dict.fromkeys(failed))))
    return tuple(out)


def extract_body(parts: MimeContent) -> str:
    """The readable text: text/plain preferred, else HTML converted to text, else the forwarded mail's."""
    for plain, html in ((parts.plain, parts.html), (parts.forwarded_plain, parts.forwarded_html)):
        if plain:
            text = "\n\n".join(plain)
        elif html:
            text = inscriptis.get_text("\n".join(html))
        else:
            continue
        return text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return ""


def strip_quotes(body: str) -> str:
    """The new part of a reply: without quoted earlier mail and without the signature."""
    try:
        replies = _reply_parser.read(body).replies
    except Exception:  # noqa: BLE001 - a third-party regex parser; the full body is a safe fallback
        return body
    text = replies[0].body.strip() if replies else ""
    # Lines quoted with ">" (RFC 3676 4.5) are the earlier mail even without an "… wrote:" line above them.
    unquoted = "\n".join(line for line in (text or body).splitlines() if not line.lstrip().startswith(">")).strip()
    return unquoted or text or body


def _sender(message: Message, hints: tuple[str, ...]) -> tuple[str, str]:
    """Display name and address of the author (From, else Sender)."""
    for name in ("From", "Sender"):
        found = _address(_raw(message, name), hints)
        if found:
            return found
    raw_from = _raw(message, "From")
    if "<>" in raw_from.replace(" ", ""):  # "MAILER-DAEMON <>": bounces sign with the null address (RFC 5321 4.5.5)
        return " ".join(decode_header(raw_from.replace("<>", ""), hints=hints).split()).strip("'\" "), ""
    if raw_from.strip():
        raise BadInputError("From header holds no usable address")
    raise BadInputError("no From header")


def _address(raw: str, hints: tuple[str, ...]) -> tuple[str, str] | None:
    """The first usable (display name, address) of an address header, in Unicode (RFC 6532)."""
    if not raw.strip():
        return None
    text = decode_8bit(raw, hints=hints)
    for display, address in getaddresses([text]):
        address = address.strip().lower()
        # A bare local part ("MAILER-DAEMON") is how local bounces sign: readable, and never answered.
        if address and " " not in address and not address.startswith("@"):
            display = " ".join(decode_header(display, hints=hints).split()).strip("'\" ")
            return display, _unicode_domain(address)
    # Broken mailers write "Name name@example.com" or two bare addresses; a reader still sees who wrote.
    match = _LOOSE_ADDRESS.search(text)
    if match:
        display = " ".join(decode_header(text[:match.start()], hints=hints).split()).strip("'\" ")
        return display, _unicode_domain(match.group(0).lower())
    return None


def _unicode_domain(address: str) -> str:
    """The address with IDNA A-labels (xn--) shown as Unicode, so one mailbox has one spelling."""
    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain:
        return address
    try:
        return f"{local}@{domain.encode('ascii').decode('idna')}"
    except UnicodeError:
        return address


def _reply_to(message: Message, hints: tuple[str, ...]) -> str:
    """Reply-To's first usable address as a header value ("Name <address>"), or ''."""
    found = _address(_raw(message, "Reply-To"), hints)
    if not found or "@" not in found[1]:
        return ""
    display, address = found
    if not display:
        return address
    return f'"{quote(display)}" <{address}>' if re.search(r"[()<>@,;:\\\".\[\]]", display) else f"{display} <{address}>"


def _message_id(message: Message) -> str:
    """Message-ID in angle brackets; the stdlib's msg-id parser raises on `<>`, a plain match does not."""
    raw = _raw(message, "Message-ID")
    match = _MSGID.search(raw) or _BARE_MSGID.match(raw)
    if not match:
        return ""
    found = match.group(0).strip()
    return found if found.startswith("<") else f"<{found}>"


def _raw(message: Message, name: str) -> str:
    """A header's first raw value (8-bit bytes still as surrogates), or ''."""
    wanted = name.lower()
    return next((_unfold(v) for k, v in message.raw_items() if k.lower() == wanted), "")  # type: ignore[attr-defined]


def _first(headers: tuple[tuple[str, str], ...], name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in headers if k.lower() == wanted), "")


def _unfold(value: str) -> str:
    """RFC 5322 section 2.2.3: a folded header is one line."""
    if "\n" not in value and "\r" not in value:
        return value.strip()
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "").strip()


def _defects(message: Message) -> tuple[str, ...]:
    """The parser's complaints about every part (missing boundaries, bad base64...)."""
    return tuple(type(defect).__name__ for part in message.walk() for defect in part.defects)
