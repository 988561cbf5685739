"""The decision log's schema moves forward with Alembic: a 0.1 database is adopted and upgraded, data kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from bot.errors import ConfigError
from bot.log.database import _alembic_config, open_engine
from bot.log.store import Store
from tests.test_decide import PREDICTION, TICKET, run


def make_01_database(path: Path) -> str:
    """A decision log as deskbot 0.1 left it: three tickets, no version table."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection, "SUP"), "0001")
        connection.execute(sa.text("DROP TABLE alembic_version"))
        now = datetime(2026, 11, 10, tzinfo=timezone.utc)
        for key, status, department in (("<a@x>", "done", "billing"), ("<b@x>", "decided", "orders"),
                                         ("sha256:00", "skipped", "")):
            connection.execute(sa.text(
                "INSERT INTO ticket (source, key, ref, created_at, dry_run, status, error, message_id, ack_message_id, "
                "sender, sender_name, subject, language, body, text, model_version, predicted_department, "
                "predicted_priority, department_scores, priority_scores, top_terms, department, priority, tags, "
                "needs_review, ack_language, reasons) VALUES ('imap:support', :key, '7', :now, 0, :status, '', :key, "
                "'', 'a@example.org', '', 'Hi', 'en', 'body', 'text', 'v1', :dep, 'low', '{}', '{}', '[]', :dep, "
                "'low', '[]', 0, 'en', '[]')"), {"key": key, "now": now, "status": status, "dep": department})
        connection.execute(sa.text("INSERT INTO action (ticket_id, kind, state, detail, attempts, updated_at) "
                                   "VALUES (2, 'acknowledge', 'retry', 'SMTP 451', 1, :now)"), {"now": now})
    engine.dispose()
    return url


def test_a_01_database_is_upgraded_in_place_keeping_its_tickets_and_references(tmp_path: Path) -> None:
    url = make_01_database(tmp_path / "old.sqlite3")

    store = Store.open(url, reference_prefix="HELP")

    done, decided, unreadable = (store.get(i) for i in (1, 2, 3))
    assert (done.status, done.reference, done.pending) == ("done", "HELP-000001", False)
    assert (decided.status, decided.reference, decided.pending) == ("decided", "HELP-000002", True)
    assert (unreadable.status, unreadable.reference) == ("unreadable", None)
    assert [a.state for a in store.actions(2)] == ["pending"]
    row = store.record_decision(replace(TICKET, key="mail:new"), PREDICTION, run(), kinds=(), cursor=None)
    assert row.reference == "HELP-000004", "the sequence continues above every 0.1 ticket"
    assert Store.open(url).get(4).reference == "HELP-000004", "opening again changes nothing"


def test_a_database_of_a_newer_deskbot_is_refused_with_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    open_engine(url).dispose()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()

    with pytest.raises(ConfigError, match="made by a newer deskbot .*upgrade deskbot"):
        open_engine(url)


def test_the_head_a_start_compares_with_is_alembics_head_and_an_up_to_date_log_opens_without_alembic(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    from alembic.script import ScriptDirectory

    from bot.log.migrations import HEAD

    with sa.create_engine("sqlite://").connect() as connection:
        assert HEAD == ScriptDirectory.from_config(_alembic_config(connection, "SUP")).get_current_head()
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    open_engine(url).dispose()  # made and migrated
    probe = ("import sys; from bot.log.database import open_engine; open_engine(sys.argv[1]).dispose(); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    shown = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"  # a restart on an up-to-date log never imports alembic
