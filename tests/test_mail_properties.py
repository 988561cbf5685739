"""Property tests: no input, however broken, makes parsing or the loop checks raise anything but BadInputError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ack.loops import is_thanks_only, no_ack_reason
from bot.errors import BadInputError
from connectors.mail import parse_mail

CORPUS = sorted((Path(__file__).parent / "fixtures" / "mail" / "corpus").glob("*.eml"))
SAMPLES = [path.read_bytes() for path in CORPUS]
# Bounded and derandomized: the same few hundred cases every run, a few seconds in all, no deadline flakes.
BOUNDED = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check(data: bytes) -> None:
    """Parse, then run every loop check on what parsed: only BadInputError may come out."""
    try:
        ticket = parse_mail(data, source="imap:support", ref="1")
    except BadInputError:
        return
    no_ack_reason(ticket, own_addresses=frozenset({"support@deskbot.test"}), own_message_id_domain="deskbot.test")
    is_thanks_only(ticket)
    assert ticket.key.startswith("mail:")


@BOUNDED
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@BOUNDED
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_after_a_plausible_header(data: bytes) -> None:
    check(b"From: a@example.com\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + data)


def _truncate(data: bytes, at: int, _: bytes) -> bytes:
    return data[: at % (len(data) + 1)]


def _flip(data: bytes, at: int, noise: bytes) -> bytes:
    at %= max(len(data), 1)
    return data[:at] + bytes(b ^ 0xFF for b in noise[:8]) + data[at + 8:]


def _insert(data: bytes, at: int, noise: bytes) -> bytes:
    at %= len(data) + 1
    return data[:at] + noise + data[at:]


def _duplicate_headers(data: bytes, at: int, _: bytes) -> bytes:
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    line = lines[at % len(lines)]
    return b"\r\n".join(lines + [line, line]) + sep + body


def _garble_header(data: bytes, at: int, noise: bytes) -> bytes:
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    index = at % len(lines)
    name, colon, value = lines[index].partition(b":")
    lines[index] = name + colon + noise.replace(b"\r", b"").replace(b"\n", b"") + value[len(noise) % 7:]
    return b"\r\n".join(lines) + sep + body


def _break_boundaries(data: bytes, at: int, noise: bytes) -> bytes:
    return data.replace(b"\r\n--", b"\r\n-" + noise[:3], 1 + at % 3)


def _charset(data: bytes, at: int, noise: bytes) -> bytes:
    labels = [b"utf-16", b"utf-7", b"unknown-8bit", b"x-bogus", b"iso-2022-jp", b"base64", b"rot13", b'"', b""]
    return data.replace(b"charset=", b"charset=" + labels[at % len(labels)] + b";x=", 1)


def _encoding(data: bytes, at: int, _: bytes) -> bytes:
    names = [b"base64", b"quoted-printable", b"x-uuencode", b"8bit", b"bogus"]
    return data.replace(b"Content-Transfer-Encoding: ", b"Content-Transfer-Encoding: " + names[at % len(names)] + b" ")


MUTATIONS = [_truncate, _flip, _insert, _duplicate_headers, _garble_header, _break_boundaries, _charset, _encoding]


@BOUNDED
@given(st.sampled_from(SAMPLES),
       st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(min_value=0), st.binary(min_size=1, max_size=40)),
                min_size=1, max_size=4))
def test_mutated_real_mail(sample: bytes, mutations: list) -> None:
    data = sample
    for mutate, at, noise in mutations:
        data = mutate(data, at, noise)
    check(data)


def test_every_corpus_mail_survives_every_mutation_once() -> None:
    for sample in SAMPLES:
        for mutate in MUTATIONS:
            check(mutate(sample, len(sample) // 3, b"\xff\xfe=?utf-8?B?\x00--"))


def test_pathological_shapes_are_bad_input_or_parse() -> None:
    nested = b"From: a@example.com\nSubject: x\n" + b"Content-Type: message/rfc822\n\nFrom: a@example.com\n" * 3000
    with_parts = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(3000))
    for data in (nested + b"\nhi\n", b"From: a@example.com\nSubject: x\n" + with_parts + b"\nhi\n"):
        check(data)
    huge = parse_mail(b"From: a@example.com\nSubject: x\n\n" + b"log line\n" * 100_000, source="s", ref="1")
    assert len(huge.body) > 800_000 and len(huge.text) <= 32_768  # the record keeps all, the classifier reads the top
