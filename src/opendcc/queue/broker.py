"""The broker-backed queue of scale mode: the job table stays the truth, RabbitMQ carries work.

Behind the same calls as the embedded queue (``enqueue_in``, ``claim``, ``complete_in``,
``retry``): a job is a row in the ``jobs`` table, written in the request's own transaction
(the front door never talks to the broker, so nothing is published before it is committed).

- **Publishing** (``run_publisher``, in every gateway and worker process): due, unleased jobs
  are found by two scans on partial indexes (never leased; lease run out: migration 0015) and
  leased to the broker (``lease_owner = 'broker'`` for ``redeliver_after``) in one
  conditional UPDATE, then published, with publisher confirms, to their lane's quorum queue.
  A publish that fails gives its jobs back at once; a job whose broker lease runs out (a
  message the broker lost, or left unconsumed that long) or whose worker's lease runs out (a
  killed worker stops renewing it) is due again: the publisher is also the sweeper. Future-
  dated and sequenced jobs wait in the table (``run_after``, ``waits_for``) and are published
  when due.
- **Consuming** (worker processes): one channel per lane, each with its own prefetch, fills a
  buffer per lane; ``claim`` takes top-ups first, then interactive, then bulk work, and leases
  the jobs to this worker with one conditional UPDATE: a redelivered or duplicated message whose
  job another worker holds (or has finished) is dropped. Messages are acknowledged once the
  lease is taken: from then on the lease, renewed while the worker lives, is what keeps the job.
  On PostgreSQL the claim and the renewal skip rows another transaction holds (``SKIP
  LOCKED``): a worker's group commit deletes its finished jobs in one transaction, and waiting
  on them in another order deadlocks.

Lanes are separate queues because Debian's RabbitMQ (3.10) has no priorities on quorum queues.
Redelivery is harmless: the RequestID is the idempotency key all the way to the head-end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, or_, select, update

from opendcc.core.clock import Clock
from opendcc.core.request_id import RequestId
from opendcc.core.woken import woken
from opendcc.queue.jobs import JobQueue, free_at
from opendcc.store.tables import jobs

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractChannel,
        AbstractIncomingMessage,
        AbstractRobustConnection,
    )

log = logging.getLogger(__name__)

BROKER = "broker"  # the lease owner of a job published and not yet taken by a worker
PUBLISH_BATCH = 256
CONNECT_RETRY_S = 1.0

_candidates = select(jobs.c.request_id, jobs.c.priority, jobs.c.run_after)


class Lane(Enum):
    """A queue of its own per kind of work, consumed in this order."""

    TOP_UPS = "top-ups"
    INTERACTIVE = "interactive"
    BULK = "bulk"


def lane_of(priority: int, urgent: int) -> Lane:
    """Prepayment (``urgent`` and above) first; negative priorities are bulk work."""
    if priority >= urgent:
        return Lane.TOP_UPS
    return Lane.BULK if priority < 0 else Lane.INTERACTIVE


class BrokerQueue(JobQueue):
    def __init__(
        self,
        engine: Engine,
        url: str,
        *,
        lease: timedelta = timedelta(seconds=15),
        redeliver_after: timedelta = timedelta(seconds=30),
        urgent: int = 1,
        prefetch: dict[Lane, int] | None = None,
        prefix: str = "opendcc",
        sweep_s: float = 0.5,
    ) -> None:
        super().__init__(engine, lease)
        self.url = url
        self.redeliver_after = redeliver_after
        self.urgent = urgent
        self.prefetch = prefetch or {Lane.TOP_UPS: 8, Lane.INTERACTIVE: 64, Lane.BULK: 16}
        self.queue_names = {lane: f"{prefix}.jobs.{lane.value}" for lane in Lane}
        self.sweep_s = sweep_s
        self.wake = asyncio.Event()  # set after a commit that made a job due (an accept)
        self.on_message: Callable[[], None] = lambda: None  # a delivery is waiting
        self._skip_locked = engine.dialect.name == "postgresql"
        self._buffers: dict[Lane, deque[tuple[str, AbstractIncomingMessage]]] = {
            lane: deque() for lane in Lane
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: AbstractRobustConnection | None = None
        self._publishing: AbstractChannel | None = None

    # ------------------------------------------------------------------ the database side

    def take_for_publishing(self, now: datetime, limit: int) -> list[tuple[RequestId, int]]:
        """Lease up to ``limit`` due, unleased jobs to the broker: (request, priority) each.

        Two scans, each on a partial index (migration 0015), so a backlog's leased rows are
        never walked: jobs never leased, in publishing order, and jobs whose lease ran out (a
        dead consumer's, a lost message's). The best ``limit`` of both are leased."""
        with self.engine.begin() as conn:
            found = [
                *conn.execute(self._unleased(now, limit)),
                *conn.execute(self._lapsed(now, limit)),
            ]
            found.sort(key=lambda row: (-row.priority, row.run_after))
            chosen = sorted({row.request_id for row in found[:limit]})
            if not chosen:
                return []
            rows = conn.execute(
                update(jobs)
                .where(jobs.c.request_id.in_(chosen))
                .where(free_at(now))
                .values(lease_owner=BROKER, lease_until=now + self.redeliver_after)
                .returning(jobs.c.request_id, jobs.c.priority)
            ).all()
        return [(RequestId.parse(key), int(priority)) for key, priority in rows]

    def _unleased(self, now: datetime, limit: int) -> Select[tuple[str, int, datetime]]:
        """Jobs never leased (or given back), due and waiting on nothing: ``ix_jobs_unleased``
        read in its order, up to ``limit`` rows."""
        return self._lockable(
            _candidates.where(jobs.c.lease_until.is_(None))
            .where(jobs.c.waits_for.is_(None))
            .where(jobs.c.run_after <= now)
            .order_by(jobs.c.priority.desc(), jobs.c.run_after)
            .limit(limit)
        )

    def _lapsed(self, now: datetime, limit: int) -> Select[tuple[str, int, datetime]]:
        """Jobs whose lease ran out (``ix_jobs_lease_until``): few, unless a broker or a worker
        died with many."""
        return self._lockable(
            _candidates.where(jobs.c.lease_until < now)
            .where(jobs.c.waits_for.is_(None))
            .where(jobs.c.run_after <= now)
            .order_by(jobs.c.priority.desc(), jobs.c.run_after)
            .limit(limit)
        )

    def _lockable(
        self, query: Select[tuple[str, int, datetime]]
    ) -> Select[tuple[str, int, datetime]]:
        """Two publishers never wait on each other's rows (PostgreSQL)."""
        return query.with_for_update(skip_locked=True) if self._skip_locked else query

    def give_back(self, request_ids: Sequence[RequestId]) -> None:
        """Publishing these failed: due again now (not when the broker lease runs out)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.request_id.in_([str(r) for r in request_ids]))
                .where(jobs.c.lease_owner == BROKER)
                .values(lease_owner=None, lease_until=None)
            )

    def claim(
        self, owner: str, now: datetime, limit: int = 64, min_priority: int = 0
    ) -> list[RequestId]:
        """Lease to ``owner`` the jobs of up to ``limit`` delivered messages, top-ups first
        (only top-ups when ``min_priority`` is urgent)."""
        lanes = [Lane.TOP_UPS] if min_priority >= self.urgent else list(Lane)
        taken: list[tuple[str, AbstractIncomingMessage]] = []
        for lane in lanes:
            buffer = self._buffers[lane]
            while buffer and len(taken) < limit:
                taken.append(buffer.popleft())
        if not taken:
            return []
        free = or_(
            jobs.c.lease_owner == BROKER, jobs.c.lease_until.is_(None), jobs.c.lease_until < now
        )
        keys = sorted({key for key, _ in taken})
        try:
            with self.engine.begin() as conn:
                won = conn.execute(
                    update(jobs)
                    .where(jobs.c.request_id.in_(self._unlocked(keys)))
                    .where(jobs.c.run_after <= now)
                    .where(jobs.c.waits_for.is_(None))
                    .where(free)
                    .values(
                        lease_owner=owner,
                        lease_until=now + self.lease,
                        attempts=jobs.c.attempts + 1,
                    )
                    .returning(jobs.c.request_id)
                ).all()
        except Exception:
            self._settle([m for _, m in taken], requeue=True)
            raise
        # Taken or not (another worker holds it, it is finished, it waits again): the table
        # says what happens next, not the message.
        self._settle([m for _, m in taken], requeue=False)
        return [RequestId.parse(key) for (key,) in won]

    def release_all(self) -> int:
        """Nothing: in scale mode other workers' leases are live; dead ones run out."""
        return 0

    def renew(self, owner: str, now: datetime) -> int:
        """Extend the leases ``owner`` holds, but not of a row another of its transactions is
        changing (a job being completed in a group commit): on PostgreSQL an UPDATE of all its
        rows would wait on that one's locks while it waits on ours, a deadlock. A row skipped
        is renewed next time, or is gone."""
        mine = select(jobs.c.request_id).where(jobs.c.lease_owner == owner)
        if self._skip_locked:
            mine = mine.with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(jobs).where(jobs.c.request_id.in_(mine)).values(lease_until=now + self.lease)
            )
        return renewed.rowcount

    def _unlocked(self, keys: list[str]) -> Select[tuple[str]] | list[str]:
        """The jobs of ``keys`` no other transaction is changing (PostgreSQL): a job locked is
        being completed, retried or taken by its holder, so its message is dropped, never
        waited on (waiting, with a group commit's deletes in another order, can deadlock)."""
        if not self._skip_locked:
            return keys
        return (
            select(jobs.c.request_id)
            .where(jobs.c.request_id.in_(keys))
            .with_for_update(skip_locked=True)
        )

    # ------------------------------------------------------------------ the broker side

    async def start(self, *, consume: bool) -> None:
        """Connect (retrying until the broker answers), declare the lanes, and consume them
        when this process is a worker."""
        import aio_pika

        self._loop = asyncio.get_running_loop()
        while True:
            try:
                self._connection = await aio_pika.connect_robust(self.url)
                break
            except Exception as exc:
                log.warning("the broker at %s does not answer (%s); retrying", _safe(self.url), exc)
                await asyncio.sleep(CONNECT_RETRY_S)
        self._publishing = await self._connection.channel(publisher_confirms=True)
        for lane in Lane:
            await self._declare(self._publishing, lane)
        if consume:
            for lane in Lane:
                channel = await self._connection.channel()
                await channel.set_qos(prefetch_count=self.prefetch[lane])
                queue = await self._declare(channel, lane)
                await queue.consume(self._receiver(lane))

    async def _declare(self, channel: AbstractChannel, lane: Lane) -> Any:
        return await channel.declare_queue(
            self.queue_names[lane], durable=True, arguments={"x-queue-type": "quorum"}
        )

    def _receiver(self, lane: Lane) -> Callable[[AbstractIncomingMessage], Any]:
        async def received(message: AbstractIncomingMessage) -> None:
            self._buffers[lane].append((message.body.decode("ascii"), message))
            self.on_message()

        return received

    def _settle(self, messages: Sequence[AbstractIncomingMessage], *, requeue: bool) -> None:
        """Acknowledge (or give back) messages from a worker thread, on the event loop."""
        loop = self._loop
        if loop is None or not messages:
            return

        async def settle() -> None:
            for message in messages:
                # A message of a channel that has since closed was given back by the broker.
                with contextlib.suppress(Exception):
                    if requeue:
                        await message.nack(requeue=True)
                    else:
                        await message.ack()

        asyncio.run_coroutine_threadsafe(settle(), loop)

    async def run_publisher(self, clock: Clock) -> None:
        """Publish due jobs, woken by accepts, and sweep every ``sweep_s`` for jobs left by a
        dead consumer, a lost message or a failed publish, or newly due."""
        while True:
            full = False
            try:
                taken = await asyncio.to_thread(
                    self.take_for_publishing, clock.now(), PUBLISH_BATCH
                )
                if taken:
                    await self._publish(taken)
                full = len(taken) == PUBLISH_BATCH
            except Exception:
                log.exception("publishing due jobs failed; trying again shortly")
            if full:
                continue
            self.wake.clear()
            await woken(self.wake, self.sweep_s)

    async def _publish(self, taken: list[tuple[RequestId, int]]) -> None:
        import aio_pika

        channel = self._publishing
        assert channel is not None

        async def one(rid: RequestId, priority: int) -> RequestId | None:
            message = aio_pika.Message(
                str(rid).encode("ascii"),
                message_id=str(rid),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            name = self.queue_names[lane_of(priority, self.urgent)]
            try:
                await channel.default_exchange.publish(message, routing_key=name, timeout=10)
            except Exception:
                return rid
            return None

        failed = [r for r in await asyncio.gather(*(one(*t) for t in taken)) if r is not None]
        if failed:
            log.warning("the broker did not confirm %d jobs; they go again", len(failed))
            await asyncio.to_thread(self.give_back, failed)
            await asyncio.sleep(CONNECT_RETRY_S)

    def buffered(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None


def _safe(url: str) -> str:
    """The URL without its password, for the log."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url
