"""Intake throughput on a real Dovecot: N mails appended, then fetched, parsed and loop-checked.

    .venv/bin/python bench/intake.py --mails 10000

The mails are the fixture corpus (tests/fixtures/mail/corpus) cycled, each with its own
Message-ID, Date and a numbered subject. One imapclient connection fetches them with
`UID FETCH ... BODY.PEEK[]` in batches; each is parsed (read_mail + ticket_from_mail) and
run through no_ack_reason and is_thanks_only. No pipeline, no store. Prints messages/s of
fetch + parse + checks (target >= 1,000; the language model is loaded before the clock starts),
peak RSS, and the share of messages parsed without a MIME defect, without a charset repair and
without a replacement character (U+FFFD).
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import imapclient  # noqa: E402

from bot.ack.loops import is_thanks_only, no_ack_reason  # noqa: E402
from bot.errors import BadInputError  # noqa: E402
from connectors.mail import read_mail, ticket_from_mail  # noqa: E402
from tests.servers import DovecotServer, dovecot_usable  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mail" / "corpus"
OWN = frozenset({"support@deskbot.test"})


def varied_mails(count: int) -> list[bytes]:
    """`count` corpus mails, cycled, each made unique: Message-ID, Date minute and a numbered subject."""
    samples = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
    mails = []
    for n in range(count):
        data = samples[n % len(samples)]
        data = re.sub(rb"(?im)^Message-I[Dd]:[^\r\n]*", b"Message-ID: <bench.%d@intake.example>" % n, data, count=1)
        data = re.sub(rb"(?im)^(Date:[^\r\n]*?)\d\d:(\d\d):\d\d", rb"\g<1>%02d:\g<2>:%02d" % (n % 24, n % 60), data,
                      count=1)
        data = re.sub(rb"(?im)^Subject: ", b"Subject: [%d] " % n, data, count=1)
        mails.append(data)
    return mails


def append_all(client: imapclient.IMAPClient, mails: list[bytes], chunk: int = 500) -> None:
    """Deliver the mails with MULTIAPPEND (RFC 3502) where offered, else one APPEND each."""
    multi = b"MULTIAPPEND" in client.capabilities()
    for start in range(0, len(mails), chunk):
        part = mails[start:start + chunk]
        if multi:
            client.multiappend("INBOX", part)
        else:
            for message in part:
                client.append("INBOX", message)


def intake(client: imapclient.IMAPClient, batch: int) -> tuple[int, Counter[str]]:
    """Fetch every message in batches and run parse + checks; counts of what came out."""
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    counts: Counter[str] = Counter()
    for start in range(0, len(uids), batch):
        fetched = client.fetch(uids[start:start + batch], ["BODY.PEEK[]"])
        for uid, item in fetched.items():
            data = item[b"BODY[]"]
            try:
                mail = read_mail(data)
                ticket = ticket_from_mail(mail, source="imap:bench", ref=str(uid))
            except BadInputError:
                counts["unreadable"] += 1
                continue
            verdict = no_ack_reason(ticket, own_addresses=OWN, own_message_id_domain="deskbot.test")
            counts[verdict.category if verdict else "acknowledge"] += 1
            counts["thanks-only"] += is_thanks_only(ticket)
            whole = "\ufffd" not in f"{ticket.subject}{ticket.sender_name}{ticket.body}"
            counts["no MIME defect"] += not mail.defects
            counts["no charset repair"] += not mail.repairs
            counts["no U+FFFD"] += whole
            counts["no defect and no U+FFFD"] += not mail.defects and whole
    return len(uids), counts


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="messages per UID FETCH")
    args = parser.parse_args()
    if not dovecot_usable():
        print("needs Dovecot (apt-get install dovecot-imapd) and root; see shared/notes/real-mail-servers.md")
        return 2
    mails = varied_mails(args.mails)
    with DovecotServer() as server:
        user, password = server.new_user()
        client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
        client.login(user, password)
        started = time.perf_counter()
        append_all(client, mails)
        appended = time.perf_counter() - started
        ticket_from_mail(read_mail(mails[0]), source="warm-up", ref="0")  # loads the language model once
        started = time.perf_counter()
        total, counts = intake(client, args.batch)
        elapsed = time.perf_counter() - started
        client.logout()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"appended {len(mails)} mails in {appended:.1f} s")
    print(f"fetch + parse + loop checks: {total} messages in {elapsed:.2f} s = {total / elapsed:,.0f} messages/s")
    print(f"peak RSS: {peak_mib:.0f} MiB")
    parsed = total - counts["unreadable"]
    for key in ("no MIME defect", "no charset repair", "no U+FFFD", "no defect and no U+FFFD"):
        print(f"{key}: {counts[key]} of {parsed} parsed ({100 * counts[key] / max(parsed, 1):.1f} %)")
    outcome = ", ".join(f"{key} {counts[key]}" for key in ("acknowledge", "automated", "spam", "thanks-only",
                                                             "unreadable"))
    print(f"outcome: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
