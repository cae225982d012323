"""The router's writes batched across workers: each request ends as it would alone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select
from tests.reference import NOW

from opendcc.core.request_id import RequestId
from opendcc.dsp.ending import Advance, End
from opendcc.dsp.lifecycle import IllegalTransition, RequestState
from opendcc.queue.jobs import JobQueue
from opendcc.queue.outbox import Message
from opendcc.store.group import GroupCommit
from opendcc.store.requests import ConcurrentTransition, NewRequest, RequestStore
from opendcc.store.tables import jobs, outbox, request_transitions

S = RequestState
RIDS = [RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{n}") for n in (1, 2, 3)]
LATER = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:4")
TO_S1SP = (S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP)


def accepted(engine: Engine) -> RequestStore:
    requests = RequestStore(engine)
    with engine.begin() as conn:
        for rid in [*RIDS, LATER]:
            requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
            waits = RIDS[0] if rid == LATER else None
            JobQueue.enqueue_in(conn, rid, NOW, waits_for=waits)
    return requests


def end(rid: RequestId, current: RequestState = S.SENT_TO_S1SP) -> End:
    body = f"<answer {rid.counter}/>".encode()
    message = Message(f"R:{rid.response_id()}", str(rid.originator), "https://u/cb", body, rid)
    return End(rid, current, S.RESPONDED, "I0", NOW + timedelta(seconds=1), (message,))


def in_one_batch(engine: Engine, pieces: list[Advance] | list[End]) -> list[BaseException | None]:
    """Run ``pieces`` through a group commit in one batch: its writer is held by a first piece
    until every other piece is queued behind it."""
    group = GroupCommit(engine)
    holding, queued = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        holding.set()
        assert queued.wait(10)

    def run(piece: Advance | End) -> BaseException | None:
        try:
            group.run(piece)
        except Exception as exc:
            return exc
        return None

    with ThreadPoolExecutor(len(pieces) + 1) as pool:
        held = pool.submit(group.run, hold)
        assert holding.wait(10)  # the writer is in the holding piece's batch
        answers = [pool.submit(run, piece) for piece in pieces]
        deadline = time.monotonic() + 10
        while group._queue.qsize() < len(pieces) and time.monotonic() < deadline:
            time.sleep(0.001)
        queued.set()
        held.result()
        results = [answer.result() for answer in answers]
    group.close()
    assert group.batches == 2  # the holding piece's, then every piece in one
    return results


def test_a_batch_of_advances_and_ends_writes_what_each_would_alone(engine: Engine) -> None:
    requests = accepted(engine)
    advances = [Advance(rid, S.ACCEPTED, TO_S1SP, NOW) for rid in RIDS]
    assert in_one_batch(engine, advances) == [None] * 3
    assert in_one_batch(engine, [end(rid) for rid in RIDS]) == [None] * 3
    for rid in RIDS:
        outcome = requests.outcome(rid)
        assert outcome is not None
        assert (outcome.state, outcome.response_code) == (S.RESPONDED, "I0")
    with engine.connect() as conn:
        history = conn.execute(
            select(request_transitions.c.target)
            .where(request_transitions.c.request_id == str(RIDS[1]))
            .order_by(request_transitions.c.id)
        ).scalars()
        assert list(history)[-5:] == [s.value for s in (S.ACCEPTED, *TO_S1SP, S.RESPONDED)]
        bodies = conn.execute(select(outbox.c.body).order_by(outbox.c.id)).scalars().all()
        assert sorted(bodies) == [f"<answer {n}/>".encode() for n in (1, 2, 3)]
        left = conn.execute(select(jobs.c.request_id, jobs.c.waits_for)).all()
    assert [(key, waits) for key, waits in left] == [(str(LATER), None)]  # released


def test_a_piece_that_lost_its_race_fails_alone(engine: Engine) -> None:
    requests = accepted(engine)
    for rid in RIDS:
        with engine.begin() as conn:
            requests.advance_in(conn, rid, S.ACCEPTED, list(TO_S1SP), now=NOW)
    # Someone else ended the second request first.
    with engine.begin() as conn:
        requests.advance_in(conn, RIDS[1], S.SENT_TO_S1SP, [S.FAILED], now=NOW, code="E21")
    results = in_one_batch(engine, [end(rid) for rid in RIDS])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ConcurrentTransition)
    second = requests.outcome(RIDS[1])
    assert second is not None and (second.state, second.response_code) == (S.FAILED, "E21")
    with engine.connect() as conn:
        keys = conn.execute(select(outbox.c.request_id)).scalars().all()
        assert sorted(keys) == sorted(str(rid) for rid in (RIDS[0], RIDS[2]))
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 2


def test_an_impossible_step_is_refused_before_anything_is_written(engine: Engine) -> None:
    requests = accepted(engine)
    with pytest.raises(IllegalTransition), engine.begin() as conn:
        Advance(RIDS[0], S.ACCEPTED, (S.INSTRUCTED,), NOW)(conn)  # DISPATCHED skipped
    outcome = requests.outcome(RIDS[0])
    assert outcome is not None and outcome.state is S.ACCEPTED


def test_an_end_says_whether_it_released_a_waiting_job(engine: Engine) -> None:
    """The worker pool claims again after an end only if it released a job (queue.worker)."""
    accepted(engine)
    with engine.begin() as conn:
        Advance.run_many(conn, [Advance(rid, S.ACCEPTED, TO_S1SP, NOW) for rid in RIDS])
        # Two ends in one batch (one executemany): nothing waits for either.
        assert End.run_many(conn, [end(RIDS[1]), end(RIDS[2])]) == [(True, False)] * 2
    group = GroupCommit(engine)
    try:
        assert group.run(end(RIDS[0])) is True  # alone: LATER waited for it
    finally:
        group.close()
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.request_id, jobs.c.waits_for)).all() == [
            (str(LATER), None)
        ]


def test_a_batch_of_ends_that_released_a_job_says_so_for_each(engine: Engine) -> None:
    accepted(engine)
    with engine.begin() as conn:
        Advance.run_many(conn, [Advance(rid, S.ACCEPTED, TO_S1SP, NOW) for rid in RIDS])
        answers = End.run_many(conn, [end(rid) for rid in RIDS])
    assert answers == [(True, True)] * 3  # the batch's count: one of them freed LATER
