"""Where the daemon's memory goes over a long backlog: RSS and live objects sampled after every recorded chunk.

    .venv/bin/python bench/memory.py --mails 2000                 # RSS per chunk of `deskbot run --once`
    .venv/bin/python bench/memory.py --mails 2000 --objects 10    # and the object types that grew, every 10 chunks
    .venv/bin/python bench/memory.py --mails 2000 --no-smtp       # without acknowledgements

Like bench/pipeline.py, a fresh Dovecot user gets N support mails and the real daemon runs `run --once` in its
own process; here that process is this script in `--child` mode, which wraps the pipeline's chunk step
(bot/pipeline.py `_flush`) to print, after each chunk: mails recorded, seconds since the run began and
the chunk's rate, VmRSS, RssAnon (the heap: what grows when something is kept), VmHWM, the memory Python traced
when tracemalloc runs (PYTHONTRACEMALLOC=1), and with `--objects` the live-object counts by type that grew since
the last report (gc.get_objects). Memory that grows per chunk is held per mail; memory that is flat after the first
chunks is the working set. Figures, not a test: read the slope.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STATUS_FIELDS = ("VmRSS", "RssAnon", "VmHWM")


def proc_status() -> dict[str, int]:
    """This process's resident figures from /proc/self/status, in MiB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in STATUS_FIELDS:
            found[name] = int(value.split()[0]) // 1024
    return found


def object_counts() -> Counter[str]:
    """Live objects tracked by the collector, by type name."""
    gc.collect()
    return Counter(type(o).__name__ for o in gc.get_objects())


class Sampler:
    """Prints one line per chunk; every `objects` chunks also the types whose counts grew."""

    def __init__(self, objects: int) -> None:
        self.objects, self.chunks, self.mails = objects, 0, 0
        self.started = self.last = time.perf_counter()
        self.before: Counter[str] | None = object_counts() if objects else None

    def after_chunk(self, size: int) -> None:
        """One chunk done: its figures."""
        self.chunks += 1
        self.mails += size
        figures = " ".join(f"{k} {v:4d}" for k, v in proc_status().items())
        if tracemalloc.is_tracing():
            figures += f" traced {tracemalloc.get_traced_memory()[0] // 2**20:4d}"
        now = time.perf_counter()
        rate, self.last = size / max(now - self.last, 1e-6), now
        print(f"chunk {self.chunks:4d} mails {self.mails:6d} at {now - self.started:6.1f} s ({rate:4.0f} mails/s)  "
              f"{figures} MiB", flush=True)
        if self.objects and self.chunks % self.objects == 0:
            now = object_counts()
            grown = (now - self.before).most_common(12) if self.before is not None else []
            print("    grew: " + ", ".join(f"{name} +{count}" for name, count in grown), flush=True)
            self.before = now


def child(config: str, objects: int) -> int:
    """Run `deskbot run --once` here, with the chunk step wrapped to sample after each chunk."""
    import bot.pipeline
    from bot.cli import main

    sampler = Sampler(objects)
    flush: Callable[..., Any] = bot.pipeline._flush

    def sampled(chunk: Any, *args: Any, **kwargs: Any) -> Any:
        size = len(chunk)
        result = flush(chunk, *args, **kwargs)
        if size:
            sampler.after_chunk(size)
        return result

    bot.pipeline._flush = sampled  # type: ignore[assignment]
    print(f"start  {' '.join(f'{k} {v:4d}' for k, v in proc_status().items())} MiB", flush=True)
    code = int(main(["run", "--once", "--config", config]) or 0)
    print(f"end    {' '.join(f'{k} {v:4d}' for k, v in proc_status().items())} MiB", flush=True)
    return code


def parent(mails: int, *, objects: int, smtp: bool, cache: Path) -> int:
    """A Dovecot user with `mails` waiting, then this script as the daemon's process."""
    from bench.pipeline import MAILBOX, new_mailbox, varied_mails, write_config
    from bot.ops.loopback import SmtpSink
    from tests.servers import DovecotServer, dovecot_usable

    if not dovecot_usable():
        print("needs Dovecot (apt-get install dovecot-imapd) and root; see shared/notes/real-mail-servers.md")
        return 2
    with DovecotServer() as server, SmtpSink() as sink, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        user, password = new_mailbox(server, varied_mails(mails))
        config = write_config(folder, sink, cache, mailbox=MAILBOX.format(host=server.host, port=server.port,
                                                                          user=user))
        if not smtp:
            text = config.read_text()
            config.write_text(text[:text.index("[smtp]")] + text[text.index("[paths]"):])
        command = [sys.executable, os.environ.get("MEMORY_CHILD", __file__), "--child", str(config), "--objects", str(objects)]
        with (folder / "log").open("wb") as log:
            code = subprocess.run(command, env={**os.environ, "BENCH_IMAP_PASSWORD": password}, cwd=folder,
                                  stderr=log, check=False).returncode
        print(f"exit {code}; {len(sink.messages)} acknowledged")
        if code:
            print((folder / "log").read_text()[-3000:])
    return code


def main(argv: list[str] | None = None) -> int:
    """Parse the options; run as the measuring parent or as the daemon's process."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=2000, help="mails waiting in the INBOX (default: %(default)s)")
    parser.add_argument("--objects", type=int, default=0, metavar="N",
                        help="every N chunks, print the object types that grew (slow; default: never)")
    parser.add_argument("--smtp", action=argparse.BooleanOptionalAction, default=True,
                        help="configure [smtp] so acknowledgements are sent (default: yes)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "deskbot-bench-cache",
                        help="the model cache (built once, reused)")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.objects)
    return parent(args.mails, objects=args.objects, smtp=args.smtp, cache=args.cache)


if __name__ == "__main__":
    raise SystemExit(main())
