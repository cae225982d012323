"""The outbox: signed responses and alerts on their way to Users' callback URLs.

Each message is written in the same transaction as the outcome it reports, under a unique key
(its DUIS ResponseID or AlertID), and POSTed to the User's endpoint until the endpoint answers
2xx: at least once, with exponential backoff while it is down. Each POST carries the key in the
``X-DCC-Message-ID`` header (and the ResponseID in the document), so a User de-duplicates a
redelivery. When the message answers a request, delivery moves the request to DELIVERED.

Not for ever: after ``DeliveryPolicy.max_attempts`` failures (``permanent_attempts`` when the
endpoint refuses the message itself with a permanent 4xx such as 400, 404 or 410) the message
is dead-lettered (``queue.deadletters``): moved out of the outbox, kept and shown, until the
service desk or the User redrives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Select,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)

from opendcc.core.clock import Clock
from opendcc.core.request_id import RequestId
from opendcc.core.woken import woken
from opendcc.dsp.lifecycle import RequestState, advance
from opendcc.httpclient import HttpClient, HttpError
from opendcc.queue.deadletters import DeliveryPolicy, bury_in, is_permanent
from opendcc.store.group import GroupCommit, write
from opendcc.store.raw import (
    HISTORY,
    MOVE,
    RawInsert,
    RawStatement,
    moved,
    placeholders,
    processor,
    query,
)
from opendcc.store.requests import RequestStore
from opendcc.store.tables import outbox

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_FIRST = timedelta(milliseconds=500)
BACKOFF_MAX = timedelta(seconds=30)
DELIVERY_TIMEOUT = 10.0  # seconds for the User's endpoint to answer one POST
PRUNE_CHUNK = 1_000  # delivered messages deleted per statement
PRUNE_EVERY = timedelta(minutes=1)
# Outcomes wait up to RECORD_LINGER s for others to share their commit (at 100 deliveries/s
# each would otherwise pay a transaction and an fsync alone), or until RECORD_BATCH wait.
RECORD_LINGER = 0.05
RECORD_BATCH = 64


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 0.5 s doubling, at most 30 s."""
    wait: timedelta = BACKOFF_FIRST * 2 ** max(attempts - 1, 0)
    return min(wait, BACKOFF_MAX)


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    user_id: str
    url: str
    body: bytes
    request_id: RequestId | None = None
    # Messages sharing a key go out one at a time, oldest first (an alert's User and device).
    ordering_key: str | None = None
    # Bulk messages (DCC-scheduled runs' Responses) are delivered after every interactive one.
    bulk: bool = False


def _due() -> Select[Any]:
    """The claim's read, built once: due, free, first in line, not held; oldest first."""
    now = bindparam("now", type_=outbox.c.next_attempt_at.type)
    free = or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now)
    # An ordered message waits while an older one with its key is undelivered.
    earlier = outbox.alias("earlier")
    first_in_line = or_(
        outbox.c.ordering_key.is_(None),
        ~exists()
        .where(earlier.c.ordering_key == outbox.c.ordering_key)
        .where(earlier.c.delivered_at.is_(None))
        .where(earlier.c.id < outbox.c.id),
    )
    return (
        select(outbox)
        .where(outbox.c.delivered_at.is_(None))
        # Read in (bulk, id) order straight off ix_outbox_bulk: comparing the time through
        # coalesce() keeps the planner off the (delivered_at, next_attempt_at) index, with
        # which SQLite sorted the whole backlog for every claim.
        .where(func.coalesce(outbox.c.next_attempt_at, outbox.c.next_attempt_at) <= now)
        .where(free)
        .where(first_in_line)
        .where(outbox.c.id.not_in(bindparam("holding", expanding=True)))
        .order_by(outbox.c.bulk, outbox.c.id)
        .limit(bindparam("limit"))
    )


_DUE = _due()
# The same read as ``_DUE``, on the DBAPI cursor: SQLAlchemy's rendering of the expanding
# ``holding`` list and its result rows cost more CPU than the delivery's POST. ``{p}``: a
# parameter; ``{held}``: the ids held, left out (a clause only when there are any).
_DUE_RAW = (
    "SELECT id, message_key, user_id, request_id, url, body, attempts, ordering_key, bulk"
    " FROM outbox WHERE delivered_at IS NULL"
    " AND coalesce(next_attempt_at, next_attempt_at) <= {p}"
    " AND (lease_until IS NULL OR lease_until < {p})"
    " AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox AS earlier"
    " WHERE earlier.ordering_key = outbox.ordering_key AND earlier.delivered_at IS NULL"
    " AND earlier.id < outbox.id)){held}"
    " ORDER BY bulk, id LIMIT {p}"
)


@dataclass(frozen=True, slots=True)
class _Due:
    """A row of the claim's read, by the names ``_claimed`` and ``_lease`` use."""

    id: int
    message_key: str
    user_id: str
    request_id: str | None
    url: str
    body: bytes
    attempts: int
    ordering_key: str | None
    bulk: bool


def _read_due(engine: Engine, now: datetime, limit: int, holding: Sequence[int]) -> list[_Due]:
    """``_DUE``'s rows, read on a DBAPI connection (one statement: one snapshot, no BEGIN)."""
    dialect = engine.dialect
    mark = placeholders(dialect, 1)
    held = f" AND id NOT IN ({placeholders(dialect, len(holding))})" if holding else ""
    at = _utc_time(dialect)(now)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(_DUE_RAW.format(p=mark, held=held), (at, at, *holding, limit))
            rows = cursor.fetchall()
        finally:
            cursor.close()
    finally:
        raw.close()  # back to the pool, which ends any transaction the driver opened
    return [
        _Due(row[0], row[1], row[2], row[3], row[4], bytes(row[5]), row[6], row[7], bool(row[8]))
        for row in rows
    ]


# The hot path's writes on the DBAPI cursor (``opendcc.store.raw``): the same rows as Core's.
_PUT = RawInsert(
    outbox,
    (
        "message_key",
        "user_id",
        "request_id",
        "url",
        "body",
        "created_at",
        "next_attempt_at",
        "attempts",
        "ordering_key",
        "alert_id",
        "bulk",
    ),
)
_DELIVERED = RawStatement(
    update(outbox)
    .where(outbox.c.id == bindparam("id"))
    .values(delivered_at=bindparam("now"), lease_until=None, attempts=outbox.c.attempts + 1)
)
# A failed attempt recorded: tried again after a backoff (``_failed_in``).
_FAILED = RawStatement(
    update(outbox)
    .where(outbox.c.id == bindparam("id"))
    .values(
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next"),
        lease_until=None,
        last_error=bindparam("error"),
    )
)
# The claim's lease: the rows read that are still undelivered and free, ``{p}`` the lease's end,
# then the ids, then now.
_LEASE = (
    "UPDATE outbox SET lease_until = {p} WHERE id IN ({ids}) AND delivered_at IS NULL"
    " AND (lease_until IS NULL OR lease_until < {p}) RETURNING id"
)
_STATES = "SELECT request_id, state FROM service_requests WHERE request_id IN ({})"


def _utc_time(dialect: Dialect) -> Callable[[Any], Any]:
    """How the dialect's DBAPI takes an ``UtcDateTime`` value."""
    return processor(outbox.c.lease_until.type, dialect) or (lambda value: value)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message leased for delivery, with the attempts made before this one."""

    row_id: int
    message: Message
    attempts: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt to deliver a claimed message, to be recorded."""

    row_id: int
    attempts: int  # made before this one
    error: str
    permanent: bool = False


def _on_loop(loop: asyncio.AbstractEventLoop, done: Future[T]) -> asyncio.Future[T]:
    """``done`` (answered in the group commit's writer thread) as a future of ``loop``: one
    ``call_soon_threadsafe`` when it is answered. ``to_thread`` around ``GroupCommit.run``
    costs a pool thread's hop there and back besides, and ``wrap_future`` a chain of callbacks
    each way."""
    answer: asyncio.Future[T] = loop.create_future()

    def settle() -> None:
        if answer.done():  # its awaiter was cancelled: the work is committed all the same
            return
        if (error := done.exception()) is not None:
            answer.set_exception(error)
        else:
            answer.set_result(done.result())

    def answered(_: Future[T]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle)

    done.add_done_callback(answered)
    return answer


class Outbox:
    def __init__(
        self, engine: Engine, requests: RequestStore, policy: DeliveryPolicy | None = None
    ) -> None:
        self.engine = engine
        self.requests = requests
        self.policy = policy or DeliveryPolicy()
        # The hub's group commit, when it has one: claims and deliveries join its batches.
        self.group: GroupCommit | None = None

    @staticmethod
    def put_in(
        conn: Connection, message: Message, now: datetime, alert_id: int | None = None
    ) -> None:
        Outbox.put_many_in(conn, [(message, alert_id)], now)

    @staticmethod
    def put_many_in(
        conn: Connection, messages: Sequence[tuple[Message, int | None]], now: datetime
    ) -> None:
        """Write messages (each with the alert it carries, if any) in one statement."""
        _PUT.run(
            conn,
            [
                (
                    m.key,
                    m.user_id,
                    str(m.request_id) if m.request_id else None,
                    m.url,
                    m.body,
                    now,
                    now,
                    0,
                    m.ordering_key,
                    alert_id,
                    m.bulk,
                )
                for m, alert_id in messages
            ],
        )

    def claim(self, now: datetime, limit: int, lease: timedelta) -> list[tuple[int, Message]]:
        return [(c.row_id, c.message) for c in self.claim_batch(now, limit, lease)]

    def claim_batch(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        *,
        holding: Collection[int] | None = None,
    ) -> list[Claimed]:
        """Lease up to ``limit`` due messages, oldest first (interactive before bulk): a read,
        then one UPDATE ... RETURNING for the lot.

        ``holding``: the caller is the outbox's only deliverer and holds these messages
        (claimed, outcome not yet recorded). Then nothing is leased: the claim is a read alone,
        no write lock and no commit on a message's way out, and the messages held are skipped.
        Its leases would guard only against another deliverer; a killed sole deliverer's
        successor simply delivers what it left unrecorded again (at least once)."""
        # Look in a read first (a snapshot, no lock): an idle deliverer's polls and its last,
        # empty, claim take no write lock and commit nothing.
        rows = _read_due(self.engine, now, limit, sorted(holding or ()))
        if holding is not None:
            return [_claimed(row) for row in rows]
        if not rows:
            return []
        return write(self.engine, self.group, lambda conn: self._lease(conn, rows, now, lease))

    @staticmethod
    def _lease(
        conn: Connection, rows: Sequence[Any], now: datetime, lease: timedelta
    ) -> list[Claimed]:
        """Lease the rows read that are still free and undelivered (another deliverer, a
        schedules runner, may have taken some since the read): one statement."""
        ids = [row.id for row in rows]
        time, mark = _utc_time(conn.dialect), placeholders(conn.dialect, 1)
        won = {
            found
            for (found,) in query(
                conn,
                _LEASE.format(ids=placeholders(conn.dialect, len(ids)), p=mark),
                [time(now + lease), *ids, time(now)],
            )
        }
        return [_claimed(row) for row in rows if row.id in won]

    def delivered(self, row_id: int, message: Message, now: datetime) -> None:
        self.delivered_all([(row_id, message)], now)

    def delivered_all(self, items: list[tuple[int, Message]], now: datetime) -> None:
        """Mark messages delivered, and the requests they answer DELIVERED, in one commit."""
        self.record(items, [], now)

    def record(
        self, taken: Sequence[tuple[int, Message]], failures: Sequence[Failure], now: datetime
    ) -> list[Failure]:
        """One commit for a batch's outcomes: the messages taken marked delivered (one UPDATE;
        the requests they answer moved to DELIVERED) and each failed attempt recorded (backoff,
        or a dead letter). Returns the failures that were the last the policy allows (now dead
        letters)."""
        return write(
            self.engine, self.group, lambda conn: self._record_in(conn, taken, failures, now)
        )

    def record_soon(
        self,
        taken: Sequence[tuple[int, Message]],
        failures: Sequence[Failure],
        now: datetime,
    ) -> asyncio.Future[list[Failure]]:
        """``record`` from the event loop, without a thread of the pool waiting for the group's
        batch: the work goes to the group commit's writer and the returned future is answered
        on this loop once its batch has committed. Without a group, ``record`` in a thread."""
        loop = asyncio.get_running_loop()
        if self.group is None:
            return asyncio.ensure_future(asyncio.to_thread(self.record, taken, failures, now))
        work = self.group.submit(lambda conn: self._record_in(conn, taken, failures, now))
        return _on_loop(loop, work)

    def _record_in(
        self,
        conn: Connection,
        taken: Sequence[tuple[int, Message]],
        failures: Sequence[Failure],
        now: datetime,
    ) -> list[Failure]:
        if taken:
            _DELIVERED.run(conn, [{"id": row_id, "now": now} for row_id, _ in taken])
            answering = list(dict.fromkeys(str(m.request_id) for _, m in taken if m.request_id))
            if answering:
                states = dict(  # one read for the batch's requests
                    query(
                        conn,
                        _STATES.format(placeholders(conn.dialect, len(answering))),
                        answering,
                    )
                )
                moves, history = [], []
                for key in answering:
                    if key not in states or states[key] == RequestState.DELIVERED.value:
                        continue
                    state = RequestState(states[key])
                    step = advance(state, RequestState.DELIVERED, now)  # checked
                    moves.append(
                        {
                            "key": key,
                            "current": state.value,
                            "new_state": step.target.value,
                            "now": now,
                        }
                    )
                    history.append((key, state.value, step.target.value, step.at))
                if moves:  # as RequestStore.advance_in, a batch at a time
                    moved(conn, MOVE, moves)
                    HISTORY.run(conn, history)
        dead = []
        for failure in failures:
            if self._failed_in(conn, failure, now):
                dead.append(failure)
        return dead

    def _failed_in(self, conn: Connection, failure: Failure, now: datetime) -> bool:
        attempts, permanent = failure.attempts + 1, failure.permanent
        if self.policy.gives_up(attempts, permanent=permanent):
            return bury_in(conn, failure.row_id, attempts, failure.error, now, permanent=permanent)
        _FAILED.run(
            conn,
            [
                {
                    "id": failure.row_id,
                    "attempts": attempts,
                    "next": now + backoff(attempts),
                    "error": failure.error[:512],
                }
            ],
        )
        return False

    def prune(self, before: datetime, limit: int = PRUNE_CHUNK) -> int:
        """Delete up to ``limit`` messages delivered before ``before``; how many went. In
        chunks, so the write lock is held briefly (SQLite); the caller repeats while full."""
        chosen = (
            select(outbox.c.id)
            .where(outbox.c.delivered_at.is_not(None))
            .where(outbox.c.delivered_at < before)
            .limit(limit)
            .scalar_subquery()
        )

        def work(conn: Connection) -> int:
            return int(conn.execute(delete(outbox).where(outbox.c.id.in_(chosen))).rowcount)

        return write(self.engine, self.group, work)

    def failed(
        self, row_id: int, attempts: int, error: str, now: datetime, *, permanent: bool = False
    ) -> bool:
        """Record a failed attempt (the ``attempts`` before it); True when that was the last
        the policy allows and the message is now a dead letter."""
        with self.engine.begin() as conn:
            return self._failed_in(conn, Failure(row_id, attempts, error, permanent), now)

    def attempts(self, row_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(outbox.c.attempts).where(outbox.c.id == row_id)).scalar_one()
            )

    def release_all(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox).where(outbox.c.lease_until.is_not(None)).values(lease_until=None)
            )

    def undelivered(self) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
            return int(conn.execute(query).scalar_one())


def _claimed(row: Any) -> Claimed:
    request_id = RequestId.parse(row.request_id) if row.request_id else None
    message = Message(
        row.message_key,
        row.user_id,
        row.url,
        row.body,
        request_id,
        row.ordering_key,
        bool(row.bulk),
    )
    return Claimed(row.id, message, row.attempts)


class Deliverer:
    """Posts due outbox messages: one asyncio task claiming, up to ``concurrency`` POSTs in
    flight, one task recording their outcomes.

    Claims are batches (a read, then one UPDATE ... RETURNING), taken whenever there is room in
    flight and work may be due: woken by a commit that put messages in the outbox (this
    process's, or another's through ``processes.wake``), by a slot coming free after a full
    claim, or by the poll. A slow endpoint holds only its own slots. Outcomes are recorded in
    one commit for whatever finished meanwhile (``Outbox.record_soon``: the group commit,
    answered on the loop), off the claim's path, after lingering up to ``linger`` for more
    (at 100 deliveries/s each would otherwise pay a commit alone) unless ``RECORD_BATCH`` wait,
    one failed, or one was ordered (its successor waits for the record). A killed deliverer
    leaves leased, unrecorded messages: their leases run out and they go again (at least once;
    the User de-duplicates by the message key, its ResponseID).

    ``sole``: this is the outbox's only deliverer (``opendcc serve``'s, a single process's):
    its claims lease nothing (``Outbox.claim_batch``'s ``holding``), so nothing between a
    worker's commit and the POST waits for SQLite's write lock; it skips what it holds in memory.
    Leases stay for deliverers that share an outbox (scale mode, schedules runners).

    Delivered messages are kept for ``retain`` (the alerts query shows them), then pruned."""

    def __init__(
        self,
        box: Outbox,
        clock: Clock,
        *,
        concurrency: int = 128,  # POSTs in flight
        poll: float = 0.2,
        client_factory: Callable[[], HttpClient] | None = None,
        retain: timedelta | None = None,  # None: delivered messages are kept for ever
        sole: bool = False,
        linger: float = RECORD_LINGER,
    ) -> None:
        self.box = box
        self.clock = clock
        self.concurrency = concurrency
        self.poll = poll
        self.retain = retain
        self.wake = asyncio.Event()
        self._client_factory = client_factory or (lambda: HttpClient(timeout_s=DELIVERY_TIMEOUT))
        self._flying: set[asyncio.Task[None]] = set()
        self._taken: list[tuple[int, Message]] = []
        self._failures: list[Failure] = []
        self._finished = asyncio.Event()  # outcomes wait to be recorded
        # ... and they are to be recorded now: enough of them, a failure, or an ordered
        # message whose successor waits for its record to be first in line.
        self._pressing = asyncio.Event()
        self.linger = linger
        self._full = False  # the last claim filled every slot: a free slot may find more
        self.sole = sole
        # A sole deliverer's messages claimed and not yet recorded (skipped by its claims).
        self._holding: set[int] = set()
        # A sole deliverer's claim on SQLite is one read of a WAL snapshot, which waits for no
        # writer: ~50 µs, run on the loop rather than paying a thread's hop there and back
        # (as much CPU again, once per delivery at low rates). Elsewhere it may wait (a lease
        # takes the write lock; PostgreSQL is across a socket): in a thread.
        self._claim_on_loop = sole and box.engine.dialect.name == "sqlite"
        self.claims = 0  # counted for tests and benchmarks
        self.records = 0
        self._recording_now = 0  # outcomes taken for a record not yet committed

    @property
    def settled(self) -> bool:
        """Nothing posted whose outcome is not committed: no POST in flight, no outcome
        waiting for its record, no record under way."""
        return not (self._flying or self._taken or self._failures or self._recording_now)

    async def run(self) -> None:
        async with self._client_factory() as client:
            recorder = asyncio.create_task(self._recording(), name="deliverer: recording")
            ticker = asyncio.create_task(self._ticking(), name="deliverer: poll")
            pruner = (
                asyncio.create_task(self._pruning(), name="deliverer: pruning")
                if self.retain
                else None
            )
            try:
                await self._claiming(client)
            finally:
                flying = list(self._flying)
                for task in flying:
                    task.cancel()
                await asyncio.gather(*flying, return_exceptions=True)
                if pruner is not None:
                    pruner.cancel()
                ticker.cancel()
                recorder.cancel()
                await asyncio.gather(ticker, recorder, return_exceptions=True)
                # What was posted and taken is recorded before stopping (else it goes again).
                await asyncio.shield(self._record_now())

    async def _claiming(self, client: HttpClient) -> None:
        lease = timedelta(seconds=DELIVERY_TIMEOUT * 3)
        while True:
            room = self.concurrency - len(self._flying)
            if room > 0:
                # Cleared before the claim: a commit made while it runs wakes the next one.
                self.wake.clear()
                try:
                    # Copied before the read begins: an id leaves it only once its outcome is
                    # committed, so a read that no longer skips it sees it delivered.
                    holding = frozenset(self._holding) if self.sole else None
                    claim = functools.partial(
                        self.box.claim_batch, self.clock.now(), room, lease, holding=holding
                    )
                    batch = claim() if self._claim_on_loop else await asyncio.to_thread(claim)
                except Exception:
                    log.exception("claiming outbox messages failed; trying again shortly")
                    await asyncio.sleep(self.poll)
                    continue
                self.claims += 1
                if self.sole:
                    self._holding.update(claimed.row_id for claimed in batch)
                for claimed in batch:
                    task = asyncio.create_task(self._post(client, claimed))
                    self._flying.add(task)
                    task.add_done_callback(self._landed)
                self._full = len(batch) == room
                if self._full:
                    continue  # there may be more
            else:
                self._full = True
                self.wake.clear()
                if len(self._flying) < self.concurrency:
                    continue  # a slot came free before the clear
            await self.wake.wait()

    async def _ticking(self) -> None:
        """The poll: a look every ``poll`` s (the safety net for a lost wake-up). One timer for
        the deliverer's life: a timeout armed and cancelled around every wait cost ~7 % of its
        CPU at 100 deliveries/s, each delivery waking the claim loop alone."""
        while True:
            await asyncio.sleep(self.poll)
            self.wake.set()

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._flying.discard(task)
        if self._full:
            self.wake.set()

    async def _post(self, client: HttpClient, claimed: Claimed) -> None:
        """POST one message; its outcome waits for the recorder."""
        message = claimed.message
        headers = (("Content-Type", "application/xml"), ("X-DCC-Message-ID", message.key))
        status: int | None = None
        try:
            answer = await client.post(message.url, message.body, headers=headers)
            ok, status = answer.ok, answer.status
            error = "" if ok else f"HTTP {answer.status}"
        except HttpError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if ok:
            self._taken.append((claimed.row_id, message))
            pressing = message.ordering_key is not None
        else:
            log.info("delivery of %s to %s failed (%s)", message.key, message.url, error)
            self._failures.append(
                Failure(claimed.row_id, claimed.attempts, error, is_permanent(status))
            )
            pressing = True
        self._finished.set()
        if pressing or len(self._taken) + len(self._failures) >= RECORD_BATCH:
            self._pressing.set()

    async def _recording(self) -> None:
        """Record outcomes as they come: one commit for all that finished meanwhile, after
        lingering (``linger``) for more unless they are pressing. A delivery recorded late, or
        never (kill -9), is only delivered again, with the same key."""
        while True:
            await self._finished.wait()
            if not self._pressing.is_set():
                await woken(self._pressing, self.linger)
            await self._record_now()

    async def _record_now(self) -> None:
        self._finished.clear()
        self._pressing.clear()
        taken, self._taken = self._taken, []
        failures, self._failures = self._failures, []
        if not taken and not failures:
            return
        self._recording_now += 1
        try:
            dead = await self.box.record_soon(taken, failures, self.clock.now())
            self.records += 1
        except Exception:
            # The leases run out (or, a sole deliverer's, are none) and these go again: at
            # least once.
            log.exception("recording %d deliveries failed", len(taken) + len(failures))
            dead = []
        finally:
            self._recording_now -= 1
            self._holding.difference_update(row_id for row_id, _ in taken)
            self._holding.difference_update(failure.row_id for failure in failures)
        if any(message.ordering_key is not None for _, message in taken):
            # A delivered ordered message puts the next of its key first in line: claim again
            # now, not at the next poll (with wake-ups, a second away; an alert flood's
            # messages, ordered per device and User, would go one poll per message each).
            # Other messages free nothing by being recorded: no claim that would find nothing.
            self.wake.set()
        for failure in dead:
            log.warning(
                "delivery of outbox message %d failed %d times (%s): dead-lettered",
                failure.row_id,
                failure.attempts + 1,
                failure.error,
            )
        if failures:  # look again when the first retry falls due, not a poll later
            first = min(backoff(f.attempts + 1) for f in failures).total_seconds()
            asyncio.get_running_loop().call_later(first, self.wake.set)

    async def _pruning(self) -> None:
        assert self.retain is not None
        while True:
            try:
                before = self.clock.now() - self.retain
                while await asyncio.to_thread(self.box.prune, before) >= PRUNE_CHUNK:
                    pass
            except Exception:
                log.exception("pruning delivered outbox messages failed; trying again later")
            await asyncio.sleep(PRUNE_EVERY.total_seconds())
