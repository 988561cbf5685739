"""The HTTP API under load: `deskbot serve` (a real uvicorn on loopback, in its own process) and a load
generator in this one (a few concurrent kept-alive connections, bounded in requests and time).

Measures requests/s and p50/p99 latency of POST /v1/predict (target: >= 500 req/s, p99 <= 20 ms),
tickets/s of POST /v1/predict/batch (1,000 tickets a request), and POST /v1/tickets with the decision
recorded in SQLite and the acknowledgement sent to an aiosmtpd sink on loopback. Server and load
generator share this machine's cores (and anything else running on it): the figures are a floor.

    .venv/bin/python bench/api.py [--seconds 20] [--concurrency 6]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.ops.loopback import SmtpSink, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789abcdef"
CONFIG = """\
[database]
url = "sqlite:///log.sqlite3"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Support <support@example.com>"
[api]
listen = "127.0.0.1:{port}"
max_body_bytes = 10000000
[[api.tokens]]
name = "bench"
token_env = "DESKBOT_BENCH_TOKEN"
scopes = ["predict", "tickets"]
requests_per_minute = 100000000
"""


def corpus_texts() -> list[dict[str, str]]:
    """Subjects and bodies of the shipped corpus, for requests that look like real tickets."""
    texts = []
    for path in sorted((ROOT / "classifier" / "corpus").glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as stream:
            texts += [{"subject": row["subject"], "body": row["body"]} for row in csv.DictReader(stream)]
    return [t for t in texts if (t["subject"] + t["body"]).strip()]


class Connection:
    """One kept-alive HTTP/1.1 connection that sends ready-made requests: a load generator whose own CPU
    cost per request (~0.1 ms) leaves the shared cores to the server (httpx spends ~1.5 ms a request)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, object]) -> int:
        """POST JSON; the status code (the body is read and dropped)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        await self.reader.readexactly(length)
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(port: int, make: Callable[[int], tuple[str, dict[str, object]]], *, requests: int,
               seconds: float, concurrency: int) -> tuple[list[float], float]:
    """Up to `requests` POSTs from `concurrency` clients, stopping after `seconds`; latencies (s) and wall time."""
    latencies: list[float] = []
    counter = iter(range(requests))
    deadline = time.perf_counter() + seconds
    bodies = [make(i) for i in range(min(requests, 2_000))]  # made before the clock starts

    async def worker() -> None:
        connection = Connection(port)
        try:
            for index in counter:
                if time.perf_counter() > deadline:
                    return
                path, body = bodies[index] if index < len(bodies) else make(index)
                began = time.perf_counter()
                status = await connection.post(path, body)
                latencies.append(time.perf_counter() - began)
                if status >= 300:
                    raise SystemExit(f"{path}: HTTP {status}")
        finally:
            connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - began


def row(name: str, latencies: list[float], wall: float, per_request: int = 1) -> str:
    """One line of the results table."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    rate = len(ordered) / wall
    return (f"| {name} | {len(ordered)} | {rate:,.0f} | {rate * per_request:,.0f} | "
            f"{statistics.median(ordered) * 1000:.1f} | {p99 * 1000:.1f} |")


async def run(port: int, seconds: float, concurrency: int) -> list[str]:
    """Warm up, then the three measurements."""
    texts = corpus_texts()
    single = lambda i: ("/v1/predict", texts[i % len(texts)])  # noqa: E731
    await load(port, single, requests=300, seconds=seconds, concurrency=concurrency)  # warm-up
    rows = [row("POST /v1/predict", *await load(port, single, requests=50_000, seconds=seconds,
                                                concurrency=concurrency))]
    batch = lambda i: ("/v1/predict/batch", {"tickets": [texts[(i * 1000 + j) % len(texts)]  # noqa: E731
                                                         for j in range(1000)]})
    rows.append(row("POST /v1/predict/batch (1,000 tickets)",
                    *await load(port, batch, requests=40, seconds=seconds, concurrency=1), per_request=1000))
    ticket = lambda i: ("/v1/tickets", {**texts[i % len(texts)], "sender": f"customer{i}@example.com",  # noqa: E731
                                        "external_id": f"bench-{i}"})
    rows.append(row("POST /v1/tickets (recorded + ack by mail)",
                    *await load(port, ticket, requests=2_000, seconds=seconds, concurrency=concurrency)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="at most this long per measurement")
    parser.add_argument("--concurrency", type=int, default=6, help="concurrent clients (default 6)")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder, SmtpSink() as sink:
        config = Path(folder) / "deskbot.toml"
        config.write_text(CONFIG.format(port=port, smtp_port=sink.port), encoding="utf-8")
        env = {**os.environ, "DESKBOT_BENCH_TOKEN": TOKEN}
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--config", str(config)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(port, server)
            rows = asyncio.run(run(port, args.seconds, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=15)
        print(f"deskbot serve on loopback, {args.concurrency} concurrent clients, {os.cpu_count()} cores shared "
              f"by server, load generator and SMTP sink; acknowledgements received: {len(sink.messages)}\n")
    print("| route | requests | requests/s | tickets/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


def wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    """Until /healthz answers (the default model may be built first)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("deskbot serve did not come up")


if __name__ == "__main__":
    raise SystemExit(main())
