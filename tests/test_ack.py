"""The acknowledgement: templates per language, the fallback chain, the sandbox, header safety, HTML, the due time."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from inscriptis import get_text

from bot.ack.message import AckRenderer, build_ack, check_templates, format_due, shipped_templates_dir
from bot.errors import ConfigError
from bot.models import Decision, Ticket
from bot.rules import RuleSet, load_rules
from connectors.helpdesk import normalise

RULES = load_rules()
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)  # a Friday
DUE = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # Monday 11:00 in Berlin, as the decision log gives it back


def ticket(**changes: object) -> Ticket:
    base = Ticket(source="imap:support", key="k", ref="1", sender="alex@example.com", sender_name="Alex Example",
                  subject="Invoice charged twice", body="", text="", language="en", message_id="<m1@example.com>")
    return replace(base, **changes)  # type: ignore[arg-type]


def decision(**changes: object) -> Decision:
    base = Decision(department="billing", priority="medium", tags=(), group="Billing", folder=None,
                    needs_review=False, sla_hours=8, sla_due=DUE, language="en", ack_template="ack",
                    ack_skip_reason=None)
    return replace(base, **changes)  # type: ignore[arg-type]


def ack_of(t: Ticket | None = None, d: Decision | None = None, *, templates: Path | None = None,
           rules: RuleSet = RULES, now: datetime = NOW):  # noqa: ANN201
    return build_ack(t or ticket(), d or decision(), reference="SUP-000042", message_id="<ack@example.com>",
                     rules=rules, from_address="Support <support@example.com>", renderer=AckRenderer(templates),
                     now=now)


def parts(message: EmailMessage) -> dict[str, str]:
    """Each leaf part's type -> its decoded text, from the bytes that would be sent."""
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    return {part.get_content_type(): part.get_content() for part in parsed.walk() if not part.is_multipart()}


def copy_templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(shipped_templates_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


@pytest.mark.parametrize(("language", "subject", "department", "due", "invite"), [
    ("en", "We have received your request", "our Billing team", "Monday, 23 November 2026 at 11:00",
     "simply reply to this email"),
    ("de", "Ihre Anfrage ist bei uns eingegangen", "Team\nBuchhaltung", "Montag, 23. November 2026, 11:00 Uhr",
     "antworten Sie einfach auf diese E-Mail"),
    ("es", "Hemos recibido su solicitud", "equipo de Facturación", "lunes, 23 de noviembre de 2026, a las 11:00",
     "basta con que responda a este correo"),
    ("fr", "Nous avons bien reçu votre demande ", "équipe\nFacturation", "lundi 23 novembre 2026 à 11 h 00",
     "il vous suffit de répondre à cet e-mail"),
    ("pt", "Recebemos o seu pedido", "área de\nFaturas e Pagamentos", "segunda-feira, 23 de novembro de 2026, às 11:00",
     "basta responder a este e-mail"),
])
def test_every_shipped_language_renders_text_and_html(language: str, subject: str, department: str, due: str,
                                                      invite: str) -> None:
    ack = ack_of(ticket(language=language), decision(language=language))
    message = ack.message
    assert message is not None and message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]  # text first
    assert ack.subject == f"[SUP-000042] {subject}: Invoice charged twice" == str(message["Subject"]).strip()  # unfolded as read
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    assert text == ack.text
    for wanted in (department, f"{due} (Europe/Berlin, UTC+1)", "SUP-000042", invite):
        assert wanted in text
        assert wanted.replace("\n", " ") in " ".join(re.sub(r"</?strong>", "", html).split())
    assert ack.html is not None and ack.html in html and ack.html.startswith(f'<div lang="{language}">')
    assert html.startswith("<!DOCTYPE html>") and f'<html lang="{language}">' in html


def test_every_shipped_language_is_listed_with_department_names() -> None:
    assert RULES.acknowledgement.languages == ["en", "de", "es", "fr", "pt"]
    assert all(set(route.names) == {"en", "de", "es", "fr", "pt"} for route in RULES.departments.values())
    assert len(check_templates(AckRenderer(), RULES)) == 5 * len(RULES.departments)


@pytest.mark.parametrize("language", ["en", "de", "es", "fr", "pt"])
def test_without_a_due_time_nothing_is_promised(language: str) -> None:
    promised = ack_of(d=decision(language=language, needs_review=True)).text
    for d in (decision(language=language, sla_due=None), decision(language=language, sla_due=NOW - timedelta(hours=1))):
        ack = ack_of(ticket(language=language, sender_name="", subject=""), d)
        assert "2026" not in ack.text and "2026" not in (ack.html or "")  # no date, in the past or otherwise
        assert len(ack.text) < len(promised) and ack.text.count("SUP-000042") == 2
    assert "read it first" in ack_of(d=decision(needs_review=True)).text


@pytest.mark.parametrize(("moment", "language", "expected"), [
    (datetime(2026, 11, 23, 11, 0), "en", "Monday, 23 November 2026 at 11:00 (Europe/Berlin, UTC+1)"),
    (datetime(2026, 7, 1, 9, 30), "en", "Wednesday, 1 July 2026 at 09:30 (Europe/Berlin, UTC+2)"),
    (datetime(2026, 11, 23, 11, 0), "de", "Montag, 23. November 2026, 11:00 Uhr (Europe/Berlin, UTC+1)"),
    (datetime(2026, 3, 4, 16, 45), "es", "miércoles, 4 de marzo de 2026, a las 16:45 (Europe/Berlin, UTC+1)"),
    (datetime(2026, 3, 4, 1, 15), "es", "miércoles, 4 de marzo de 2026, a la 01:15 (Europe/Berlin, UTC+1)"),
    (datetime(2026, 12, 1, 9, 0), "fr", "mardi 1er décembre 2026 à 9 h 00 (Europe/Berlin, UTC+1)"),
    (datetime(2026, 8, 15, 14, 5), "fr", "samedi 15 août 2026 à 14 h 05 (Europe/Berlin, UTC+2)"),
    (datetime(2026, 2, 6, 10, 0), "pt", "sexta-feira, 6 de fevereiro de 2026, às 10:00 (Europe/Berlin, UTC+1)"),
    (datetime(2026, 2, 6, 1, 0), "pt", "sexta-feira, 6 de fevereiro de 2026, à 01:00 (Europe/Berlin, UTC+1)"),
    (datetime(2026, 11, 23, 11, 0), "it", "Monday, 23 November 2026 at 11:00 (Europe/Berlin, UTC+1)"),
])
def test_due_time_in_the_customers_language(moment: datetime, language: str, expected: str) -> None:
    assert format_due(moment.replace(tzinfo=ZoneInfo("Europe/Berlin")), language) == expected


def test_due_zone_names_the_offset() -> None:
    assert format_due(datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc), "en").endswith("(UTC)")
    assert format_due(datetime(2026, 11, 23, 11, 0, tzinfo=ZoneInfo("Asia/Kolkata")), "de").endswith(
        "(Asia/Kolkata, UTC+5:30)")
    assert format_due(datetime(2026, 11, 23, 11, 0, tzinfo=ZoneInfo("America/Sao_Paulo")), "pt").endswith(
        "(America/Sao_Paulo, UTC-3)")


def test_fallback_chain_department_then_language_then_default(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    for stem in ("ack.en", "ack.de", "ack.billing.de", "ack.billing.en"):
        (folder / f"{stem}.txt.j2").write_text(f"Subject: {stem}\n\n{stem} {{{{ department }}}} {{{{ sla_due }}}}\n")
    (folder / "ack.de.html.j2").write_text("<p>ack.de {{ department }}</p>\n")
    cases = [("billing", "de", "ack.billing.de Buchhaltung Montag"), ("technical", "de", "ack.de Technischer Support"),
             ("billing", "fr", "ack.billing.en Billing Monday"), ("technical", "pt", "ack.en Technical Support")]
    for department, language, expected in cases:
        ack = ack_of(d=decision(department=department, language=language), templates=folder)
        assert ack.text.startswith(expected), (department, language)  # names and date follow the chosen template
        assert ack.subject == expected.split()[0]
    # The HTML part belongs to its own stem: ack.billing.de has none, so its mail is text only.
    assert ack_of(d=decision(department="billing", language="de"), templates=folder).html is None
    technical = ack_of(d=decision(department="technical", language="de"), templates=folder)
    assert technical.html == "<p>ack.de Technischer Support</p>\n"
    assert technical.message is not None and technical.message.get_content_type() == "multipart/alternative"


def test_no_template_for_the_language_nor_the_default(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"no template ack.billing.de.txt.j2 or ack.de.txt.j2 or .*ack.en.txt.j2"):
        ack_of(d=decision(language="de"), templates=folder)


@pytest.mark.parametrize("field", ["subject", "sender_name"])
def test_line_breaks_in_customer_text_never_add_a_header(field: str) -> None:
    evil = "Hello\r\nBcc: evil@example.com\r\n\r\nX-Injected: yes\nhtml <b>"
    ack = ack_of(ticket(**{field: evil}))
    assert ack.message is not None
    sent = message_from_bytes(ack.message.as_bytes(), policy=policy.default)
    assert sent["Bcc"] is None and sent["X-Injected"] is None
    assert [k for k in sent.keys()] == ["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
                                        "Auto-Submitted", "X-Auto-Response-Suppress", "MIME-Version", "Content-Type"]
    flat = "Hello Bcc: evil@example.com X-Injected: yes html <b>"
    assert flat in (str(sent["Subject"]) if field == "subject" else str(sent["To"]))
    assert ack.text.startswith("Hello Alex Example," if field == "subject" else f"Hello {flat},")


def test_customer_text_with_jinja_syntax_stays_verbatim() -> None:
    ack = ack_of(ticket(subject="{{ 7*7 }} and {% if x %}", sender_name="{{ self.__init__ }}"))
    assert ack.subject == "[SUP-000042] We have received your request: {{ 7*7 }} and {% if x %}"
    assert ack.text.startswith("Hello {{ self.__init__ }},") and "49" not in ack.text
    assert ack.html is not None and "{{ self.__init__ }}" in ack.html


def test_customer_text_is_escaped_in_html_only() -> None:
    ack = ack_of(ticket(sender_name='<script>alert("x")</script> & Co'))
    assert ack.html is not None and "<script>" not in ack.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in ack.html
    assert ack.text.startswith('Hello <script>alert("x")</script> & Co,')  # plain text: shown as written


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ self._TemplateReference__context }}",
    "{{ customer_name.__class__.__base__ }}",
    "{{ 'x' * 100000000 }}",
    "{{ 2 ** 100000000 }}",
    "{% for i in range(10 ** 7) %}{% endfor %}",
])
def test_a_custom_template_cannot_reach_python(tmp_path: Path, attack: str) -> None:
    folder = copy_templates(tmp_path)
    text = (folder / "ack.en.txt.j2").read_text().splitlines()
    text[2] += attack  # the greeting, line 3
    (folder / "ack.en.txt.j2").write_text("\n".join(text) + "\n")
    with pytest.raises(ConfigError) as caught:
        ack_of(templates=folder)
    assert f"{folder / 'ack.en.txt.j2'}:3:" in str(caught.value)
    with pytest.raises(ConfigError, match="ack.en.txt.j2:3"):
        check_templates(AckRenderer(folder), RULES)


def test_check_templates_covers_html_with_file_and_line(tmp_path: Path) -> None:
    folder = copy_templates(tmp_path)
    html = (folder / "ack.de.html.j2").read_text().splitlines()
    html[3] += "{{ refrence }}"
    (folder / "ack.de.html.j2").write_text("\n".join(html) + "\n")
    with pytest.raises(ConfigError, match=f"{folder / 'ack.de.html.j2'}:4: template error: 'refrence' is undefined"):
        check_templates(AckRenderer(folder), RULES)
    (folder / "ack.en.txt.j2").write_text((folder / "ack.en.txt.j2").read_text().replace("Subject:", "Sujet :"))
    with pytest.raises(ConfigError) as caught:
        check_templates(AckRenderer(folder), RULES)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'ack.en.txt.j2'}:1: a text template must start with a 'Subject:' line")
    assert "and 1 more: `deskbot templates check` lists them all" in message


def test_a_template_may_include_another_from_its_folder(tmp_path: Path) -> None:
    folder = copy_templates(tmp_path)
    (folder / "signature.txt.j2").write_text("-- \nExample Ltd, {{ reference }}\n")
    text = (folder / "ack.en.txt.j2").read_text() + '{% include "signature.txt.j2" %}'
    (folder / "ack.en.txt.j2").write_text(text)
    assert ack_of(templates=folder).text.endswith("-- \nExample Ltd, SUP-000042\n")
    (folder / "ack.en.txt.j2").write_text(text.replace("signature.txt.j2", "../secrets.txt"))
    with pytest.raises(ConfigError, match="no template ../secrets.txt"):
        ack_of(templates=folder)


@pytest.mark.parametrize(("name", "address", "shown"), [
    ("Alex Example", "alex@example.com", "Alex Example <alex@example.com>"),
    ("Example, Alex", "alex@example.com", '"Example, Alex" <alex@example.com>'),
    ("", "alex@example.com", "alex@example.com"),
    ("Jörg Weiß", "jörg@beispiel.de", "Jörg Weiß <jörg@beispiel.de>"),
])
def test_the_recipient_is_quoted_and_an_internationalised_address_kept(name: str, address: str, shown: str) -> None:
    ack = ack_of(ticket(sender_name=name, sender=address))
    assert ack.message is not None and ack.to == shown
    assert message_from_bytes(ack.message.as_bytes(policy=policy.SMTPUTF8), policy=policy.SMTPUTF8)["To"] == shown


@pytest.mark.parametrize("language", ["en", "de", "es", "fr", "pt"])
@pytest.mark.parametrize("review", [False, True])
def test_the_shipped_html_says_what_the_text_says(language: str, review: bool) -> None:
    """Alternatives of one content (RFC 2046 5.1.4); and a helpdesk that posts the HTML finds its reply by the text."""
    ack = ack_of(ticket(language=language), decision(language=language, needs_review=review))
    assert ack.html is not None and normalise(get_text(ack.html)) == normalise(ack.text)


def test_the_subject_is_the_head_up_to_the_first_blank_line_folded(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "ack.en.txt.j2").write_text("Subject: [{{ reference }}]\n   {% if subject %}{{ subject }}{% endif %}\n \t\n"
                                          "Body\n\nmore\n")
    ack = ack_of(templates=folder)
    assert (ack.subject, ack.text) == ("[SUP-000042] Invoice charged twice", "Body\n\nmore\n")
