"""End to end through a real uvicorn on loopback: in a thread of this process, and `deskbot run`/`serve`
as the daemon, stopped by SIGTERM within the daemon's 10 s."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.api.app import build_app
from bot.api.backend import build_backend
from bot.api.server import ApiServer, bind
from bot.daemon import build_triage
from bot.errors import ConfigError
from bot.ops.loopback import SmtpSink, free_port
from tests.api_world import TOKENS, api_config, bearer
from tests.conftest import Clock


def test_uvicorn_on_loopback_serves_predictions_and_tickets_and_stops_on_the_flag(
        tmp_path: Path, model_cache: Path, smtp_sink: SmtpSink, clock: Clock) -> None:
    config = api_config(tmp_path, model_cache, sink=smtp_sink)
    assert config.api is not None
    api = config.api.model_copy(update={"listen": "127.0.0.1:0"})
    triage = build_triage(config, clock=clock)
    stop = threading.Event()
    with ApiServer(build_app(build_backend(config, triage, []), api), api, stop=stop) as server:
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert "server" not in client.get("/healthz").headers  # says nothing about what runs here
            predicted = client.post("/v1/predict", json={"subject": "Refund my double charge"}, headers=bearer("webform"))
            assert predicted.json()["department"] == "billing"
            ticket = {"subject": "Parcel never arrived", "body": "Order 5521 has not arrived.",
                      "sender": "max@example.com", "external_id": "crm-77"}
            first = client.post("/v1/tickets", json=ticket, headers=bearer("crm"))
            second = client.post("/v1/tickets", json=ticket, headers=bearer("crm"))
            assert (first.status_code, second.status_code) == (201, 200) and first.json() == second.json()
            assert len(smtp_sink.messages) == 1
            stopped = time.monotonic()
            stop.set()
            server._thread.join(10)
            assert not server._thread.is_alive() and time.monotonic() - stopped < 5
            with pytest.raises(httpx.TransportError):
                client.get("/healthz")


def test_an_address_in_use_stops_the_start_naming_api_listen() -> None:
    taken = bind("127.0.0.1:0")
    try:
        with pytest.raises(ConfigError) as caught:
            bind(f"127.0.0.1:{taken.getsockname()[1]}")
        assert "api.listen: cannot listen on 127.0.0.1:" in str(caught.value)
    finally:
        taken.close()


CONFIG = """\
[database]
url = "sqlite:///log.sqlite3"
[paths]
cache = "{cache}"
[api]
listen = "127.0.0.1:{port}"
[[api.tokens]]
name = "webform"
token_env = "DESKBOT_API_TOKEN_WEBFORM"
scopes = ["predict", "tickets"]
"""


@pytest.mark.parametrize("command", ["run", "serve"])
def test_the_daemon_serves_the_api_and_sigterm_stops_it_within_10_s(tmp_path: Path, model_cache: Path,
                                                                     command: str) -> None:
    port = free_port()
    (tmp_path / "deskbot.toml").write_text(CONFIG.format(cache=model_cache, port=port), encoding="utf-8")
    env = {**os.environ, "DESKBOT_API_TOKEN_WEBFORM": TOKENS["webform"][0]}
    process = subprocess.Popen([sys.executable, "-m", "bot", command, "--config", str(tmp_path / "deskbot.toml")],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            answer = client.post("/v1/tickets", json={"subject": "Login fails", "sender": "a@example.com"},
                                 headers=bearer("webform"))
            assert answer.status_code == 201 and answer.json()["acknowledgement"]["state"] == "none"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0 and time.monotonic() - started < 10
    finally:
        process.kill()
        _, errors = process.communicate()
    assert b"HTTP API on http://127.0.0.1:" in errors and b"Traceback" not in errors



def test_a_malformed_request_line_gets_a_problem_and_head_healthz_answers(
        tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    config = api_config(tmp_path, model_cache)
    assert config.api is not None
    api = config.api.model_copy(update={"listen": "127.0.0.1:0"})
    with ApiServer(build_app(build_backend(config, build_triage(config, clock=clock), []), api), api,
                   stop=threading.Event()) as server:
        answers = [_raw(server.port, line) for line in (b"GET /healthz HTTP/1.1 extra\r\n\r\n",
                                                        b"\x16\x03\x01 not http at all\r\n\r\n",
                                                        b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")]
        head = _raw(server.port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    for answer in answers:
        status, headers, body = answer
        assert status == b"HTTP/1.1 400 Bad Request" and headers[b"content-type"] == b"application/problem+json"
        assert json.loads(body) == {"type": "about:blank", "title": "Bad Request", "status": 400,
                                    "detail": "the request line or headers are not valid HTTP/1.1"}
    assert head[0] == b"HTTP/1.1 200 OK" and head[2] == b"" and head[1][b"content-type"] == b"application/json"


def _raw(port: int, request: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """Bytes on a socket (no client library would send these), and the answer read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    return status, {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}, body
