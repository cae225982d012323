from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine, select
from tests.reference import NOW

from opendcc.core.clock import FixedClock
from opendcc.core.request_id import RequestId
from opendcc.dsp.future import FINISHED
from opendcc.dsp.lifecycle import RequestState
from opendcc.queue import jobs as jobs_module
from opendcc.queue.jobs import JobQueue
from opendcc.queue.worker import PREPARED_PER_CLAIM, RETRY_AFTER, Rest, WorkerPool
from opendcc.store.requests import Loaded, NewRequest, RequestStore
from opendcc.store.tables import jobs as jobs_table
from opendcc.store.tables import service_requests

RIDS = [RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{n}") for n in (1, 2, 3)]


def queued(engine: Engine) -> JobQueue:
    jobs = JobQueue(engine, lease=timedelta(seconds=30))
    requests = RequestStore(engine)
    for n, rid in enumerate(RIDS):
        with engine.begin() as conn:
            requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
            jobs.enqueue_in(conn, rid, NOW + timedelta(seconds=n))
    return jobs


def test_a_job_is_leased_to_one_worker_at_a_time(engine: Engine) -> None:
    jobs = queued(engine)
    first = jobs.claim("a", NOW + timedelta(seconds=5))
    assert first == RIDS
    assert jobs.claim("b", NOW + timedelta(seconds=6)) == []


def test_only_due_jobs_are_claimed(engine: Engine) -> None:
    jobs = queued(engine)
    assert jobs.claim("a", NOW) == RIDS[:1]
    assert jobs.claim("a", NOW + timedelta(seconds=1)) == RIDS[1:2]


def test_a_dead_workers_lease_runs_out(engine: Engine) -> None:
    jobs = queued(engine)
    jobs.claim("dead", NOW + timedelta(seconds=5))
    assert jobs.claim("b", NOW + timedelta(seconds=36)) == RIDS


def test_release_all_and_complete(engine: Engine) -> None:
    jobs = queued(engine)
    jobs.claim("dead", NOW + timedelta(seconds=5))
    assert jobs.release_all() == 3
    claimed = jobs.claim("b", NOW + timedelta(seconds=5), limit=2)
    assert claimed == RIDS[:2]
    with engine.begin() as conn:
        jobs.complete_in(conn, RIDS[0])
    assert jobs.pending() == 2


def test_retry_postpones(engine: Engine) -> None:
    jobs = queued(engine)
    jobs.claim("a", NOW + timedelta(seconds=5))
    jobs.retry(RIDS[0], NOW + timedelta(seconds=60))
    assert jobs.claim("b", NOW + timedelta(seconds=10)) == []
    assert RIDS[0] in jobs.claim("b", NOW + timedelta(seconds=60))


def test_urgent_jobs_are_claimed_first(engine: Engine) -> None:
    jobs = JobQueue(engine, lease=timedelta(seconds=30))
    requests = RequestStore(engine)
    urgent = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:9")
    with engine.begin() as conn:
        for n, rid in enumerate([*RIDS, urgent]):
            requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
            jobs.enqueue_in(conn, rid, NOW + timedelta(seconds=n), 10 if rid is urgent else 0)
    later = NOW + timedelta(seconds=10)
    assert jobs.claim("a", later, limit=1) == [urgent]  # the newest, yet first
    assert jobs.claim("a", later, limit=5, min_priority=1) == []  # no other urgent one
    assert jobs.claim("a", later, limit=5) == RIDS


def test_a_claim_reads_each_jobs_request_with_it(engine: Engine) -> None:
    jobs = queued(engine)
    claimed = jobs.claim_loaded("a", NOW + timedelta(seconds=1), room=5)
    assert [rid for rid, _ in claimed] == RIDS[:2]
    for rid, loaded in claimed:
        assert loaded.document == b"<doc/>"
        assert loaded.outcome.request_id == rid
        assert loaded.outcome.state is RequestState.ACCEPTED
    (rest,) = jobs.claim_loaded("b", NOW + timedelta(seconds=2), room=5)
    assert rest[0] == RIDS[2]
    assert jobs.claim_loaded("c", NOW + timedelta(seconds=2), room=5) == []  # all leased


def test_a_claims_read_gives_what_the_request_store_reads(engine: Engine) -> None:
    """The claim's read runs on the DBAPI cursor: every column comes back as the store's own
    read gives it (a date-time as an aware UTC datetime, the predecessor, the document)."""
    jobs = JobQueue(engine, lease=timedelta(seconds=30))
    requests = RequestStore(engine)
    due = NOW + timedelta(days=2, microseconds=250)
    later = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:77")
    with engine.begin() as conn:
        requests.accept_in(conn, NewRequest(RIDS[0], "4.1.1", 1, b"\x00<doc/>\xff"), NOW)
        requests.accept_in(conn, NewRequest(later, "4.1.1", 1, b"<doc/>", due, RIDS[0]), NOW)
        jobs.enqueue_in(conn, RIDS[0], NOW)
        jobs.enqueue_in(conn, later, NOW)
    claimed = dict(jobs.claim_loaded("a", NOW + timedelta(seconds=1), room=5))
    assert claimed == {rid: requests.load(rid) for rid in (RIDS[0], later)}
    assert claimed[later].outcome.execute_at == due
    assert claimed[later].outcome.preceding_request_id == RIDS[0]
    assert claimed[RIDS[0]].document == b"\x00<doc/>\xff"


def test_a_claim_keeps_the_reserved_slots_for_urgent_jobs(engine: Engine) -> None:
    jobs = queued(engine)
    urgent = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:9")
    with engine.begin() as conn:
        RequestStore(engine).accept_in(conn, NewRequest(urgent, "2.2", 1, b"<u/>"), NOW)
        jobs.enqueue_in(conn, urgent, NOW + timedelta(seconds=9), 10)
    later = NOW + timedelta(seconds=10)
    claimed = jobs.claim_loaded("a", later, room=3, reserved=2, urgent=10)
    assert [rid for rid, _ in claimed] == [urgent, RIDS[0]]  # one general slot of three
    assert jobs.claim_loaded("b", later, room=2, reserved=2, urgent=10) == []  # none urgent
    assert [rid for rid, _ in jobs.claim_loaded("b", later, room=3)] == RIDS[1:]


def test_a_job_put_off_or_parked_after_the_read_is_not_won(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease is won only for a job still free, due and waiting on nothing: a job another
    worker took and put off (or parked) between this claim's read and its lease is not won."""
    jobs = queued(engine)
    later = NOW + timedelta(seconds=5)
    plain = jobs_module.write

    def meanwhile(*args: Any) -> Any:
        # Between the read and the lease: another worker takes all three, puts one off, parks
        # one and still holds the third.
        monkeypatch.setattr(jobs_module, "write", plain)
        jobs.claim("other", later)
        jobs.retry(RIDS[0], NOW + timedelta(seconds=60))
        jobs.park(RIDS[1], RIDS[2])
        return plain(*args)

    monkeypatch.setattr(jobs_module, "write", meanwhile)
    assert jobs.claim_loaded("b", later, room=5) == []
    assert jobs.claim_loaded("b", NOW + timedelta(seconds=36), room=5)[0][0] == RIDS[2]


@pytest.mark.parametrize(
    "loaded", [False, True, "prepared"], ids=["claim", "claim_loaded", "prepare_loaded"]
)
def test_reserved_workers_take_only_urgent_jobs(engine: Engine, loaded: bool | str) -> None:
    """Two slots, one reserved: a backlog of reads runs one at a time, and an urgent job
    arriving behind it starts at once."""
    asyncio.run(_reserved_slot(engine, loaded))


async def _reserved_slot(engine: Engine, loaded: bool | str) -> None:
    jobs = JobQueue(engine, lease=timedelta(seconds=30))
    requests = RequestStore(engine)
    reads = [
        RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{n}")
        for n in range(10, 16)
    ]
    topup = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:99")
    with engine.begin() as conn:
        for rid in reads:
            requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
            jobs.enqueue_in(conn, rid, NOW)
    running: list[RequestId] = []
    release = asyncio.Event()

    async def process(rid: RequestId) -> None:
        running.append(rid)
        if rid != topup:
            await release.wait()
        with engine.begin() as conn:
            jobs.complete_in(conn, rid)

    async def process_loaded(rid: RequestId, stored: Loaded) -> None:
        assert stored.outcome.request_id == rid and stored.document == b"<doc/>"
        await process(rid)

    def prepare_loaded(claimed: list[tuple[RequestId, Loaded]]) -> list[Rest]:
        return [partial(process_loaded, rid, stored) for rid, stored in claimed]

    pool = WorkerPool(
        jobs,
        process,
        FixedClock(NOW),
        concurrency=2,
        poll=0.01,
        reserved=1,
        process_loaded=process_loaded if loaded else None,
        prepare_loaded=prepare_loaded if loaded == "prepared" else None,
    )
    task = asyncio.create_task(pool.run())
    await asyncio.sleep(0.2)
    assert len(running) == 1  # the reserved slot stays free of reads
    with engine.begin() as conn:
        requests.accept_in(conn, NewRequest(topup, "2.2", 1, b"<doc/>"), NOW)
        jobs.enqueue_in(conn, topup, NOW, 10)
    pool.wake.set()
    await asyncio.sleep(0.2)
    assert running[-1] == topup and len(running) == 2
    release.set()
    await asyncio.sleep(0.3)
    task.cancel()
    await pool.drain()
    assert sorted(map(str, running)) == sorted(map(str, [*reads, topup]))


def _due_jobs_counted(
    engine: Engine, *, first: int, count: int
) -> tuple[JobQueue, list[RequestId], list[int]]:
    """``count`` accepted requests with their jobs due now, and a queue whose
    ``claim_loaded`` appends how many jobs each claim took to the list returned."""
    jobs = JobQueue(engine, lease=timedelta(seconds=30))
    requests = RequestStore(engine)
    rids = [
        RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{n}")
        for n in range(first, first + count)
    ]
    with engine.begin() as conn:
        for rid in rids:
            requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
            jobs.enqueue_in(conn, rid, NOW)
    claims: list[int] = []
    plain_claim = jobs.claim_loaded

    def claim_loaded(*args: Any, **kwargs: Any) -> list[tuple[RequestId, Loaded]]:
        claimed = plain_claim(*args, **kwargs)
        claims.append(len(claimed))
        return claimed

    jobs.claim_loaded = claim_loaded  # type: ignore[method-assign]
    return jobs, rids, claims


def test_a_claim_prepares_its_jobs_in_its_own_thread(engine: Engine) -> None:
    """With ``prepare_loaded``, the thread that claimed runs each job's first part (one hop a
    claim, not one a job), a claim takes at most ``PREPARED_PER_CLAIM`` jobs, and a job whose
    claim whose first part raised is put off for a retry while the next claim's go on."""
    jobs, rids, claims = _due_jobs_counted(engine, first=100, count=PREPARED_PER_CLAIM + 4)
    prepared_in: dict[RequestId, int] = {}
    carried: list[RequestId] = []

    def prepare_loaded(claimed: list[tuple[RequestId, Loaded]]) -> list[Rest]:
        for rid, _ in claimed:
            prepared_in[rid] = threading.get_ident()
        if rids[1] in [rid for rid, _ in claimed]:
            raise RuntimeError("a store that failed for this claim")

        async def rest(rid: RequestId) -> None:
            assert threading.get_ident() == loop_thread
            carried.append(rid)
            with engine.begin() as conn:
                jobs.complete_in(conn, rid)

        return [partial(rest, rid) for rid, _ in claimed]

    async def process(rid: RequestId) -> None:
        raise AssertionError("every job goes through prepare_loaded")

    async def main() -> None:
        pool = WorkerPool(jobs, process, FixedClock(NOW), poll=0.01, prepare_loaded=prepare_loaded)
        task = asyncio.create_task(pool.run())
        for _ in range(200):
            if len(carried) == len(rids) - PREPARED_PER_CLAIM:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await pool.drain()

    loop_thread = threading.get_ident()
    asyncio.run(main())
    assert claims[:2] == [PREPARED_PER_CLAIM, 4]
    first = {prepared_in[rid] for rid in rids[:PREPARED_PER_CLAIM]}
    assert len(first) == 1 and loop_thread not in first
    # The claim whose first part raised is put off, every job of it, RETRY_AFTER later; the
    # next claim's jobs went on.
    assert sorted(map(str, carried)) == sorted(map(str, rids[PREPARED_PER_CLAIM:]))
    assert jobs.claim("b", NOW + timedelta(seconds=1)) == []
    again = jobs.claim("b", NOW + RETRY_AFTER + timedelta(seconds=31))
    assert sorted(map(str, again)) == sorted(map(str, rids[:PREPARED_PER_CLAIM]))


def test_a_live_worker_renews_its_leases(engine: Engine) -> None:
    jobs = queued(engine)
    jobs.claim("live", NOW + timedelta(seconds=5))
    assert jobs.renew("live", NOW + timedelta(seconds=30)) == 3
    assert jobs.claim("b", NOW + timedelta(seconds=36)) == []
    assert jobs.claim("b", NOW + timedelta(seconds=61)) == RIDS


def test_a_pool_cancelled_as_it_is_woken_stops(engine: Engine) -> None:
    """A cancel that comes in the same turn as a wake-up stops the pool (Python 3.11's
    ``wait_for`` returned the wake-up and dropped the cancel: the pool ran on forever)."""

    async def process(rid: RequestId) -> None:
        return None

    async def main() -> None:
        pool = WorkerPool(JobQueue(engine), process, FixedClock(NOW), poll=30.0)
        task = asyncio.create_task(pool.run())
        for _ in range(50):  # until it waits for work: its claim found none
            await asyncio.sleep(0.01)
        pool.wake.set()
        task.cancel()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
        assert task.cancelled()

    asyncio.run(main())


@pytest.mark.parametrize(("released", "again"), [(False, 0), (True, 1), (None, 1)])
def test_a_job_that_released_nothing_is_not_followed_by_a_claim(
    engine: Engine, released: bool | None, again: int
) -> None:
    """A job whose end says it released no waiting job leaves the pool waiting (its last
    claim took every job due); one that released some, or cannot say, makes it claim at once."""
    claims = _claims_after(engine, concurrency=4, jobs_due=1, released=released)
    assert claims == [1] + [0] * again


def test_a_full_pool_claims_when_a_slot_frees_even_if_nothing_was_released(
    engine: Engine,
) -> None:
    """With every slot taken, due jobs wait for a slot, not for the poll."""
    claims = _claims_after(engine, concurrency=1, jobs_due=2, released=False)
    assert claims == [1, 1, 0]  # the last: the pool was full when the second job ended


def _claims_after(
    engine: Engine, *, concurrency: int, jobs_due: int, released: bool | None
) -> list[int]:
    jobs, rids, claims = _due_jobs_counted(engine, first=200, count=jobs_due)
    carried: list[RequestId] = []

    async def rest(rid: RequestId) -> bool | None:
        carried.append(rid)
        with engine.begin() as conn:
            jobs.complete_in(conn, rid)
        return released

    def prepare_loaded(claimed: list[tuple[RequestId, Loaded]]) -> list[Rest]:
        return [partial(rest, rid) for rid, _ in claimed]

    async def process(rid: RequestId) -> None:
        raise AssertionError("every job goes through prepare_loaded")

    async def main() -> None:
        # A poll far longer than the test: only the pool's own wake-ups claim.
        pool = WorkerPool(
            jobs,
            process,
            FixedClock(NOW),
            concurrency=concurrency,
            poll=60.0,
            prepare_loaded=prepare_loaded,
        )
        task = asyncio.create_task(pool.run())
        for _ in range(300):
            if len(carried) == jobs_due:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # time for any claim the last end asked for
        task.cancel()
        await pool.drain()

    asyncio.run(main())
    assert sorted(map(str, carried)) == sorted(map(str, rids))
    return claims


def test_release_orphans_frees_what_the_in_select_form_freed(engine: Engine) -> None:
    """The correlated EXISTS frees exactly the jobs ``waits_for IN (SELECT request_id ...)``
    freed: those waiting for a request in a finished state, none waiting for an unfinished
    or unknown one."""
    requests = RequestStore(engine)
    jobs = JobQueue(engine)
    states = list(RequestState)
    predecessors = [
        RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{300 + n}")
        for n in range(len(states))
    ]
    unknown = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:399")
    waiting = {
        RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{400 + n}"): before
        for n, before in enumerate([*predecessors, unknown, None])
    }
    with engine.begin() as conn:
        for rid in [*predecessors, *waiting]:
            requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
        for rid, state in zip(predecessors, states, strict=True):
            conn.execute(
                service_requests.update()
                .where(service_requests.c.request_id == str(rid))
                .values(state=state.value)
            )
        for rid, before in waiting.items():
            jobs.enqueue_in(conn, rid, NOW, waits_for=before)
    finished = FINISHED
    old_form = select(jobs_table.c.request_id).where(
        jobs_table.c.waits_for.in_(
            select(service_requests.c.request_id).where(
                service_requests.c.state.in_(sorted(finished))
            )
        )
    )
    with engine.connect() as conn:
        expected = set(conn.execute(old_form).scalars())
    assert len(expected) == len(finished)  # one job waits for a request in each state
    assert jobs.release_orphans(finished) == len(expected)
    with engine.connect() as conn:
        still = dict(conn.execute(select(jobs_table.c.request_id, jobs_table.c.waits_for)).all())
    for rid, before in waiting.items():
        freed = str(rid) in expected
        assert still[str(rid)] == (None if freed or before is None else str(before))
    assert jobs.release_orphans(finished) == 0


@pytest.mark.parametrize("slow_claim", [False, True], ids=["claim", "slow_claim"])
def test_jobs_waiting_for_a_general_slot_are_claimed_as_slots_free(
    engine: Engine, slow_claim: bool
) -> None:
    """Reserved slots kept free, the general ones full: each end that frees a general slot
    claims again, though it released nothing (no poll: it is a minute here); so does an end
    while a claim is under way (the claim was sized before that slot came free)."""
    jobs = JobQueue(engine, lease=timedelta(seconds=30))
    if slow_claim:
        plain_claim = jobs.claim_loaded

        def claim_loaded(*args: Any, **kwargs: Any) -> list[tuple[RequestId, Loaded]]:
            time.sleep(0.05)  # the jobs running end meanwhile
            return plain_claim(*args, **kwargs)

        jobs.claim_loaded = claim_loaded  # type: ignore[method-assign]
    requests = RequestStore(engine)
    rids = [
        RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{n}")
        for n in range(500, 510)
    ]
    with engine.begin() as conn:
        for rid in rids:
            requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
            jobs.enqueue_in(conn, rid, NOW)
    carried: list[RequestId] = []

    async def rest(rid: RequestId) -> bool | None:
        await asyncio.sleep(0.02)
        carried.append(rid)
        with engine.begin() as conn:
            jobs.complete_in(conn, rid)
        return False

    def prepare_loaded(claimed: list[tuple[RequestId, Loaded]]) -> list[Rest]:
        return [partial(rest, rid) for rid, _ in claimed]

    async def process(rid: RequestId) -> None:
        raise AssertionError("every job goes through prepare_loaded")

    async def main() -> float:
        pool = WorkerPool(
            jobs,
            process,
            FixedClock(NOW),
            concurrency=4,
            reserved=2,
            poll=60.0,
            prepare_loaded=prepare_loaded,
        )
        started = time.monotonic()
        task = asyncio.create_task(pool.run())
        while len(carried) < len(rids) and time.monotonic() - started < 20:
            await asyncio.sleep(0.01)
        took = time.monotonic() - started
        task.cancel()
        await pool.drain()
        return took

    took = asyncio.run(main())
    assert sorted(map(str, carried)) == sorted(map(str, rids))
    assert took < 10  # far below the poll
