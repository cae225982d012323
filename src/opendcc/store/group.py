"""Group commit: many callers' small write transactions committed together, one fsync a batch.

Each commit of the embedded default (SQLite, WAL, ``synchronous=FULL``) waits for an fsync of
the log (~0.3 ms on a quiet disk, far more on a busy one), and only one writer holds the lock at
a time. The front door writes a few rows per request (the request, its history, its job, its
audit record); committing each alone made the fsync, not the work, the limit. Here one writer
thread takes whatever work is waiting (up to ``max_batch``), runs the pieces in one
transaction, commits once, and only then wakes each caller with its result: a caller that
returns has its rows on disk (an I99 is never sent before its request is durable).

Work of one kind can do better than a savepoint each: a ``Batchable`` piece's class runs all the
batch's pieces of its kind together (``run_many``: a few ``executemany`` statements for the lot,
whatever the batch size), each piece still getting its own answer. If ``run_many`` raises, its
work is undone and those pieces run one by one instead.

A piece of work that raises (a replay, say) has its work undone and its caller gets the
exception; the others commit. A savepoint undoes it when other pieces' work is already in the
transaction; the first piece (or ``run_many``) of a transaction runs without one, since rolling
the whole transaction back undoes exactly that piece (the next piece then begins another): most
batches, of one kind of work, take no savepoint at all. ``on_rollback`` runs after each such
rollback, in the writer thread, before the next piece: a piece may have moved in-memory state
(the audit chain's head) that the rollback undid. If the commit itself fails, every caller of
the batch gets the error and the connection is thrown away.

The transaction is driven on the writer's own connection (``store.writer``): BEGIN IMMEDIATE and
COMMIT on the DBAPI connection, kept for as long as work keeps coming, not a SQLAlchemy begin,
commit, pool checkin and checkout a batch. Savepoints are SQL on the DBAPI cursor
(``store.raw.savepoint``), not ``begin_nested``, without SQLAlchemy's per-statement overhead.
Callers wait on a plain lock (``_Answer``), not a ``Future``'s condition.

The single writer also orders the audit chain: every record appended through it is appended by
one thread, in commit order.
"""

from __future__ import annotations

import _thread
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import Connection, Engine

from opendcc.store.raw import savepoint
from opendcc.store.writer import WriterConnection

T = TypeVar("T")

Work = Callable[[Connection], Any]


class Waiter(Protocol):
    """Where a piece's answer goes: ``_Answer`` for ``run``, or a ``concurrent.futures.Future``."""

    def set_result(self, result: Any, /) -> None: ...

    def set_exception(self, exception: BaseException | None, /) -> None: ...

    def done(self) -> bool: ...


_Item = tuple[Work, Waiter]


class _Empty:
    """The writer's queue had nothing more waiting."""


_EMPTY = _Empty()
_PENDING = object()

MAX_BATCH = 128
IDLE = 1.0  # s the writer keeps its connection with nothing to write, before giving it back
# s a batch may wait, at most, for pieces its callers said are coming (``coming``): a few
# front-door passes' worth (~0.3 ms each), far less than the fsync it saves a piece.
GATHER = 0.001


class _Answer:
    """A caller's answer, waited for on a plain lock: a ``Future`` wakes its waiter through a
    ``Condition`` (an RLock, a waiters' list, a lock made per wait), several times the CPU."""

    __slots__ = ("_lock", "_ok", "_value")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._ok = False
        self._value: Any = _PENDING

    def set_result(self, result: Any, /) -> None:
        self._ok, self._value = True, result
        self._lock.release()

    def set_exception(self, exception: BaseException | None, /) -> None:
        self._value = exception
        self._lock.release()

    def done(self) -> bool:
        return self._value is not _PENDING

    def result(self) -> Any:
        self._lock.acquire()
        if self._ok:
            return self._value
        raise self._value


@runtime_checkable
class Batchable(Protocol):
    """Work whose class can run many pieces of it at once."""

    def __call__(self, conn: Connection) -> Any: ...

    @classmethod
    def run_many(cls, conn: Connection, pieces: list[Any]) -> list[tuple[bool, Any]]:
        """Run every piece; for each, (True, result) or (False, the exception refusing it)."""
        ...


class _Transaction:
    """The batch's transaction on the writer's connection, begun when first needed; ``dirty``
    once a piece's work is in it (before that a failing piece needs no savepoint: rolling the
    transaction back undoes exactly that piece)."""

    __slots__ = ("dirty", "open")

    def __init__(self) -> None:
        self.open = False
        self.dirty = False


class GroupCommit:
    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = MAX_BATCH,
        on_rollback: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.on_rollback = on_rollback
        # Work, the stop sign (None), or a nudge (``_EMPTY``: see ``not_coming``).
        self._queue: queue.SimpleQueue[_Item | _Empty | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.gather = GATHER
        # Pieces callers said are on their way (``coming``), not yet submitted.
        self._coming = 0
        self._coming_lock = threading.Lock()
        self._carrying = threading.local()  # ``carrying``: this thread brings an announced piece
        # Counted for the benchmarks: batches committed and pieces of work in them, and pieces
        # whose batch rolled back (a lone piece refused, e.g. a replay, rolls its batch back).
        self.batches = 0
        self.pieces = 0
        self.rolled_back = 0
        self.cpu = 0.0  # s of the writer thread's CPU, known once it has stopped (``close``)

    def coming(self) -> None:
        """Say that a piece is on its way: ``submit(work, announced=True)`` brings it, or
        ``not_coming()`` says it will not come after all. A batch smaller than ``max_batch``
        waits for the pieces on their way, up to ``gather`` s, before it commits: one fsync for
        all of them rather than one each. The gateway announces a request when its event loop
        hands it to a front-door thread. Work no caller announced is committed as soon as the
        writer takes it, as before (the worker's, say: no wait at low rates)."""
        with self._coming_lock:
            self._coming += 1

    @contextlib.contextmanager
    def carrying(self) -> Iterator[None]:
        """The calling thread brings an announced piece: work it ``run``s meanwhile (a refusal's
        audit record, a non-device answer) does not wait for that piece, which cannot come
        before ``run`` returns."""
        self._carrying.on = True
        try:
            yield
        finally:
            self._carrying.on = False

    @property
    def announced(self) -> int:
        """Pieces said to be coming and not yet submitted (nor called off)."""
        return self._coming

    def not_coming(self) -> None:
        """An announced piece will not be submitted (its request was answered without a write,
        or failed): a batch waiting for it stops waiting."""
        with self._coming_lock:
            self._coming -= 1
        self._queue.put(_EMPTY)  # a nudge: the writer looks at what is still coming again

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the next batch's transaction; return its result once committed."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("group commit work cannot wait for its own batch")
        answer = _Answer()
        self._ensure_started()
        carried = getattr(self._carrying, "on", False)
        if carried:  # the announced piece this thread brings is not coming while it waits here
            with self._coming_lock:
                self._coming -= 1
        try:
            self._queue.put((work, answer))
            return answer.result()  # type: ignore[no-any-return]
        finally:
            if carried:
                with self._coming_lock:
                    self._coming += 1

    def submit(self, work: Callable[[Connection], T], *, announced: bool = False) -> Future[T]:
        """``run`` without waiting: the future is answered (in the writer thread, so its done
        callbacks must be quick and must not wait for the group) once ``work``'s batch has
        committed, or with the exception refusing it. For callers with something better to do
        than block a thread meanwhile (the gateway's and the router's event loops).

        The future is marked running at once: a caller cancelled meanwhile (a wrapped future's
        task) cannot cancel it, which would leave the writer unable to answer it, and the work
        is committed all the same, as when a thread waited for it. ``announced``: the piece
        ``coming`` said was on its way (counted off before it is queued, so that a batch waiting
        for it sees it arrive with nothing more to wait for)."""
        if announced:
            with self._coming_lock:
                self._coming -= 1
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        self._ensure_started()
        self._queue.put((work, future))
        return future

    def close(self) -> None:
        """Stop the writer once the work queued so far is committed."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._writer, name="group-commit", daemon=True
                )
                self._thread.start()

    def _writer(self) -> None:
        try:
            self._write()
        finally:
            self.cpu += time.thread_time()

    def _write(self) -> None:
        item: _Item | _Empty | None = self._queue.get()
        while item is not None:  # None: the stop sign, after the work queued before it
            if isinstance(item, _Empty):  # a nudge, with no batch to gather
                item = self._queue.get()
                continue
            # One connection for as long as work keeps coming (see store.writer); given back
            # after IDLE with nothing to write, and after a batch that failed (a fresh one for
            # the next).
            try:
                session = self._connect()
            except Exception as exc:  # no database: the batch's callers get the error
                if isinstance(item, tuple):
                    batch, item = self._gather(item)
                    self.rolled_back += len(batch)
                    for _, waiter in batch:
                        waiter.set_exception(exc)
            else:
                with session:
                    while isinstance(item, tuple):
                        batch, item = self._gather(item)
                        ok, item = self._commit(session, batch, item)
                        if not ok:
                            break
                        if isinstance(item, _Empty):
                            item = self._idle()
            if isinstance(item, _Empty):
                item = self._queue.get()

    def _idle(self) -> _Item | _Empty | None:
        """The next piece, waiting up to IDLE for it; ``_EMPTY`` if none came."""
        deadline = time.monotonic() + IDLE
        item: _Item | _Empty | None = _EMPTY
        while isinstance(item, _Empty) and (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=remaining)  # a nudge: wait on
            except queue.Empty:
                break
        return item

    def _connect(self) -> WriterConnection:
        """A connection for the writer's transactions (on SQLite, ``BEGIN IMMEDIATE``s)."""
        return WriterConnection(self.engine)

    def _gather(self, first: _Item) -> tuple[list[_Item], _Item | _Empty | None]:
        """A batch: ``first`` and the pieces waiting behind it, up to ``max_batch``, with those
        announced as coming (up to ``gather`` s for them); and what came next (a piece for the
        next batch, the stop sign, or ``_EMPTY``)."""
        batch = [first]
        item = self._take(batch)
        if isinstance(item, _Empty) and self._coming > 0 and len(batch) < self.max_batch:
            deadline = time.monotonic() + self.gather
            while isinstance(item, _Empty) and self._coming > 0 and len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if isinstance(item, tuple):
                    batch.append(item)
                    item = self._take(batch)
        return batch, item

    def _take(self, batch: list[_Item]) -> _Item | _Empty | None:
        """Add what is waiting to ``batch``, up to ``max_batch``; what came next."""
        item = self._next()
        while isinstance(item, tuple) and len(batch) < self.max_batch:
            batch.append(item)
            item = self._next()
        return item

    def _next(self) -> _Item | _Empty | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return _EMPTY

    def _commit(
        self, session: WriterConnection, batch: list[_Item], after: _Item | _Empty | None = _EMPTY
    ) -> tuple[bool, _Item | _Empty | None]:
        """Run ``batch`` in one transaction on ``session`` and answer its callers; False when
        the batch failed as a whole (rolled back, the connection not to be used again). With
        room in the batch (``after`` is ``_EMPTY``), the transaction is begun first and what
        arrived meanwhile joins it: a BEGIN that waited for the write lock (another process's
        commit, an fsync long) gathers the pieces that came while it waited. Returns what came
        after the batch."""
        results: list[tuple[Waiter, bool, Any]] = []
        tx = _Transaction()
        try:
            if isinstance(after, _Empty):
                session.begin()
                tx.open = True
                after = self._take(batch)
            kinds, single = _partition(batch)
            for kind, pieces in kinds.items():
                if len(pieces) == 1 or not self._many(session, tx, kind, pieces, results):
                    single += pieces
            for work, waiter in single:
                self._one(session, tx, work, waiter, results)
            if tx.open:
                session.commit()
        except BaseException as exc:
            self._failed(session, batch, results, exc)
            return False, after
        if tx.dirty:
            self.batches += 1
            self.pieces += len(batch)
        else:  # every piece refused: nothing committed
            self.rolled_back += len(batch)
        for waiter, ok, value in results:
            if ok:
                waiter.set_result(value)
            else:
                waiter.set_exception(value)
        return True, after

    def _failed(
        self,
        session: WriterConnection,
        batch: list[_Item],
        results: list[tuple[Waiter, bool, Any]],
        exc: BaseException,
    ) -> None:
        """The batch failed as a whole: undo it, throw the connection away, tell every caller."""
        self.on_rollback()
        self.rolled_back += len(batch)
        session.discard()
        for waiter, ok, value in results:
            if not ok:
                waiter.set_exception(value)  # refused on its own: its own answer
        for _, waiter in batch:
            if not waiter.done():
                waiter.set_exception(exc)  # failed with the batch

    def _attempt(
        self, session: WriterConnection, tx: _Transaction, run: Callable[[Connection], Any]
    ) -> tuple[bool, Any]:
        """Run one unit of the batch: (True, its value), or (False, its exception) with its
        work undone: by a savepoint when others' work is already in the transaction, else by
        rolling the transaction back (the next unit begins another)."""
        if not tx.open:
            session.begin()
            tx.open = True
        conn = session.conn
        if tx.dirty:
            try:
                with savepoint(conn, "group_piece"):
                    value = run(conn)
            except BaseException as exc:
                self.on_rollback()
                return False, exc
            return True, value
        try:
            value = run(conn)
        except BaseException as exc:
            tx.open = False
            session.rollback()  # raises if the connection failed: the batch fails
            self.on_rollback()
            return False, exc
        tx.dirty = True
        return True, value

    def _many(
        self,
        session: WriterConnection,
        tx: _Transaction,
        kind: type,
        pieces: list[_Item],
        results: list[tuple[Waiter, bool, Any]],
    ) -> bool:
        """Run pieces of one ``Batchable`` kind together; False (undone) if that failed."""
        works = [work for work, _ in pieces]
        ok, answers = self._attempt(
            session,
            tx,
            lambda conn: kind.run_many(conn, works),  # type: ignore[attr-defined]
        )
        if not ok:
            return False
        for (_, waiter), (done, value) in zip(pieces, answers, strict=True):
            results.append((waiter, done, value))
        return True

    def _one(
        self,
        session: WriterConnection,
        tx: _Transaction,
        work: Work,
        waiter: Waiter,
        results: list[tuple[Waiter, bool, Any]],
    ) -> None:
        ok, value = self._attempt(session, tx, work)
        results.append((waiter, ok, value))


def write(engine: Engine, group: GroupCommit | None, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a write transaction: the group's next batch when there is a group (no
    contention for SQLite's write lock, whose busy wait sleeps in steps of up to 100 ms), else
    a transaction of its own."""
    if group is not None:
        return group.run(work)
    with engine.begin() as conn:
        return work(conn)


# Whether a kind of work is ``Batchable``, by its class: a runtime Protocol check walks the
# protocol's members every time (tens of µs a piece).
_BATCHABLE: dict[type, bool] = {}


def _partition(batch: list[_Item]) -> tuple[dict[type, list[_Item]], list[_Item]]:
    """The batch's ``Batchable`` pieces by kind, and the rest."""
    kinds: dict[type, list[_Item]] = {}
    single = []
    for work, waiter in batch:
        kind = type(work)
        if (batchable := _BATCHABLE.get(kind)) is None:
            batchable = _BATCHABLE[kind] = isinstance(work, Batchable)
        if batchable:
            kinds.setdefault(kind, []).append((work, waiter))
        else:
            single.append((work, waiter))
    return kinds, single
