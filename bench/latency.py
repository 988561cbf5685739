"""Arrival-to-acknowledgement latency of an idle daemon: the real `deskbot run` on Dovecot + aiosmtpd.

    .venv/bin/python bench/latency.py                   # 100 mails, IMAP IDLE (poll_seconds = 300)
    .venv/bin/python bench/latency.py --compare-poll    # the same again with idle = false, poll_seconds = 5
    .venv/bin/python bench/pipeline.py --latency        # the same, from the pipeline bench

The daemon is started as an admin starts it, with the default model already in the cache; one warm-up mail
is acknowledged before the clock runs, so the daemon is idle (IDLE in place, nothing in hand). Then mails are
APPENDed one at a time at random intervals (--min-gap to --max-gap seconds, --seed), and each one's latency is
the time from just before its APPEND to its acknowledgement's arrival at the SMTP server (matched by
In-Reply-To). Prints p50/p95/p99/max against the targets (p50 <= 2 s, p99 <= 5 s); exits 1 if one is missed.
Needs Dovecot (run as root); the SMTP server is aiosmtpd in this process.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import imapclient  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from bot.ops.loopback import free_port  # noqa: E402
from tests.conftest import new_mailbox  # noqa: E402
from tests.scenario import customer_mail, write_config  # noqa: E402
from tests.servers import DovecotServer, dovecot_usable  # noqa: E402

TARGET_P50, TARGET_P99 = 2.0, 5.0
WAIT_SECONDS = 60.0  # the longest wait for one acknowledgement before the run is called failed


@dataclass
class Arrivals:
    """An aiosmtpd handler that notes when each acknowledgement arrives, by the Message-ID it answers."""

    seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        now = time.monotonic()
        answered = str(message_from_bytes(envelope.content, policy=policy.default)["In-Reply-To"] or "")
        with self.lock:
            self.seen.setdefault(answered, now)
        return "250 OK"

    def arrived(self, message_id: str) -> float | None:
        """When the acknowledgement of `message_id` arrived (monotonic), or None."""
        with self.lock:
            return self.seen.get(message_id)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of `values`."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def start_daemon(config: Path, password: str, log: Path) -> subprocess.Popen[bytes]:
    """`deskbot run --config CONFIG`, as an admin or systemd starts it."""
    env = {**os.environ, "TEST_IMAP_PASSWORD": password}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], env=env,
                                stdout=out, stderr=out)


def wait_for_ack(arrivals: Arrivals, message_id: str, process: subprocess.Popen[bytes], log: Path) -> float:
    """When `message_id` was acknowledged; raises if the daemon died or took more than WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS  # after the last APPEND: the earlier ones had longer
    while (arrived := arrivals.arrived(message_id)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no acknowledgement for {message_id}; the daemon's log:\n"
                               + log.read_text(errors="replace")[-3000:])
        time.sleep(0.005)
    return arrived


def measure(server: DovecotServer, arrivals: Arrivals, smtp_port: int, cache: Path, *, mode: str,
            args: argparse.Namespace) -> list[float]:
    """One daemon in `mode` ("idle" or "poll"), warmed up, then `args.mails` mails: each one's latency."""
    mailbox = new_mailbox(server)
    extra = "poll_seconds = 300" if mode == "idle" else f"idle = false\npoll_seconds = {args.poll_seconds}"
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="deskbot-latency-") as tmp:
        sink = argparse.Namespace(host="127.0.0.1", port=smtp_port)
        config = write_config(Path(tmp), mailbox, sink, cache, mailbox_extra=extra)  # type: ignore[arg-type]
        log = Path(tmp) / "daemon.log"
        process = start_daemon(config, mailbox.config.password, log)
        client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
        client.login(mailbox.config.username, mailbox.config.password)
        try:
            warm_up = append(client, mode, 0)  # the daemon is idle once this one is acknowledged
            wait_for_ack(arrivals, warm_up[0], process, log)
            time.sleep(1.0)
            appended = []
            for n in range(1, args.mails + 1):  # arrivals do not wait for acknowledgements, as in life
                appended.append(append(client, mode, n))
                time.sleep(rng.uniform(args.min_gap, args.max_gap))
            latencies = [wait_for_ack(arrivals, message_id, process, log) - started
                         for message_id, started in appended]
        finally:
            client.logout()
            process.terminate()
            process.wait(timeout=30)
    return latencies


def append(client: imapclient.IMAPClient, mode: str, n: int) -> tuple[str, float]:
    """APPEND one customer mail: its Message-ID and the moment just before the APPEND."""
    message_id = f"<latency-{mode}-{n}-{os.getpid()}@example.org>"
    started = time.monotonic()
    client.append("INBOX", customer_mail(n, message_id=message_id))
    return message_id, started


def report(title: str, latencies: list[float]) -> bool:
    """Print the figures of one run; True if both targets are met."""
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    met = p50 <= TARGET_P50 and p99 <= TARGET_P99
    print(f"{title}: {len(latencies)} mails")
    print(f"  p50 {p50:6.2f} s   (target <= {TARGET_P50:.0f} s: {'met' if p50 <= TARGET_P50 else 'MISSED'})")
    print(f"  p95 {p95:6.2f} s")
    print(f"  p99 {p99:6.2f} s   (target <= {TARGET_P99:.0f} s: {'met' if p99 <= TARGET_P99 else 'MISSED'})")
    print(f"  max {max(latencies):6.2f} s   min {min(latencies):.2f} s", flush=True)
    return met


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The bench's options (`--help` explains them)."""
    parser = argparse.ArgumentParser(prog="bench/latency.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=100, help="mails appended one at a time (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random intervals (default 1)")
    parser.add_argument("--min-gap", type=float, default=0.5, help="shortest pause between mails, s (default 0.5)")
    parser.add_argument("--max-gap", type=float, default=3.0, help="longest pause between mails, s (default 3)")
    parser.add_argument("--compare-poll", action="store_true",
                        help="also measure with idle = false and poll_seconds = --poll-seconds")
    parser.add_argument("--poll-seconds", type=int, default=5, help="the poll of --compare-poll (default 5)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "deskbot-bench-cache",
                        help="the model cache (the default model is built there once)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 if the IDLE run met both targets, 1 if not, 2 if it cannot run here."""
    args = parse_args(argv)
    if not dovecot_usable():
        print("bench/latency.py needs Dovecot, run as root (tests/servers.py)", file=sys.stderr)
        return 2
    from classifier.starter import load_default

    load_default(args.cache)  # warm the model cache: the daemon loads it, never builds it, on start
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; mails every "
          f"{args.min_gap:g}-{args.max_gap:g} s (seed {args.seed})", flush=True)
    arrivals, port = Arrivals(), free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with DovecotServer() as server:
            met = report("arrival to acknowledgement, IMAP IDLE (poll_seconds = 300)",
                         measure(server, arrivals, port, args.cache, mode="idle", args=args))
            if args.compare_poll:
                report(f"arrival to acknowledgement, polling only (idle = false, poll_seconds = {args.poll_seconds})",
                       measure(server, arrivals, port, args.cache, mode="poll", args=args))
    finally:
        controller.stop()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
