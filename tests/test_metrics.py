"""Metrics and health (issue 20): counters from a real cycle on Dovecot + aiosmtpd, the listener over real HTTP,
/healthz turning 503 for a stale source and back, and the config's errors naming file, line and field."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from bot.api.app import build_app
from bot.api.backend import build_backend
from bot.api.server import ApiServer
from bot.config.file import ApiConfig, ApiTokenConfig, Config, MailboxConfig, MetricsConfig, load_config
from bot.daemon import build_triage
from bot.errors import ConfigError
from bot.judge import NOT_ASKED
from bot.log.records import as_utc
from bot.ops import status
from bot.ops.exporter import listening
from bot.ops.health import health_of, unhealthy_after
from bot.ops.loopback import SmtpSink, free_port
from bot.ops.metrics import suppression_reason
from bot.triage import Triage
from tests.api_world import api_config
from tests.conftest import Clock, Mailbox
from tests.scenario import customer_mail, cycle, make_config, rows

SOURCE = "imap:support"
GARBAGE = b"\x89PNG\r\n\x1a\n not a mail \xff\xfe"


def _auto_reply() -> bytes:
    message = EmailMessage()
    message["From"] = "Out of office <ooo@example.org>"
    message["To"] = "support@deskbot.test"
    message["Subject"] = "Automatic reply: away until Monday"
    message["Auto-Submitted"] = "auto-replied"
    message["Message-ID"] = "<ooo-1@example.org>"
    message.set_content("I am away until Monday.\n")
    return message.as_bytes()


def test_a_cycle_on_real_servers_counts_decisions_actions_acks_and_errors_with_their_labels(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(*(customer_mail(n) for n in range(3)), _auto_reply(), GARBAGE)
    clock.now = datetime.now(timezone.utc) + timedelta(seconds=90)  # acknowledged 90 s after they arrived
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    [report] = cycle(config, triage)
    assert report.error == ""
    value = _reader(triage)

    decided = [r for r in rows(config) if r.department]
    assert len(decided) == 4 and len(smtp_sink.messages) == 3
    for row in decided:  # each decision under its own route's labels
        labels = {"source": SOURCE, "department": row.department, "priority": row.priority or "-",
                  "review": "true" if row.needs_review else "false"}
        same = sum(1 for r in decided if (r.department, r.priority or "-", r.needs_review) ==
                   (row.department, row.priority or "-", row.needs_review))
        assert value("deskbot_decisions_total", labels) == same
    assert value("deskbot_acknowledgements_sent_total", {"source": SOURCE}) == 3
    assert value("deskbot_actions_total", {"kind": "acknowledge", "outcome": "done"}) == 3
    assert value("deskbot_actions_total", {"kind": "write_back", "outcome": "done"}) == 4
    assert value("deskbot_acknowledgements_suppressed_total", {"source": SOURCE, "reason": "automated"}) == 1
    assert value("deskbot_errors_total", {"source": SOURCE, "kind": "unreadable"}) == 1
    for kind in ("auth", "unavailable", "refused", "config", "model", "internal"):  # the cycle itself went well
        assert value("deskbot_errors_total", {"source": SOURCE, "kind": kind}) is None
    assert value("deskbot_poll_duration_seconds_count", {"source": SOURCE}) == 1
    asked = [r for r in decided if r.model_version != NOT_ASKED]
    assert asked and value("deskbot_classification_duration_seconds_count", {}) == len(asked)
    # Arrival = the ticket's received_at (the server's delivery time); ack = the store's clock when it went out.
    waited = [(clock() - as_utc(r.received_at)).total_seconds() for r in decided if r.ack_template]
    assert len(waited) == 3 and all(80 < w < 200 for w in waited)
    assert value("deskbot_arrival_to_ack_seconds_count", {"source": SOURCE}) == 3
    assert value("deskbot_arrival_to_ack_seconds_sum", {"source": SOURCE}) == pytest.approx(sum(waited))
    assert value("deskbot_arrival_to_ack_seconds_bucket", {"source": SOURCE, "le": "60.0"}) == 0
    assert value("deskbot_backlog", {"source": SOURCE}) == 0
    assert value("deskbot_outbox", {"source": SOURCE}) == 0
    assert value("deskbot_model_info", {"version": "default"}) == 1

    cycle(config, triage)  # nothing new: no decision counted twice, one more poll
    assert value("deskbot_acknowledgements_sent_total", {"source": SOURCE}) == 3
    assert value("deskbot_poll_duration_seconds_count", {"source": SOURCE}) == 2


def test_an_acknowledgement_the_mail_server_refuses_is_counted_in_the_outbox(
        mailbox: Mailbox, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(customer_mail(7))
    with SmtpSink() as sink:
        config = make_config([mailbox.config], sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)  # the SMTP server is gone: the acknowledgement waits
    cycle(config, triage)
    value = _reader(triage)
    assert value("deskbot_outbox", {"source": SOURCE}) == 1
    assert value("deskbot_actions_total", {"kind": "acknowledge", "outcome": "outbox"}) == 1
    assert value("deskbot_acknowledgements_sent_total", {"source": SOURCE}) is None


def test_a_failed_cycle_counts_as_what_failed_it(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path,
                                                 model_cache: Path) -> None:
    refused = mailbox.config.model_copy(update={"name": "refused", "password": "wrong"})
    down = mailbox.config.model_copy(update={"name": "down", "port": free_port()})
    config = make_config([mailbox.config, refused, down], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config)
    reports = {r.name: r for r in cycle(config, triage)}
    value = _reader(triage)

    assert (reports["imap:refused"].error_kind, reports["imap:down"].error_kind) == ("auth", "unavailable")
    assert value("deskbot_errors_total", {"source": "imap:refused", "kind": "auth"}) == 1
    assert value("deskbot_errors_total", {"source": "imap:down", "kind": "unavailable"}) == 1
    assert reports[SOURCE].error == "" and value("deskbot_errors_total", {"source": SOURCE, "kind": "auth"}) is None


def _reader(triage: Triage):  # type: ignore[no-untyped-def]
    assert triage.metrics is not None
    return lambda name, labels: triage.metrics.registry.get_sample_value(name, labels)  # type: ignore[union-attr]


@pytest.mark.parametrize(("reason", "kind", "label"), [
    ("follow-up to SUP-000012, whose acknowledgement covers it", "ticket", "follow-up"),
    ("rule no-ack-for-vip", "ticket", "rule"),
    ("received 40 days ago, older than max_age_days (30): too late to acknowledge", "ticket", "too-old"),
    ("the message only says thanks", "ticket", "thanks-only"),
    ("already 3 acknowledgements to this address in the last hour", "ticket", "rate-limit"),
    ("the acknowledgement of SUP-000003 bounced for good", "ticket", "bounced"),
    ("imap:support sends no acknowledgements (no [smtp] server, or acknowledge = \"none\")", "ticket", "no-channel"),
    ("an agent's outbound email (source 10); no public reply", "ticket", "not-from-customer"),
    ("acknowledgements are disabled in the rules", "ticket", "disabled"),
    ("auto-reply (X-Autoreply header)", "automated", "automated"),
    ("X-Spam-Flag: YES", "spam", "spam"),
    ("something nobody foresaw", "ticket", "other"),
])
def test_free_text_reasons_map_to_a_short_fixed_set_of_labels(reason: str, kind: str, label: str) -> None:
    assert suppression_reason(reason, kind) == label


@pytest.fixture
def quiet(tmp_path: Path, model_cache: Path, clock: Clock) -> tuple[Config, Triage]:
    """A config with one mailbox nobody polls in this test, [metrics] on a free port, and its triage."""
    box = MailboxConfig(name="support", host="127.0.0.1", port=1143, security="none", poll_seconds=60)
    config = make_config([box], None, tmp_path, model_cache).model_copy(
        update={"metrics": MetricsConfig(listen="127.0.0.1:0", unhealthy_after="15m")})
    return config, build_triage(config, clock=clock)


@pytest.fixture
def listener(quiet: tuple[Config, Triage], clock: Clock) -> Iterator[httpx.Client]:
    config, triage = quiet
    with listening(config, triage, started=clock(), polls=True) as exporter:
        assert exporter is not None
        with httpx.Client(base_url=f"http://127.0.0.1:{exporter.port}", timeout=10) as client:
            yield client


def test_the_listener_serves_prometheus_text_and_healthz_goes_503_when_a_source_is_stale(
        listener: httpx.Client, quiet: tuple[Config, Triage], clock: Clock) -> None:
    _, triage = quiet
    scraped = listener.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert 'deskbot_backlog{source="imap:support"} 0.0' in scraped.text
    assert 'deskbot_model_info{version="default"} 1.0' in scraped.text
    assert "# TYPE deskbot_decisions_total counter" in scraped.text
    assert listener.get("/healthz").json() == {"status": "ok"}  # started a moment ago: not stale yet

    clock.now += timedelta(minutes=16)  # never polled successfully since the start, 16 min > 15 min
    stale = listener.get("/healthz")
    assert stale.status_code == 503 and stale.headers["content-type"] == "application/problem+json"
    assert stale.headers["retry-after"] == "30"
    assert [s["source"] for s in stale.json()["stale"]] == [SOURCE] and "15 min" in stale.json()["detail"]
    head = listener.head("/healthz")
    assert head.status_code == 503 and head.content == b""

    status.poll_finished(triage.store, SOURCE, error="", backlog=4, next_run=None)
    assert listener.get("/healthz").status_code == 200
    assert 'deskbot_backlog{source="imap:support"} 4.0' in listener.get("/metrics").text

    clock.now += timedelta(minutes=10)
    status.poll_finished(triage.store, SOURCE, error="IMAP server down", backlog=None, next_run=None)
    assert listener.get("/healthz").status_code == 200  # the last good poll is 10 min old
    clock.now += timedelta(minutes=6)
    answer = listener.get("/healthz").json()
    assert answer["status"] == 503 and answer["stale"][0]["seconds_since"] == 16 * 60
    assert answer["stale"][0]["last_success"].startswith("2026-11-18T09:16:00")
    assert listener.get("/nothing-here").status_code == 404
    assert listener.post("/metrics").status_code == 405


def test_the_api_healthz_uses_its_own_unhealthy_after_and_recovers_after_a_good_poll(
        tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    box = MailboxConfig(name="support", host="127.0.0.1", port=1143, security="none")
    config = api_config(tmp_path, model_cache, mailbox=[box])
    assert config.api is not None
    api = config.api.model_copy(update={"listen": "127.0.0.1:0", "unhealthy_after": 600})
    config = config.model_copy(update={"api": api, "metrics": MetricsConfig(unhealthy_after="1h")})
    triage = build_triage(config, clock=clock)
    health = health_of(config, triage.store, table="api", started=clock(), polls=True)
    stop = threading.Event()
    with ApiServer(build_app(build_backend(config, triage, []), api, health=health), api, stop=stop) as server:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
            clock.now += timedelta(seconds=601)  # [api]'s 600 s, not [metrics]' hour
            stale = client.get("/healthz")
            assert stale.status_code == 503 and stale.json()["stale"][0]["source"] == SOURCE
            assert client.head("/healthz").status_code == 503
            status.poll_finished(triage.store, SOURCE, error="", backlog=0, next_run=None)
            assert client.get("/healthz").json() == {"status": "ok"}
        stop.set()


def test_serve_alone_does_not_call_sources_nobody_polls_stale(quiet: tuple[Config, Triage], clock: Clock) -> None:
    config, triage = quiet
    front = health_of(config, triage.store, table="metrics", started=clock(), polls=False)
    clock.now += timedelta(hours=2)
    assert front.answer() == (200, {"status": "ok"})  # webhooks only: no instance polls the mailbox
    status.poll_finished(triage.store, SOURCE, error="login refused", backlog=None, next_run=None)
    assert front.answer()[0] == 503  # some instance polls it, and it never succeeded


@pytest.mark.parametrize(("metrics", "api", "polls", "expected"), [
    ("15m", "1h", (60,), timedelta(minutes=15)),
    (None, "1h", (60,), timedelta(hours=1)),
    (None, None, (60, 300), timedelta(minutes=15)),  # 3x the slowest poll
    (None, None, (30,), timedelta(minutes=5)),  # but at least 5 min
    (90, None, (60,), timedelta(seconds=90)),  # a bare number is seconds
])
def test_unhealthy_after_is_the_tables_own_then_the_others_then_three_polls(
        metrics: str | int | None, api: str | None, polls: tuple[int, ...], expected: timedelta) -> None:
    boxes = [MailboxConfig(name=f"b{i}", host="127.0.0.1", port=143, security="none", poll_seconds=s)
             for i, s in enumerate(polls)]
    config = Config(mailbox=boxes, metrics=MetricsConfig(unhealthy_after=metrics),
                    api=ApiConfig(tokens=[ApiTokenConfig(name="a", token_env="T", scopes=["predict"])],
                                  unhealthy_after=api))
    assert unhealthy_after(config, "metrics") == expected


@pytest.mark.parametrize(("table", "line", "field", "says"), [
    ('[metrics]\nlisten = "nonsense"\n', 9, "metrics.listen", "listen must be host:port"),
    ('[metrics]\nunhealthy_after = "soon"\n', 9, "metrics.unhealthy_after", "'soon' is not a duration"),
    ('[metrics]\nunhealthy_after = true\n', 9, "metrics.unhealthy_after", "unhealthy_after"),
    ('[logging]\nformat = "xml"\n', 9, "logging.format", "'text' or 'json'"),
    ('[api]\nunhealthy_after = "soon"\n[[api.tokens]]\nname = "a"\ntoken_env = "T"\nscopes = ["predict"]\n', 9,
     "api.unhealthy_after", "not a duration"),
])
def test_bad_values_stop_the_start_naming_file_line_and_field(tmp_path: Path, table: str, line: int, field: str,
                                                             says: str) -> None:
    path = tmp_path / "deskbot.toml"
    path.write_text('[[mailbox]]\nname = "support"\nhost = "127.0.0.1"\nport = 143\nsecurity = "none"\n'
                    'poll_seconds = 60\n\n' + table, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, secrets=False)
    assert f"{path}:{line}: {field}:" in str(caught.value) and says in str(caught.value)


def test_an_address_in_use_stops_the_start_naming_metrics_listen(quiet: tuple[Config, Triage], clock: Clock) -> None:
    config, triage = quiet
    with listening(config, triage, started=clock(), polls=True) as first:
        assert first is not None
        taken = config.model_copy(update={"metrics": MetricsConfig(listen=f"127.0.0.1:{first.port}")})
        with pytest.raises(ConfigError, match="metrics.listen: cannot listen on 127.0.0.1:"):
            with listening(taken, triage, started=clock(), polls=True):
                pass


def test_a_decision_log_that_does_not_answer_is_unhealthy_and_metrics_still_scrape(
        listener: httpx.Client, quiet: tuple[Config, Triage]) -> None:
    _, triage = quiet
    with triage.store.engine.begin() as connection:  # what a broken or replaced database file looks like
        connection.exec_driver_sql("DROP TABLE source_state")
    answer = listener.get("/healthz")
    assert answer.status_code == 503 and answer.json()["detail"] == "the decision log does not answer"
    scraped = listener.get("/metrics")
    assert scraped.status_code == 200 and "# TYPE deskbot_errors_total counter" in scraped.text
    assert "deskbot_backlog{" not in scraped.text  # missing, not a made-up 0
