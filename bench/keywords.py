"""What a server spends on IMAP keywords as a folder's list grows: why each reference goes to the mail's own folder.

    .venv/bin/python bench/keywords.py                 # up to 5,000 keywords, 500 messages a round
    .venv/bin/python bench/keywords.py --keywords 10000

A fresh Dovecot user gets 500 messages a round; each round sets a keyword on each message and then moves them
out to another folder, as deskbot files mail. The rounds take turns:
  new, one each   - a keyword the folder has never seen, one UID STORE per message (pipelined): a reference;
  new, at once    - the same round's keywords defined in one STORE on one message, then one each;
and at the end, with the folder's list full:
  known, one each - keywords the folder already defines.
Printed: wall ms and Dovecot CPU ms per message, with the number of keywords the folder defined before the round.
Needs Dovecot run as root (see shared/notes/real-mail-servers.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import imapclient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu import dovecot_cpu  # noqa: E402
from bench.intake import append_all  # noqa: E402
from bench.pipeline import varied_mails  # noqa: E402
from tests.servers import DovecotServer, dovecot_usable  # noqa: E402


def stores(client: imapclient.IMAPClient, pairs: list[tuple[int, str]]) -> None:
    """UID STORE +FLAGS.SILENT of one keyword per message, all sent before the first answer is read."""
    imap = client._imap  # noqa: SLF001 - pipelining, as connectors/imap_batch.py does
    tags = [imap._command("UID", "STORE", str(uid), "+FLAGS.SILENT", f"({word})") for uid, word in pairs]  # noqa: SLF001
    for tag in tags:
        imap._command_complete("UID", tag)  # noqa: SLF001
    imap.untagged_responses.clear()


def timed(server: DovecotServer, label: str, count: int, work: Callable[[], None]) -> None:
    began, cpu = time.perf_counter(), dovecot_cpu(server)
    work()
    wall, used = time.perf_counter() - began, dovecot_cpu(server) - cpu
    print(f"  {label:<36} {1000 * wall / count:6.2f} ms wall, Dovecot {1000 * used / count:6.2f} ms per message",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keywords", type=int, default=5000, help="keywords to define in all (default: 5000)")
    parser.add_argument("--round", type=int, default=500, help="messages per round (default: 500)")
    args = parser.parse_args(argv)
    if not dovecot_usable():
        print("needs Dovecot, run as root (see shared/notes/real-mail-servers.md)", file=sys.stderr)
        return 2
    with DovecotServer() as server:
        user, password = server.new_user()
        client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
        client.login(user, password)
        client.create_folder("Filed")
        defined, size = 0, args.round
        print(f"Dovecot, {size} messages a round; the folder defines K keywords before the round")
        for turn in range(max(args.keywords // size, 1)):
            append_all(client, varied_mails(size))
            client.select_folder("INBOX")
            uids = sorted(client.search("ALL"))
            words = [f"SUP-{defined + i:06d}" for i in range(len(uids))]
            if turn % 2 == 0:
                timed(server, f"K={defined:>6}: new, one each", len(uids), lambda: stores(client, list(zip(uids, words))))
            else:
                def at_once() -> None:
                    client._imap.uid("STORE", str(uids[0]), "+FLAGS.SILENT", f"({' '.join(words)})")  # noqa: SLF001
                    client._imap.uid("STORE", str(uids[0]), "-FLAGS.SILENT", f"({' '.join(words)})")  # noqa: SLF001
                    stores(client, list(zip(uids, words)))
                timed(server, f"K={defined:>6}: new, at once", len(uids), at_once)
            defined += len(uids)
            client.move(uids, "Filed")
        append_all(client, varied_mails(size))
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))
        known = [f"SUP-{defined - size + i:06d}" for i in range(len(uids))]
        timed(server, f"K={defined:>6}: known, one each", len(uids), lambda: stores(client, list(zip(uids, known))))
        client.logout()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
