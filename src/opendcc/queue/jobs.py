"""The embedded queue: one leased row per device request a worker owes work on.

Jobs carry a priority (prepayment above everything else) and are claimed highest first. A
sequenced request's job names the request it ``waits_for`` (DUIS PrecedingServiceRequestID) and
is not claimed until that request's outcome is known (``release_waiting_in``).

``claim`` leases due rows to one worker with a conditional UPDATE, so two workers never hold
the same job; a lease that runs out (its worker died) makes the job claimable again. The
interface (``enqueue_in``, ``claim``, ``complete_in``, ``retry``) is what a broker-backed queue
replaces in scale-out mode.

``claim_loaded`` is the embedded worker's hot path: one read finds the due jobs and, joined to
them, what the router needs of each request (its state and signed document), then one
conditional UPDATE leases them; the slots reserved for urgent work are honoured from that same
read. The state read before the lease is the state the lease holder finds: only a lease holder
moves a request, the read takes only free jobs, and the lease is won only if the job is still
free, due and waiting on nothing (a job another worker took, parked or put off meanwhile is
not won).
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Select,
    Update,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.store.group import GroupCommit, write
from opendcc.store.raw import RawInsert, RawStatement, result_processors
from opendcc.store.requests import Loaded, StoredOutcome
from opendcc.store.tables import jobs, service_requests

# The hot path's statements, built once (executing a prebuilt statement skips building and
# cache-keying a new one each time).
_INSERT_JOB = insert(jobs)
_DELETE_JOB = delete(jobs).where(jobs.c.request_id == bindparam("key"))
_RELEASE_WAITING = (
    update(jobs).where(jobs.c.waits_for == bindparam("predecessor")).values(waits_for=None)
)
_DELETE_JOBS_RAW = RawStatement(_DELETE_JOB)
_INSERT_JOBS_RAW = RawInsert(jobs, ("request_id", "run_after", "attempts", "priority", "waits_for"))
_RELEASE_WAITING_RAW = RawStatement(
    update(jobs).where(jobs.c.waits_for == bindparam("key")).values(waits_for=None)
)


_S = service_requests.c
# The due jobs with what the router needs of each request, highest priority first (one read).
_DUE_LOADED = (
    select(
        jobs.c.request_id,
        jobs.c.priority,
        _S.state,
        _S.response_code,
        _S.execute_at,
        _S.preceding_request_id,
        _S.document,
    )
    .join_from(jobs, service_requests, service_requests.c.request_id == jobs.c.request_id)
    .where(jobs.c.run_after <= bindparam("now"))
    .where(jobs.c.waits_for.is_(None))
    .where(or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < bindparam("now")))
    .order_by(jobs.c.priority.desc(), jobs.c.run_after)
    .limit(bindparam("limit"))
)

# ``_DUE_LOADED`` on the DBAPI cursor: every claim a worker makes reads it (one in a request
# at low rates), and SQLAlchemy's execute and row objects cost more than the read itself.
_DUE_LOADED_RAW = RawStatement(_DUE_LOADED)
_DueRow = namedtuple(
    "_DueRow",
    "request_id priority state response_code execute_at preceding_request_id document",
)


@functools.lru_cache(maxsize=8)
def _due_processors(dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    """The read's columns' result processors for ``dialect`` (None: taken as the DBAPI gives it)."""
    return result_processors(_DUE_LOADED.selected_columns, dialect)


def _due_loaded(engine: Engine, now: datetime, limit: int) -> list[_DueRow]:
    processors = _due_processors(engine.dialect)
    with engine.connect() as conn:
        found = _DUE_LOADED_RAW.fetch(conn, {"now": now, "limit": limit})
    return [
        _DueRow(*[v if p is None else p(v) for p, v in zip(processors, row, strict=True)])
        for row in found
    ]


@functools.lru_cache(maxsize=256)
def lease_of(count: int) -> RawStatement:
    """Lease ``count`` keys (``k0`` ...) that are still free, due and waiting on nothing; the
    keys won come back. On the DBAPI cursor (``store.raw``), compiled once per count: the
    claim's write, in the group commit's batch, every time a worker claims."""
    return RawStatement(
        update(jobs)
        .where(jobs.c.request_id.in_([bindparam(f"k{i}") for i in range(count)]))
        .where(jobs.c.run_after <= bindparam("now"))
        .where(jobs.c.waits_for.is_(None))
        .where(or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < bindparam("now")))
        .values(
            lease_owner=bindparam("owner"),
            lease_until=bindparam("until"),
            attempts=jobs.c.attempts + 1,
        )
        .returning(jobs.c.request_id)
    )


def free_at(now: datetime) -> ColumnElement[bool]:
    """A job nobody holds a live lease on at ``now``."""
    return or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now)


def due_at(now: datetime) -> Select[str]:
    """The jobs to lease at ``now`` (their time come, waiting on no predecessor, free): the
    highest priority first, then the oldest. The workers' claim and the broker's publisher
    both lease from here."""
    return (
        select(jobs.c.request_id)
        .where(jobs.c.run_after <= now)
        .where(jobs.c.waits_for.is_(None))
        .where(free_at(now))
        .order_by(jobs.c.priority.desc(), jobs.c.run_after)
    )


def orphans_released(finished: frozenset[str]) -> Update:
    """Free the waiting jobs whose predecessor is in one of the ``finished`` states. Each
    waiting job's predecessor is looked up by its key (a correlated EXISTS): the cost follows
    the jobs that wait, where ``waits_for IN (SELECT ... WHERE state IN ...)`` made SQLite walk
    every finished request in the history on each run."""
    predecessor = service_requests.alias("predecessor")
    done = (
        select(predecessor.c.request_id)
        .where(predecessor.c.request_id == jobs.c.waits_for)
        .where(predecessor.c.state.in_(sorted(finished)))
    )
    return (
        update(jobs)
        .where(jobs.c.waits_for.is_not(None))
        .where(done.exists())
        .values(waits_for=None)
    )


class WorkQueue(Protocol):
    """What the front door, the router and the workers need of a queue.

    ``enqueue_in`` and ``complete_in`` take the caller's database transaction: the embedded
    queue writes its rows there; a broker-backed queue records the intent there (a
    transactional outbox) and publishes after the commit, so the database stays the truth.
    """

    def enqueue_in(
        self,
        conn: Connection,
        request_id: RequestId,
        run_after: datetime,
        priority: int = 0,
        *,
        waits_for: RequestId | None = None,
    ) -> None: ...

    def release_waiting_in(self, conn: Connection, predecessor: RequestId) -> int: ...

    def park(self, request_id: RequestId, waits_for: RequestId) -> None: ...

    def claim(
        self, owner: str, now: datetime, limit: int = 64, min_priority: int = 0
    ) -> list[RequestId]: ...

    def complete_in(self, conn: Connection, request_id: RequestId) -> None: ...

    def retry(self, request_id: RequestId, run_after: datetime) -> None: ...

    def release_all(self) -> int: ...

    def renew(self, owner: str, now: datetime) -> int: ...

    def pending(self) -> int: ...


class JobQueue:
    def __init__(self, engine: Engine, lease: timedelta = timedelta(seconds=60)) -> None:
        self.engine = engine
        self.lease = lease
        # The hub's group commit, when it has one: claims join its batches (store.group).
        self.group: GroupCommit | None = None

    @staticmethod
    def enqueue_in(
        conn: Connection,
        request_id: RequestId,
        run_after: datetime,
        priority: int = 0,
        *,
        waits_for: RequestId | None = None,
    ) -> None:
        conn.execute(
            _INSERT_JOB,
            {
                "request_id": str(request_id),
                "run_after": run_after,
                "attempts": 0,
                "priority": priority,
                "waits_for": str(waits_for) if waits_for is not None else None,
            },
        )

    @staticmethod
    def enqueue_many_in(
        conn: Connection, rows: list[tuple[RequestId, datetime, int, RequestId | None]]
    ) -> None:
        """``enqueue_in`` for many jobs (request, run_after, priority, waits_for): one
        ``executemany`` on the DBAPI cursor (``opendcc.store.raw``; the front door's accepts)."""
        _INSERT_JOBS_RAW.run(
            conn,
            [
                (
                    str(rid),
                    run_after,
                    0,
                    priority,
                    str(waits_for) if waits_for is not None else None,
                )
                for rid, run_after, priority, waits_for in rows
            ],
        )

    @staticmethod
    def release_waiting_in(conn: Connection, predecessor: RequestId) -> int:
        """The outcome of ``predecessor`` is known: the jobs waiting for it may be claimed."""
        released = conn.execute(_RELEASE_WAITING, {"predecessor": str(predecessor)})
        return released.rowcount

    def park(self, request_id: RequestId, waits_for: RequestId) -> None:
        """Make a claimed job wait for ``waits_for`` again (its lease is given up)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.request_id == str(request_id))
                .values(waits_for=str(waits_for), lease_owner=None, lease_until=None)
            )

    def release_orphans(self, finished: frozenset[str]) -> int:
        """Free jobs whose predecessor is in one of the ``finished`` states: a safety net for a
        predecessor that finished while its successor was being accepted."""
        with self.engine.begin() as conn:
            released = conn.execute(orphans_released(finished))
        return released.rowcount

    def claim(
        self, owner: str, now: datetime, limit: int = 64, min_priority: int = 0
    ) -> list[RequestId]:
        """Lease up to ``limit`` due jobs of at least ``min_priority`` to ``owner``: the highest
        priority first, then the oldest."""
        query = due_at(now)
        if min_priority:
            query = query.where(jobs.c.priority >= min_priority)
        query = query.limit(limit)
        # Look first in a read (a snapshot beside the writer, no lock): an idle pool's polls
        # and a woken pool's last, empty, claim take no write lock and commit nothing.
        with self.engine.connect() as conn:
            due = [key for (key,) in conn.execute(query)]
        if not due:
            return []
        # Then lease what is still free, in one statement; another worker may have won some.
        lease = (
            update(jobs)
            .where(jobs.c.request_id.in_(due))
            .where(free_at(now))
            .values(lease_owner=owner, lease_until=now + self.lease, attempts=jobs.c.attempts + 1)
            .returning(jobs.c.request_id)
        )
        won = write(self.engine, self.group, lambda conn: set(conn.execute(lease).scalars()))
        return [RequestId.parse(key) for key in due if key in won]

    def claim_loaded(
        self, owner: str, now: datetime, room: int, reserved: int = 0, urgent: int = 1
    ) -> list[tuple[RequestId, Loaded]]:
        """Lease up to ``room`` due jobs to ``owner``, each with its stored request; jobs below
        ``urgent`` priority only into the ``room - reserved`` slots not kept for urgent work."""
        general = room - reserved
        rows = _due_loaded(self.engine, now, room)
        chosen = []
        for row in rows:
            if row.priority < urgent:
                if general <= 0:
                    continue
                general -= 1
            chosen.append(row)
        if not chosen:
            return []
        params = {f"k{i}": row.request_id for i, row in enumerate(chosen)}
        params.update(now=now, owner=owner, until=now + self.lease)
        lease = lease_of(len(chosen))
        won = write(
            self.engine,
            self.group,
            lambda conn: {key for (key,) in lease.fetch(conn, params)},
        )
        claimed = []
        for row in chosen:
            if row.request_id in won:
                rid = RequestId.parse(row.request_id)
                preceding = row.preceding_request_id
                outcome = StoredOutcome(
                    rid,
                    RequestState(row.state),
                    row.response_code,
                    row.execute_at,
                    RequestId.parse(preceding) if preceding else None,
                )
                claimed.append((rid, Loaded(outcome, bytes(row.document))))
        return claimed

    @staticmethod
    def complete_in(conn: Connection, request_id: RequestId) -> None:
        conn.execute(_DELETE_JOB, {"key": str(request_id)})

    @staticmethod
    def complete_many_in(conn: Connection, request_ids: list[str]) -> int | None:
        """``complete_in`` and ``release_waiting_in`` for many requests: two ``executemany``
        on the DBAPI cursor (``opendcc.store.raw``; the router's batched ends take this). The
        jobs released, in all; None where the driver cannot count an ``executemany``'s rows."""
        keys = [{"key": key} for key in request_ids]
        _DELETE_JOBS_RAW.run(conn, keys)
        released = _RELEASE_WAITING_RAW.run(conn, keys)
        if len(keys) > 1 and not conn.dialect.supports_sane_multi_rowcount:
            return None
        return released

    def retry(self, request_id: RequestId, run_after: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.request_id == str(request_id))
                .values(run_after=run_after, lease_owner=None, lease_until=None)
            )

    def renew(self, owner: str, now: datetime) -> int:
        """Extend the leases ``owner`` holds: a live worker keeps its jobs however long the
        head-end takes, a dead one's run out within one lease (its heartbeat stopped)."""
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(jobs).where(jobs.c.lease_owner == owner).values(lease_until=now + self.lease)
            )
        return renewed.rowcount

    def release_all(self) -> int:
        """Free every lease: the embedded hub's start, when no other worker can hold one."""
        with self.engine.begin() as conn:
            freed = conn.execute(
                update(jobs)
                .where(jobs.c.lease_owner.is_not(None))
                .values(lease_owner=None, lease_until=None)
            )
        return freed.rowcount

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(jobs)).scalar_one())
