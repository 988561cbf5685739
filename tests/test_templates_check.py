"""`deskbot templates check`: every template rendered with sample data, every problem with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.ack.message import shipped_templates_dir
from bot.cli import main
from bot.rules import shipped_rules_path


def copy_templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(shipped_templates_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def edit_line(path: Path, number: int, addition: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] += addition
    path.write_text("\n".join(lines) + "\n")


def test_the_shipped_templates_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "check"]) == 0
    out = capsys.readouterr().out.splitlines()
    for language in ("en", "de", "es", "fr", "pt"):
        assert f"ack.{language}.txt.j2 + ack.{language}.html.j2: {language} for billing, technical, account, " \
               "orders, sales, general" in out
    assert out[-1].startswith("templates: ok (120 renderings with sample data, ")


def test_every_error_is_reported_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_templates(tmp_path)
    edit_line(folder / "ack.de.txt.j2", 5, " {% if needs_review %}")  # a block never closed
    edit_line(folder / "ack.fr.html.j2", 3, " {{ refrence }}")  # a misspelt variable
    edit_line(folder / "ack.es.txt.j2", 9, " {{ customer_name.__class__ }}")  # only where needs_review is true
    (folder / "ack.pt.txt.j2").write_text("\n" + (folder / "ack.pt.txt.j2").read_text())  # no Subject line first

    assert main(["templates", "check", "--templates", str(folder)]) == 2
    out = capsys.readouterr().out
    assert f"{folder / 'ack.de.txt.j2'}:" in out and "error: template error: Unexpected end of template" in out
    assert f"{folder / 'ack.fr.html.j2'}:3: error: template error: 'refrence' is undefined" in out
    assert f"{folder / 'ack.es.txt.j2'}:9: error: template error: access to attribute '__class__'" in out
    assert f"{folder / 'ack.pt.txt.j2'}:1: error: a text template must start with a 'Subject:' line" in out
    assert out.count("'refrence' is undefined") == 1  # once, not per department and sample
    assert out.splitlines()[-1].startswith("templates: 4 errors (")


def test_unused_templates_are_warnings_and_still_rendered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_templates(tmp_path)
    shutil.copy(folder / "ack.en.txt.j2", folder / "ack.biling.en.txt.j2")  # a department the rules do not have
    shutil.copy(folder / "ack.en.html.j2", folder / "ack.billing.en.html.j2")  # no text template beside it
    (folder / "ack.it.txt.j2").write_text("Subject: {{ reference }}\n\nCiao {{ nome }}\n")  # language not listed
    (folder / "footer.txt.j2").write_text("{{ anything }}")  # not an acknowledgement template: left alone

    assert main(["templates", "check", "--templates", str(folder)]) == 2
    out = capsys.readouterr().out
    assert f"{folder / 'ack.biling.en.txt.j2'}: warning: never used: department 'biling' is not in the rules" in out
    assert f"{folder / 'ack.billing.en.html.j2'}: warning: never used: no ack.billing.en.txt.j2 beside it" in out
    assert f"{folder / 'ack.it.txt.j2'}: warning: never used: language 'it' is not listed" in out
    assert f"{folder / 'ack.it.txt.j2'}:3: error: template error: 'nome' is undefined" in out
    assert "footer" not in out
    assert out.splitlines()[-1].startswith("templates: 1 error, 3 warnings (")


def test_a_listed_language_without_templates_and_department_templates(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_templates(tmp_path)
    shutil.copy(folder / "ack.de.txt.j2", folder / "ack.billing.de.txt.j2")
    rules = tmp_path / "rules.toml"
    rules.write_text(shipped_rules_path().read_text().replace('languages = ["en", "de", "es", "fr", "pt"]',
                                                              'languages = ["en", "de", "it"]'))
    config = tmp_path / "deskbot.toml"
    config.write_text(f'[[mailbox]]\nname = "support"\nhost = "imap.example.com"\nusername = "support@example.com"\n'
                      f'password_env = "NOT_READ"\n\n[paths]\nrules = "rules.toml"\ntemplates = "{folder}"\n')

    assert main(["templates", "check", "--config", str(config)]) == 2
    out = capsys.readouterr().out
    assert "ack.billing.de.txt.j2 (text only): de for billing" in out
    assert "ack.de.txt.j2 + ack.de.html.j2: de for technical, account, orders, sales, general" in out
    assert f"{folder}: error: no template ack.it.txt.j2 for language 'it' listed under [acknowledgement] " \
           "languages (nor ack.<department>.it.txt.j2 for billing, technical, account" in out
    assert "ack.es.txt.j2: warning: never used: language 'es' is not listed" in out

    assert main(["templates", "check", "--rules", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
