"""Group commit: many callers' small write transactions committed together, one fsync a batch.

Each commit of the embedded default (SQLite, WAL, ``synchronous=FULL``) waits for an fsync of
the log (~0.3 ms on a quiet disk, far more on a busy one), and only one writer holds the lock at
a time. The front door writes a few rows per request (the request, its history, its job, its
audit record); committing each alone made the fsync, not the work, the limit. Here one writer
thread takes whatever work is waiting (up to ``max_batch``), runs each piece in a savepoint of
one transaction, commits once, and only then wakes each caller with its result: a caller that
returns has its rows on disk (an I99 is never sent before its request is durable).

Work of one kind can do better than a savepoint each: a ``Batchable`` piece's class runs all the
batch's pieces of its kind together (``run_many``: a few ``executemany`` statements for the lot,
whatever the batch size), each piece still getting its own answer. If ``run_many`` raises, its
savepoint is rolled back and those pieces run one by one instead.

A piece of work that raises (a replay, say) has its savepoint rolled back and its caller gets
the exception; the others commit. ``on_rollback`` runs after each such rollback, in the writer
thread, before the next piece: a piece may have moved in-memory state (the audit chain's head)
that the rollback undid. If the commit itself fails, every caller of the batch gets the error.

The savepoints are SQL on the DBAPI cursor (``store.raw.savepoint``), not ``begin_nested``: two
statements a piece either way, but without SQLAlchemy's per-statement overhead, which was most of
a batch's own CPU.

The single writer also orders the audit chain: every record appended through it is appended by
one thread, in commit order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import Connection, Engine

from opendcc.store.engine import WRITES
from opendcc.store.raw import savepoint

T = TypeVar("T")

Work = Callable[[Connection], Any]
_Item = tuple[Work, "Future[Any]"]


class _Empty:
    """The writer's queue had nothing more waiting."""


_EMPTY = _Empty()

MAX_BATCH = 128


@runtime_checkable
class Batchable(Protocol):
    """Work whose class can run many pieces of it at once."""

    def __call__(self, conn: Connection) -> Any: ...

    @classmethod
    def run_many(cls, conn: Connection, pieces: list[Any]) -> list[tuple[bool, Any]]:
        """Run every piece; for each, (True, result) or (False, the exception refusing it)."""
        ...


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
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # Counted for the benchmarks: batches committed and pieces of work in them, and pieces
        # whose batch rolled back (a lone piece refused, e.g. a replay, rolls its batch back).
        self.batches = 0
        self.pieces = 0
        self.rolled_back = 0

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the next batch's transaction; return its result once committed."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("group commit work cannot wait for its own batch")
        future: Future[T] = Future()
        self._ensure_started()
        self._queue.put((work, future))
        return future.result()

    def submit(self, work: Callable[[Connection], T]) -> Future[T]:
        """``run`` without waiting: the future is answered (in the writer thread, so its done
        callbacks must be quick and must not wait for the group) once ``work``'s batch has
        committed, or with the exception refusing it. For callers with something better to do
        than block a thread meanwhile (the gateway's and the router's event loops).

        The future is marked running at once: a caller cancelled meanwhile (a wrapped future's
        task) cannot cancel it, which would leave the writer unable to answer it, and the work
        is committed all the same, as when a thread waited for it."""
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
        item: _Item | _Empty | None = self._queue.get()
        while item is not None:  # None: the stop sign, after the work queued before it
            # One connection for batches that follow each other (a pool checkout and return a
            # batch cost more than its BEGIN); given back once the queue is empty, and after a
            # batch that failed (a fresh one for the next).
            try:
                conn = self._connect()
            except Exception as exc:  # no database: the batch's callers get the error
                if isinstance(item, tuple):
                    batch, item = self._gather(item)
                    self.rolled_back += len(batch)
                    for _, future in batch:
                        future.set_exception(exc)
            else:
                with conn:
                    while isinstance(item, tuple):
                        batch, item = self._gather(item)
                        if not self._commit(conn, batch):
                            break
            if isinstance(item, _Empty):
                item = self._queue.get()

    def _connect(self) -> Connection:
        """A connection for the writer's transactions (on SQLite, ``BEGIN IMMEDIATE``s)."""
        conn = self.engine.connect()
        conn.execution_options(**{WRITES: True})
        return conn

    def _gather(self, first: _Item) -> tuple[list[_Item], _Item | _Empty | None]:
        """A batch: ``first`` and the pieces waiting behind it, up to ``max_batch``; and what
        came next (a piece for the next batch, the stop sign, or ``_EMPTY``)."""
        batch = [first]
        item = self._next()
        while isinstance(item, tuple) and len(batch) < self.max_batch:
            batch.append(item)
            item = self._next()
        return batch, item

    def _next(self) -> _Item | _Empty | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return _EMPTY

    def _commit(self, conn: Connection, batch: list[tuple[Work, Future[Any]]]) -> bool:
        """Run ``batch`` in one transaction on ``conn`` and answer its callers; False when the
        batch failed as a whole (rolled back)."""
        results: list[tuple[Future[Any], bool, Any]] = []
        try:
            with conn.begin():
                kinds, single = _partition(batch)
                for kind, pieces in kinds.items():
                    if len(pieces) == 1 or not self._many(conn, kind, pieces, results):
                        single += pieces
                for work, future in single:
                    self._one(conn, work, future, results, alone=len(batch) == 1)
        except BaseException as exc:
            self.on_rollback()
            self.rolled_back += len(batch)
            for future, ok, value in results:
                if not ok:
                    future.set_exception(value)  # refused in its savepoint: its own answer
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)  # failed with the batch
            return False
        self.batches += 1
        self.pieces += len(batch)
        for future, ok, value in results:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        return True

    def _many(
        self,
        conn: Connection,
        kind: type,
        pieces: list[tuple[Work, Future[Any]]],
        results: list[tuple[Future[Any], bool, Any]],
    ) -> bool:
        """Run pieces of one ``Batchable`` kind together; False (rolled back) if that failed."""
        try:
            with savepoint(conn, "group_many"):
                answers = kind.run_many(conn, [work for work, _ in pieces])  # type: ignore[attr-defined]
        except Exception:
            self.on_rollback()
            return False
        for (_, future), (ok, value) in zip(pieces, answers, strict=True):
            results.append((future, ok, value))
        return True

    def _one(
        self,
        conn: Connection,
        work: Work,
        future: Future[Any],
        results: list[tuple[Future[Any], bool, Any]],
        *,
        alone: bool,
    ) -> None:
        if alone:  # no savepoint needed: the transaction is the piece's own
            try:
                results.append((future, True, work(conn)))
            except BaseException as exc:
                results.append((future, False, exc))
                raise
            return
        try:
            with savepoint(conn, "group_one"):  # on the DBAPI: begin_nested costs 2 executes
                value = work(conn)
        except BaseException as exc:
            self.on_rollback()
            results.append((future, False, exc))
        else:
            results.append((future, True, value))


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


def _partition(
    batch: list[tuple[Work, Future[Any]]],
) -> tuple[dict[type, list[tuple[Work, Future[Any]]]], list[tuple[Work, Future[Any]]]]:
    """The batch's ``Batchable`` pieces by kind, and the rest."""
    kinds: dict[type, list[tuple[Work, Future[Any]]]] = {}
    single = []
    for work, future in batch:
        kind = type(work)
        if (batchable := _BATCHABLE.get(kind)) is None:
            batchable = _BATCHABLE[kind] = isinstance(work, Batchable)
        if batchable:
            kinds.setdefault(kind, []).append((work, future))
        else:
            single.append((work, future))
    return kinds, single
