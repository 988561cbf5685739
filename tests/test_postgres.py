"""The decision log on a real PostgreSQL server: migrations, a whole cycle, and two instances sharing sources.

The server is a throwaway cluster the tests start themselves (tests/postgres.py). Where PostgreSQL is not
installed the tests skip on a developer's machine, but fail under CI (CI=true), which installs it.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bot.config.file import DatabaseConfig
from bot.daemon import build_triage, sources_of
from bot.log.database import open_engine
from bot.log.schema import TicketLog
from bot.ops import status
from bot.ops.loopback import SmtpSink
from bot.pipeline import run_source
from tests.conftest import Clock, Mailbox
from tests.postgres import PostgresServer, pg_bin
from tests.scenario import customer_mail, cycle, make_config


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run must install it (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with PostgresServer() as server:
        yield server


@pytest.fixture
def engines() -> Iterator[list]:
    """Engines a test opened, closed at its end (psycopg warns of a connection left to the garbage collector)."""
    opened: list = []
    yield opened
    for engine in opened:
        engine.dispose()


def built(config, clock: Clock, engines: list):
    triage = build_triage(config, clock=clock)
    engines.append(triage.store.engine)
    return triage


def rows(url: str, engines: list) -> list[TicketLog]:
    engine = open_engine(url)
    engines.append(engine)
    with Session(engine) as session:
        return list(session.exec(select(TicketLog).order_by(TicketLog.id)))


def pg_config(postgres: PostgresServer, mailbox: Mailbox, sink: SmtpSink, tmp_path: Path, cache: Path):
    config = make_config([mailbox.config], sink, tmp_path, cache)
    return config.model_copy(update={"database": DatabaseConfig(url=postgres.new_database())})


def test_migrations_reach_the_head_once_even_when_two_instances_start_together(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_engine(url).dispose()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = open_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_a_whole_cycle_on_postgresql(postgres: PostgresServer, mailbox: Mailbox, smtp_sink: SmtpSink,
                                     tmp_path: Path, model_cache: Path, clock: Clock, engines: list) -> None:
    mailbox.append(*(customer_mail(n) for n in range(5)))
    config = pg_config(postgres, mailbox, smtp_sink, tmp_path, model_cache)
    [report] = cycle(config, built(config, clock, engines))
    assert [o.status for o in report.outcomes] == ["done"] * 5
    logged = rows(config.database.url, engines)
    assert [r.reference for r in logged] == [f"SUP-{n:06d}" for n in range(1, 6)]
    assert len(smtp_sink.messages) == 5
    [again] = cycle(config, built(config, clock, engines))
    assert again.outcomes == [] and len(smtp_sink.messages) == 5


def test_two_instances_on_one_source_never_handle_a_mail_twice(postgres: PostgresServer, mailbox: Mailbox,
                                                               smtp_sink: SmtpSink, tmp_path: Path,
                                                               model_cache: Path, clock: Clock, engines: list) -> None:
    mailbox.append(*(customer_mail(n) for n in range(12)))
    config = pg_config(postgres, mailbox, smtp_sink, tmp_path, model_cache)
    instances = []
    for owner in ("host-a:1", "host-b:2"):
        triage = built(config, clock, engines)
        triage.owner = owner
        [scheduled] = sources_of(config, triage)
        instances.append((scheduled.source, triage))
    barrier, reports = threading.Barrier(2), []

    def work(source, triage) -> None:
        barrier.wait()
        reports.append(run_source(source, triage))

    threads = [threading.Thread(target=work, args=pair) for pair in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    skipped = [r for r in reports if r.error.startswith("skipped")]
    assert len(skipped) == 1, [r.error for r in reports]
    sent = Counter(m["In-Reply-To"] for m in smtp_sink.messages)
    assert len(sent) == 12 and set(sent.values()) == {1}
    assert len(rows(config.database.url, engines)) == 12


def test_a_dead_instance_lease_is_taken_over_after_it_lapses(postgres: PostgresServer, clock: Clock,
                                                             engines: list) -> None:
    from bot.log.store import Store

    store = Store.open(postgres.new_database(), clock=clock)
    engines.append(store.engine)
    assert status.claim(store, "imap:support", "host-a:1") == ""
    assert status.claim(store, "imap:support", "host-b:2") == "host-a:1"
    clock.now += status.LEASE * 0.99
    assert status.claim(store, "imap:support", "host-b:2") == "host-a:1"  # not yet lapsed
    clock.now += status.LEASE * 0.02
    assert status.claim(store, "imap:support", "host-b:2") == ""
    assert status.claim(store, "imap:support", "host-a:1") == "host-b:2"


def test_instances_starting_together_both_seed_the_references_of_a_new_source(postgres: PostgresServer,
                                                                            engines: list) -> None:
    """Found by bench/crash.py --instances 2: the second daemon died at start on the source row's first insert."""
    from bot.log.store import Store

    stores = [Store.open(postgres.new_database())]
    stores.append(Store(open_engine(stores[0].engine.url.render_as_string(hide_password=False))))
    engines.extend(store.engine for store in stores)
    sources = [f"imap:box{n}" for n in range(12)]
    barrier, errors = threading.Barrier(2), []

    def start(store: Store) -> None:
        for source in sources:
            barrier.wait()
            try:
                status.seed_references(store, source, 41)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=start, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert not any(status.needs_seed(stores[0], source) for source in sources)
