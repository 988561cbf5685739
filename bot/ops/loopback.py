"""Throwaway mail servers on loopback: pymap for IMAP, aiosmtpd as an SMTP sink.

The demo runs the production code path against these; the tests use them too (and
Dovecot where it is installed).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

_PYMAP = "import sys; from pymap.main import main; sys.argv[0] = 'pymap'; sys.exit(main())"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Block until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)


class PymapServer:
    """A pymap IMAP server (in-memory) in a child process, with one user."""

    def __init__(self, *, username: str = "support", password: str = "secret") -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.username, self.password = username, password
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PymapServer:
        command = [sys.executable, "-c", _PYMAP, "--host", self.host, "--port", str(self.port), "dict",
                   "--demo-user", self.username, "--demo-password", self.password]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.host, self.port)
        except TimeoutError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr:
                self._process.stderr.close()
            self._process = None


class _Collector:
    """aiosmtpd handler that keeps every message it receives; can be told to refuse."""

    def __init__(self) -> None:
        self.received: list[bytes] = []  # as sent: parsed when asked for (SmtpSink.messages), not while answering
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_with: str | None = None  # answer to DATA, e.g. "451 4.3.0 try later"
        self.refuse_rcpt: dict[str, str] = {}  # recipient address -> answer to RCPT TO, e.g. "450 4.2.0 greylisted"
        self.refuse_sender: str | None = None  # answer to MAIL FROM
        self.sessions: set[int] = set()  # connections that sent mail
        self.delay = 0.0  # seconds to wait before answering DATA (a slow server)
        self.lock = threading.Lock()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        refusal = self.refuse_rcpt.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse_with:
            return self.refuse_with
        with self.lock:
            self.sessions.add(id(session))
            self.received.append(envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class SmtpSink:
    """An aiosmtpd SMTP server in a thread that stores what it is sent."""

    def __init__(self, *, smtputf8: bool = True) -> None:
        self.handler = _Collector()
        self.host, self.port = "127.0.0.1", free_port()
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, enable_SMTPUTF8=smtputf8)
        self._parsed: list[EmailMessage] = []

    @property
    def messages(self) -> list[EmailMessage]:
        """Messages received so far. Each is parsed at the first look, not while the sender waits for the
        server's answer: parsing took two thirds of the sink's time per message, which the benchmarks then
        counted as deskbot's waiting."""
        with self.handler.lock:
            new = self.handler.received[len(self._parsed):]
            self._parsed += [message_from_bytes(data, policy=policy.default) for data in new]  # type: ignore[misc]
            return list(self._parsed)

    def clear(self) -> None:
        """Forget what was received so far."""
        with self.handler.lock:
            self.handler.received.clear()
            self._parsed.clear()

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._controller.stop()
