"""The whole pipeline end to end on real servers: `deskbot run --once` over N mails waiting in Dovecot.

    .venv/bin/python bench/pipeline.py                      # 200, 2,000 and 10,000 mails; serve; start
    .venv/bin/python bench/pipeline.py --mails 200 --no-serve --no-start
    .venv/bin/python bench/pipeline.py --latency [ARGS…]    # arrival to acknowledgement (bench/latency.py)

Each size gets a fresh Dovecot user whose INBOX holds N support mails (the fixture corpus cycled, each
with its own Message-ID), a fresh SQLite log and an aiosmtpd sink; the real daemon then fetches,
classifies, decides, records, sets keywords, acknowledges and moves every mail in its own process.
mails/s is N over the run's wall time less the time the same command takes on an empty folder (start,
model load, login: shown as "start-up", measured apart below as start to first mail). Peak RSS is the
child's own `ru_maxrss` (os.wait4). CPU seconds per 1,000 mails, less the empty run's, tell which side is
the bottleneck on a shared machine: the daemon's (its os.wait4 rusage), Dovecot's (its master process's own
and reaped children's times, /proc/PID/stat) and the aiosmtpd sink's (this process's own time during the run).
The sink stores each message as it comes and parses them after the run (parsing while the sender waited took
two thirds of its time per message). `--smtp-delay MS` makes it take that long over each message, as a remote
or busy server does: deskbot fetches and parses the next batch and builds acknowledgements meanwhile.
`--profile DIR` runs the daemon under cProfile and leaves DIR/run-N.prof for each size. Also: peak RSS of `deskbot serve` after N predict and ticket
requests, and start to first mail (spawn `deskbot run`, one mail waiting, cached model, until the
acknowledgement reaches aiosmtpd). Needs Dovecot run as root (see shared/notes/real-mail-servers.md).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import imapclient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import re  # noqa: E402

from bench.cpu import dovecot_cpu, own_cpu  # noqa: E402
from bench.intake import CORPUS, append_all  # noqa: E402
from bench.intake import varied_mails as corpus_mails  # noqa: E402
from bot.ops.loopback import SmtpSink, free_port  # noqa: E402
from tests.servers import DovecotServer, dovecot_usable  # noqa: E402

TARGET_RATE, TARGET_RSS_MIB, TARGET_START_S = 200, 250, 2.0
TOKEN = "bench-token-0123456789abcdef"
CONFIG = """\
[database]
url = "sqlite:///deskbot.sqlite3"
[smtp]
host = "{smtp_host}"
port = {smtp_port}
security = "none"
from = "Support <support@deskbot.test>"
[paths]
cache = "{cache}"
"""
MAILBOX = """\
[[mailbox]]
name = "support"
host = "{host}"
port = {port}
security = "none"
username = "{user}"
password_env = "BENCH_IMAP_PASSWORD"
first_run = "all"
poll_seconds = 5
"""
API = """\
[api]
listen = "127.0.0.1:{port}"
[[api.tokens]]
name = "bench"
token_env = "BENCH_API_TOKEN"
scopes = ["predict", "tickets"]
requests_per_minute = 100000000
"""


THREAD_HEADER = re.compile(rb"(?im)^(?:In-Reply-To|References):[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*")


def varied_mails(count: int) -> list[bytes]:
    """The corpus cycled (bench/intake.py), each mail also from its own customer and each round of the corpus
    in its own threads: a backlog of 10,000 mails comes from thousands of people and conversations, and
    per-sender acknowledgement limits would otherwise answer few of them."""
    mails, size = corpus_mails(count), len(list(CORPUS.glob("*.eml")))
    for n, mail in enumerate(mails):
        mail = re.sub(rb"(?im)^(From:[^\r\n]*?)([\w.+-]+)@", rb"\g<1>\g<2>+c%d@" % n, mail, count=1)
        mails[n] = THREAD_HEADER.sub(lambda m, r=n // size: m.group(0).replace(b"<", b"<r%d." % r), mail)
    return mails


def verdict(ok: bool) -> str:
    """How a figure stands against its target."""
    return "meets" if ok else "MISSES"


def write_config(folder: Path, sink: SmtpSink, cache: Path, *, mailbox: str = "", api: str = "") -> Path:
    """A deskbot.toml in `folder` for this run."""
    path = folder / "deskbot.toml"
    path.write_text(CONFIG.format(smtp_host=sink.host, smtp_port=sink.port, cache=cache) + mailbox + api)
    return path


@dataclass
class Run:
    """One child's run: wall seconds, its own peak RSS in MiB, exit code, and the CPU seconds of each side."""

    wall: float
    rss: float
    code: int
    cpu: float  # the daemon's own user + system time
    dovecot: float = 0.0  # Dovecot's processes (master, login, imap) meanwhile
    sink: float = 0.0  # this process meanwhile: the aiosmtpd sink's thread


def run_child(command: list[str], env: dict[str, str], log: Path, server: DovecotServer | None = None) -> Run:
    """Run a deskbot command to its end, with the CPU time it and the servers spent."""
    dovecot, own = dovecot_cpu(server), own_cpu()
    started = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    time.sleep(0.3)  # the session's imap process ends after the logout: let the master reap it (its time then counts)
    return Run(wall, usage.ru_maxrss / 1024, process.returncode, usage.ru_utime + usage.ru_stime,
               dovecot_cpu(server) - dovecot, own_cpu() - own)


def new_mailbox(server: DovecotServer, mails: list[bytes]) -> tuple[str, str]:
    """A fresh user with `mails` waiting in its INBOX."""
    user, password = server.new_user()
    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user, password)
    append_all(client, mails)
    client.logout()
    return user, password


def inbox_left(server: DovecotServer, user: str, password: str) -> int:
    """Mails still in the INBOX (not filed) after the run."""
    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user, password)
    client.select_folder("INBOX", readonly=True)
    left = len(client.search(["NOT", "DELETED"]))
    client.logout()
    return left


def measure_run(server: DovecotServer, count: int, cache: Path, work: Path, *, quiet: bool = False,
                profile: Path | None = None, mailbox_extra: str = "", smtp_delay: float = 0.0,
                repeat: int = 1) -> None:
    """`deskbot run --once` over `count` mails, each time after the same command on an empty folder, `repeat`
    times (the best pair is shown: a run of one or two seconds is easily halved by a neighbour's second);
    `mailbox_extra`: more keys of the [[mailbox]] table; `smtp_delay`: seconds the sink takes over each message."""
    pairs = [_run_pair(server, count, cache, work / f"run-{count}{'-' if mailbox_extra else ''}-{n}",
                       profile=profile, mailbox_extra=mailbox_extra, smtp_delay=smtp_delay) for n in range(repeat)]
    rates = [count / max(run.wall - base.wall, 1e-3) for base, run, _, _ in pairs]
    best = max(range(repeat), key=rates.__getitem__)
    (base, run, acknowledged, left), rate = pairs[best], rates[best]
    if quiet:
        return
    per = 1000 / count
    if mailbox_extra:
        print(f"{'':>6}        with {mailbox_extra.strip()}:")
    if smtp_delay:
        print(f"{'':>6}        with an SMTP server taking {smtp_delay * 1000:g} ms over each message:")
    if repeat > 1:
        print(f"{'':>6}        best of {repeat} runs ({', '.join(f'{int(r)}' for r in rates)} mails/s):")
    print(f"{count:>6} mails: {run.wall:6.1f} s wall, start-up {base.wall:4.1f} s, {int(rate):6d} mails/s "
          f"(target >= {TARGET_RATE}: {verdict(rate >= TARGET_RATE)}); peak RSS {run.rss:4.0f} MiB "
          f"(target <= {TARGET_RSS_MIB}: {verdict(run.rss <= TARGET_RSS_MIB)}); {acknowledged} acknowledged, "
          f"{left} left in INBOX, exit {run.code}", flush=True)
    print(f"{'':>6}        CPU s per 1,000 mails: daemon {(run.cpu - base.cpu) * per:5.2f}, "
          f"Dovecot {(run.dovecot - base.dovecot) * per:5.2f}, SMTP sink {(run.sink - base.sink) * per:5.2f} "
          f"(start-up alone: daemon {base.cpu:4.2f} s)", flush=True)


def _run_pair(server: DovecotServer, count: int, cache: Path, folder: Path, *, profile: Path | None,
              mailbox_extra: str, smtp_delay: float) -> tuple[Run, Run, int, int]:
    """The empty run and the run over `count` mails: both runs, the acknowledgements sent, the mails left."""
    mailbox = MAILBOX + mailbox_extra
    with SmtpSink() as sink:
        sink.handler.delay = smtp_delay
        folder.mkdir(parents=True)
        empty_user, empty_password = new_mailbox(server, [])
        empty = write_config(folder, sink, cache, mailbox=mailbox.format(host=server.host, port=server.port,
                                                                         user=empty_user))
        command = [sys.executable, "-m", "bot", "run", "--once", "--config", str(empty)]
        base = run_child(command, {**os.environ, "BENCH_IMAP_PASSWORD": empty_password}, folder / "log", server)
        if base.code != 0:
            raise SystemExit(f"deskbot run --once on an empty folder failed (exit {base.code}); see {folder / 'log'}")
        (folder / "deskbot.sqlite3").unlink(missing_ok=True)
        user, password = new_mailbox(server, varied_mails(count))
        write_config(folder, sink, cache, mailbox=mailbox.format(host=server.host, port=server.port, user=user))
        if profile is not None:
            command[1:1] = ["-m", "cProfile", "-o", str(profile / f"run-{count}.prof")]
        run = run_child(command, {**os.environ, "BENCH_IMAP_PASSWORD": password}, folder / "log", server)
        return base, run, len(sink.messages), inbox_left(server, user, password)


def measure_serve(cache: Path, work: Path, requests: int) -> None:
    """Peak RSS of `deskbot serve` after `requests` predict and `requests` ticket requests."""
    port = free_port()
    with SmtpSink() as sink:
        folder = work / "serve"
        folder.mkdir()
        config = write_config(folder, sink, cache, api=API.format(port=port))
        env = {**os.environ, "BENCH_API_TOKEN": TOKEN}
        with (folder / "log").open("ab") as out:
            server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--config", str(config)], env=env,
                                      stdout=out, stderr=out)
        try:
            texts = [m.decode("utf-8", "replace") for m in varied_mails(50)]
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"},
                              timeout=30) as client:
                wait_until_up(client, server)
                for n in range(requests):
                    body = {"subject": f"Request {n}", "body": texts[n % len(texts)][-2000:]}
                    client.post("/v1/predict", json=body).raise_for_status()
                    client.post("/v1/tickets", json={**body, "sender": f"customer{n}@example.com",
                                                     "external_id": f"bench-{n}"}).raise_for_status()
            peak = peak_rss(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"deskbot serve after {requests} predict + {requests} ticket requests: peak RSS {peak:.0f} MiB "
          f"(target <= {TARGET_RSS_MIB}: {verdict(peak <= TARGET_RSS_MIB)})", flush=True)


def wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until /healthz answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            client.get("/healthz")
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("deskbot serve did not come up (see its log)")


def peak_rss(pid: int) -> float:
    """A running process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_start(server: DovecotServer, cache: Path, work: Path) -> None:
    """Start to first mail, twice: the first start of a new install (the decision log is made and migrated)
    and a restart (log and model cache in place, as after an upgrade or a reboot: the target's case)."""
    folder = work / "start"
    folder.mkdir()
    size = len(list(CORPUS.glob("*.eml")))
    first = time_first_mail(server, cache, folder, varied_mails(5)[4])  # an ordinary request that gets an answer
    second = time_first_mail(server, cache, folder, varied_mails(size + 5)[size + 4])  # the same, a new customer
    print(f"start to first mail: first start {show_start(first)}; restart {show_start(second)} "
          f"(target <= {TARGET_START_S:g} s with a cached model: "
          f"{verdict(second is not None and second <= TARGET_START_S)})", flush=True)


def show_start(took: float | None) -> str:
    return f"{took:.2f} s" if took is not None else "NOT acknowledged (see the log)"


def time_first_mail(server: DovecotServer, cache: Path, folder: Path, mail: bytes) -> float | None:
    """Spawn the daemon with `mail` waiting; seconds until its acknowledgement reaches the SMTP sink (None:
    it never did). The config and decision log of `folder` are kept for the next call."""
    with SmtpSink() as sink:
        user, password = new_mailbox(server, [mail])
        config = write_config(folder, sink, cache, mailbox=MAILBOX.format(host=server.host, port=server.port,
                                                                          user=user))
        env = {**os.environ, "BENCH_IMAP_PASSWORD": password}
        started = time.perf_counter()
        with (folder / "log").open("ab") as out:
            daemon = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], env=env,
                                      stdout=out, stderr=out)
        try:
            while not sink.messages and daemon.poll() is None and time.perf_counter() - started < 120:
                time.sleep(0.005)
            took = time.perf_counter() - started
        finally:
            daemon.terminate()
            daemon.wait(timeout=15)
        return took if sink.messages else None


def latency(argv: list[str]) -> int:
    """Arrival-to-acknowledgement latency lives in bench/latency.py: hand over to it."""
    try:
        module = importlib.import_module("bench.latency")
    except ModuleNotFoundError:
        print("bench/latency.py is not there: the latency bench is not installed in this tree")
        return 2
    return int(module.main(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen measurements and print their figures beside the targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", default="200,2000,10000", help="comma-separated backlog sizes (default: %(default)s)")
    parser.add_argument("--serve", action=argparse.BooleanOptionalAction, default=True,
                        help="measure peak RSS of `deskbot serve` (default: yes)")
    parser.add_argument("--start", action=argparse.BooleanOptionalAction, default=True,
                        help="measure start to first mail (default: yes)")
    parser.add_argument("--requests", type=int, default=500, help="predict and ticket requests sent to serve")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "deskbot-bench-cache",
                        help="the model cache (built once, reused)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="run the daemon under cProfile; DIR/run-N.prof per size (slower: rates are not comparable)")
    parser.add_argument("--reference-keyword", action=argparse.BooleanOptionalAction, default=True,
                        help="the mailbox's reference_keyword (default: true, as shipped); --no-reference-keyword "
                             "measures a busy centre's setting")
    parser.add_argument("--repeat", type=int, default=0, metavar="N",
                        help="runs per size, the best shown (default: 3 below 1,000 mails, else 1)")
    parser.add_argument("--smtp-delay", type=float, default=0.0, metavar="MS",
                        help="milliseconds the SMTP sink waits before answering each message (a remote or busy "
                             "server; default: 0)")
    parser.add_argument("--latency", action="store_true", help="run bench/latency.py with the remaining arguments")
    args, rest = parser.parse_known_args(argv)
    if args.latency:
        return latency(rest)
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    if not dovecot_usable():
        print("needs Dovecot (apt-get install dovecot-imapd) and root; see shared/notes/real-mail-servers.md")
        return 2
    sizes = [int(n) for n in args.mails.split(",") if n.strip()]
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, shared; Dovecot + aiosmtpd on loopback; model cache {args.cache}")
    with DovecotServer() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        measure_run(server, 1, args.cache, work / "warm-up", quiet=True)  # builds the model into the cache: no figure
        for count in sizes:
            measure_run(server, count, args.cache, work, profile=args.profile,
                        mailbox_extra="" if args.reference_keyword else "reference_keyword = false\n",
                        smtp_delay=args.smtp_delay / 1000,
                        repeat=args.repeat if args.repeat else (3 if count < 1000 else 1))
        if args.start:
            measure_start(server, args.cache, work)
        if args.serve:
            measure_serve(args.cache, work, args.requests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
