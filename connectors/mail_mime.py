"""The MIME tree of a mail: its readable text, its attachments, and the types of all its parts.

Forwarded mail (message/rfc822) is another person's or machine's message: its part types
are recorded one level deeper (prefixed ">") so that loop checks can tell a delivery report
from a person forwarding one, and its text serves only when the outer mail has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value

from connectors.mail_charset import decode_8bit, decode_bytes, decode_header

# Machine-readable report parts (RFC 3464, 3798, 5965, 6522, 6533): recorded, never listed as files.
REPORT_PARTS = frozenset({
    "message/delivery-status", "message/global-delivery-status", "message/disposition-notification",
    "message/global-disposition-notification", "message/feedback-report", "text/rfc822-headers",
    "message/global-headers",
})
_SIGNATURES = frozenset({"application/pgp-signature", "application/pkcs7-signature",
                         "application/x-pkcs7-signature"})
_ENCLOSED_MAIL = frozenset({"message/rfc822", "message/global"})  # RFC 2046 5.2.1, RFC 6532 3.7
_MSGID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_MAX_DEPTH = 20  # deeper nesting is an attack or a loop, not a customer


@dataclass
class MimeContent:
    """What the parts of one mail hold, gathered in one walk."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    forwarded_plain: list[str] = field(default_factory=list)
    forwarded_html: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str, int]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    charsets: list[str] = field(default_factory=list)  # the codecs that read the text parts
    notes: list[str] = field(default_factory=list)  # charset repairs, in the order met
    reported_ids: list[str] = field(default_factory=list)  # Message-IDs of mail a report (bounce) is about
    failed_recipients: list[str] = field(default_factory=list)  # RFC 3464 Final-Recipient with Action: failed


def read_parts(message: Message) -> MimeContent:
    """Walk the whole MIME tree once."""
    content = MimeContent()
    _walk(message, 0, 0, content)
    return content


def _walk(part: Message, depth: int, level: int, out: MimeContent) -> None:
    """Record one part and its children; `depth` counts the message/rfc822 parts above it."""
    ctype = part.get_content_type()
    label = ">" * depth + ctype
    if ctype == "multipart/report":
        label += ";report-type=" + str(part.get_param("report-type", "") or "").lower()
    out.content_types.append(label)
    if level > _MAX_DEPTH:
        return
    if ctype in _ENCLOSED_MAIL:
        out.attachments.append((_filename(part) or "message.eml", ctype, _size(part)))
        for inner in _children(part):
            out.reported_ids.extend(_MSGID.findall(str(inner.get("Message-ID", ""))))
            _walk(inner, depth + 1, level + 1, out)
    elif ctype in ("message/delivery-status", "message/global-delivery-status"):
        _delivery_status(part, out)
    elif ctype in ("text/rfc822-headers", "message/global-headers"):
        headers = part.get_payload(decode=True)
        text = headers.decode("utf-8", "replace") if isinstance(headers, bytes) else str(part.get_payload())
        out.reported_ids.extend(_MSGID.findall(_header_value(text, "message-id")))
    elif part.is_multipart() and not ctype.startswith("message/"):  # delivery-status parses as header blocks
        for inner in _children(part):
            _walk(inner, depth, level + 1, out)
    else:
        _leaf(part, ctype, depth, out)


def _delivery_status(part: Message, out: MimeContent) -> None:
    """RFC 3464: per-recipient blocks; a recipient whose Action is "failed" bounced for good."""
    blocks = _children(part)
    if not blocks:  # some parsers leave the body as text: read its header-like lines ourselves
        text = str(part.get_payload())
        blocks = [_block(chunk) for chunk in text.replace("\r\n", "\n").split("\n\n")]
    for block in blocks:
        if str(block.get("Action", "")).strip().lower() == "failed":
            recipient = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
            address = recipient.rpartition(";")[2].strip().strip("<>").lower()
            if "@" in address:
                out.failed_recipients.append(address)


def _block(text: str) -> Message:
    message = Message()
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon and name and not name[0].isspace():
            message[name.strip()] = value.strip()
    return message


def _header_value(text: str, name: str) -> str:
    """The value of header `name` in a block of header lines (continuation lines joined)."""
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if line.lower().startswith(name + ":"):
            value = line.split(":", 1)[1]
            for more in lines[index + 1:]:
                if not more[:1].isspace():
                    break
                value += more
            return value
    return ""


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _leaf(part: Message, ctype: str, depth: int, out: MimeContent) -> None:
    """A part without children: body text, a report part, or an attachment."""
    name = _filename(part)
    disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not (name and disposition != "inline"):
        text = _text(part, out)
        target = (out.plain if ctype == "text/plain" else out.html) if depth == 0 else (
            out.forwarded_plain if ctype == "text/plain" else out.forwarded_html)
        if text.strip():
            target.append(text)
    elif ctype not in REPORT_PARTS and ctype not in _SIGNATURES:
        out.attachments.append((name or _unnamed(ctype), ctype, _size(part)))


def _text(part: Message, out: MimeContent) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    declared = part.get_param("charset")
    declared = str(declared) if isinstance(declared, str) else None
    if declared is None and part.get_content_subtype() == "html":
        declared = _html_meta_charset(payload)
    decoded = decode_bytes(payload, declared, hints=out.charsets)
    # What served this part, and what it claimed, are the best hints for raw bytes in its headers.
    out.charsets.extend((decoded.codec, declared) if declared else (decoded.codec,))
    if decoded.note:
        out.notes.append(decoded.note)
    return decoded.text


def _html_meta_charset(payload: bytes) -> str | None:
    """The charset an HTML part names in its own <meta> tag, when the MIME header names none."""
    head = payload[:2048].lower()
    at = head.find(b"charset=")
    if at < 0:
        return None
    value = head[at + 8:at + 40].strip(b"\"' ").split(b'"')[0].split(b"'")[0].split(b";")[0].split(b">")[0]
    return value.strip().decode("ascii", "ignore") or None


def _filename(part: Message) -> str:
    """The attachment's name (RFC 2231 parameters, or the RFC 2047 words most mailers use instead)."""
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        raw = _param(part, param, header)
        if isinstance(raw, tuple):
            charset, _, value = raw
            text = decode_bytes(bytes(value, "raw-unicode-escape"), charset or None).text
        else:
            text = collapse_rfc2231_value(raw) if raw else ""
        if text:
            return " ".join(decode_header(text).split()).replace("/", "_").replace("\\", "_")
    return ""


def _param(part: Message, param: str, header: str) -> str | tuple[str, str, str] | None:
    """A header parameter; raw 8-bit bytes in the header are read as text first (RFC 6532)."""
    raw = next((v for k, v in part.raw_items() if k.lower() == header), None)  # type: ignore[attr-defined]
    if raw is None:
        return None
    if not raw.isascii():
        probe = Message()
        probe[header] = decode_8bit(raw)
        part = probe
    value = part.get_param(param, None, header=header)
    return value if isinstance(value, (str, tuple)) else None


def _size(part: Message) -> int:
    """Bytes of the decoded content; for an attached mail, its encoded size (what its .eml file would be)."""
    if part.is_multipart():
        return sum(_encoded_size(p) for p in _children(part))
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def _encoded_size(part: Message) -> int:
    """About the bytes of a part as sent: its header lines and its content as transferred."""
    head = sum(len(name) + len(str(value)) + 4 for name, value in part.raw_items())  # type: ignore[attr-defined]
    payload = part.get_payload()
    if isinstance(payload, list):
        return head + sum(_encoded_size(p) for p in payload if isinstance(p, Message))
    return head + len(payload) if isinstance(payload, str) else head


def _unnamed(ctype: str) -> str:
    """A name for an attachment that has none (inline images often do not)."""
    return "unnamed." + ctype.rsplit("/", 1)[-1].split("+", 1)[0][:16]
