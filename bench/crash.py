"""Crash test: the real daemon SIGKILLed at random moments while it works through a backlog, restarted each time.

    .venv/bin/python bench/crash.py                 # 2,000 mails in Dovecot, 20 kills
    .venv/bin/python bench/crash.py --helpdesk      # the same against a Zendesk fake served over loopback HTTP
    .venv/bin/python bench/crash.py --instances 2 --database postgresql   # two daemons, one PostgreSQL log

Prints what a customer and an agent would notice: mail lost (never acknowledged or never filed),
duplicate decisions, duplicate moves, duplicate and missing acknowledgements, tickets left unfinished.
Needs Dovecot (run as root) for the mail part; the SMTP server is aiosmtpd in this process.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import imapclient  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bot.config.file import MailboxConfig  # noqa: E402
from bot.log.database import open_engine  # noqa: E402
from bot.log.schema import ActionLog, TicketLog  # noqa: E402
from bot.ops.loopback import SmtpSink  # noqa: E402
from tests.conftest import Mailbox  # noqa: E402
from tests.scenario import customer_mail, write_config  # noqa: E402
from tests.servers import DovecotServer, dovecot_usable  # noqa: E402


def daemon(config: Path, password: str, log: Path) -> subprocess.Popen[bytes]:
    """`deskbot run --config CONFIG` as its own process."""
    env = {**os.environ, "TEST_IMAP_PASSWORD": password}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], env=env,
                                stdout=out, stderr=out)


def append_all(server: DovecotServer, user: str, password: str, count: int) -> None:
    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user, password)
    for n in range(count):
        client.append("INBOX", customer_mail(n))
    client.logout()


def kill_at_random(config: Path, password: str, sink: SmtpSink, *, count: int, kills: int, rng: random.Random,
                   log: Path) -> list[float]:
    """Start, wait until a random share of the next slice is acknowledged (plus a random few ms), SIGKILL."""
    moments = []
    for k in range(kills):
        process = daemon(config, password, log)
        target = min(count - 1, int((k + rng.random()) * count / (kills + 1)))
        deadline = time.monotonic() + 300
        while len(sink.messages) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.random() * 0.1)  # land anywhere in the next few tickets, not just after an acknowledgement
        moments.append(len(sink.messages))
        process.send_signal(signal.SIGKILL)
        process.wait()
    return moments


def finish(config: Path, password: str, log: Path) -> int:
    env = {**os.environ, "TEST_IMAP_PASSWORD": password}
    with log.open("ab") as out:
        return subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(config), "--once"], env=env,
                              stdout=out, stderr=out, check=False).returncode


def mail_figures(server: DovecotServer, user: str, password: str, sink: SmtpSink, database: str,
                 count: int) -> dict[str, int]:
    """What the servers and the log show after the last run."""
    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user, password)
    where: Counter[bytes] = Counter()
    keywords: dict[str, set[bytes]] = {}  # Message-ID -> the keywords of its filed copy
    in_inbox = 0
    for _, _, folder in client.list_folders():
        if folder == "Sent":
            continue
        client.select_folder(folder, readonly=True)
        uids = client.search(["NOT", "DELETED"])
        for data in (client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}).values():
            header = data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].strip()
            where[header] += 1
            in_inbox += folder == "INBOX"
            keywords[header.decode().partition(":")[2].strip()] = set(data[b"FLAGS"])
    client.logout()
    answered = Counter(str(m["In-Reply-To"]) for m in sink.messages)
    ids_per_answer: dict[str, set[str]] = {}
    for m in sink.messages:
        ids_per_answer.setdefault(str(m["In-Reply-To"]), set()).add(str(m["Message-ID"]))
    with Session(open_engine(database)) as session:
        tickets = list(session.exec(select(TicketLog).where(TicketLog.dry_run == False)))  # noqa: E712
        inflight = len(list(session.exec(select(ActionLog).where(ActionLog.state == "inflight"))))
    keys = Counter(t.key for t in tickets if t.duplicate_of is None)
    return {
        "mails": count,
        "lost (not acknowledged, or still in INBOX)": max(count - len(answered), in_inbox),
        "duplicate decisions": sum(n - 1 for n in keys.values() if n > 1),
        "duplicate moves (copies beyond one)": sum(n - 1 for n in where.values() if n > 1),
        "duplicate acknowledgements": sum(n - 1 for n in answered.values() if n > 1),
        "  of which with a new Message-ID": sum(len(ids) - 1 for ids in ids_per_answer.values() if len(ids) > 1),
        "missing acknowledgements": count - len(answered),
        "tickets not finished": sum(t.pending for t in tickets),
        "filed mail without its reference keyword": sum(
            1 for t in tickets if t.reference and t.kind == "ticket" and t.duplicate_of is None
            and t.reference.encode() not in keywords.get(t.message_id, {t.reference.encode()})),
        "actions left in flight": inflight,
    }


def run_mail(args: argparse.Namespace) -> None:
    if not dovecot_usable():
        sys.exit("needs Dovecot, run as root (apt-get install dovecot-imapd)")
    rng = random.Random(args.seed)
    with DovecotServer() as server, SmtpSink() as sink, tempfile.TemporaryDirectory() as tmp:
        user, password = server.new_user()
        started = time.monotonic()
        append_all(server, user, password, args.mails)
        print(f"{args.mails} mails appended to Dovecot in {time.monotonic() - started:.1f} s")
        log = Path(tmp) / "daemon.log"
        mailbox = Mailbox(MailboxConfig(name="support", host=server.host, port=server.port, security="none",
                                        username=user, password=password), "dovecot")
        config = write_config(Path(tmp), mailbox, sink, args.cache,
                              mailbox_extra=f'poll_seconds = 5\nsent_folder = "{args.sent_folder}"')
        started = time.monotonic()
        moments = kill_at_random(config, password, sink, count=args.mails, kills=args.kills, rng=rng, log=log)
        code = finish(config, password, log)
        elapsed = time.monotonic() - started
        print(f"SIGKILL after {', '.join(map(str, moments))} acknowledgements; final run exit {code}; "
              f"{elapsed:.0f} s in all (each start loads the model)")
        figures = mail_figures(server, user, password, sink, f"sqlite:///{Path(tmp) / 'var' / 'deskbot.sqlite3'}",
                               args.mails)
        for name, value in figures.items():
            print(f"  {name:45} {value}")
        if args.keep_log:
            print(Path(log).read_text()[-5000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sent-folder", default="Sent", help="where acknowledgements are copied and looked for "
                        "after a kill ('' : none, then an unknown one is resent with the same Message-ID)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "deskbot-bench-cache")
    parser.add_argument("--helpdesk", action="store_true", help="crash against a Zendesk fake over loopback HTTP")
    parser.add_argument("--keep-log", action="store_true", help="print the end of the daemon's log")
    parser.add_argument("--instances", type=int, default=1, help="daemons sharing the mailbox and the decision "
                        "log (more than one needs --database postgresql); the lease holder is the one killed")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite", help="postgresql: a "
                        "throwaway cluster (tests/postgres.py) holds the decision log")
    args = parser.parse_args()
    if args.instances < 1 or (args.instances > 1 and args.database != "postgresql"):
        parser.error("--instances 2 or more needs --database postgresql (a SQLite log takes one daemon)")
    if args.database == "postgresql":
        if args.helpdesk:
            parser.error("--database postgresql runs the mail crash test; drop --helpdesk")
        from bench.crash_shared import run_shared

        run_shared(args)
    elif args.helpdesk:
        from bench.crash_helpdesk import run_helpdesk

        run_helpdesk(args)
    else:
        run_mail(args)


if __name__ == "__main__":
    main()
