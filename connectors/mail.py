"""RFC 5322 / MIME mail -> Ticket, using the stdlib `email` package with `policy.default`.

The body is text/plain when there is one, HTML turned into text when HTML is all there
is. Quoted replies and signatures are cut from what the classifier reads (they describe
the *earlier* message) but the whole body is kept for the record.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import formataddr, getaddresses, parseaddr

import inscriptis
from mailparser_reply import EmailReplyParser

from bot.errors import BadInputError
from bot.models import Ticket
from classifier.text import detect_language

_MSGID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv"]
_reply_parser = EmailReplyParser(languages=_REPLY_LANGUAGES)


def raw_key(data: bytes) -> str:
    """Identity of a mail without a Message-ID: the hash of its bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def mail_key(message_id: str, sender: str, date: str, subject: str, body: str) -> str:
    """Identity of a mail across every mailbox of a config: its Message-ID plus a digest of its content.

    Delivery headers (Received, Delivered-To, Return-Path) differ per mailbox and are left out, so the
    same mail in two mailboxes has one key; two different mails that reuse a Message-ID have two.
    """
    digest = hashlib.sha256("\0".join((message_id, sender.lower(), " ".join(date.split()), subject, body)).encode())
    return "mail:" + digest.hexdigest()


def parse_mail(data: bytes, *, source: str, ref: str, received_at: datetime | None = None) -> Ticket:
    """Parse raw mail bytes into a Ticket; BadInputError says why when that is impossible."""
    if not data.strip():
        raise BadInputError("empty message")
    message = BytesParser(policy=policy.default).parsebytes(data)
    if not message.keys():
        raise BadInputError("no mail headers found (not an RFC 5322 message)")
    headers = _headers(message)
    sender_name, sender = _sender(message)
    subject = " ".join(_header(message, "Subject").split())
    body = extract_body(message)
    if not body.strip() and not subject:
        raise BadInputError("neither a subject nor a readable text body")
    text = strip_quotes(body)
    message_id = _first_msgid(_raw_header(message, "Message-ID"))
    refs = _MSGID.findall(_raw_header(message, "References")) + _MSGID.findall(_raw_header(message, "In-Reply-To"))
    return Ticket(
        source=source,
        key=mail_key(message_id, sender, _raw_header(message, "Date"), subject, body),
        ref=ref,
        sender=sender,
        sender_name=sender_name,
        subject=subject,
        body=body,
        text=text,
        language=detect_language(f"{subject}\n{text}"),
        received_at=received_at,
        message_id=message_id,
        references=tuple(dict.fromkeys(refs)),
        headers=headers,
        reply_to=_reply_to(message),
    )


def extract_body(message: Message) -> str:
    """The readable text: text/plain preferred, else HTML converted to text."""
    part = message.get_body(preferencelist=("plain", "html")) if isinstance(message, EmailMessage) else None
    if part is None:
        return ""
    content = _decode(part)
    if part.get_content_subtype() == "html":
        content = inscriptis.get_text(content)
    return content.replace("\r\n", "\n").strip()


def strip_quotes(body: str) -> str:
    """The new part of a reply: without quoted earlier mail and without the signature."""
    try:
        replies = _reply_parser.read(body).replies
    except Exception:  # noqa: BLE001 - a third-party regex parser; the full body is a safe fallback
        return body
    text = replies[0].body.strip() if replies else ""
    return text or body


def _decode(part: Message) -> str:
    """Part content as text; unknown or lying charsets degrade to replacement characters."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, ValueError, AssertionError):
        pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise BadInputError(f"{name} header cannot be parsed: {exc}") from None


def _raw_header(message: Message, name: str) -> str:
    """A header's raw text: the stdlib's msg-id parser raises on forms like `<>`, a plain match does not."""
    wanted = name.lower()
    return next((str(value) for key, value in message.raw_items() if key.lower() == wanted), "")  # type: ignore[attr-defined]


def _headers(message: Message) -> tuple[tuple[str, str], ...]:
    out = []
    for name in message.keys():
        try:
            out.append((name, str(message.get(name, ""))))
        except (ValueError, TypeError, IndexError, AttributeError):
            out.append((name, ""))  # a broken header we do not need is not a reason to lose the mail
    return tuple(out)


def _sender(message: Message) -> tuple[str, str]:
    """Display name and address of the author (From, else Sender)."""
    for name in ("From", "Sender"):
        value = _header(message, name)
        if value:
            display, address = getaddresses([value])[0] if "," in value else parseaddr(value)
            if "@" in address:
                return display, address.lower()
    if _header(message, "From"):
        raise BadInputError("From header holds no usable address")
    raise BadInputError("no From header")


def _reply_to(message: Message) -> str:
    """The Reply-To header's first usable address, as a header value, or ''."""
    try:
        value = _header(message, "Reply-To")
    except BadInputError:
        return ""
    name, address = getaddresses([value])[0] if value else ("", "")
    return formataddr((name, address)) if "@" in address else ""


def _first_msgid(value: str) -> str:
    match = _MSGID.search(value)
    return match.group(0) if match else ""
