"""The metrics listener of `[metrics] listen`: GET /metrics (Prometheus text format) and GET/HEAD /healthz.

A small WSGI app on the standard library's threading WSGI server, in a thread of the daemon, as
prometheus_client's own `start_http_server` does; ours adds /healthz and answers 404 elsewhere.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from bot.config.file import Config, listen_address
from bot.errors import ConfigError, DeskbotError
from bot.ops.health import RETRY_SECONDS, Health, health_of
from bot.ops.metrics import Metrics
from bot.triage import Triage

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def build_wsgi(metrics: Metrics, health: Health) -> WsgiApp:
    """The listener's routes: /metrics from the registry, /healthz from the decision log."""
    scrape = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _answer(start_response, 405, {"detail": "only GET and HEAD"}, method, [("Allow", "GET, HEAD")])
        if path == "/metrics":
            return scrape(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            status, body = _health(health)
            extra = [("Retry-After", str(RETRY_SECONDS))] if status == 503 else []
            return _answer(start_response, status, body, method, extra)
        return _answer(start_response, 404, {"detail": "this listener serves /metrics and /healthz"}, method)

    return app


def _health(health: Health) -> tuple[int, dict[str, Any]]:
    try:
        return health.answer()
    except DeskbotError as exc:  # the decision log does not answer: not healthy either
        log.warning("healthz: %s", exc)
        return 503, {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                     "detail": "the decision log does not answer", "stale": []}


def _answer(start_response: StartResponse, status: int, body: dict[str, Any], method: str,
            headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    phrases = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
    data = json.dumps(body).encode()
    kind = "application/json" if status == 200 else "application/problem+json"
    start_response(f"{status} {phrases[status]}", [("Content-Type", kind), ("Content-Length", str(len(data))),
                                                   *(headers or [])])
    return [] if method == "HEAD" else [data]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds the daemon's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the name http.server uses
        log.debug("metrics listener: " + format, *args)


class Exporter:
    """The listener, running in a thread until `close()`; `port` is the one bound (listen port 0: a free one)."""

    def __init__(self, listen: str, app: WsgiApp) -> None:
        host, port = listen_address(listen)
        server_class = type("Server", (_Server,), {"address_family": socket.AF_INET6 if ":" in host
                                                   else socket.AF_INET})
        self.server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
        self.host, self.port = host, int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)
        self.thread.start()
        log.info("metrics on http://%s/metrics, health on /healthz", _where(host, self.port))

    def close(self) -> None:
        """Stop answering and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@contextmanager
def listening(config: Config, triage: Triage, *, started: datetime, polls: bool) -> Iterator[Exporter | None]:
    """With a [metrics] table: the listener, serving `triage.metrics` and the health of `config`'s sources."""
    if config.metrics is None or triage.metrics is None:
        yield None
        return
    health = health_of(config, triage.store, table="metrics", started=started, polls=polls)
    try:
        exporter = Exporter(config.metrics.listen, build_wsgi(triage.metrics, health))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.metrics.listen}: {exc.strerror or exc}; choose another "
                          "address or port", key="metrics.listen") from None
    try:
        yield exporter
    finally:
        exporter.close()
