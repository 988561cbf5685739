"""`deskbot ack preview`: the exact acknowledgement a mail would get, decided like `deskbot run`, nothing written."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from email import message_from_string, policy
from pathlib import Path

import pytest

from bot.cli import main
from bot.log.store import Store
from bot.models import Decision, Prediction
from connectors.mail import parse_mail

DEMO = Path(__file__).parent.parent / "bot" / "ops" / "demo" / "mail"


@pytest.fixture(autouse=True)
def _model(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default model from the session's cache (built once per test run)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(model_cache))


def dump(database: Path) -> list[str]:
    """Everything in a SQLite database (its write-ahead log included), as SQL."""
    with closing(sqlite3.connect(database)) as connection:
        return list(connection.iterdump())


def write_config(tmp_path: Path, *, smtp: bool = True) -> Path:
    config = tmp_path / "deskbot.toml"
    text = '[database]\nurl = "sqlite:///log.sqlite3"\n\n'
    if smtp:
        text += '[smtp]\nhost = "smtp.acme.test"\nfrom = "Acme Help <help@acme.test>"\n\n'
    text += '[[mailbox]]\nname = "help"\nhost = "imap.acme.test"\nusername = "help@acme.test"\npassword_env = "UNSET"\n'
    config.write_text(text)
    return config


def test_the_exact_message_with_both_parts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ack", "preview", "--eml", str(DEMO / "02-doppelte-abbuchung.eml")]) == 0
    out, err = capsys.readouterr()
    message = message_from_string(out, policy=policy.default)
    assert str(message["Subject"]) == "[SUP-000001] Ihre Anfrage ist bei uns eingegangen: Doppelte Abbuchung für " \
                                      "Rechnung RE-2026-1142"
    assert (str(message["To"]), str(message["From"])) == ("Jürgen Weiß <j.weiss@weiss-moebel.test>",
                                                          "Support <support@example.com>")
    assert str(message["In-Reply-To"]) == "<b7c1e0a2-1142@weiss-moebel.test>"
    assert str(message["Auto-Submitted"]) == "auto-replied"
    assert str(message["Message-ID"]).endswith("@deskbot.example.com>")  # like deskbot run's: ours when it comes back
    text, html = (part.get_content() for part in message.iter_parts())
    assert "Ihre Anfrage liegt jetzt bei unserem Team\nBuchhaltung unter der Vorgangsnummer SUP-000001." in text
    assert "<strong>Buchhaltung</strong>" in html and "Geschäftszeit, also bis" in text
    assert "decision: billing / " in err and "language de" in err and "why: model " in err
    assert "templates: ack.de.txt.j2 + ack.de.html.j2" in err
    assert "assumed: no --config: shipped rules and templates" in err


def test_why_none_would_be_sent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ack", "preview", "--eml", str(DEMO / "07-out-of-office.eml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no acknowledgement would be sent: ") and "auto" in out.lower()

    (tmp_path / "empty.eml").write_bytes(b"")
    assert main(["ack", "preview", "--eml", str(tmp_path / "empty.eml")]) == 0
    assert capsys.readouterr().out == "no acknowledgement would be sent: the mail cannot be read (empty message); " \
                                      "it would be set aside for a person\n"

    assert main(["ack", "preview", "--eml", str(DEMO / "02-doppelte-abbuchung.eml"),
                 "--config", str(write_config(tmp_path, smtp=False))]) == 0
    assert capsys.readouterr().out.startswith("no acknowledgement would be sent: imap:help sends no "
                                              "acknowledgements (no [smtp] server")

    assert main(["ack", "preview", "--eml", str(tmp_path / "missing.eml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_follow_ups_are_recognised_from_the_log_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    first = parse_mail((DEMO / "04-damaged-lamp.eml").read_bytes(), source="imap:help", ref="1:1")
    prediction = Prediction(department="orders", priority="medium", confidence=0.9, priority_confidence=None,
                            department_scores={}, priority_scores={}, top_terms=(), language="en",
                            model_version="test")
    decision = Decision(department="orders", priority="medium", tags=(), group=None, folder=None, needs_review=False,
                        sla_hours=8, sla_due=None, language="en", ack_template="ack", ack_skip_reason=None)
    store.record_decision(first, prediction, decision, kinds=(), cursor=None, ack_message_id="<ack1@acme.test>")
    before = dump(tmp_path / "log.sqlite3")

    assert main(["ack", "preview", "--eml", str(DEMO / "11-re-damaged-lamp.eml"), "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert out == "no acknowledgement would be sent: follow-up to SUP-000001, whose acknowledgement covers it\n"
    assert "follow-ups recognised from the decision log sqlite:///" in err

    assert main(["ack", "preview", "--eml", str(DEMO / "01-checkout-down.eml"), "--config", str(config)]) == 0
    message = message_from_string(capsys.readouterr().out, policy=policy.default)
    assert str(message["Subject"]).startswith("[SUP-000002] We have received your request: ")
    assert str(message["From"]) == "Acme Help <help@acme.test>"
    assert dump(tmp_path / "log.sqlite3") == before


def test_an_internationalised_address_is_shown_as_smtputf8_sends_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mail = tmp_path / "jorg.eml"
    mail.write_bytes("From: Jörg Weiß <jörg@beispiel.de>\r\nTo: support@example.com\r\nSubject: Rechnung doppelt\r\n"
                     "Message-ID: <j1@beispiel.de>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                     "Hallo, meine Rechnung wurde doppelt abgebucht. Bitte um Erstattung.\r\n".encode())
    assert main(["ack", "preview", "--eml", str(mail)]) == 0
    out = capsys.readouterr().out
    assert "\nTo: Jörg Weiß <jörg@beispiel.de>\n" in out  # raw UTF-8 headers (RFC 6532), not encoded words
    assert "Content-Transfer-Encoding: quoted-printable\n\nGuten Tag J=C3=B6rg Wei=C3=9F,\n" in out
