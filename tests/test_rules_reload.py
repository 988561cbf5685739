"""Live edits against a real IMAP server: a broken rules or template edit keeps the last good version running and
is logged once with file:line; the good edit after it is used for the next ticket; SIGHUP checks at once."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from bot.ack.templates import shipped_templates_dir
from bot.daemon import _cycle, build_triage, live_reload, sources_of
from bot.ops.loopback import SmtpSink
from bot.ops.shutdown import Shutdown
from bot.rules import shipped_rules_path
from tests.conftest import Clock, Mailbox
from tests.scenario import customer_mail, make_config, rows

RULE = '\n[[rules]]\nname = "tag-version"\nif_keywords = ["invoice"]\nadd_tags = ["{tag}"]\n'
BROKEN = '\n[[rules]]\nname = "tag-version"\nif_keyword = ["invoice"]\nadd_tags = ["v2"]\n'


@pytest.fixture
def setup(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock):
    """A config whose rules file and templates folder are the admin's own copies."""
    shipped = shipped_rules_path().read_text(encoding="utf-8")
    rules = tmp_path / "rules.toml"
    rules.write_text(shipped + RULE.format(tag="v1"), encoding="utf-8")
    templates = tmp_path / "templates"
    shutil.copytree(shipped_templates_dir(), templates)
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache, rules=str(rules),
                         templates=str(templates))
    triage = build_triage(config, clock=clock)
    scheduled = sources_of(config, triage)
    return config, triage, scheduled, live_reload(config, triage, scheduled), rules, templates, shipped


def _poll(setup, mailbox: Mailbox, n: int) -> list[str]:
    """One new invoice mail, one scheduled cycle as the daemon runs it; the tags of that mail's decision."""
    config, triage, scheduled, reload, *_ = setup
    mailbox.append(customer_mail(n * 5))  # topic 0: an invoice
    _cycle(scheduled[0], triage, threading.Event(), reload)
    last = rows(config)[-1]
    assert last.status == "done", last.error
    return json.loads(last.tags)


def test_broken_rules_edit_keeps_the_last_good_rules_then_a_good_edit_is_taken(
        setup, mailbox: Mailbox, caplog: pytest.LogCaptureFixture) -> None:
    rules, shipped = setup[4], setup[6]
    assert "v1" in _poll(setup, mailbox, 1)

    rules.write_text(shipped + BROKEN, encoding="utf-8")
    line = (shipped + BROKEN).splitlines().index('if_keyword = ["invoice"]') + 1
    with caplog.at_level(logging.WARNING, logger="bot.ops.reload"):
        assert "v1" in _poll(setup, mailbox, 2)  # no restart, no lost ticket: the last good rules decide
        assert "v1" in _poll(setup, mailbox, 3)
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.ops.reload"]
    assert len(warnings) == 1, "logged once, not every poll"
    assert f"{rules}:{line}: rule 'tag-version': unknown key 'if_keyword' (did you mean 'if_keywords'?)" in warnings[0]
    assert caplog.records[0].levelno == logging.WARNING

    rules.write_text(shipped + RULE.format(tag="v2"), encoding="utf-8")
    tags = _poll(setup, mailbox, 4)
    assert "v2" in tags and "v1" not in tags


def test_broken_template_edit_keeps_acknowledging_with_the_last_good_one(
        setup, mailbox: Mailbox, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    templates = setup[5]
    english = templates / "ack.en.txt.j2"
    good = english.read_text(encoding="utf-8")
    english.write_text(good.replace("{{", "{{ broken(", 1), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bot.ops.reload"):
        _poll(setup, mailbox, 1)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "bot.ops.reload"]
    assert f"{english}:" in warning
    assert rows(setup[0])[-1].ack_message_id and len(smtp_sink.messages) == 1  # acknowledged all the same

    english.write_text(good.replace("\n", "\nEDITED-LIVE\n", 1), encoding="utf-8")
    _poll(setup, mailbox, 2)
    assert "EDITED-LIVE" in smtp_sink.messages[-1].as_string()


def test_sighup_reloads_at_once_and_does_not_stop(setup) -> None:
    _, triage, _, reload, rules, _, shipped = setup
    before = triage.rules
    rules.write_text(shipped + RULE.format(tag="v3"), encoding="utf-8")
    shutdown = Shutdown(daemon=True, on_hup=reload.hangup).install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 10
        while triage.rules is before and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        shutdown.restore()
    assert triage.rules is not before and triage.rules.rules[-1].add_tags == ["v3"]
    assert not shutdown.stop.is_set() and shutdown.exit_code() is None


def test_a_rule_template_family_is_checked_at_start_and_used(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path,
                                                             model_cache: Path, clock: Clock) -> None:
    from bot.errors import ConfigError

    rules = tmp_path / "rules.toml"
    rules.write_text(shipped_rules_path().read_text(encoding="utf-8") + '\n[[rules]]\nname = "vip"\n'
                     'if_keywords = ["invoice"]\nack_template = "ack-vip"\n', encoding="utf-8")
    templates = tmp_path / "templates"
    shutil.copytree(shipped_templates_dir(), templates)
    for language in ("en", "de", "es", "fr", "pt"):
        text = (templates / f"ack.{language}.txt.j2").read_text(encoding="utf-8")
        (templates / f"ack-vip.{language}.txt.j2").write_text(text.replace("\n", "\nVIP-DESK\n", 1), encoding="utf-8")
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache, rules=str(rules), templates=str(templates))
    broken = templates / "ack-vip.de.txt.j2"
    good = broken.read_text(encoding="utf-8")
    broken.write_text(good.replace("{{", "{{ nope(", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="ack-vip.de.txt.j2:1"):
        build_triage(config, clock=clock)  # rendered at start like the family "ack"
    broken.write_text(good, encoding="utf-8")
    triage = build_triage(config, clock=clock)
    scheduled = sources_of(config, triage)
    mailbox.append(customer_mail(0))
    _cycle(scheduled[0], triage, threading.Event(), None)
    assert "VIP-DESK" in smtp_sink.messages[-1].as_string()


def test_a_before_model_rule_that_decides_means_the_model_is_not_asked(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    from bot.judge import NOT_ASKED

    rules = tmp_path / "rules.toml"
    rules.write_text(shipped_rules_path().read_text(encoding="utf-8") + '\n[[rules]]\nname = "partners"\n'
                     'stage = "before_model"\nif_sender = "customer1@example.org"\nset_department = "sales"\n'
                     'stop = true\n', encoding="utf-8")
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache, rules=str(rules))
    triage = build_triage(config, clock=clock)
    mailbox.append(customer_mail(0), customer_mail(1))
    _cycle(sources_of(config, triage)[0], triage, threading.Event(), None)
    asked, decided = rows(config)
    assert asked.model_version != NOT_ASKED and asked.predicted_department
    assert (decided.model_version, decided.predicted_department, decided.department) == (NOT_ASKED, "", "sales")
    assert "model not asked: rule partners set department sales and stopped" in json.loads(decided.reasons)
    assert decided.status == "done" and decided.folder == "Sales"


def test_helpdesk_sources_follow_a_reload(tmp_path: Path) -> None:
    from bot.ack.templates import AckRenderer
    from bot.log.store import Store
    from bot.ops.reload import LiveReload, Watched
    from bot.rules import load_rules
    from bot.sla import BusinessHours
    from bot.triage import Triage
    from tests.test_zendesk import GROUPS, FakeClock, FakeZendesk, source

    rules_path = tmp_path / "rules.toml"
    shipped = shipped_rules_path().read_text(encoding="utf-8")
    rules_path.write_text(shipped, encoding="utf-8")
    rules = load_rules(rules_path)
    clock = FakeClock()
    fake = FakeZendesk(clock)
    for name in GROUPS:
        fake.add_group(name)
    zendesk = source(fake, clock, rules)
    zendesk.check()  # logs in: groups resolved
    triage = Triage(classifier=None, rules=rules, calendar=BusinessHours.from_spec(rules.business_hours),  # type: ignore[arg-type]
                    store=Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}"), renderer=AckRenderer())
    reload = LiveReload(Watched(rules_path, AckRenderer().directory), triage, [zendesk])

    rules_path.write_text(shipped + '\n[priority_map.zendesk]\nmedium = "high"\n', encoding="utf-8")
    assert reload.check()
    assert zendesk.rules is triage.rules and zendesk.priorities["medium"] == "high"
    assert zendesk.groups is None  # resolved again at the next login, with the new rules' groups

    rules_path.write_text(shipped + '\n[priority_map.zendesk]\nmedium = "p2"\n', encoding="utf-8")
    assert not reload.check()  # refused like any invalid edit: the running version stays
    assert zendesk.priorities["medium"] == "high"
