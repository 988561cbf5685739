"""Old code against new, in turns: `bench/pipeline.py` for an earlier commit and for this tree, one after the other.

    .venv/bin/python bench/turns.py --base HEAD~3                 # 2,000 mails, 4 turns
    .venv/bin/python bench/turns.py --base 7a090f2 --mails 10000 --turns 2 -- --no-reference-keyword

This machine's speed moves by half from hour to hour, so a figure taken now and one taken an hour ago say little
about a change; runs taken in turns share the hour. The base commit is checked out into a temporary git worktree
and run with this tree's virtualenv (PYTHONPATH first, so the daemon it starts imports the old code). Each line
shows both runs' mails/s and the daemon's CPU seconds per 1,000 mails; arguments after `--` go to both runs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = re.compile(r"(\d+) mails/s .*?CPU s per 1,000 mails: daemon +([\d.]+), Dovecot +([\d.]+)", re.S)


def run(tree: Path, mails: int, extra: list[str]) -> str:
    """One `bench/pipeline.py` run of the code in `tree`: 'N mails/s, C CPU-s (Dovecot D)', or why it failed."""
    command = [sys.executable, str(tree / "bench" / "pipeline.py"), "--mails", str(mails), "--no-serve",
               "--no-start", "--repeat", "1", *extra]
    done = subprocess.run(command, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                          text=True, check=False)
    found = FIGURES.search(done.stdout)
    if done.returncode != 0 or found is None:
        return f"failed (exit {done.returncode}): {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
    rate, cpu, dovecot = found.groups()
    return f"{rate:>4} mails/s, {cpu} CPU-s (Dovecot {dovecot})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare this tree with (e.g. HEAD~1)")
    parser.add_argument("--mails", type=int, default=2000, help="mails waiting (default: %(default)s)")
    parser.add_argument("--turns", type=int, default=4, help="pairs of runs (default: %(default)s)")
    parser.add_argument("extra", nargs="*", help="after --: more arguments for bench/pipeline.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deskbot-turns-") as work:
        base = Path(work) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.base], check=True)
        try:
            print(f"{args.mails} mails, {args.turns} turns: {args.base} against this tree", flush=True)
            for turn in range(1, args.turns + 1):
                old = run(base, args.mails, args.extra)
                new = run(ROOT, args.mails, args.extra)
                print(f"  turn {turn}: {args.base}: {old} | this tree: {new}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
