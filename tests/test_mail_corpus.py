"""The fixture corpus: every real-world shape parses to the expected ticket and no-acknowledgement verdict."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.ack.loops import is_thanks_only, no_ack_reason
from bot.models import Ticket
from connectors.mail import parse_mail

CORPUS = Path(__file__).parent / "fixtures" / "mail" / "corpus"
OWN = frozenset({"support@deskbot.test"})


def expected_rows() -> list[dict[str, str]]:
    """One row of expected.csv per corpus file."""
    with (CORPUS / "expected.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


ROWS = expected_rows()


def test_the_table_covers_every_file() -> None:
    assert sorted(row["file"] for row in ROWS) == sorted(p.name for p in CORPUS.glob("*.eml"))
    assert len(ROWS) >= 40


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_corpus_mail(row: dict[str, str]) -> None:
    ticket = parse_mail((CORPUS / row["file"]).read_bytes(), source="imap:support", ref="1")
    verdict = no_ack_reason(ticket, own_addresses=OWN, own_message_id_domain="deskbot.test")
    got = {
        "subject": ticket.subject, "sender": ticket.sender, "sender_name": ticket.sender_name,
        "category": verdict.category if verdict else "none", "thanks_only": "yes" if is_thanks_only(ticket) else "no",
        "attachments": str(len(ticket.attachments)), "language": ticket.language,
    }
    assert got == {key: row[key] for key in got}
    assert row["body_contains"].replace("\\n", "\n") in ticket.body
    assert_not_garbled(ticket)


def assert_not_garbled(ticket: Ticket) -> None:
    """No replacement characters and no UTF-8 read as Latin-1 ("Ã¼") anywhere a person reads."""
    for text in (ticket.subject, ticket.sender_name, ticket.body, *(name for name, _, _ in ticket.attachments)):
        assert "\ufffd" not in text
        assert not any(marker in text for marker in ("Ã", "â€", "=?", "Â ")), text
    assert ticket.key.startswith("mail:")
