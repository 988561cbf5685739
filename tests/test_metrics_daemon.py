"""The daemon as a black box: `deskbot run` and `deskbot serve` with [metrics] and [logging] format = "json"."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.ops.loglines import use_format
from bot.ops.loopback import SmtpSink, free_port
from tests.api_world import TOKENS
from tests.conftest import Mailbox
from tests.scenario import customer_mail, write_config

SENT = 'deskbot_acknowledgements_sent_total{source="imap:support"} 2.0'


def test_run_exports_its_work_on_metrics_and_logs_one_json_object_per_line(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path) -> None:
    port = free_port()
    mailbox.append(customer_mail(1), customer_mail(2))
    path = write_config(tmp_path, mailbox, smtp_sink, model_cache, mailbox_extra="poll_seconds = 5",
                        extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\nunhealthy_after = "15m"\n'
                              '[logging]\nformat = "json"\n')
    (tmp_path / "var").mkdir()
    env = {**os.environ, "TEST_IMAP_PASSWORD": mailbox.config.password}
    process = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(path)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        scraped = _scrape_until(port, 'deskbot_poll_duration_seconds_count{source="imap:support"}', process)
        assert SENT in scraped  # the first cycle, now finished, acknowledged both mails
        assert 'deskbot_decisions_total{department="' in scraped and 'source="imap:support"' in scraped
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"status": "ok"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        _, errors = process.communicate()
    lines = [json.loads(line) for line in errors.decode().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(line["time"].endswith("+00:00") for line in lines)
    decisions = [line for line in lines if line["logger"] == "bot.pipeline" and " -> " in line["message"]]
    assert len(decisions) == 2 and all(line["level"] == "INFO" for line in decisions)


def test_serve_alone_answers_metrics_and_is_healthy_without_polling(tmp_path: Path, model_cache: Path) -> None:
    port, api_port = free_port(), free_port()
    (tmp_path / "deskbot.toml").write_text(f"""\
[database]
url = "sqlite:///log.sqlite3"
[paths]
cache = "{model_cache}"
[metrics]
listen = "127.0.0.1:{port}"
[api]
listen = "127.0.0.1:{api_port}"
[[api.tokens]]
name = "webform"
token_env = "DESKBOT_API_TOKEN_WEBFORM"
scopes = ["predict"]
""", encoding="utf-8")
    env = {**os.environ, "DESKBOT_API_TOKEN_WEBFORM": TOKENS["webform"][0]}
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--config", str(tmp_path / "deskbot.toml")],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert 'deskbot_model_info{version="default"} 1.0' in _scrape_until(port, "deskbot_model_info", process)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        _, errors = process.communicate()
    assert b"metrics on http://127.0.0.1:" in errors and b"Traceback" not in errors


def _scrape_until(port: int, text: str, process: subprocess.Popen[bytes]) -> str:
    """GET /metrics until it shows `text` (the daemon starts, loads the model, polls), at most 60 s."""
    deadline, scraped = time.monotonic() + 60, ""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        except httpx.TransportError:
            scraped = ""
        if text in scraped:
            return scraped
        time.sleep(0.2)
    raise AssertionError(f"/metrics never showed {text!r}; last answer:\n{scraped[:2000]}")


def test_json_lines_keep_extra_fields_and_exceptions_on_one_line() -> None:
    stream, logger = io.StringIO(), logging.getLogger("deskbot.test.jsonlines")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        use_format("json", logger=logger)
        logger.warning("imap:%s %s: two\nlines", "support", "SUP-000001", extra={"ticket": "SUP-000001"})
        try:
            raise ValueError("broken")
        except ValueError:
            logger.exception("cycle failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "imap:support SUP-000001: two\nlines" and first["ticket"] == "SUP-000001"
    assert first["level"] == "WARNING" and first["logger"] == "deskbot.test.jsonlines"
    assert second["level"] == "ERROR" and "ValueError: broken" in second["exception"]
    assert "exception" not in first
