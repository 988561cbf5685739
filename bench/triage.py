"""Triage throughput on real servers: N mails appended to IMAP, one cycle, figures printed.

    .venv/bin/python bench/triage.py --mails 500

Uses Dovecot when it can run here (root, dovecot-imapd installed), else pymap (slow APPEND).
Prints append time, cycle time, mails/s, acknowledgements sent and peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import imapclient  # noqa: E402

from bot.config.file import Config, DatabaseConfig, MailboxConfig, PathsConfig, SmtpConfig  # noqa: E402
from bot.daemon import build_triage, run_once, sources_of  # noqa: E402
from bot.ops.loopback import SmtpSink  # noqa: E402
from bot.pipeline import NEVER  # noqa: E402
from classifier.starter import corpus_files, shipped_corpus  # noqa: E402
from tests.servers import DovecotServer, PymapPool, dovecot_usable  # noqa: E402


def corpus_mails(count: int) -> list[bytes]:
    """`count` mails made from the shipped starter corpus (cycled), each with a unique Message-ID."""
    rows = []
    for file in corpus_files(shipped_corpus()):  # every language of the starter corpus
        with file.open(encoding="utf-8-sig", newline="") as handle:
            rows += [row for row in csv.DictReader(handle) if row.get("body")]
    mails = []
    for n in range(count):
        row = rows[n % len(rows)]
        message = EmailMessage()
        message["From"] = f"Customer {n} <customer{n}@example.com>"
        message["To"] = "support@deskbot.test"
        message["Subject"] = row["subject"] or "(no subject)"
        message["Date"] = format_datetime(datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc))
        message["Message-ID"] = make_msgid(domain="example.com")
        message.set_content(row["body"])
        mails.append(message.as_bytes())
    return mails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=500)
    args = parser.parse_args()
    mails = corpus_mails(args.mails)
    server = DovecotServer() if dovecot_usable() else PymapPool()
    with server, SmtpSink() as sink, tempfile.TemporaryDirectory() as tmp:
        user, password = server.new_user()
        client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
        client.login(user, password)
        started = time.perf_counter()
        for data in mails:
            client.append("INBOX", data)
        appended = time.perf_counter() - started
        client.logout()
        config = Config(
            database=DatabaseConfig(url=f"sqlite:///{tmp}/bench.sqlite3"),
            smtp=SmtpConfig(host=sink.host, port=sink.port, security="none", **{"from": "S <support@deskbot.test>"}),
            mailbox=[MailboxConfig(name="bench", host=server.host, port=server.port, security="none",
                                   username=user, password=password, first_run="all")],
            paths=PathsConfig(cache=f"{tmp}/cache"),
            base_dir=tmp,
        )
        started = time.perf_counter()
        triage = build_triage(config)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        scheduled = sources_of(config, triage)
        [report] = run_once(scheduled, triage, stop=NEVER)
        cycle = time.perf_counter() - started
        started = time.perf_counter()
        run_once(scheduled, triage, stop=NEVER)
        quiet = time.perf_counter() - started
        done = sum(1 for o in report.outcomes if o.status == "done")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"server                 {server.kind}")
        print(f"mails                  {len(mails)} ({done} done, {len(sink.messages)} acknowledgements)")
        print(f"append                 {appended:.2f} s")
        print(f"model build + load     {loaded:.2f} s (first use: built from the shipped corpus)")
        print(f"triage cycle           {cycle:.2f} s = {len(mails) / cycle:.1f} mails/s ({1000 * cycle / len(mails):.1f} ms/mail)")
        print(f"next (quiet) cycle     {quiet * 1000:.0f} ms")
        print(f"peak RSS               {rss:.0f} MiB")


if __name__ == "__main__":
    main()
