"""``store.peek``: the scheduler's idle looks answer as the claims and sweeps they guard would,
on SQLite (on the loop) and PostgreSQL (in a thread)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Engine, event
from tests.reference import NOW

from opendcc.core.request_id import RequestId
from opendcc.dsp.future import _FINISHED, _HELD_DUE, _ORPHANS, FINISHED
from opendcc.dsp.lifecycle import RequestState
from opendcc.queue.jobs import JobQueue
from opendcc.store.peek import Peek
from opendcc.store.requests import NewRequest, RequestStore

FIRST = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:7")
SECOND = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:8")
S = RequestState


def _found(peek: Peek, *params: object) -> bool:
    async def look() -> bool:
        return await peek.found(*params)

    return asyncio.run(look())


def test_the_orphans_look_finds_a_job_waiting_for_a_finished_request(engine: Engine) -> None:
    requests, jobs, peek = RequestStore(engine), JobQueue(engine), Peek(engine, _ORPHANS)
    requests.accept(NewRequest(FIRST, "4.1.1", 1, b"<a/>"), NOW)
    requests.accept(NewRequest(SECOND, "4.1.1", 1, b"<b/>"), NOW)
    with engine.begin() as conn:
        jobs.enqueue_in(conn, SECOND, NOW, waits_for=FIRST)
    assert not _found(peek, *_FINISHED)  # its predecessor still runs: nothing to free
    assert jobs.release_orphans(FINISHED) == 0
    with engine.begin() as conn:
        requests.transition_in(conn, FIRST, S.RESPONDED, NOW)
    assert _found(peek, *_FINISHED)
    assert jobs.release_orphans(FINISHED) == 1
    assert not _found(peek, *_FINISHED)  # freed: the next look finds nothing


def test_the_held_look_finds_a_request_past_its_time(engine: Engine) -> None:
    requests, peek = RequestStore(engine), Peek(engine, _HELD_DUE)
    at = NOW + timedelta(hours=1)
    requests.accept(NewRequest(FIRST, "4.1.1", 1, b"<a/>", execute_at=at), NOW)
    with engine.begin() as conn:
        for state in (S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP, S.HELD):
            requests.transition_in(conn, FIRST, state, NOW)
    for before in (NOW, at, at + timedelta(microseconds=1), at + timedelta(days=1)):
        # The time is bound as the store writes it: the look and the sweep's read agree.
        assert _found(peek, S.HELD.value, before) == bool(requests.held_until(before)), before
    assert not _found(peek, S.ACCEPTED.value, at + timedelta(days=1))


def test_a_look_takes_no_write_lock_and_writes_nothing(engine: Engine) -> None:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]), retval=False)
    peek = Peek(engine, _ORPHANS)
    assert not _found(peek, *_FINISHED)
    assert seen == []  # on the DBAPI cursor: not even SQLAlchemy's statement machinery
    if engine.dialect.name == "sqlite":
        assert peek.inline  # on the loop: a WAL snapshot's read waits for no writer
