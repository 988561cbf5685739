"""uvicorn in a thread of the daemon: bound before anything starts, stopped by the daemon's stop flag.

The socket is bound here, so an address in use or not ours stops `deskbot run`/`serve` at start with
a ConfigError naming `[api] listen`. uvicorn installs no signal handlers outside the main thread, so
SIGTERM and SIGINT stay with bot/ops/shutdown.py: its stop flag makes uvicorn close the listener, let
requests in hand finish for `GRACE_SECONDS`, and return, well within the daemon's 10-s exit.

A request uvicorn cannot parse gets a problem document (`ProblemProtocol`). uvicorn bounds header size
(16 KB) and idle kept-alive connections (5 s) but not the time a client takes to send its headers or
body: facing untrusted networks, put a reverse proxy with read timeouts in front (README, HTTP API).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from types import TracebackType

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.config.file import ApiConfig, listen_address
from bot.errors import ConfigError

log = logging.getLogger(__name__)
BACKLOG = 2048  # uvicorn's default
GRACE_SECONDS = 3  # requests in hand may finish; an action cut here is in flight in the log, checked at restart


class ProblemProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, but a request it cannot parse (a malformed request line or header, headers
    over 16 KB) gets an RFC 9457 problem like every other refusal, not uvicorn's plain text."""

    def send_400_response(self, msg: str) -> None:
        """The problem document, then the connection closes (as uvicorn does: the stream cannot be trusted)."""
        body = json.dumps({"type": "about:blank", "title": "Bad Request", "status": 400,
                           "detail": "the request line or headers are not valid HTTP/1.1"}).encode()
        headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def bind(listen: str) -> socket.socket:
    """A listening socket on `listen` (port 0: any free port), or a ConfigError that says why not.

    Made with proto=IPPROTO_TCP on purpose: asyncio switches Nagle off (TCP_NODELAY) only on accepted
    sockets whose proto says TCP, and `socket.create_server` leaves it 0. Without it every response on a
    kept-alive connection (head, then body) waited ~40 ms for the client's delayed ACK.
    """
    host, port = listen_address(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}", key="api.listen") from None
    return sock


class ApiServer:
    """The API served from a thread while the `with` block runs, or until `stop` is set."""

    def __init__(self, app: ASGIApp, api: ApiConfig, *, stop: threading.Event) -> None:
        self.socket = bind(api.listen)
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(app, http=ProblemProtocol, ssl_certfile=api.tls_cert or None,
                                ssl_keyfile=api.tls_key or None, log_config=None, access_log=False, lifespan="off", server_header=False,
                                timeout_graceful_shutdown=GRACE_SECONDS)
        self.server = uvicorn.Server(config)
        self.stop = stop
        self._thread = threading.Thread(target=self._serve, name="deskbot-api", daemon=True)
        self.listen = api.listen

    def _serve(self) -> None:
        self.server.run(sockets=[self.socket])

    def _watch(self) -> None:
        while not self.stop.wait(0.1):
            if not self._thread.is_alive():
                return
        self.server.should_exit = True

    def __enter__(self) -> ApiServer:
        self._thread.start()
        threading.Thread(target=self._watch, name="deskbot-api-stop", daemon=True).start()
        deadline = time.monotonic() + 10
        while not self.server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            self.__exit__(None, None, None)
            raise ConfigError("the HTTP API did not start (see the log above)", key="api.listen")
        scheme = "https" if self.server.config.ssl_certfile else "http"
        log.info("HTTP API on %s://%s:%d (docs at /docs)", scheme, self.listen.rpartition(":")[0], self.port)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self._thread.join(GRACE_SECONDS + 2)
        self.socket.close()
