"""bench/crash.py --instances N --database postgresql: several daemons on one PostgreSQL decision log and one
mailbox; the instance holding the mailbox's lease is SIGKILLed at random moments and restarted.

Every daemon runs `deskbot run` on the same config (a throwaway PostgreSQL cluster, tests/postgres.py; the
mailbox in Dovecot; acknowledgements to aiosmtpd in this process). Per kill the bench measures the takeover:
the time from the SIGKILL until another instance holds the mailbox's lease (source_state.lease_owner) and
until the next acknowledgement goes out. At the end the survivors are stopped with SIGTERM, one
`run --once` finishes what is left, and the servers and the log are checked as for one instance.
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.crash import append_all, daemon, finish, mail_figures
from bot.config.file import MailboxConfig
from bot.log.database import open_engine
from bot.log.records import as_utc
from bot.ops.loopback import SmtpSink
from bot.ops.status import LEASE
from tests.conftest import Mailbox
from tests.postgres import PostgresServer, pg_bin
from tests.scenario import write_config
from tests.servers import DovecotServer, dovecot_usable

SOURCE = "imap:support"
SQLITE_URL = 'url = "sqlite:///var/deskbot.sqlite3"'


def lease_holder(engine: Engine) -> str:
    """host:pid of the instance holding the mailbox's lease ('' when none holds it, or it lapsed)."""
    with engine.connect() as connection:
        row = connection.execute(text("SELECT lease_owner, lease_until FROM source_state WHERE source = :s"),
                                 {"s": SOURCE}).first()
    return row[0] if row and row[1] and as_utc(row[1]) > datetime.now(timezone.utc) else ""


def wait_for(predicate: object, timeout: float) -> float | None:
    """Seconds until predicate() is true (polled every 10 ms), or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.01)
    return None


class Fleet:
    """The daemons of the run, by pid; each writes its own log file."""

    def __init__(self, config: Path, password: str, folder: Path) -> None:
        self.config, self.password, self.folder = config, password, folder
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.started = 0
        self.died: list[int] = []  # exit codes of daemons that ended without being killed

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        process = daemon(self.config, self.password, self.folder / f"daemon-{self.started}.log")
        self.processes[process.pid] = process
        return process

    def reap(self) -> list[int]:
        """Exit codes of daemons that ended by themselves (each is a failure to report), replaced by new ones."""
        ended = [pid for pid, process in self.processes.items() if process.poll() is not None]
        codes = [self.processes.pop(pid).returncode for pid in ended]
        for _ in ended:
            self.start()
        return codes

    def kill(self, pid: int) -> None:
        process = self.processes.pop(pid)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> list[int]:
        """SIGTERM every daemon (a clean stop releases its leases); their exit codes."""
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=60) for process in self.processes.values()]
        self.processes.clear()
        return codes


def kill_holders(fleet: Fleet, engine: Engine, sink: SmtpSink, *, count: int, kills: int,
                 rng: random.Random) -> list[tuple[int, float | None, float | None]]:
    """Per kill: (acknowledgements so far, seconds to takeover of the lease, seconds to the next acknowledgement)."""
    out: list[tuple[int, float | None, float | None]] = []
    for k in range(kills):
        target = min(count - 1, int((k + rng.random()) * count / (kills + 1)))
        wait_for(lambda: len(sink.messages) >= target, 600)
        time.sleep(rng.random() * 0.1)  # anywhere in the next few tickets, not just after an acknowledgement
        fleet.died += fleet.reap()
        holder = lease_holder(engine)
        pid = int(holder.rpartition(":")[2]) if holder else 0
        if pid not in fleet.processes:  # nobody holds it (between cycles, or at the start): kill one anyway
            pid = rng.choice(list(fleet.processes))
        sent = len(sink.messages)
        fleet.kill(pid)
        killed = time.monotonic()
        taken = wait_for(lambda: lease_holder(engine) not in ("", holder), LEASE.total_seconds()) if holder else None
        acked = wait_for(lambda: len(sink.messages) > sent or len(sink.messages) >= count, LEASE.total_seconds())
        out.append((sent, taken, None if acked is None else time.monotonic() - killed))
        fleet.start()  # the killed instance comes back, and now waits for the lease like the others
    return out


def run_shared(args: argparse.Namespace) -> None:
    """The two-instance (or more) crash run against PostgreSQL."""
    if not dovecot_usable():
        sys.exit("needs Dovecot, run as root (apt-get install dovecot-imapd)")
    if pg_bin() is None:
        sys.exit("needs PostgreSQL (apt-get install postgresql)")
    rng = random.Random(args.seed)
    with DovecotServer() as server, SmtpSink() as sink, PostgresServer() as postgres, \
            tempfile.TemporaryDirectory() as tmp:
        user, password = server.new_user()
        append_all(server, user, password, args.mails)
        url = postgres.new_database()
        mailbox = Mailbox(MailboxConfig(name="support", host=server.host, port=server.port, security="none",
                                        username=user, password=password), "dovecot")
        config = write_config(Path(tmp), mailbox, sink, args.cache,
                              mailbox_extra=f'poll_seconds = 5\nsent_folder = "{args.sent_folder}"')
        config.write_text(config.read_text().replace(SQLITE_URL, f'url = "{url}"'))
        engine = open_engine(url)
        fleet = Fleet(config, password, Path(tmp))
        started = time.monotonic()
        for _ in range(args.instances):
            fleet.start()
        moments = kill_holders(fleet, engine, sink, count=args.mails, kills=args.kills, rng=rng)
        wait_for(lambda: len(sink.messages) >= args.mails, 120)
        fleet.died += [p.returncode for p in fleet.processes.values() if p.poll() is not None]
        codes = fleet.stop_all()
        code = finish(config, password, Path(tmp) / "finish.log")
        elapsed = time.monotonic() - started
        report(args, moments, codes, code, elapsed)
        print(f"  daemons that ended by themselves (not killed): {len(fleet.died)}", *(["exit codes", fleet.died] * bool(fleet.died)))
        engine.dispose()
        figures = mail_figures(server, user, password, sink, url, args.mails)
        for name, value in figures.items():
            print(f"  {name:45} {value}")
        if args.keep_log:
            for log in sorted(Path(tmp).glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")


def report(args: argparse.Namespace, moments: list[tuple[int, float | None, float | None]], codes: list[int],
           code: int, elapsed: float) -> None:
    """The takeover figures, against the lease period."""
    taken = [m[1] for m in moments if m[1] is not None]
    acked = [m[2] for m in moments if m[2] is not None]
    print(f"{args.instances} instances on PostgreSQL, {args.mails} mails, {len(moments)} SIGKILLs of the lease "
          f"holder (after {', '.join(str(m[0]) for m in moments)} acknowledgements)")
    print(f"  lease taken over by another instance after: median {_s(taken, statistics.median)}, "
          f"max {_s(taken, max)} ({len(taken)}/{len(moments)} within the lease period of "
          f"{LEASE.total_seconds():.0f} s)")
    print(f"  next acknowledgement after the kill:        median {_s(acked, statistics.median)}, "
          f"max {_s(acked, max)}")
    print(f"  survivors stopped with SIGTERM: exit {codes}; final run --once exit {code}; {elapsed:.0f} s in all")


def _s(values: list[float], how: object) -> str:
    return f"{how(values):.1f} s" if values else "-"  # type: ignore[operator]
