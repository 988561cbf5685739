"""Building blocks of the end-to-end tests: a config pointing at the test servers, cycles, and the servers' state."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from sqlmodel import Session, select, update

from bot.config.file import Config, DatabaseConfig, MailboxConfig, PathsConfig, SmtpConfig
from bot.daemon import run_once, sources_of
from bot.log.database import open_engine
from bot.log.schema import ActionLog, TicketLog
from bot.ops.loopback import SmtpSink
from bot.pipeline import NEVER, SourceReport, handle_item, seed_references
from bot.triage import Triage
from tests.conftest import Mailbox

FROM = "Support <support@deskbot.test>"
_TOPICS = [  # (subject, body) of ordinary customer mail, one per department
    ("Invoice {n} charged twice", "Hello, my credit card was charged twice for invoice {n}. Please refund one payment."),
    ("Cannot log in to my account ({n})", "Hi, since this morning I cannot log in, the password reset mail never arrives."),
    ("App crashes on start, case {n}", "The app crashes with error E-{n} every time I open the dashboard on Android."),
    ("Order {n} arrived damaged", "My order {n} arrived with a broken lamp. I would like a replacement or a refund."),
    ("Quote for {n} licences", "Could you send us a quote for {n} business licences and your volume discount?"),
]


def make_config(mailboxes: list[MailboxConfig], sink: SmtpSink | None, tmp_path: Path, cache: Path,
                **paths: str) -> Config:
    """A config like a user's deskbot.toml, pointing at the test servers."""
    smtp = SmtpConfig(host=sink.host, port=sink.port, security="none", **{"from": FROM}) if sink else None
    return Config(database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'log.sqlite3'}"), smtp=smtp,
                  mailbox=mailboxes, paths=PathsConfig(cache=str(cache), **paths), base_dir=str(tmp_path))


def customer_mail(n: int, *, sender: str = "", message_id: str = "", body: str = "", extra: str = "") -> bytes:
    """An ordinary customer request, different for every `n`."""
    subject, text = _TOPICS[n % len(_TOPICS)]
    message = EmailMessage()
    message["From"] = sender or f"Customer {n} <customer{n}@example.org>"
    message["To"] = "support@deskbot.test"
    message["Subject"] = subject.format(n=1000 + n)
    message["Date"] = format_datetime(datetime(2026, 11, 17, 8, 0, tzinfo=timezone.utc) + timedelta(minutes=n))
    message["Message-ID"] = message_id or make_msgid(idstring=f"m{n}", domain="example.org")
    message.set_content((body or text.format(n=1000 + n)) + "\n\nBest regards\nCustomer " + str(n) + "\n")
    return extra.encode() + message.as_bytes()


def write_config(tmp_path: Path, mailbox: Mailbox, sink: SmtpSink, cache: Path, *, extra: str = "",
                 mailbox_extra: str = "") -> Path:
    """A deskbot.toml as an admin writes it; the IMAP password comes from the environment."""
    cfg = mailbox.config
    path = tmp_path / "deskbot.toml"
    path.write_text(f"""
[database]
url = "sqlite:///var/deskbot.sqlite3"
[smtp]
host = "{sink.host}"
port = {sink.port}
security = "none"
from = "Support <support@deskbot.test>"
[[mailbox]]
name = "support"
host = "{cfg.host}"
port = {cfg.port}
security = "none"
username = "{cfg.username}"
password_env = "TEST_IMAP_PASSWORD"
first_run = "all"
{mailbox_extra}
[paths]
cache = "{cache}"
{extra}
""")
    return path


def cycle(config: Config, triage: Triage) -> list[SourceReport]:
    """One `run --once` cycle over every source of the config."""
    return run_once(sources_of(config, triage), triage, stop=NEVER)


def one_by_one(config: Config, triage: Triage) -> None:
    """What the API and webhooks do: handle_item for each new item, the per-ticket path."""
    [scheduled] = sources_of(config, triage)
    with scheduled.source as source:
        seed_references(source, triage)  # as every cycle does once per start
        for item in source.fetch_new(None):
            handle_item(item, source, triage)


def rows(config: Config) -> list[TicketLog]:
    """Every record of the decision log."""
    with Session(open_engine(config.database_url())) as session:
        return list(session.exec(select(TicketLog).order_by(TicketLog.id)))


def actions(config: Config, ticket_id: int) -> dict[str, ActionLog]:
    """A ticket's actions by kind."""
    with Session(open_engine(config.database_url())) as session:
        return {a.kind: a for a in session.exec(select(ActionLog).where(ActionLog.ticket_id == ticket_id))}


def set_inflight(config: Config, ticket_id: int, *kinds: str) -> None:
    """Put the decision log back where a crash would have left it: these actions in flight, the ticket pending."""
    with Session(open_engine(config.database_url())) as session:
        session.exec(update(ActionLog).where(ActionLog.ticket_id == ticket_id, ActionLog.kind.in_(kinds))  # type: ignore[attr-defined]
                     .values(state="inflight", detail=""))
        session.exec(update(TicketLog).where(TicketLog.id == ticket_id).values(status="decided", pending=True))
        session.commit()


def folder_state(mailbox: Mailbox) -> dict[str, dict[bytes, tuple[bytes, ...]]]:
    """Folder -> Message-ID header -> flags, for every message on the server."""
    client = mailbox.client()
    state = {}
    for _, _, name in client.list_folders():
        client.select_folder(name, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
        state[name] = {  # \Recent belongs to whichever session saw the message first, not to the message
            data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].strip(): tuple(f for f in data[b"FLAGS"] if f != b"\\Recent")
            for data in fetched.values()
        }
    client.logout()
    return state


def copies(mailbox: Mailbox) -> dict[bytes, list[str]]:
    """Message-ID header -> the folders holding a copy of it (a message moved twice shows up twice)."""
    client = mailbox.client()
    found: dict[bytes, list[str]] = {}
    for _, _, name in client.list_folders():
        client.select_folder(name, readonly=True)
        uids = client.search(["NOT", "DELETED"])
        for data in (client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}).values():
            found.setdefault(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].strip(), []).append(name)
    client.logout()
    return found
