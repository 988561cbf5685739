"""Memory and start-up of the daemon and of `deskbot serve`, each in its own process (issue 20's targets:
peak RSS <= 250 MiB, start to first mail <= 2 s with a cached model).

    .venv/bin/python bench/footprint.py [--mails 2000] [--tickets 2000] [--requests 300]

Prints: import times of the entry points and which heavy libraries each pulls in; RSS after importing the
daemon, after loading the cached default model and after classifying N tickets; `deskbot run --once` over N
mails in a Dovecot folder (time from spawn to the first decision, whole run, peak RSS); `deskbot serve` idle
and after requests. The model cache is built once, before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import imapclient  # noqa: E402

from bench.pipeline import wait_until_up  # noqa: E402
from bench.triage import corpus_mails  # noqa: E402
from bot.ops.loopback import SmtpSink, free_port  # noqa: E402
from tests.servers import DovecotServer, PymapPool, dovecot_usable  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("nltk", "sklearn", "scipy", "numpy", "matplotlib", "pandas", "fastapi", "uvicorn", "skops", "sqlmodel")
TOKEN = "bench-token-0123456789abcdef"

# Runs in a child: RSS at each stage of a daemon's life, as JSON on stdout.
STAGES = """
import json, sys, time
def rss():
    fields = dict(line.split(':', 1) for line in open('/proc/self/status'))
    return [int(fields[k].split()[0]) / 1024 for k in ('VmRSS', 'VmHWM')]
out = {'start': rss()}
began = time.perf_counter()
import bot.cli, bot.commands, bot.daemon
out['import'] = rss(); out['import_s'] = time.perf_counter() - began
from pathlib import Path
began = time.perf_counter()
model = bot.daemon.load_classifier(None, Path(sys.argv[1]))
out['model'] = rss(); out['model_s'] = time.perf_counter() - began
texts = json.loads(sys.stdin.read())
began = time.perf_counter()
for start in range(0, len(texts), 50):
    model.predict_many(texts[start:start + 50])
out['classify'] = rss(); out['classify_s'] = time.perf_counter() - began
print(json.dumps(out))
"""

RUN_CONFIG = """\
[database]
url = "sqlite:///{folder}/log.sqlite3"
[paths]
cache = "{cache}"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Support <support@deskbot.test>"
[[mailbox]]
name = "bench"
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
password = "{password}"
first_run = "all"
"""

SERVE_CONFIG = """\
[database]
url = "sqlite:///{folder}/serve.sqlite3"
[paths]
cache = "{cache}"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Support <support@deskbot.test>"
[api]
listen = "127.0.0.1:{port}"
[[api.tokens]]
name = "bench"
token_env = "DESKBOT_BENCH_TOKEN"
scopes = ["predict", "tickets"]
requests_per_minute = 100000000
"""


def imports() -> list[str]:
    """Wall time of importing each entry point in a fresh interpreter, and the heavy libraries it loads."""
    lines = []
    for module in ("bot.cli", "bot.daemon", "bot.api.app", "classifier.model"):
        code = (f"import sys, time; t = time.perf_counter(); import {module}; t = time.perf_counter() - t; "
                f"print(t, ' '.join(m for m in {HEAVY!r} if m in sys.modules))")
        best, heavy = min(_child_import(code) for _ in range(3))
        lines.append(f"import {module:<18} {best * 1000:6.0f} ms   heavy: {heavy or '-'}")
    return lines


def _child_import(code: str) -> tuple[float, str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    seconds, _, heavy = out.strip().partition(" ")
    return float(seconds), heavy


def stages(cache: Path, texts: list[str]) -> list[str]:
    """RSS of one process after imports, model load and classifying `texts` (current / peak so far)."""
    out = subprocess.run([sys.executable, "-c", STAGES, str(cache)], input=json.dumps(texts), capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    data = json.loads(out)
    rows = [("interpreter", "start", None), ("import bot.cli/commands/daemon", "import", "import_s"),
            ("load cached default model", "model", "model_s"), (f"classify {len(texts)} tickets", "classify",
                                                               "classify_s")]
    return [f"{name:<32} RSS {data[key][0]:6.0f} MiB  peak {data[key][1]:6.0f} MiB"
            + (f"  ({data[took]:.2f} s)" if took else "") for name, key, took in rows]


def run_once(mails: int, cache: Path, folder: Path) -> list[str]:
    """`deskbot run --once` over `mails` waiting in a Dovecot (else pymap) folder, as its own process."""
    data = corpus_mails(mails)
    server = DovecotServer() if dovecot_usable() else PymapPool()
    with server, SmtpSink() as sink:
        user, password = server.new_user()
        client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
        client.login(user, password)
        for mail in data:
            client.append("INBOX", mail)
        client.logout()
        config = folder / "run.toml"
        config.write_text(RUN_CONFIG.format(folder=folder, cache=cache, smtp_port=sink.port, imap_port=server.port,
                                            user=user, password=password), encoding="utf-8")
        began = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "bot", "run", "--once", "--config", str(config)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        first, split, lines = None, (0.0, 0.0), 0
        assert child.stderr is not None
        for line in child.stderr:
            if first is None and " -> " in line and " review=" in line:
                first = time.perf_counter() - began
            lines += 1
            if lines % 50 == 0:
                split = max(split, _anon_file(child.pid))
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        whole = time.perf_counter() - began
        sent = len(sink.messages)
    return [f"server                           {server.kind}, {mails} mails waiting, {sent} acknowledgements",
            f"spawn to first decision          {first if first is not None else float('nan'):.2f} s",
            f"whole run                        {whole:.2f} s (exit {child.returncode})",
            f"peak RSS                         {usage.ru_maxrss / 1024:.0f} MiB",
            f"largest sample: anonymous        {split[0]:.0f} MiB + file-backed (libraries, mapped tables) "
            f"{split[1]:.0f} MiB"]


def _anon_file(pid: int) -> tuple[float, float]:
    """Anonymous and file-backed resident memory of a running process, in MiB (0 once it has gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return int(fields["RssAnon"].split()[0]) / 1024, int(fields["RssFile"].split()[0]) / 1024


def serve(cache: Path, folder: Path, texts: list[str], requests: int) -> list[str]:
    """`deskbot serve` as its own process: RSS when up and idle, then after predict, batch and ticket requests."""
    port = free_port()
    with SmtpSink() as sink:
        config = folder / "serve.toml"
        config.write_text(SERVE_CONFIG.format(folder=folder, cache=cache, smtp_port=sink.port, port=port),
                          encoding="utf-8")
        began = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--config", str(config)],
                                 env={**os.environ, "DESKBOT_BENCH_TOKEN": TOKEN}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                              headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                wait_until_up(http, child, timeout=180)  # a new cache: the model is built first
                up = time.perf_counter() - began
                time.sleep(1)
                idle = _rss(child.pid)
                _load(http, texts, requests)
                busy = _rss(child.pid)
        finally:
            child.terminate()
            child.wait(timeout=30)
    return [f"spawn to /healthz answering      {up:.2f} s",
            f"idle                             RSS {idle[0]:6.0f} MiB  peak {idle[1]:6.0f} MiB",
            f"after {requests} predict + 1 batch of 1,000 + {requests // 10} tickets "
            f"RSS {busy[0]:.0f} MiB  peak {busy[1]:.0f} MiB"]


def _load(http: httpx.Client, texts: list[str], requests: int) -> None:
    """Requests of each kind the API serves with the model."""
    for i in range(requests):
        http.post("/v1/predict", json={"subject": "", "body": texts[i % len(texts)]}).raise_for_status()
    batch = [{"subject": "", "body": texts[j % len(texts)]} for j in range(1000)]
    http.post("/v1/predict/batch", json={"tickets": batch}).raise_for_status()
    for i in range(requests // 10):
        http.post("/v1/tickets", json={"subject": "Help", "body": texts[i % len(texts)],
                                       "sender": f"c{i}@example.com", "external_id": f"fp-{i}"}).raise_for_status()


def _rss(pid: int) -> tuple[float, float]:
    """Current and peak RSS of a running process, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=2000, help="mails waiting for `run --once` (0: skip)")
    parser.add_argument("--tickets", type=int, default=2000, help="tickets classified in the stages process")
    parser.add_argument("--requests", type=int, default=300, help="POST /v1/predict requests to serve (0: skip)")
    args = parser.parse_args()
    texts = [m.decode("utf-8", "replace") for m in corpus_mails(args.tickets)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cache = folder / "cache"
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from bot.daemon import "
                        "load_classifier; load_classifier(None, Path(sys.argv[1]))", str(cache)], check=True, cwd=ROOT)
        sections = {"imports (best of 3, fresh interpreter)": imports(), "one process, stage by stage":
                    stages(cache, texts)}
        if args.mails:
            sections["deskbot run --once (cached model)"] = run_once(args.mails, cache, folder)
        if args.requests:
            sections["deskbot serve (cached model)"] = serve(cache, folder, texts, args.requests)
    for title, lines in sections.items():
        print(f"## {title}")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
