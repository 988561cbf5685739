"""The acknowledgement as the SMTP server gets it: envelope and bytes, written once when it is built.

An acknowledgement has one fixed shape (a few headers, a text part and perhaps an HTML part, both
quoted-printable UTF-8), and building it as an EmailMessage and flattening it cost ~2 ms, half of deskbot's time
per acknowledgement. Here the email package still does every part that needs care: a header that is not plain
ASCII is parsed and folded by its registry and policy (RFC 2047 encoded words, or raw UTF-8 under SMTPUTF8,
RFC 6532), the bodies are encoded by its `quoprimime`; only plain ASCII header lines (a long free-text one folded
at its spaces) and the MIME frame are written here. The EmailMessage, for whoever wants to look at it, is parsed
from these bytes (`Ack.message`).
"""

from __future__ import annotations

import random
import sys
from email import policy
from functools import lru_cache
from email.headerregistry import Address
from email.quoprimime import body_encode

from connectors.base import Wire, needs_smtputf8

CRLF = "\r\n"
# The email package's own wire policies, as aiosmtplib flattens with them (SMTPUTF8 when an address needs it).
_SMTP, _SMTPUTF8 = policy.SMTP, policy.SMTPUTF8
_QP_LINE = 76  # RFC 2045 6.7 (5): encoded lines are at most 76 characters
_FOLD_AT = 78  # RFC 5322 2.1.1: header lines should not be longer


def header(name: str, value: str, *, utf8: bool) -> str:
    """One header line (folded where needed), ending in CRLF. A value that breaks a line is refused, as the
    email package refuses it: customer text must never add a header."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} header value would break the line: {value!r}")
    plain = value.isascii() and value.isprintable() and "=?" not in value
    if plain and len(name) + 2 + len(value) <= _FOLD_AT:
        return f"{name}: {value}{CRLF}"  # what the email package writes for such a value, without parsing it
    if plain and name.lower() in _UNSTRUCTURED and "  " not in value and value.strip() == value:
        folded = _fold_words(name, value)
        if folded is not None:
            return folded
    wire = _SMTPUTF8 if utf8 else _SMTP
    return wire.header_factory(name, value).fold(policy=wire)


_UNSTRUCTURED = frozenset({"subject", "in-reply-to", "references"})  # free text, folded at any space


def _fold_words(name: str, value: str) -> str | None:
    """A long plain ASCII free-text value folded at single spaces, each line within 78 characters (RFC 5322 2.2.3:
    unfolding removes only the CRLF); None when a word alone is longer than a line (the email package decides)."""
    words = value.split(" ")
    if any(len(word) > _FOLD_AT - 1 for word in words):
        return None
    lines, line = [], f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > _FOLD_AT and line != f"{name}:":
            lines.append(line)
            line = ""
        line += f" {word}"
    return CRLF.join([*lines, line]) + CRLF


@lru_cache(maxsize=64)
def shared_header(name: str, value: str, *, utf8: bool) -> str:
    """`header()` of a value every acknowledgement repeats (our From), folded once."""
    return header(name, value, utf8=utf8)


def addr_spec(mailbox: str) -> str:
    """The bare address of a `Name <address>` value, as aiosmtplib takes it from the header for the envelope
    ("" when it holds none: an acknowledgement posted to a helpdesk has no mail sender)."""
    addresses = _SMTP.header_factory("From", mailbox).addresses
    return str(addresses[0].addr_spec) if addresses else ""


_sender_spec = lru_cache(maxsize=16)(addr_spec)  # our From, the same for every acknowledgement


def ack_wire(*, sender: str, to: Address, headers: list[tuple[str, str]], text: str, html: str | None) -> Wire:
    """The whole message: `sender` (our From) and `to` head it, `headers` follow in order, then the MIME frame;
    the text part first and the HTML part, if any, last (RFC 2046 5.1.4: the preferred one last)."""
    envelope_from = _sender_spec(sender)
    recipient = to.addr_spec
    if not recipient.isascii() or any(c in recipient for c in '"()\\=<>'):  # read back from the header, as
        recipient = addr_spec(str(to))  # aiosmtplib reads it: a quoted or encoded local part comes out changed
    recipients = (recipient,) if recipient else ()
    utf8 = needs_smtputf8(envelope_from, *recipients)
    lines = [shared_header("From", sender, utf8=utf8), header("To", str(to), utf8=utf8)]
    lines += [header(name, value, utf8=utf8) for name, value in headers]
    if html is None:  # the email package's order: the part's own headers, then MIME-Version
        lines.append(f"{_part_head('plain')}MIME-Version: 1.0{CRLF}{CRLF}{_qp(text)}")
    else:
        lines.append(f"MIME-Version: 1.0{CRLF}")
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="  # as the email package makes them
        lines.append(f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"{CRLF}{CRLF}')
        for subtype, body in (("plain", text), ("html", html)):  # the CRLF before a delimiter is the delimiter's
            lines.append(f"--{boundary}{CRLF}{_part_head(subtype)}{CRLF}{_qp(body)}{CRLF}")
        lines.append(f"--{boundary}--{CRLF}")
    return Wire(sender=envelope_from, recipients=recipients, data="".join(lines).encode("utf-8"))


def _part_head(subtype: str) -> str:
    return f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: quoted-printable{CRLF}'


def _qp(text: str) -> str:
    """A body as UTF-8, quoted-printable (which leaves no "=" of its own, so no boundary can occur in it), its
    lines ending in CRLF; line ends normalised as the email package's content manager does."""
    lines = text.encode("utf-8").splitlines()
    return body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), _QP_LINE, eol=CRLF)
