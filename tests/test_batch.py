"""The batched pipeline on real servers (Dovecot, aiosmtpd, SQLite): the same results as one ticket at a time,
and a crash or a server failure in the middle of a batched step loses nothing and does nothing twice."""

from __future__ import annotations

import imaplib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot import acting_batch
from bot.config.file import Config
from bot.daemon import build_triage, sources_of
from bot.ops.loopback import SmtpSink
from bot.pipeline import run_source
from connectors import imap as imap_module
from connectors.imap_batch import store_pipelined, uid_set
from tests.conftest import Clock, Mailbox, new_mailbox
from tests.scenario import copies, customer_mail, cycle, folder_state, make_config, one_by_one, rows
from tests.test_intake_e2e import dsn

CORPUS = Path(__file__).parent / "fixtures" / "mail" / "corpus"


def backlog() -> list[bytes]:
    """Ordinary requests, the same customer twice, a reply in the thread of the first, an auto-reply and then a
    request from its sender (no acknowledgement went to him: the two may share a chunk), a bounce."""
    first = customer_mail(0, message_id="<first@example.org>")
    reply = customer_mail(11, sender="Customer 0 <customer0@example.org>",
                          extra="In-Reply-To: <first@example.org>\r\nReferences: <first@example.org>\r\n")
    odd = [(CORPUS / name).read_bytes() for name in ("ooo-zimbra.eml", "dsn-exchange.eml")]
    return [first, *(customer_mail(n) for n in range(1, 9)), odd[0],
            customer_mail(9, sender="Customer 3 <customer3@example.org>"), reply, odd[1], customer_mail(10),
            customer_mail(12, sender="Pierre Roux <p.roux@mairie.example>")]


def acknowledgements(sink: SmtpSink) -> list[tuple[str, str, str]]:
    """(To, Subject, In-Reply-To) of every acknowledgement received, sorted."""
    return sorted((str(m["To"]), str(m["Subject"]), str(m["In-Reply-To"])) for m in sink.messages)


def decisions(config: Config) -> list[tuple[object, ...]]:
    """What the log says of each mail, by Message-ID (odd items are recorded at once, before their chunk)."""
    return sorted([(r.message_id, r.status, r.reference, r.department, r.priority, r.kind, r.ack_template, r.ack_skip_reason,
             r.follow_up_of is not None, r.reasons, r.pending) for r in rows(config)], key=str)


@pytest.mark.parametrize("batch_size", [200, 5], ids=["one-batch", "batches-read-ahead"])
def test_a_batch_gets_the_same_decisions_keywords_folders_and_acknowledgements_as_one_by_one(
        imap_server, tmp_path: Path, model_cache: Path, clock: Clock, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, batch_size: int) -> None:
    monkeypatch.setattr(imap_module, "_BATCH", batch_size)  # small: the next batch is read while acknowledging
    results, mails = [], backlog()
    for way in ("batch", "one-by-one"):
        mailbox = new_mailbox(imap_server)
        mailbox.append(*mails)
        with SmtpSink() as sink:
            config = make_config([mailbox.config], sink, tmp_path / way, model_cache)
            triage = build_triage(config, clock=clock)
            if way == "batch":
                [scheduled] = sources_of(config, triage)
                report = run_source(scheduled.source, triage)
                assert not report.error and report.read == len(mails)
            else:
                one_by_one(config, triage)
            state = {folder: {m: set(flags) for m, flags in msgs.items()}  # flags are a set (RFC 3501 2.3.2)
                     for folder, msgs in folder_state(mailbox).items() if msgs}
            results.append((decisions(config), state, acknowledgements(sink)))
    batch, single = results
    assert batch[0] == single[0], "the same decisions, references and reasons"
    assert batch[1] == single[1], "the same keywords, in the same folders"
    assert batch[2] == single[2] and len(batch[2]) >= 9, "the same acknowledgements"
    assert any(d[8] for d in batch[0]), "the reply was recognised as a follow-up of a ticket in the same batch"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR], "no batch fell back"


class Killed(BaseException):
    """The process dying: nothing of deskbot's own error handling runs for it."""


class DyingMailer:
    """The real mailer, until the process dies just before the Nth message is handed to it."""

    def __init__(self, mailer: object, n: int) -> None:
        self.mailer, self.n, self.sent = mailer, n, 0

    def send(self, message: EmailMessage) -> None:
        if self.sent + 1 == self.n:
            raise Killed("SIGKILL")
        self.mailer.send(message)  # type: ignore[attr-defined]
        self.sent += 1

    def close(self) -> None:
        self.mailer.close()  # type: ignore[attr-defined]


@pytest.fixture
def sent_config(mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path) -> Config:
    """Ten customer mails waiting, acknowledgements copied to Sent (how a restart finds them)."""
    mailbox.append(*(customer_mail(n) for n in range(10)))
    return make_config([mailbox.config.model_copy(update={"sent_folder": "Sent"})], smtp_sink, tmp_path, model_cache)


def test_a_crash_in_the_middle_of_a_batch_of_acknowledgements_loses_none_and_sends_none_twice(
        sent_config: Config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock) -> None:
    triage = build_triage(sent_config, clock=clock)
    [scheduled] = sources_of(sent_config, triage)
    scheduled.source.mailer = DyingMailer(scheduled.source.mailer, 4)
    with pytest.raises(Killed):
        run_source(scheduled.source, triage)
    assert len(smtp_sink.messages) == 3 and all(r.pending for r in rows(sent_config))

    [scheduled] = sources_of(sent_config, triage)
    report = run_source(scheduled.source, triage)

    assert not report.error and [o.status for o in report.outcomes] == ["done"] * 10
    assert sorted(str(m["To"]) for m in smtp_sink.messages) == sorted(f"Customer {n} <customer{n}@example.org>"
                                                                      for n in range(10)), "each exactly once"
    assert all(len(folders) == 1 and folders != ["INBOX"] for folders in copies(mailbox).values()
               if folders != ["Sent"]), "each mail filed once"
    assert not any(r.pending for r in rows(sent_config))


class DyingBatchMailer:
    """The real mailer, until the process dies right after the server accepted the Nth message of the cycle."""

    def __init__(self, mailer: object, n: int) -> None:
        self.mailer, self.n, self.sent = mailer, n, 0

    def send_many(self, messages: list[object], **options: object) -> list[BaseException | None]:
        room = self.n - self.sent
        results = self.mailer.send_many(messages[:room], **options)  # type: ignore[attr-defined]
        self.sent += min(room, len(messages))
        if room <= len(messages):
            raise Killed("SIGKILL")
        return results  # type: ignore[no-any-return]

    def close(self) -> None:
        self.mailer.close()  # type: ignore[attr-defined]


def test_without_a_sent_folder_a_crash_mid_batch_resends_only_the_unrecorded_group_with_the_same_ids(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a Sent folder a restart cannot tell whether an acknowledgement in flight went out, and sends it
    again: each group of acknowledgements is recorded as soon as it is sent, so a crash resends one group at most,
    not every acknowledgement the batch sent before it."""
    monkeypatch.setattr(acting_batch, "SENT_AT_ONCE", 4)  # groups of four: twelve mails make three
    mailbox.append(*(customer_mail(n) for n in range(12)))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    [scheduled] = sources_of(config, triage)
    first_group = acting_batch.SENT_AT_ONCE
    scheduled.source.mailer = DyingBatchMailer(scheduled.source.mailer, first_group + 2)
    with pytest.raises(Killed):
        run_source(scheduled.source, triage)
    assert len(smtp_sink.messages) == first_group + 2

    [scheduled] = sources_of(config, triage)
    report = run_source(scheduled.source, triage)

    assert not report.error and [o.status for o in report.outcomes] == ["done"] * 12
    received = [str(m["To"]) for m in smtp_sink.messages]
    assert sorted(set(received)) == sorted(f"Customer {n} <customer{n}@example.org>" for n in range(12))
    assert len(received) == 12 + 2, "only the two sent after the last recorded group went twice"
    ids: dict[str, set[str]] = {}
    for m in smtp_sink.messages:
        ids.setdefault(str(m["To"]), set()).add(str(m["Message-ID"]))
    assert all(len(found) == 1 for found in ids.values()), "a resent acknowledgement keeps its Message-ID"
    assert not any(r.pending for r in rows(config))


def test_a_connection_lost_in_the_middle_of_a_batched_move_is_resumed_without_moving_twice(
        sent_config: Config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    triage = build_triage(sent_config, clock=clock)
    events: list[str] = []

    def drop(event: str) -> None:
        events.append(event)
        if event == "move answered":  # the server moved them; the answer never arrives
            raise ConnectionResetError("connection reset by peer")

    with pytest.MonkeyPatch.context() as patch:
        watch_moves(patch, drop)
        [scheduled] = sources_of(sent_config, triage)
        report = run_source(scheduled.source, triage)
    assert "move sent" in events, "the batch moved its mail"
    assert "connection reset" in report.error and all(r.pending for r in rows(sent_config))

    [scheduled] = sources_of(sent_config, triage)
    report = run_source(scheduled.source, triage)

    assert not report.error and not any(r.pending for r in rows(sent_config))
    assert len(smtp_sink.messages) == 10
    moved = [folders for folders in copies(mailbox).values() if folders != ["Sent"]]
    assert len(moved) == 10 and all(len(f) == 1 and f != ["INBOX"] for f in moved), "filed once each"


def test_a_server_error_mid_batch_leaves_the_rest_pending_and_the_next_cycle_resumes(
        sent_config: Config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    triage = build_triage(sent_config, clock=clock)
    real_command = imaplib.IMAP4._command

    def refuse(imap: imaplib.IMAP4, name: str, *args: object) -> object:
        if "STORE" in args:  # the keywords' STOREs of the whole batch never get through
            raise OSError("connection reset by peer")
        return real_command(imap, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", refuse)
    [scheduled] = sources_of(sent_config, triage)
    report = run_source(scheduled.source, triage)
    assert report.error and len(rows(sent_config)) == 10, "the batch was recorded before acting on it"
    assert all(r.pending and r.status == "decided" for r in rows(sent_config)) and not smtp_sink.messages
    monkeypatch.setattr(imaplib.IMAP4, "_command", real_command)

    [scheduled] = sources_of(sent_config, triage)
    report = run_source(scheduled.source, triage)

    assert not report.error and [o.status for o in report.outcomes] == ["done"] * 10
    assert len(smtp_sink.messages) == 10
    filed = {f: msgs for f, msgs in folder_state(mailbox).items() if f not in ("INBOX", "Sent") and msgs}
    assert sum(len(msgs) for msgs in filed.values()) == 10
    assert all(b"deskbot-processed" in flags for msgs in filed.values() for flags in msgs.values())


def test_an_unreadable_mail_inside_a_batch_is_set_aside_and_the_others_go_on(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    huge = customer_mail(5, body="x" * 20_000)
    mailbox.append(*(customer_mail(n) for n in range(5)), huge, *(customer_mail(n) for n in range(6, 10)))
    config = make_config([mailbox.config.model_copy(update={"max_message_bytes": 10_000})], smtp_sink, tmp_path,
                         model_cache)
    triage = build_triage(config, clock=clock)
    [scheduled] = sources_of(config, triage)

    report = run_source(scheduled.source, triage)

    assert sorted(o.status for o in report.outcomes) == ["done"] * 9 + ["unreadable"]
    assert len(smtp_sink.messages) == 9
    inbox = folder_state(mailbox)["INBOX"]
    assert len(inbox) == 1 and {b"\\Flagged", b"deskbot-unparseable"} <= set(next(iter(inbox.values())))
    assert not any(r.pending for r in rows(config))
    [scheduled] = sources_of(config, triage)
    assert run_source(scheduled.source, triage).read == 0, "the cursor went past all ten"


def test_a_batch_of_acknowledgements_gives_each_recipient_its_own_outcome_and_one_copy_in_sent(
        sent_config: Config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock) -> None:
    """Sent together over a few connections: a refused recipient fails (flagged), a greylisted one waits in the
    outbox, the others are done, each copied once to Sent."""
    smtp_sink.handler.refuse_rcpt = {"customer3@example.org": "550 5.1.1 no such user",
                                     "customer5@example.org": "450 4.2.0 greylisted"}
    triage = build_triage(sent_config, clock=clock)
    [scheduled] = sources_of(sent_config, triage)

    report = run_source(scheduled.source, triage)

    status = {r.sender: r.status for r in rows(sent_config)}
    assert status.pop("customer3@example.org") == "failed" and status.pop("customer5@example.org") == "outbox"
    assert set(status.values()) == {"done"} and len(smtp_sink.messages) == 8 and not report.error
    sent = folder_state(mailbox)["Sent"]
    assert len(sent) == 8 and all(b"\\Seen" in flags for flags in sent.values())
    assert sorted(str(m["Message-ID"]) for m in smtp_sink.messages) == sorted(
        m.decode().partition(":")[2].strip() for m in sent), "one copy of each acknowledgement sent, none of the others"


def test_a_bounce_inside_a_batch_silences_its_address_for_the_mails_after_it(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    """A delivery report goes with its batch, and a later mail of the same batch from the address it names is
    judged after the suppression, as one by one: no acknowledgement goes there again."""
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    mailbox.append(customer_mail(0, sender="Gone <gone@customer.example>"))
    cycle(config, triage)
    [ack] = smtp_sink.messages
    clock.now += timedelta(hours=2)
    mailbox.append(customer_mail(1), dsn(ack, "gone@customer.example"), customer_mail(2),
                   customer_mail(5, sender="Gone <gone@customer.example>"), customer_mail(3))

    [report] = cycle(config, triage)

    assert not report.error and sorted(o.status for o in report.outcomes) == ["done"] * 5
    later = next(r for r in rows(config) if r.sender == "gone@customer.example" and r.id != rows(config)[0].id)
    assert "bounced for good" in (later.ack_skip_reason or "")
    assert sorted(str(m["To"]) for m in smtp_sink.messages[1:]) == [f"Customer {n} <customer{n}@example.org>"
                                                                   for n in (1, 2, 3)]


def test_pipelined_stores_set_each_messages_keywords_and_keep_no_announcements(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    """All STOREs sent before the first answer is read; a refused one (a keyword the server calls BAD) fails
    alone; Dovecot's announcements of the keyword list after each new keyword are not kept on the connection."""
    mailbox.append(*(customer_mail(n) for n in range(3)))
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    [scheduled] = sources_of(config, build_triage(config, clock=clock))
    with scheduled.source as source:
        uids = sorted(source.client.search(["ALL"]))
        taken = store_pipelined(source, [([uids[0], uids[1]], ["deskbot-dept-billing", "SUP-000001"]),
                                         ([uids[2]], ["bad(keyword"]), ([uids[2]], ["SUP-000002"])], "store")
        assert taken == [True, False, True]
        assert not {"FLAGS", "OK"} & set(source.client._imap.untagged_responses)
    keywords = sorted(sorted(f for f in flags if not f.startswith(b"\\"))
                      for flags in folder_state(mailbox)["INBOX"].values())
    assert keywords == [[b"SUP-000001", b"deskbot-dept-billing"]] * 2 + [[b"SUP-000002"]]


@pytest.mark.parametrize(("uids", "expected"), [([5], "5"), ([1, 2, 3], "1:3"), ([9, 1, 2, 4, 3, 7], "1:4,7,9"),
                                                ([2, 2, 3], "2:3")])
def test_uid_sets_are_compact(uids: list[int], expected: str) -> None:
    assert uid_set(uids) == expected


@pytest.mark.parametrize("way", ["batch", "one-by-one"])
def test_reference_keyword_false_files_mail_with_every_keyword_but_the_reference(
        way: str, mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock) -> None:
    mailbox.append(*(customer_mail(n) for n in range(4)))
    config = make_config([mailbox.config.model_copy(update={"reference_keyword": False})], smtp_sink, tmp_path,
                         model_cache)
    triage = build_triage(config, clock=clock)
    if way == "batch":
        [scheduled] = sources_of(config, triage)
        assert run_source(scheduled.source, triage).read == 4
    else:
        one_by_one(config, triage)

    references = {r.reference for r in rows(config)}
    flags = [set(f) for msgs in folder_state(mailbox).values() for f in msgs.values()]
    assert len(flags) == 4 and len(references) == 4 and len(smtp_sink.messages) == 4
    assert all(b"deskbot-processed" in f and any(k.startswith(b"deskbot-dept-") for k in f) for f in flags)
    assert not any(ref.encode() in f for f in flags for ref in references)  # no reference became a keyword
    assert all(any(ref in str(m["Subject"]) for ref in references) for m in smtp_sink.messages)  # still told


def test_the_next_batch_is_read_while_acknowledgements_go_out_and_a_stop_then_leaves_it_for_the_next_cycle(
        sent_config: Config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap_module, "_BATCH", 4)
    smtp_sink.handler.delay = 0.05  # a server that takes its time over each message: time to read ahead
    triage, stop = build_triage(sent_config, clock=clock), threading.Event()
    [scheduled] = sources_of(sent_config, triage)
    source = scheduled.source
    read_when: list[int] = []  # acknowledgements received when each batch had been fetched
    fetch_batches = source.fetch_batches

    def watched(cursor: str | None) -> Iterator[list[object]]:
        for batch in fetch_batches(cursor):
            read_when.append(len(smtp_sink.handler.received))
            if len(read_when) == 2:
                stop.set()  # Ctrl-C while the first batch is acknowledged, its successor read ahead
            yield batch

    monkeypatch.setattr(source, "fetch_batches", watched)
    report = run_source(source, triage, stop=stop)

    assert report.stopped and not report.error
    assert read_when[0] == 0 and read_when[1] < 4, \
        "the second batch was fetched while the first one's four acknowledgements went out"
    assert [o.status for o in report.outcomes] == ["done"] * 4, "the batch in hand was finished"
    assert len(rows(sent_config)) == 4, "what was read ahead is not recorded: the next cycle reads it again"
    assert len(source.meanwhile) == 0, "nothing queued is left to run on another cycle's connection"

    [scheduled] = sources_of(sent_config, triage)
    report = run_source(scheduled.source, triage)
    assert not report.error and [o.status for o in report.outcomes] == ["done"] * 6
    assert sorted(str(m["To"]) for m in smtp_sink.messages) == sorted(f"Customer {n} <customer{n}@example.org>"
                                                                      for n in range(10)), "each exactly once"
    assert not any(r.pending for r in rows(sent_config))


def watch_moves(patch: pytest.MonkeyPatch, note: Callable[[str], None]) -> None:
    """Tell `note` "move sent" when a UID MOVE goes to the server and "move answered" once its answer is read
    (whatever `note` raises then comes from the connection, after the server did the move)."""
    real_command, real_complete = imaplib.IMAP4._command, imaplib.IMAP4._command_complete
    moves: set[bytes] = set()

    def command(imap: imaplib.IMAP4, name: str, *args: object) -> bytes:
        tag = real_command(imap, name, *args)
        if name == "UID" and args[:1] == ("MOVE",):
            moves.add(tag)
            note("move sent")
        return tag

    def complete(imap: imaplib.IMAP4, name: str, tag: bytes, *args: object, **kwargs: object) -> object:
        answer = real_complete(imap, name, tag, *args, **kwargs)
        if tag in moves:
            note("move answered")
        return answer

    patch.setattr(imaplib.IMAP4, "_command", command)
    patch.setattr(imaplib.IMAP4, "_command_complete", complete)


class Recording:
    """The live model, noting each batch it predicts in `events`."""

    def __init__(self, model: object, events: list[str]) -> None:
        self.model, self.events = model, events

    def predict(self, text: str) -> object:
        return self.model.predict(text)  # type: ignore[attr-defined]

    def predict_many(self, texts: list[str]) -> list[object]:
        self.events.append(f"predict {len(texts)}")
        return type(self.model).predict_many(self.model, texts)  # type: ignore[attr-defined]


def test_the_next_batch_is_predicted_while_the_server_moves_this_one(
        sent_config: Config, mailbox: Mailbox, smtp_sink: SmtpSink, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap_module, "_BATCH", 5)
    smtp_sink.handler.delay = 0.02  # time to fetch and parse the next batch while acknowledging this one
    events: list[str] = []
    triage = build_triage(sent_config, clock=clock)
    triage = replace(triage, classifier=Recording(triage.classifier, events))
    watch_moves(monkeypatch, events.append)
    [scheduled] = sources_of(sent_config, triage)
    report = run_source(scheduled.source, triage)

    assert not report.error and [o.status for o in report.outcomes] == ["done"] * 10
    first_moves = events.index("move sent")
    assert events[:first_moves].count("predict 5") == 1, "the first batch was predicted before it was acted on"
    answered = events.index("move answered", first_moves)
    assert "predict 5" in events[first_moves:answered], "the second batch was predicted while its MOVEs ran"
    assert events.count("predict 5") == 2


def test_a_batch_holds_at_most_its_share_of_bytes_and_every_mail_is_still_handled_once(
        mailbox: Mailbox, smtp_sink: SmtpSink, tmp_path: Path, model_cache: Path, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    long = "Please check my invoice. " + "Details follow. " * 120
    mailbox.append(*(customer_mail(n, body=long) for n in range(6)))
    size = len(customer_mail(0, body=long))
    monkeypatch.setattr(imap_module, "_BATCH_BYTES", int(size * 2.5))  # two of these mails, not three
    config = make_config([mailbox.config], smtp_sink, tmp_path, model_cache)
    triage = build_triage(config, clock=clock)
    [scheduled] = sources_of(config, triage)
    source, held = scheduled.source, []
    fetch_batches = source.fetch_batches

    def watched(cursor: str | None) -> Iterator[list[object]]:
        for batch in fetch_batches(cursor):
            held.append(sum(len(item.data) for item in batch))
            yield batch

    monkeypatch.setattr(source, "fetch_batches", watched)
    report = run_source(source, triage)

    assert not report.error and [o.status for o in report.outcomes] == ["done"] * 6
    assert len(held) == 3 and all(h <= size * 2.5 for h in held), held
    assert len(smtp_sink.messages) == 6 and not any(r.pending for r in rows(config))


def test_runs_by_size_keep_order_and_let_a_mail_larger_than_the_budget_go_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap_module, "_BATCH_BYTES", 100)
    sizes = {1: {b"RFC822.SIZE": 40}, 2: {b"RFC822.SIZE": 40}, 3: {b"RFC822.SIZE": 40}, 4: {b"RFC822.SIZE": 500},
             5: {b"RFC822.SIZE": 10}, 6: {b"RFC822.SIZE": 9000}}  # 6 is over max_message_bytes: never read
    assert list(imap_module.by_size([1, 2, 3, 4, 5, 6, 7], sizes, 1000)) == [[1, 2], [3], [4], [5, 6, 7]]


def test_a_backlog_is_read_in_full_batches_and_its_last_ones_in_two_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap_module, "_BATCH", 10)
    monkeypatch.setattr(imap_module, "_SMALLEST", 3)

    def sizes(n: int) -> list[int]:
        batches = list(imap_module.windows(list(range(n))))
        assert [u for b in batches for u in b] == list(range(n)), "every UID once, in order"
        return [len(b) for b in batches]

    assert sizes(0) == [] and sizes(1) == [1] and sizes(5) == [5], "no half under _SMALLEST"
    assert sizes(6) == [3, 3] and sizes(7) == [4, 3] and sizes(19) == [10, 9]
    assert sizes(20) == [10, 5, 5] and sizes(45) == [10, 10, 10, 8, 7]
