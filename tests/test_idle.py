"""IMAP IDLE against a real Dovecot: mail is acknowledged as it arrives, not at the next poll; a server without
IDLE is left to the poll; a kicked connection comes back; re-issue and stop happen when they should."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot.config.file import MailboxConfig, load_config
from bot.daemon import build_triage, serve, sources_of
from bot.errors import ConfigError
from bot.ops.loopback import SmtpSink, free_port
from bot.watch import Waker
from connectors.imap_idle import IdleWatcher
from tests.conftest import Mailbox, new_mailbox
from tests.scenario import customer_mail, make_config
from tests.servers import DovecotServer, PymapPool, dovecot_usable

needs_dovecot = pytest.mark.skipif(not dovecot_usable(), reason="IDLE needs Dovecot (pymap offers no IDLE)")

# Dovecot 2.3's own list after login, less IDLE: a server that does not offer it.
WITHOUT_IDLE = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN "
                "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN "
                "CONTEXT=SEARCH LIST-STATUS BINARY MOVE LITERAL+")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until `condition` held; TimeoutError after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the condition did not hold in time")
        time.sleep(0.01)
    return time.monotonic() - start


class Arrivals:
    """An `on_arrival` callback that counts."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def watched(mailbox: Mailbox) -> Iterator[tuple[IdleWatcher, Arrivals, threading.Event]]:
    """A watcher on an empty mailbox, idling, with its re-issue shortened to 0.3 s."""
    arrivals, stop = Arrivals(), threading.Event()
    watcher = IdleWatcher(mailbox.config, arrivals, stop=stop, renew_seconds=0.3, tick=0.2).start()
    assert watcher.idling.wait(10)
    yield watcher, arrivals, stop
    stop.set()
    watcher.join(5)


@pytest.fixture
def daemon(tmp_path: Path, smtp_sink: SmtpSink, model_cache: Path, caplog: pytest.LogCaptureFixture):
    """Start `serve` in a thread for a mailbox (poll_seconds given); yields a function that starts it."""
    caplog.set_level(logging.INFO)
    running: list[tuple[threading.Thread, threading.Event]] = []

    def start(mailbox: Mailbox, poll_seconds: int) -> threading.Event:
        config = make_config([mailbox.config.model_copy(update={"poll_seconds": poll_seconds})], smtp_sink,
                             tmp_path, model_cache)
        triage = build_triage(config)
        stop = threading.Event()
        thread = threading.Thread(target=serve, args=(sources_of(config, triage), triage), kwargs={"stop": stop})
        thread.start()
        running.append((thread, stop))
        wait_for(lambda: "deskbot running" in caplog.text, 60)
        return stop

    yield start
    for thread, stop in running:
        stop.set()
        thread.join(10)


@needs_dovecot
def test_mail_arriving_while_the_daemon_idles_is_acknowledged_in_seconds_not_at_the_poll(
        daemon, mailbox: Mailbox, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    stop = daemon(mailbox, 300)
    wait_for(lambda: "watching INBOX with IDLE" in caplog.text)
    time.sleep(0.3)  # the start-up cycles are over

    mailbox.append(customer_mail(1))
    seconds = wait_for(lambda: len(smtp_sink.messages) == 1, 20)

    assert seconds < 5, "acknowledged as it arrived, not after the 300 s poll"
    mailbox.append(customer_mail(2))
    wait_for(lambda: len(smtp_sink.messages) == 2, 20)
    assert "maximum number of running instances" not in caplog.text
    stopped = time.monotonic()
    stop.set()
    wait_for(lambda: not any(t.name.startswith("idle-") for t in threading.enumerate()), 5)
    assert time.monotonic() - stopped < 3


@needs_dovecot
def test_a_server_without_idle_is_left_to_the_poll(daemon, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    with DovecotServer(capability=WITHOUT_IDLE) as server:
        mailbox = new_mailbox(server)
        daemon(mailbox, 5)
        wait_for(lambda: "offers no IDLE" in caplog.text)
        mailbox.append(customer_mail(1))

        seconds = wait_for(lambda: len(smtp_sink.messages) == 1, 20)

    assert seconds < 8, "found by the 5 s poll"
    assert caplog.text.count("offers no IDLE") == 1 and "watching INBOX with IDLE" not in caplog.text


@needs_dovecot
def test_idle_false_in_the_config_means_no_watcher(daemon, mailbox: Mailbox, caplog: pytest.LogCaptureFixture) -> None:
    daemon(Mailbox(mailbox.config.model_copy(update={"idle": False}), mailbox.kind), 300)
    assert "idle = false: new mail is found by the poll every 300 s" in caplog.text
    assert not any(t.name.startswith("idle-") for t in threading.enumerate())


@needs_dovecot
def test_a_kicked_idle_connection_comes_back_and_keeps_watching(
        imap_server: DovecotServer | PymapPool, mailbox: Mailbox, watched) -> None:
    watcher, arrivals, _ = watched
    assert isinstance(imap_server, DovecotServer)

    imap_server.kick(mailbox.config.username)
    wait_for(lambda: watcher.connections == 2)
    before = arrivals.count
    mailbox.append(customer_mail(1))

    wait_for(lambda: arrivals.count > before, 5)


@needs_dovecot
def test_an_unreachable_server_is_tried_again_with_a_growing_pause_and_said_once(
        mailbox: Mailbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="connectors.imap_idle")
    stop = threading.Event()
    closed = mailbox.config.model_copy(update={"port": free_port()})
    watcher = IdleWatcher(closed, Arrivals(), stop=stop, first_pause=0.05).start()
    wait_for(lambda: len(lost(caplog)) >= 4)
    stop.set()
    assert watcher.join(2)

    records = lost(caplog)
    assert [r.levelname for r in records[:4]] == ["WARNING", "DEBUG", "DEBUG", "DEBUG"]
    assert [r.args[2] for r in records[:4]] == [0.05, 0.1, 0.2, 0.4]  # type: ignore[index]


def lost(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "IDLE connection lost" in r.msg]


@needs_dovecot
def test_idle_is_reissued_and_still_sees_mail_after(mailbox: Mailbox, watched) -> None:
    watcher, arrivals, _ = watched
    wait_for(lambda: watcher.renewals >= 3)
    before = arrivals.count

    mailbox.append(customer_mail(1))

    wait_for(lambda: arrivals.count > before, 5)
    assert watcher.connections == 1, "re-issued on the same connection"


@needs_dovecot
def test_stop_ends_the_watcher_within_a_second(watched) -> None:
    watcher, _, stop = watched
    stopped = time.monotonic()
    stop.set()
    assert watcher.join(2)
    assert time.monotonic() - stopped < 1.5


class Cycle:
    """A slow cycle that counts its runs and how many ran at once."""

    def __init__(self) -> None:
        self.inside = self.runs = self.most = 0

    def __call__(self) -> None:
        self.inside += 1
        self.most = max(self.most, self.inside)
        time.sleep(0.3)
        self.runs += 1
        self.inside -= 1


@pytest.fixture
def guarded() -> Iterator[tuple[BackgroundScheduler, Waker, Cycle]]:
    """A real APScheduler running one guarded job, as serve() adds it (an hour apart, so only wakes run it)."""
    scheduler, cycle = BackgroundScheduler(), Cycle()
    waker = Waker(scheduler, "src", threading.Event())
    scheduler.add_job(waker.guard(cycle), "interval", seconds=3600, id="src", max_instances=2)
    scheduler.start()
    yield scheduler, waker, cycle
    scheduler.shutdown()


def test_wakes_during_a_cycle_run_it_once_more_after_never_beside_it(guarded) -> None:
    _, waker, cycle = guarded
    waker.wake()
    wait_for(lambda: cycle.inside == 1, 5)
    for _ in range(3):
        waker.wake()
    wait_for(lambda: cycle.runs == 2, 5)
    time.sleep(0.4)
    assert cycle.runs == 2 and cycle.most == 1, "three wakes during a cycle: one more cycle, never two at once"


def test_a_run_the_scheduler_starts_beside_a_running_cycle_hands_over_to_it(guarded) -> None:
    scheduler, _, cycle = guarded
    scheduler.modify_job("src", next_run_time=datetime.now(timezone.utc))
    wait_for(lambda: cycle.inside == 1, 5)
    scheduler.modify_job("src", next_run_time=datetime.now(timezone.utc))  # as a wake racing the cycle's end
    wait_for(lambda: cycle.runs == 2, 5)
    time.sleep(0.4)
    assert cycle.runs == 2 and cycle.most == 1


@pytest.mark.parametrize(("line", "idle"), [("", True), ("idle = false", False), ("idle = true", True)])
def test_idle_is_on_unless_a_mailbox_says_idle_false(tmp_path: Path, line: str, idle: bool) -> None:
    path = tmp_path / "deskbot.toml"
    path.write_text(MAILBOX_TOML + line + "\n", encoding="utf-8")
    [mailbox] = load_config(path, environ={}).mailbox
    assert mailbox.idle is idle


def test_an_idle_that_is_not_true_or_false_names_the_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "deskbot.toml"
    path.write_text(MAILBOX_TOML + 'idle = "no"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert (caught.value.path, caught.value.line, caught.value.key) == (str(path), 7, "mailbox[0].idle")


MAILBOX_TOML = """\
[[mailbox]]
name = "support"
host = "127.0.0.1"
port = 1143
security = "none"
username = "support@deskbot.test"
"""


@needs_dovecot
def test_check_says_how_new_mail_will_be_noticed(mailbox: Mailbox) -> None:
    from bot.rules import load_rules
    from connectors.imap import ImapSource

    rules = load_rules()
    assert "IDLE: new mail is handled as it arrives (and polled every" in ImapSource(mailbox.config, rules=rules).check()
    off = mailbox.config.model_copy(update={"idle": False, "poll_seconds": 120})
    assert ImapSource(off, rules=rules).check().endswith("IDLE off in the config (polled every 120 s)")
    with DovecotServer(capability=WITHOUT_IDLE) as server:
        plain = new_mailbox(server)
        assert "the server offers no IDLE (polled every" in ImapSource(plain.config, rules=rules).check()


@needs_dovecot
@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_idle_over_tls_sees_each_arrival_and_its_renewals(security: str) -> None:
    """Deployments watch over TLS: the watcher waits on the socket under the TLS layer, and a record holding
    several responses must still be read whole (no arrival left sitting in the TLS buffer)."""
    with DovecotServer(tls=True) as server:
        user, password = server.new_user()
        port = server.imaps_port if security == "ssl" else server.port
        config = MailboxConfig(name="tls", host="127.0.0.1", port=port, security=security,  # type: ignore[arg-type]
                               username=user, password=password, ca_file=str(server.cert))
        mailbox = Mailbox(config.model_copy(update={"port": server.port, "security": "none"}), "dovecot")  # delivers
        arrivals, stop = Arrivals(), threading.Event()
        watcher = IdleWatcher(config, arrivals, stop=stop, renew_seconds=0.3, tick=0.2).start()
        try:
            assert watcher.idling.wait(10)
            for n in range(1, 4):
                before = arrivals.count
                mailbox.append(customer_mail(n))
                wait_for(lambda: arrivals.count > before, 5)  # noqa: B023 - waited for at once
            wait_for(lambda: watcher.renewals >= 2)
            assert watcher.connections == 1, "one TLS connection, renewed in place"
        finally:
            stop.set()
            assert watcher.join(5)
