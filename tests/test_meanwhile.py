"""Work done while a connector waits (connectors/meanwhile.py): each job runs once, early or when its result is
asked for, with its own result or error; the mailer runs queued jobs while a real SMTP server (aiosmtpd) takes
its time, and still delivers every message with its own answer."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from bot.config.file import SmtpConfig
from bot.ops.loopback import SmtpSink
from connectors.meanwhile import Job, Meanwhile
from connectors.smtp import SmtpMailer


def test_a_job_runs_once_whether_run_early_or_asked_for_and_keeps_its_result() -> None:
    calls: list[int] = []
    queue = Meanwhile()
    first = queue.later(lambda: calls.append(1) or "one")
    second = queue.later(lambda: calls.append(2) or "two")

    assert second.result() == "two" and calls == [2], "asked for first: run at once, out of turn"
    assert queue.step() and calls == [2, 1], "the queue then runs the one not yet run"
    assert not queue.step(), "a job already run is not run again"
    assert (first.result(), second.result()) == ("one", "two") and calls == [2, 1]


def test_a_jobs_error_is_raised_to_whoever_asks_for_its_result_and_never_to_the_runner() -> None:
    queue = Meanwhile()
    failing = queue.later(lambda: 1 / 0)
    assert queue.step(), "the runner (the mailer, mid-send) is not disturbed"
    for _ in range(2):  # the same error each time it is asked for
        with pytest.raises(ZeroDivisionError):
            failing.result()


def test_an_interrupt_inside_a_job_goes_on_up_at_once() -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    queue = Meanwhile()
    queue.later(interrupted)
    with pytest.raises(KeyboardInterrupt):
        queue.step()


def test_cleared_jobs_are_not_run_by_the_queue_but_still_run_when_asked_for() -> None:
    queue = Meanwhile()
    job = queue.later(lambda: "late")
    queue.clear()
    assert not queue.step() and len(queue) == 0
    assert job.result() == "late"
    assert Job(lambda: 3).result() == 3


def test_long_jobs_wait_for_a_pause_that_fits_them_and_short_ones_never_run_there() -> None:
    queue, ran = Meanwhile(), []
    long = queue.later(lambda: ran.append("long"), long=True)
    short = queue.later(lambda: ran.append("short"))
    assert len(queue) == 2
    assert queue.step() and not queue.step(), "between an SMTP server's answers: the short job only"
    assert ran == ["short"] and not long.done
    assert queue.step(long=True) and not queue.step(long=True) and ran == ["short", "long"] and short.done
    queue.later(lambda: "dropped", long=True)
    queue.clear()
    assert len(queue) == 0 and not queue.step(long=True)


def _message(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "support@deskbot.test"
    message["To"] = f"customer{n}@example.org"
    message["Subject"] = f"Re: request {n}"
    message.set_content("We have your request.\n")
    return message


def test_the_mailer_runs_queued_jobs_while_a_slow_server_answers_and_delivers_every_message(
        smtp_sink: SmtpSink) -> None:
    smtp_sink.handler.delay = 0.02  # the server takes 20 ms over each message
    config = SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, security="none", **{"from": "support@deskbot.test"})
    queue = Meanwhile()
    delivered_when_run: list[int] = []
    jobs = [queue.later(lambda: delivered_when_run.append(len(smtp_sink.handler.received))) for _ in range(6)]

    with SmtpMailer(config) as mailer:
        results = mailer.send_many([_message(n) for n in range(3)], meanwhile=queue)

    assert results == [None, None, None]
    assert [str(m["To"]) for m in smtp_sink.messages] == [f"customer{n}@example.org" for n in range(3)]
    assert all(job.done for job in jobs), "six short jobs fit in the server's 60 ms"
    assert delivered_when_run[0] == 0 and delivered_when_run[-1] < 3, "run while the messages were on their way"


def test_without_queued_work_the_mailer_sends_as_before(smtp_sink: SmtpSink) -> None:
    config = SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, security="none", **{"from": "support@deskbot.test"})
    with SmtpMailer(config) as mailer:
        assert mailer.send_many([_message(n) for n in range(2)], meanwhile=Meanwhile()) == [None, None]
    assert len(smtp_sink.messages) == 2


def test_queued_work_is_spread_over_the_messages_round_trips_not_run_ahead_of_them(smtp_sink: SmtpSink) -> None:
    """An answer takes several loop turns to become the next command; a job run at each turn held the mailer five
    jobs per round trip, so the queue emptied on the first message and the others were sent with nothing to do."""
    config = SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, security="none", **{"from": "support@deskbot.test"})
    queue = Meanwhile()
    delivered_when_run: list[int] = []

    def job() -> None:
        time.sleep(0.002)  # 2 ms of work, in which the server (another thread) answers
        delivered_when_run.append(len(smtp_sink.handler.received))

    for _ in range(24):
        queue.later(job)
    with SmtpMailer(config) as mailer:
        assert mailer.send_many([_message(n) for n in range(8)], meanwhile=queue) == [None] * 8

    assert len(delivered_when_run) == 24 and len(smtp_sink.messages) == 8
    # Four round trips a message (MAIL, RCPT, DATA, the data) and about a job each: 24 jobs, five messages or so.
    assert delivered_when_run[-1] >= 2, delivered_when_run
