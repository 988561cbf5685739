"""Stopping the real `deskbot run` process mid-batch (Ctrl-C, SIGTERM), then starting it again: every mail
acknowledged and filed exactly once, and the process gone within 10 seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.ops.loopback import SmtpSink
from tests.conftest import Mailbox
from tests.scenario import copies, customer_mail, write_config

MAILS = 24


def start(config: Path, password: str, *options: str) -> subprocess.Popen[bytes]:
    """`deskbot run --config CONFIG OPTIONS` as its own process, as an admin or systemd starts it."""
    env = {**os.environ, "TEST_IMAP_PASSWORD": password}
    return subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config), *options], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not hold in time")
        time.sleep(0.02)


def stop(process: subprocess.Popen[bytes], number: int) -> tuple[int, float, str]:
    """Send `number`; the exit code, the seconds it took to exit, and what it said on stderr."""
    sent = time.monotonic()
    process.send_signal(number)
    _, err = process.communicate(timeout=20)
    return process.returncode, time.monotonic() - sent, err.decode(errors="replace")


def assert_exactly_once(mailbox: Mailbox, sink: SmtpSink) -> None:
    answered = [str(m["In-Reply-To"]) for m in sink.messages]
    assert len(answered) == MAILS and len(set(answered)) == MAILS, "every mail acknowledged exactly once"
    where = copies(mailbox)
    assert len(where) == MAILS and all(len(folders) == 1 for folders in where.values()), "filed exactly once"
    assert not any("INBOX" in folders for folders in where.values())


@pytest.fixture
def batch(tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, model_cache: Path) -> Path:
    mailbox.append(*(customer_mail(n) for n in range(MAILS)))
    smtp_sink.handler.delay = 0.05  # a slow SMTP server keeps the batch going long enough to interrupt it
    return write_config(tmp_path, mailbox, smtp_sink, model_cache)


def test_ctrl_c_then_sigterm_mid_batch_then_a_restart_handle_every_mail_exactly_once(
        batch: Path, mailbox: Mailbox, smtp_sink: SmtpSink) -> None:
    once = start(batch, mailbox.config.password, "--once")
    wait_for(lambda: len(smtp_sink.messages) >= 4)

    code, seconds, err = stop(once, signal.SIGINT)

    assert code == 130 and seconds < 10, err
    assert "Traceback" not in err and "cannot schedule new futures" not in err
    interrupted = len(smtp_sink.messages)
    assert interrupted < MAILS

    daemon = start(batch, mailbox.config.password)
    wait_for(lambda: len(smtp_sink.messages) >= interrupted + 4)
    code, seconds, err = stop(daemon, signal.SIGTERM)

    assert code == 0 and seconds < 10, err  # systemd's clean stop
    assert "Traceback" not in err and len(smtp_sink.messages) < MAILS

    again = start(batch, mailbox.config.password, "--once")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    assert_exactly_once(mailbox, smtp_sink)


def test_sigterm_during_start_up_exits_cleanly_with_a_log_line(tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink,
                                                                model_cache: Path) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink, model_cache)
    process = start(config, mailbox.config.password)
    assert process.stderr is not None
    seen = b""
    while b"decision log" not in seen:  # deskbot is past reading its config: loading the model comes next
        seen += process.stderr.readline()
    time.sleep(0.2)
    code, seconds, err = stop(process, signal.SIGTERM)
    assert code == 0 and seconds < 10
    assert "SIGTERM during start-up: stopped before any work was done" in err and "Traceback" not in err
