"""Acting on a recorded batch of tickets, one action kind at a time, with the per-ticket markers' meaning.

For a batch whose tickets share one plan (IMAP: keywords, acknowledgement, file), one commit marks every
ticket's first action in flight; then for each kind the effect is caused for the whole batch (one IMAP
command per keyword set or target folder where the source offers `perform_batch`, else each ticket's own
`perform`, the acknowledgements over the mailer's one connection), and one commit records every outcome
and marks every next action in flight (for acknowledgements, one commit per group of `SENT_AT_ONCE`, as soon
as the group is sent: a crash can leave no more than that sent but unrecorded). After a crash each action is
found in flight or done exactly as in the per-ticket path (bot/acting.py), which resumes it with `verify`. A
ticket whose action fails on its own leaves the batch (its failure is counted by the caller) and never holds up
the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

from bot.acting import Subject, attempt, build_action, conclude, subject_of
from bot.errors import SYSTEMIC
from bot.judge import note_bounce
from bot.log.batch import Step, actions_of, commit_steps
from bot.log.records import load_decision, row_ticket
from bot.log.schema import ActionLog, TicketLog
from bot.ops.metrics import count_action
from bot.outbox import Waiting
from bot.triage import Outcome, Triage
from connectors.base import ACKNOWLEDGE, Action, Source
from connectors.meanwhile import Job, Meanwhile

log = logging.getLogger(__name__)
Result = Outcome | Exception | None  # None: act on it per ticket; STOPPED: left for the next start
SENT_AT_ONCE = 16  # acknowledgements sent together, then recorded in one commit (~0.4 ms here, synchronous=FULL)
STOPPED = Outcome("", "stopped")


@dataclass
class Track:
    """One ticket's way through the batch."""

    row: TicketLog
    actions: list[ActionLog]
    subject: Subject
    failed: list[str] = field(default_factory=list)
    waiting: Waiting | None = None
    gone: str = ""
    error: Exception | None = None
    stopped: bool = False

    @property
    def active(self) -> bool:
        """Still taking part in the batch's next steps."""
        return not self.gone and self.error is None and not self.stopped


def act_batch(rows: list[TicketLog], source: Source, triage: Triage, *, stop: threading.Event) -> list[Result]:
    """Run the actions of freshly recorded tickets kind by kind; one result per row (see `Result`).

    A delivery report among them first suppresses the addresses it names (`note_bounce`).
    A stop asked for between two tickets' acknowledgements leaves the rest where they are (in flight, checked
    by the next start), as the per-ticket path finishes only the ticket in hand."""
    for row in rows:  # as the per-ticket path: after it is recorded, before it is acted on or more is judged
        if "failed_recipients" in row.meta:
            note_bounce(row_ticket(row), load_decision(row), triage)
    plans = actions_of(triage.store, [row.id for row in rows if row.id is not None])
    kinds = max((tuple(a.kind for a in plans[row.id]) for row in rows if row.id is not None), key=len, default=())
    tracks: dict[int, Track] = {}
    for index, row in enumerate(rows):
        actions = plans.get(row.id or 0, [])
        if actions and tuple(a.kind for a in actions) == kinds and all(a.state == "pending" for a in actions):
            tracks[index] = Track(row, actions, subject_of(row, triage))
    commit_steps(triage.store, [Step(None, then=t.actions[0].id) for t in tracks.values()])
    for step, kind in enumerate(kinds):
        _run_kind(kind, step, [t for t in tracks.values() if t.active], source, triage, stop)
    return [_result(tracks[index], source, triage) if index in tracks else None for index in range(len(rows))]


def _run_kind(kind: str, step: int, tracks: list[Track], source: Source, triage: Triage,
              stop: threading.Event) -> None:
    """Cause one action kind for every ticket in the batch, a group at a time (`_groups`), each group's outcomes
    recorded in one commit as soon as its effect happened."""
    batched = kind in getattr(source, "batch_kinds", ()) and bool(tracks)
    meanwhile = getattr(source, "meanwhile", None) if kind == ACKNOWLEDGE else None
    jobs = [_build(t.actions[step], t, triage, meanwhile) if batched and _acts(kind, t) else None for t in tracks]
    for group in _groups(kind, jobs, source, stop):
        steps: list[Step] = []
        systemic = group.error
        try:
            for index in group.members:
                track, share = tracks[index], group.shares.get(index)
                if group.skipped or (not batched and stop.is_set()):  # per ticket: stop between two of them
                    track.stopped = True  # never started: pending again, nothing for the next start to check
                    why = group.skipped or "deskbot was stopped"
                    steps.append(Step(track.actions[step].id, "pending", f"not started: {why}", tried=False))
                    continue
                try:
                    outcome = _attempt(track, step, kind, _built(jobs[index]), share, source, triage)
                except SYSTEMIC as exc:
                    if share is None:
                        raise  # nothing more is tried on a server in trouble
                    systemic = systemic or exc  # the others' effects happened already: recorded first, then raised
                    continue
                if outcome is not None:
                    steps.append(outcome)
        finally:  # what was done before a systemic failure is recorded; the rest stays in flight, verified later
            commit_steps(triage.store, steps)
        if systemic is not None:
            raise systemic


def _acts(kind: str, track: Track) -> bool:
    """Does this ticket's action of `kind` cause anything (an acknowledgement the decision did not want is
    recorded as skipped without a request)?"""
    return kind != ACKNOWLEDGE or track.row.ack_template is not None


def _build(action: ActionLog, track: Track, triage: Triage, meanwhile: Meanwhile | None) -> Job[Action]:
    """The request for one ticket's action: built now (an error stops the batch, which goes per ticket), or,
    with `meanwhile`, while the mailer waits on earlier acknowledgements of the batch (connectors/meanwhile.py)."""
    call = partial(build_action, action, track.row, track.subject, triage)
    if meanwhile is not None:
        return meanwhile.later(call)
    job = Job(call)
    job.result()
    return job


def _built(job: Job[Action] | None) -> Action | None:
    """A built request; None where building it failed (the ticket's own attempt builds it again, and fails
    with that error as its own, as in the per-ticket path)."""
    try:
        return job.result() if job is not None else None
    except Exception:  # noqa: BLE001 - raised again by the ticket's own attempt
        return None


class Group(NamedTuple):
    """Tickets of a batch acted on together, and recorded in one commit."""

    members: list[int]  # indexes into the batch's tracks
    shares: dict[int, str | Exception]  # each batched member's share of the effect (others act on their own)
    skipped: str = ""  # why none of the members was started (they stay pending)
    error: Exception | None = None  # the systemic error that stopped the step: raised once they are recorded


def _groups(kind: str, jobs: list[Job[Action] | None], source: Source, stop: threading.Event) -> Iterator[Group]:
    """The batch's tickets a group at a time, each group's effect caused before it is handed out. Tickets without
    a batched request (None in `jobs`) act on their own, as one group. Acknowledgements go `SENT_AT_ONCE` to a
    group and each group is recorded before the next is sent: without a Sent folder to look in after a crash, an
    acknowledgement sent but not yet recorded is sent again, so no more than one group can be. Between two groups
    the stop flag is looked at, as the per-ticket path stops between two tickets; a stop or a server failure
    leaves the rest not started."""
    wanted = [i for i, job in enumerate(jobs) if job is not None]
    alone = [i for i, job in enumerate(jobs) if job is None]
    if alone:
        yield Group(alone, {})
    size = SENT_AT_ONCE if kind == ACKNOWLEDGE else max(len(wanted), 1)
    for start in range(0, len(wanted), size):
        group = wanted[start:start + size]
        if start and stop.is_set():
            yield Group(wanted[start:], {}, skipped="deskbot was stopped")
            return
        requests = {i: request for i in group if (request := _built(jobs[i])) is not None}
        try:
            shares = dict(zip(requests, source.perform_batch(kind, list(requests.values()))))
        except SYSTEMIC as exc:
            if not start:
                raise  # nothing of the step happened for sure: all stay in flight, verified later
            yield Group(wanted[start:], {}, skipped=f"the server failed before its turn: {exc}", error=exc)
            return
        yield Group(group, shares)


def _attempt(track: Track, step: int, kind: str, request: Action | None, share: str | Exception | None,
             source: Source, triage: Triage) -> Step | None:
    """One ticket's share of the step: its outcome to record (and the next action to mark), as act() does."""
    action, row = track.actions[step], track.row

    def perform(_: Action) -> str:
        if isinstance(share, Exception):
            raise share
        assert share is not None
        return share

    try:
        state, detail, extra, late = attempt(action, row, track.subject, source, triage, marked=True,
                                             request=request, perform=perform if request is not None else None)
    except SYSTEMIC:
        raise
    except Exception as exc:  # noqa: BLE001 - this ticket's own failure: counted by the caller, per ticket
        track.error = exc
        return None
    track.waiting = late or track.waiting
    count_action(triage, source.name, kind, state, row)
    counted = state == "failed"
    last = step == len(track.actions) - 1
    following = None if last or state == "gone" else track.actions[step + 1].id
    closing = last and state not in ("gone", "outbox") and not counted and not track.failed and not track.waiting
    if state == "gone":
        track.gone = detail
    if counted:
        track.failed.append(f"{kind}: {detail}")
    return Step(action.id, state, detail, then=following, action_update=extra,
                ticket_update={"id": row.id, "status": "done", "pending": False, "retry_at": None} if closing else {})


def _result(track: Track, source: Source, triage: Triage) -> Result:
    """How the ticket ended: done, gone, failed (flagged), waiting in the outbox, or its own error."""
    row = track.row
    assert row.id is not None
    if track.stopped:
        return STOPPED
    if track.error is not None:
        return track.error
    if track.gone:
        triage.store.update_ticket(row.id, status="gone", pending=False, error=track.gone)
        log.warning("%s %s: %s", source.name, row.ref, track.gone)
        return Outcome(row.ref, "gone", row.id, track.gone)
    return conclude(row, track.subject, source, triage, failed=track.failed, waiting=track.waiting, final="done")

