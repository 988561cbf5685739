"""Bytes of mail to text: declared charsets, their usual mislabels, a detector when they fail.

Mail declares its charset per part (RFC 2045) and per encoded word in headers (RFC 2047);
real mail gets both wrong often enough to matter: gb2312 labels on GB18030 text, Latin-1
labels on Windows-1252 text, UTF-8 under a single-byte label, no label at all on 8-bit
bytes, and raw 8-bit bytes in headers. We read what was declared when it fits, a known
superset when it does not, and ask charset-normalizer only when nothing declared fits.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterable
from typing import NamedTuple

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

# Labels whose text is, in practice, written in a larger charset (the WHATWG Encoding
# Standard maps Latin-1 and ASCII labels to windows-1252 for the same reason).
_SUPERSET = {
    "gb2312": "gb18030", "gbk": "gb18030", "hz": "hz",
    "euc_kr": "cp949",  # also what Python resolves Outlook's ks_c_5601-1987 to
    "shift_jis": "cp932", "big5": "big5hkscs",
    "iso8859-1": "cp1252", "iso8859-9": "cp1254", "iso8859-11": "cp874", "tis-620": "cp874",
}
# When even the superset fails: the relatives worth a try before guessing.
_RELATIVES = {
    "iso2022_jp": ("iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_3"),
    "euc_jp": ("euc_jis_2004",),
    "cp932": ("shift_jis_2004",),
    "big5hkscs": ("cp950",),
    "cp1252": ("latin-1",),  # five bytes are unassigned in windows-1252 only
}
# Labels that say "we do not know" (RFC 1428 unknown-8bit and what mailers invent).
_UNKNOWN = {"unknown-8bit", "unknown", "x-unknown", "8bit", "default", "charset", "x-user-defined", "none",
            "binary", "us-ascii", "ascii", "ansi_x3.4-1968", "us"}
_NOT_CHARSETS = {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "unicode_escape",
                 "raw_unicode_escape"}
_SEVEN_BIT = {"iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_3", "iso2022_kr", "utf-7", "hz"}
_SINGLE_BYTE = re.compile(r"^(cp125\d|iso8859-\d+|koi8-[ru]|mac-\w+|cp874|cp1252|latin-1)$")
_ESCAPE_JIS = b"\x1b$B"


def codec_for(label: str | None) -> str | None:
    """The Python codec to read text declared as `label`, or None when the label says nothing usable."""
    label = (label or "").strip().strip("'\"").lower()
    if not label or label in _UNKNOWN:
        return None
    cp_number = re.sub(r"^(cp|windows)[-_ ]?(\d+)$", r"cp\2", label)
    for candidate in (label, label.removeprefix("x-"), cp_number, label.removesuffix("-i")):
        try:
            info = codecs.lookup(candidate)
        except (LookupError, ValueError, TypeError):
            continue
        if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
            return None  # base64, rot13, idna...: Python codecs that are no charset of text
        return _SUPERSET.get(info.name, info.name)
    return None


class Decoded(NamedTuple):
    """Text, the codec it was read with, and a note when the declared charset did not serve."""

    text: str
    codec: str
    note: str


def decode_bytes(data: bytes, declared: str | None = None, *, hints: Iterable[str] = ()) -> Decoded:
    """Text of `data`: the declared charset if it fits, else a superset, UTF-8, a hint or a guess."""
    codec = codec_for(declared)
    if data.isascii() and codec not in _SEVEN_BIT:
        if _ESCAPE_JIS in data and (text := _strict(data, "iso2022_jp")) is not None:
            return Decoded(text, "iso2022_jp", "")  # undeclared ISO-2022-JP (7-bit Japanese mail)
        return Decoded(data.decode("ascii"), codec or "ascii", "")
    if codec and _SINGLE_BYTE.match(codec) and (text := _strict(data, "utf-8")) is not None:
        return Decoded(text, "utf-8", f"declared {declared} but the bytes are UTF-8")
    for name in (codec, *_RELATIVES.get(codec or "", ())):
        if name and (text := _strict(data, name)) is not None:
            return Decoded(text, name, "" if name == codec else f"declared {declared}, read as {name}")
    mostly = codec or "utf-8"
    if (text := _mostly(data, mostly)) is not None:  # one corrupt byte must not turn the whole text into CJK
        return Decoded(text, mostly, f"{text.count(chr(0xFFFD))} undecodable bytes in {mostly} text replaced")
    text, used = _guess(data, [codec_for(h) for h in hints])
    if codec is None and declared is None:
        return Decoded(text, used, f"no charset declared, read as {used}")
    return Decoded(text, used, f"declared charset {declared!r} does not fit, read as {used}")


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):
        return None


def _mostly(data: bytes, codec: str) -> str | None:
    """`data` read as `codec` with replacement characters, when they are rare among its non-ASCII characters."""
    try:
        text = data.decode(codec, errors="replace")
    except LookupError:
        return None
    bad = text.count("\ufffd")
    good = sum(1 for char in text if char > "\x7f") - bad
    return text if good >= 20 * bad else None


def _guess(data: bytes, hints: list[str | None]) -> tuple[str, str]:
    """Best reading of bytes no declaration fits: a hint of the same message, UTF-8, or the least messy guess."""
    for name in ("utf-8", *(h for h in hints if h)):
        if (text := _strict(data, name)) is not None and (name == "utf-8" or mess_ratio(text) < 0.1):
            return text, name
    # charset-normalizer alone mistakes short Western text for CJK or Baltic; windows-1252 is
    # the commonest undeclared charset of mail, so a guess must be clearly less messy to win.
    western = data.decode("cp1252", errors="replace")
    best = from_bytes(data[:20_000]).best()
    if best is not None and best.encoding not in ("utf_16", "utf_32", "utf_16_le", "utf_16_be"):
        guessed = data.decode(best.encoding, errors="replace")
        if mess_ratio(guessed) + 0.1 < mess_ratio(western):
            return guessed, best.encoding
    return western, "cp1252"


_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([qQbB])\?(.*?)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def decode_8bit(raw: str, *, hints: Iterable[str] = ()) -> str:
    """A header as the parser left it (8-bit bytes as surrogates) as text: UTF-8 (RFC 6532) or a guess."""
    if raw.isascii():
        return raw
    return decode_bytes(raw.encode("utf-8", "surrogateescape"), None, hints=hints).text


def decode_header(raw: str, *, hints: Iterable[str] = ()) -> str:
    """A header's text: raw 8-bit bytes read like a body part, RFC 2047 encoded words decoded.

    Adjacent encoded words in one charset are joined before decoding: mailers split
    multibyte characters across words although RFC 2047 section 5 forbids it.
    """
    hints = tuple(hints)
    raw = decode_8bit(raw, hints=hints)
    if "=?" not in raw:
        return raw
    out: list[str] = []
    pending, pending_charset, end = b"", "", 0
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[end:match.start()]
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 section 5: charset*language
        if pending and (between.strip() or charset.lower() != pending_charset.lower()):
            out.append(decode_bytes(pending, pending_charset, hints=hints).text)
            pending = b""
        if between.strip() or not out and not pending:
            out.append(between)
        pending += _word_bytes(match.group(2), match.group(3))
        pending_charset, end = charset, match.end()
    if pending:
        out.append(decode_bytes(pending, pending_charset, hints=hints).text)
    out.append(raw[end:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    """The bytes of one encoded word's text (B: lenient base64, Q: RFC 2047 section 4.2)."""
    data = text.encode("utf-8", "surrogateescape")
    if encoding in "bB":
        compact = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        try:
            return base64.b64decode(compact + b"=" * (-len(compact) % 4))
        except (binascii.Error, ValueError):
            return data
    return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data.replace(b"_", b" "))
