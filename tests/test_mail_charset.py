"""Charsets, encoded words, addresses and attachments: the parts of parsing real mail gets wrong."""

from __future__ import annotations

import pytest

from connectors.mail import parse_mail, read_mail
from connectors.mail_charset import codec_for, decode_bytes, decode_header

GERMAN = "Grüße aus München: die Rechnung für März ist doppelt abgebucht, bitte prüfen Sie das."
RUSSIAN = "Здравствуйте! У меня не работает оплата картой на вашем сайте, помогите, пожалуйста."
CHINESE = "您好！我上周购买的台灯到现在还没有收到，订单号是55821。请帮我查一下物流信息，谢谢。"
JAPANESE = "お世話になっております。先日注文した商品がまだ届いておりません。ご確認をお願いいたします。"


@pytest.mark.parametrize(("label", "codec"), [
    ("windows-1252", "cp1252"), ("Windows-1250", "cp1250"), ("cp-1251", "cp1251"), ("ISO-8859-1", "cp1252"),
    ("latin1", "cp1252"), ("gb2312", "gb18030"), ("GBK", "gb18030"), ("ks_c_5601-1987", "cp949"),
    ("shift_jis", "cp932"), ("x-sjis", "cp932"), ("iso-2022-jp", "iso2022_jp"), ("koi8-r", "koi8-r"),
    ("x-mac-roman", "mac-roman"), ("iso-8859-8-i", "iso8859-8"), ("big5", "big5hkscs"), ('"utf-8"', "utf-8"),
    ("unknown-8bit", None), ("x-unknown", None), ("us-ascii", None), ("", None), (None, None),
    ("base64", None), ("rot13", None), ("idna", None), ("no-such-charset", None),
])
def test_codec_for_labels_and_mislabels(label: str | None, codec: str | None) -> None:
    assert codec_for(label) == codec


@pytest.mark.parametrize(("text", "encoding", "declared"), [
    (GERMAN, "cp1252", "iso-8859-1"),  # Latin-1 label, Windows-1252 quotes and euro signs
    (GERMAN + " 5 € „ok“", "cp1252", "iso-8859-1"),
    (RUSSIAN, "koi8-r", "koi8-r"),
    (RUSSIAN, "cp1251", "windows-1251"),
    (CHINESE, "gb18030", "gb2312"),  # gb2312 label on characters only GB18030 has is common
    ("“锟斤拷”与𠀀", "gb18030", "gb2312"),
    (JAPANESE, "iso2022_jp", "iso-2022-jp"),
    (JAPANESE, "cp932", "shift_jis"),
    (GERMAN, "utf-8", "iso-8859-1"),  # UTF-8 under a single-byte label
    (GERMAN, "utf-8", None),
    (GERMAN, "cp1252", None),  # no label on 8-bit Western text
    (GERMAN, "cp1252", "unknown-8bit"),
    (GERMAN, "cp1252", "utf-8"),  # a lying label
    (RUSSIAN, "cp1251", None),
])
def test_text_comes_out_right(text: str, encoding: str, declared: str | None) -> None:
    assert decode_bytes(text.encode(encoding), declared)[0] == text


def test_repairs_are_noted_and_fitting_labels_are_not() -> None:
    assert decode_bytes(GERMAN.encode("cp1252"), "windows-1252") == (GERMAN, "cp1252", "")
    assert decode_bytes(GERMAN.encode("cp1252"), "utf-8").note == (
        "declared charset 'utf-8' does not fit, read as cp1252")
    assert decode_bytes(b"plain ascii", None) == ("plain ascii", "ascii", "")


def test_hints_from_the_same_mail_serve_undeclared_bytes() -> None:
    assert decode_bytes("Оплата".encode("koi8-r"), None, hints=["koi8-r"])[0] == "Оплата"


@pytest.mark.parametrize(("raw", "text"), [
    ("=?utf-8?q?Gro=C3=9Fes_Dankesch=C3=B6n?=", "Großes Dankeschön"),
    ("=?ISO-8859-1?Q?Rechnung_f=FCr_M=E4rz?=", "Rechnung für März"),
    ("=?windows-1251?B?z+vg8uXm?=", "Платеж"),
    ("=?koi8-r?B?8NLP18XSy8E=?=", "Проверка"),
    ("=?gb2312?B?xPq6w6OsztK1xLaptaU=?=", "您好，我的订单"),
    ("=?ISO-2022-JP?B?GyRCQ21KOBsoQg==?=", "注文"),
    ("Re: =?utf-8?q?J=C3=B6rg?= and =?utf-8?q?M=C3=BCller?= here", "Re: Jörg and Müller here"),
    ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words is dropped (RFC 2047 section 6.2)
    ("=?utf-8?B?w6TDtg==?= =?utf-8?B?w7w=?=", "äöü"),
    ("=?utf-8?B?5L2g5aW9?= =?utf-8?B?5LiW?= =?utf-8?B?55WM?=", "你好世界"),
    ("=?utf-8?B?5L2g5Q==?= =?utf-8?B?pb3kuJbnlYw=?=", "你好世界"),  # a character split across two words
    ("=?utf-8*de?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),  # RFC 2231 section 5 language tag
    ("=?utf-8?B?w6TDtg?=", "äö"),  # missing base64 padding
    ("=?bogus?q?caf=E9?=", "café"),
    ("no encoded words", "no encoded words"),
    ("Gr\udcc3\udcbc\udcc3\udc9fe", "Grüße"),  # raw UTF-8 bytes in a header (RFC 6532)
    ("Gr\udcfc\udcdfe aus M\udcfcnchen", "Grüße aus München"),  # raw Latin-1 bytes, undeclared
])
def test_header_decoding(raw: str, text: str) -> None:
    assert decode_header(raw) == text


def test_raw_8bit_header_read_in_the_charset_of_the_body() -> None:
    data = ("From: Иван <ivan@example.ru>\nSubject: Оплата не проходит\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=koi8-r\n\n" + RUSSIAN + "\n").encode("koi8-r")
    ticket = parse_mail(data, source="s", ref="1")
    assert (ticket.subject, ticket.sender_name, ticket.body) == ("Оплата не проходит", "Иван", RUSSIAN)


@pytest.mark.parametrize(("from_header", "sender", "name"), [
    ("Jörg Müller <jörg@müller.example>", "jörg@müller.example", "Jörg Müller"),
    ("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@xn--mller-kva.example>", "joerg@müller.example", "Jörg Müller"),
    ('"=?utf-8?q?M=C3=BCller=2C_J=C3=B6rg?=" <J@Example.DE>', "j@example.de", "Müller, Jörg"),
    ("用户 <用户@例子.广告>", "用户@例子.广告", "用户"),
    ("Mail Delivery Subsystem <MAILER-DAEMON>", "mailer-daemon", "Mail Delivery Subsystem"),
    ("Big Bug bb@bug.example", "bb@bug.example", "Big Bug"),  # no angle brackets
    ("tim@power.example concierge@power.example", "tim@power.example", ""),
])
def test_international_and_odd_senders(from_header: str, sender: str, name: str) -> None:
    data = f"From: {from_header}\nSubject: Hi\nContent-Type: text/plain; charset=utf-8\n\nHello\n".encode()
    ticket = parse_mail(data, source="s", ref="1")
    assert (ticket.sender, ticket.sender_name) == (sender, name)


@pytest.mark.parametrize(("reply_to", "expected"), [
    ("Anna Lee <anna.private@example.net>", "Anna Lee <anna.private@example.net>"),
    ('"Lee, Anna" <anna@example.net>, other@example.net', '"Lee, Anna" <anna@example.net>'),
    ("=?utf-8?q?J=C3=B6rg?= <jörg@beispiel.example>", "Jörg <jörg@beispiel.example>"),
    ("undisclosed-recipients:;", ""),
    ("", ""),
])
def test_reply_to_is_the_first_usable_address(reply_to: str, expected: str) -> None:
    data = f"From: a@example.com\nReply-To: {reply_to}\nSubject: Hi\n\nHello\n".encode()
    assert parse_mail(data, source="s", ref="1").reply_to == expected


ATTACHMENTS = b"""From: Anna <anna@example.com>
Subject: Invoice and screenshots
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

See the attached files.
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>See the <b>attached</b> files.<img src="cid:logo"></p>
--rel
Content-Type: image/png
Content-ID: <logo>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--alt--
--outer
Content-Type: application/pdf; name="=?utf-8?q?Rechnung_M=C3=A4rz=2Epdf?="
Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer
Content-Type: image/jpeg
Content-Disposition: attachment;
 filename*0*=iso-8859-1''Bildschirmfoto%20f%FCr;
 filename*1="-Support.jpg"
Content-Transfer-Encoding: base64

/9j/4AAQ
--outer
Content-Type: text/plain; name="=?iso-8859-1?q?Protokoll_=FCber_Fehler.txt?="
Content-Disposition: attachment; filename="=?iso-8859-1?q?Protokoll_=FCber_Fehler.txt?="

line 1
--outer--
"""


def test_attachments_are_listed_with_name_type_size() -> None:
    ticket = parse_mail(ATTACHMENTS, source="s", ref="1")
    assert ticket.body == "See the attached files."
    assert ticket.attachments == (
        ("unnamed.png", "image/png", 8),
        ("Rechnung März.pdf", "application/pdf", 9),
        ("Bildschirmfoto für-Support.jpg", "image/jpeg", 6),
        ("Protokoll über Fehler.txt", "text/plain", 6),
    )
    assert ticket.content_types[:4] == ("multipart/mixed", "multipart/alternative", "text/plain",
                                        "multipart/related")


def test_forwarded_mail_is_an_attachment_and_its_parts_are_one_level_deeper() -> None:
    data = (b"From: Tom <tom@example.com>\nSubject: Fwd: Returned mail\nMIME-Version: 1.0\n"
            b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nWhy did this bounce?\n'
            b"--b\nContent-Type: message/rfc822\n\nFrom: MAILER-DAEMON@mx.example.com\nSubject: Returned mail\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\n\n--r\n'
            b"Content-Type: text/plain\n\nUser unknown\n--r\nContent-Type: message/delivery-status\n\n"
            b"Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; x@example.org\nAction: failed\n"
            b"Status: 5.1.1\n--r--\n--b--\n")
    ticket = parse_mail(data, source="s", ref="1")
    assert ticket.body == "Why did this bounce?"
    assert ticket.content_types == ("multipart/mixed", "text/plain", "message/rfc822",
                                    ">multipart/report;report-type=delivery-status", ">text/plain",
                                    ">message/delivery-status")
    assert [a[:2] for a in ticket.attachments] == [("message.eml", "message/rfc822")]


def test_defects_and_charset_repairs_are_reported() -> None:
    clean = read_mail(b"From: a@example.com\nSubject: Hi\nContent-Type: text/plain; charset=utf-8\n\nHello\n")
    assert clean.defects == () and clean.repairs == ()
    broken = read_mail(b'From: a@example.com\nSubject: Hi\nContent-Type: multipart/mixed; boundary="x"\n\n'
                       b"--x\nContent-Type: text/plain; charset=utf-8\n\nGr\xfc\xdfe\n")
    assert "CloseBoundaryNotFoundDefect" in broken.defects
    assert broken.repairs == ("declared charset 'utf-8' does not fit, read as cp1252",)
    assert broken.body == "Grüße"


@pytest.mark.parametrize(("from_header", "name"), [("MAILER-DAEMON <>", "MAILER-DAEMON"), ("<>", ""),
                                                   ("Mail Delivery System <>", "Mail Delivery System")])
def test_null_sender_of_bounces_is_readable(from_header: str, name: str) -> None:
    data = f"From: {from_header}\nSubject: Returned mail\n\nUser unknown\n".encode()
    ticket = parse_mail(data, source="s", ref="1")
    assert (ticket.sender, ticket.sender_name) == ("", name)


def test_one_corrupt_byte_keeps_the_declared_charset() -> None:
    data = (RUSSIAN * 5).encode("utf-8")
    broken = data[:100] + b"\xd1f" + data[102:]
    text, codec, note = decode_bytes(broken, "utf-8")
    assert codec == "utf-8" and 1 <= text.count("\ufffd") <= 2 and "replaced" in note
    assert text.endswith(RUSSIAN)
