"""bench/crash.py --helpdesk: the daemon SIGKILLed while it works through a Zendesk fake served over loopback HTTP.

The fake (tests/fakes/zendesk.py) runs in this process behind a small HTTP server on 127.0.0.1, on real time,
with its rate limits raised so the run measures exactly-once rather than Zendesk's pace (bench/helpdesk.py
measures that). Each ticket should end with one private note, one public reply, its group and tags.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlmodel import Session, select

from bot.log.database import open_engine
from bot.log.schema import TicketLog
from tests.fakes.decisions import GROUPS
from tests.fakes.limits import FakeClock
from tests.fakes.zendesk import FakeZendesk

_SUBJECTS = ["Charged twice for invoice {n}", "Cannot log in to account {n}", "App crashes with error {n}",
             "Order {n} arrived damaged", "Quote for {n} licences"]


class WallClock(FakeClock):
    """The fake on real time (the daemon in its own process reads the real clock too)."""

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc)


def serve(fake: FakeZendesk) -> tuple[ThreadingHTTPServer, int]:
    """The fake behind a real HTTP server on loopback; one request at a time reaches it."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = httpx.Request(self.command, f"http://{self.headers['Host']}{self.path}",
                                    headers=dict(self.headers.items()), content=body)
            with lock:
                response = fake(request)
            content = response.read()
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_PUT = do_POST = _any  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def run_helpdesk(args: argparse.Namespace) -> None:
    """Create tickets, kill the daemon at random moments, finish, and count what a customer would notice."""
    rng = random.Random(args.seed)
    count = min(args.mails, 500)
    fake = FakeZendesk(WallClock(), account_limit=100_000, update_limit=100_000, export_limit=100_000)
    for name in GROUPS:
        fake.add_group(name)
    made = datetime.now(timezone.utc) - timedelta(minutes=5)
    for n in range(count):
        fake.create_ticket(_SUBJECTS[n % 5].format(n=1000 + n), f"Please help with case {1000 + n}. Thanks.",
                           requester=f"customer{n}@example.org", created_at=made + timedelta(milliseconds=n))
    server, port = serve(fake)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "deskbot.toml"
        config.write_text(f"""
[database]
url = "sqlite:///{Path(tmp) / 'log.sqlite3'}"
[[zendesk]]
name = "acme"
url = "http://127.0.0.1:{port}"
email = "{fake.email}"
token_env = "BENCH_ZENDESK_TOKEN"
poll_seconds = 5
start = {(made - timedelta(minutes=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}
[paths]
cache = "{args.cache}"
""")
        env = {**os.environ, "BENCH_ZENDESK_TOKEN": fake.token}
        started = time.monotonic()
        moments = _kill_at_random(config, env, fake, count=count, kills=min(args.kills, 10), rng=rng)
        subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(config), "--once"], env=env,
                       capture_output=True, check=False)
        print(f"{count} Zendesk tickets; SIGKILL after {', '.join(map(str, moments))} replies; "
              f"{time.monotonic() - started:.0f} s in all")
        _report(fake, f"sqlite:///{Path(tmp) / 'log.sqlite3'}", count)
    server.shutdown()


def _replies(fake: FakeZendesk) -> int:
    return sum(len(fake.public_replies(t)) for t in list(fake.tickets))


def _kill_at_random(config: Path, env: dict[str, str], fake: FakeZendesk, *, count: int, kills: int,
                    rng: random.Random) -> list[int]:
    moments = []
    for k in range(kills):
        process = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = min(count - 1, int((k + rng.random()) * count / (kills + 1)))
        deadline = time.monotonic() + 300
        while _replies(fake) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.random() * 0.03)
        moments.append(_replies(fake))
        process.send_signal(signal.SIGKILL)
        process.wait()
    return moments


def _report(fake: FakeZendesk, database: str, count: int) -> None:
    replies = [len(fake.public_replies(t)) for t in fake.tickets]
    notes = [len(fake.private_notes(t)) for t in fake.tickets]
    with Session(open_engine(database)) as session:
        rows = list(session.exec(select(TicketLog)))
    keys = Counter(r.key for r in rows)
    figures = {
        "tickets": count,
        "lost (no reply, or no group)": sum(1 for t in fake.tickets.values() if not t.group_id) + replies.count(0),
        "duplicate decisions": sum(n - 1 for n in keys.values() if n > 1),
        "duplicate notes": sum(n - 1 for n in notes if n > 1),
        "duplicate replies (acknowledgements)": sum(n - 1 for n in replies if n > 1),
        "missing replies": replies.count(0),
        "tickets not finished": sum(r.pending for r in rows),
    }
    for name, value in figures.items():
        print(f"  {name:45} {value}")
