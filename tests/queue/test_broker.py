"""The broker-backed queue against a real RabbitMQ, on every configured database: the job
table is the truth; lanes are consumed top-ups first; future-dated work is published when due;
a duplicate message is dropped; what a dead consumer left is published again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Engine, update
from tests.processes.scale import rabbitmq_url
from tests.reference import NOW

from opendcc.core.request_id import RequestId
from opendcc.queue.broker import BROKER, BrokerQueue, Lane, lane_of
from opendcc.store.requests import NewRequest, RequestStore
from opendcc.store.tables import jobs

URGENT = 10
RIDS = [RequestId.parse(f"90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{n}") for n in range(6)]


@pytest.fixture(scope="module")
def broker() -> str:
    return rabbitmq_url()


def test_lanes() -> None:
    assert lane_of(URGENT, URGENT) is Lane.TOP_UPS
    assert lane_of(0, URGENT) is Lane.INTERACTIVE
    assert lane_of(-1, URGENT) is Lane.BULK


def run(engine: Engine, url: str, body: Callable[[BrokerQueue], Awaitable[None]]) -> None:
    """``body`` with a connected, consuming queue of lanes of its own, deleted afterwards."""

    async def main() -> None:
        queue = BrokerQueue(
            engine,
            url,
            lease=timedelta(seconds=30),
            redeliver_after=timedelta(seconds=5),
            urgent=URGENT,
            prefix=f"test-{uuid.uuid4().hex[:8]}",
        )
        await queue.start(consume=True)
        try:
            await body(queue)
        finally:
            assert queue._publishing is not None
            for name in queue.queue_names.values():
                await queue._publishing.queue_delete(name)
            await queue.close()

    asyncio.run(main())


def accept(engine: Engine, queue: BrokerQueue, rid: RequestId, priority: int, after: int) -> None:
    with engine.begin() as conn:
        RequestStore(engine).accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), NOW)
        queue.enqueue_in(conn, rid, NOW + timedelta(seconds=after), priority)


async def publish(queue: BrokerQueue, now_s: int) -> list[RequestId]:
    taken = queue.take_for_publishing(NOW + timedelta(seconds=now_s), 100)
    await queue._publish(taken)
    return [rid for rid, _ in taken]


async def delivered(queue: BrokerQueue, count: int) -> None:
    for _ in range(200):
        if queue.buffered() >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{queue.buffered()} of {count} messages arrived")


def test_top_ups_first_and_future_dated_when_due(engine: Engine, broker: str) -> None:
    async def body(queue: BrokerQueue) -> None:
        for rid in RIDS[:4]:
            accept(engine, queue, rid, 0, 0)  # interactive, due now
        accept(engine, queue, RIDS[4], URGENT, 0)  # a top-up, committed last
        accept(engine, queue, RIDS[5], 0, 60)  # future-dated: waits in the table
        assert sorted(await publish(queue, 1), key=str) == sorted(RIDS[:5], key=str)
        await delivered(queue, 5)
        # Reserved slots take top-ups only; the general claim takes top-ups first too.
        assert queue.claim("w", NOW + timedelta(seconds=1), 5, min_priority=URGENT) == [RIDS[4]]
        assert sorted(queue.claim("w", NOW + timedelta(seconds=1), 10), key=str) == sorted(
            RIDS[:4], key=str
        )
        assert await publish(queue, 30) == []
        with engine.begin() as conn:
            for rid in RIDS[:5]:
                queue.complete_in(conn, rid)
        assert await publish(queue, 61) == [RIDS[5]]

    run(engine, broker, body)


def test_duplicates_are_dropped_and_left_work_is_published_again(
    engine: Engine, broker: str
) -> None:
    async def body(queue: BrokerQueue) -> None:
        accept(engine, queue, RIDS[0], 0, 0)
        assert await publish(queue, 1) == [RIDS[0]]
        await delivered(queue, 1)
        assert queue.claim("dead", NOW + timedelta(seconds=1), 10) == [RIDS[0]]
        # The same job published again (a sweeper's duplicate): dropped while leased.
        await queue._publish([(RIDS[0], 0)])
        await delivered(queue, 1)
        assert queue.claim("other", NOW + timedelta(seconds=2), 10) == []
        assert await publish(queue, 2) == []
        # The dead worker's lease runs out: the sweeper publishes it again; another takes it.
        assert await publish(queue, 32) == [RIDS[0]]
        await delivered(queue, 1)
        assert queue.claim("other", NOW + timedelta(seconds=32), 10) == [RIDS[0]]
        # A message the broker lost: its broker lease runs out and it goes again.
        queue.retry(RIDS[0], NOW + timedelta(seconds=40))
        taken = queue.take_for_publishing(NOW + timedelta(seconds=40), 10)
        assert [rid for rid, _ in taken] == [RIDS[0]]  # leased to the broker, never sent
        assert queue.take_for_publishing(NOW + timedelta(seconds=44), 10) == []
        assert await publish(queue, 46) == [RIDS[0]]
        with engine.connect() as conn:
            from sqlalchemy import select

            from opendcc.store.tables import jobs

            owner = conn.execute(select(jobs.c.lease_owner)).scalar_one()
        assert owner == BROKER

    run(engine, broker, body)


def test_renewal_and_claim_never_wait_on_a_job_being_completed(engine: Engine) -> None:
    """A worker's group commit deletes its finished jobs' rows in one transaction; its lease
    renewal and its claim of a duplicate message, in other transactions, used to wait on those
    rows in another order: PostgreSQL's 'deadlock detected', the request retried. They skip a
    row being changed (it is renewed next time, or is gone) and never wait."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no row locks to deadlock on")
    queue = BrokerQueue(engine, "amqp://unused", urgent=URGENT)
    done, held, published = RIDS[0], RIDS[1], RIDS[2]
    for rid in (done, held, published):
        accept(engine, queue, rid, 0, 0)
    with engine.begin() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.request_id.in_([str(done), str(held)]))
            .values(lease_owner="w", lease_until=NOW + timedelta(seconds=30))
        )
        conn.execute(
            update(jobs)
            .where(jobs.c.request_id == str(published))
            .values(lease_owner=BROKER, lease_until=NOW + timedelta(seconds=30))
        )
    completing = engine.connect()
    pool = ThreadPoolExecutor(1)
    try:
        completing.begin()
        queue.complete_in(completing, done)  # not committed: the row stays locked
        renewed = pool.submit(queue.renew, "w", NOW).result(timeout=10)
        assert renewed == 1  # the held job, not the one being completed
        for rid in (done, published):  # a duplicate of the finished job's message, and one
            queue._buffers[Lane.INTERACTIVE].append((str(rid), cast(Any, None)))
        claimed = pool.submit(queue.claim, "v", NOW + timedelta(seconds=1)).result(timeout=10)
        assert claimed == [published]
    finally:
        completing.rollback()
        completing.close()
        pool.shutdown()
