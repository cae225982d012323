"""The embedded worker pool: claims due jobs and runs them, at most ``concurrency`` at once.

Woken as soon as the front door commits a job, and polling otherwise, so jobs left by a killed
process are picked up without anyone asking. A job whose processing raises is retried after a
pause; the request's recorded state says where it resumes.

With ``heartbeat`` (seconds) the pool renews the leases it holds that often: a job is kept as
long as its worker lives, however long the head-end takes, and a killed worker's jobs are free
again within one lease (what several worker processes, and scale mode, rely on).

``reserved`` slots are kept for jobs of at least ``urgent`` priority (prepayment top-ups), so a
backlog of bulk reads filling every other slot never makes a top-up wait for a worker.

Given ``process_loaded`` and the embedded job table (``JobQueue``), one claim leases a batch of
due jobs and reads each one's stored request in the same read (``JobQueue.claim_loaded``), so
processing a job starts without reading it again.

Given ``prepare_loaded`` as well, the claim's thread also takes the jobs it claimed through their
blocking first part (``prepare_loaded``, given them all at once: the reads and the checks, in
the store's threads) and hands the event loop only what is left of each (the continuations it
returns, in order; a job whose first part raised gets one that raises it again). One thread
hop then serves a whole claim, instead of one a job: the hop (a pool submit, two futures
chained across threads, a wake-up each way) had cost about as much CPU as a signature, and
the first parts now run in one thread at a time (claims are made one after the other) where up
to 32 pool threads ran them, contending for the GIL. A claim then takes at most
``PREPARED_PER_CLAIM`` jobs, so the first of them waits for few others' first parts.

A job's end makes the pool claim again only when a claim may now find something it could not
before: the end released a job waiting for it (a sequenced request whose predecessor just
ended: nothing else wakes the pool for it), the end may have (its continuation did not say
``False``: see ``Rest``), a claim is under way (sized before this slot came free), or the last
claim filled every general slot it had (due jobs may be waiting for one). Otherwise the last
claim took fewer jobs than it had room for, so it took every job due then, and what falls due
since wakes the pool itself (an accept's wake-up) or waits for the poll (a retry or a
future-dated job, as when the pool is idle): at low rates, that is one thread hop and one read
a request saved.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from opendcc.core.clock import Clock
from opendcc.core.request_id import RequestId
from opendcc.core.woken import woken
from opendcc.queue.jobs import JobQueue, WorkQueue
from opendcc.store.requests import Loaded

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(seconds=5)
# Jobs a claim takes when its thread prepares them too: a few milliseconds of work at most
# before the first goes on, and still one hop for many under load.
PREPARED_PER_CLAIM = 16
# What is left of a prepared job, for the event loop; it returns whether the job's end released
# a job waiting for it (False: none, so no claim is needed for it; None: not known).
Rest = Callable[[], Awaitable[bool | None]]
Prepare = Callable[[list[tuple[RequestId, Loaded]]], list[Rest]]


class WorkerPool:
    def __init__(
        self,
        jobs: WorkQueue,
        process: Callable[[RequestId], Awaitable[None]],
        clock: Clock,
        *,
        concurrency: int = 64,
        poll: float = 0.2,
        reserved: int = 0,
        urgent: int = 1,
        heartbeat: float | None = None,
        process_loaded: Callable[[RequestId, Loaded], Awaitable[None]] | None = None,
        prepare_loaded: Prepare | None = None,
    ) -> None:
        self.jobs = jobs
        self.process = process
        self.clock = clock
        self.concurrency = concurrency
        self.poll = poll
        self.reserved = min(reserved, concurrency - 1)
        self.urgent = urgent
        self.heartbeat = heartbeat
        # Only the job table's own claim reads the requests with the jobs (a broker-backed
        # queue, a JobQueue too, claims what its consumers took instead).
        embedded = type(jobs).claim is JobQueue.claim
        self.process_loaded = process_loaded if embedded else None
        self.prepare_loaded = prepare_loaded if embedded else None
        self.owner = f"worker-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.wake = asyncio.Event()
        self._running: set[asyncio.Task[bool | None]] = set()
        # Whether a claim is under way, and whether the last one took every job due then.
        self._claiming = False
        self._drained = False

    async def run(self) -> None:
        renewing = asyncio.create_task(self._renew()) if self.heartbeat else None
        try:
            await self._claim_and_run()
        finally:
            if renewing is not None:
                renewing.cancel()

    async def _renew(self) -> None:
        assert self.heartbeat is not None
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await asyncio.to_thread(self.jobs.renew, self.owner, self.clock.now())
            except Exception:
                # The next beat tries again; a lease that ran out meanwhile lets the job go again
                # (harmless: the RequestID is the idempotency key).
                log.exception("renewing the worker's leases failed")

    async def _claim_and_run(self) -> None:
        while True:
            room = self.concurrency - len(self._running)
            if room > 0:
                # Cleared before the claim: a job committed while it runs wakes the next one.
                self.wake.clear()
                self._claiming = True
                try:
                    claimed = await asyncio.to_thread(self._claim, room)
                except Exception:
                    # The store is unavailable for a moment: the jobs wait in it; so do we.
                    log.exception("claiming jobs failed; trying again shortly")
                    await asyncio.sleep(self.poll)
                    continue
                finally:
                    self._claiming = False
                # Fewer jobs than it had general slots for: it took every job due at its read
                # (none was left for want of a slot).
                general = min(self._claimable(room), room - self.reserved)
                self._drained = len(claimed) < general
                for rid, loaded in claimed:
                    task = asyncio.create_task(self._one(rid, loaded))
                    self._running.add(task)
                    task.add_done_callback(self._done)
                if len(claimed) == self._claimable(room):
                    continue  # there may be more
            else:
                self.wake.clear()
                if len(self._running) < self.concurrency:
                    continue  # a slot came free before the clear
            await woken(self.wake, self.poll)

    def busy(self) -> bool:
        """Whether interactive work holds half or more of the general slots: DCC-scheduled
        runs, below interactive work, wait while it does."""
        return len(self._running) >= max(1, (self.concurrency - self.reserved) // 2)

    def _claimable(self, room: int) -> int:
        """The most jobs one claim takes into ``room`` free slots."""
        return min(room, PREPARED_PER_CLAIM) if self.prepare_loaded is not None else room

    def _claim(self, room: int) -> list[tuple[RequestId, Loaded | Rest | None]]:
        """Urgent jobs into any free slot; the rest only into slots not reserved."""
        now = self.clock.now()
        if self.process_loaded is not None or self.prepare_loaded is not None:
            assert isinstance(self.jobs, JobQueue)
            # Reserved slots stay reserved: a smaller claim keeps them in proportion.
            take = self._claimable(room)
            reserved = max(0, self.reserved - (room - take))
            loaded = self.jobs.claim_loaded(self.owner, now, take, reserved, self.urgent)
            if self.prepare_loaded is not None:
                return list(zip([rid for rid, _ in loaded], self._prepared(loaded), strict=True))
            return [(rid, stored) for rid, stored in loaded]
        claimed: list[RequestId] = []
        if self.reserved:
            claimed = self.jobs.claim(self.owner, now, room, self.urgent)
        general = min(room - len(claimed), room - self.reserved)
        if general > 0:
            claimed += self.jobs.claim(self.owner, now, general)
        return [(rid, None) for rid in claimed]

    def _prepared(self, loaded: list[tuple[RequestId, Loaded]]) -> list[Rest]:
        """``prepare_loaded``'s continuations; if it raised, one for each job that raises what
        it raised (each job is then retried, as any job whose processing failed: ``_one``)."""
        assert self.prepare_loaded is not None
        if not loaded:
            return []
        try:
            rests = self.prepare_loaded(loaded)
        except Exception as exc:
            return [raising(exc)] * len(loaded)
        if len(rests) != len(loaded):
            return [raising(RuntimeError("prepare_loaded lost jobs"))] * len(loaded)
        return rests

    def _done(self, task: asyncio.Task[bool | None]) -> None:
        self._running.discard(task)
        # No claim for an end that released nothing once the last claim took every job due
        # (module docstring); one under way was sized before this slot came free.
        if not self._claiming and self._drained and _released_nothing(task):
            return
        self.wake.set()

    async def _one(self, rid: RequestId, loaded: Loaded | Rest | None) -> bool | None:
        """Run one job; whether its end released a waiting job (None: not known)."""
        try:
            if callable(loaded):
                return await loaded()
            if loaded is not None and self.process_loaded is not None:
                await self.process_loaded(rid, loaded)
            else:
                await self.process(rid)
        except Exception:
            log.exception("request %s failed in processing; retrying", rid)
            await asyncio.to_thread(self.jobs.retry, rid, self.clock.now() + RETRY_AFTER)
        return None

    async def drain(self) -> None:
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


def _released_nothing(task: asyncio.Task[bool | None]) -> bool:
    """Whether a finished job said its end released no waiting job."""
    if task.cancelled():
        return False
    if (exc := task.exception()) is not None:  # its retry could not be written
        log.error("a job's retry failed; its lease runs out", exc_info=exc)
        return False
    return task.result() is False


def raising(exc: Exception) -> Rest:
    """A continuation that raises ``exc`` (a job whose first part failed)."""

    async def rest() -> None:
        raise exc

    return rest
