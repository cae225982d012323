"""Group commit: many callers' small write transactions committed together, one fsync a batch.

Each commit of the embedded default (SQLite, WAL, ``synchronous=FULL``) waits for an fsync of
the log (~0.3 ms on a quiet disk, far more on a busy one), and only one writer holds the lock at
a time. The front door writes a few rows per request (the request, its history, its job, its
audit record); committing each alone made the fsync, not the work, the limit. Here one writer
thread takes whatever work is waiting (up to ``max_batch``), runs each piece in a savepoint of
one transaction, commits once, and only then wakes each caller with its result: a caller that
returns has its rows on disk (an I99 is never sent before its request is durable).

A piece of work that raises (a replay, say) has its savepoint rolled back and its caller gets
the exception; the others commit. ``on_rollback`` runs after each such rollback, in the writer
thread, before the next piece: a piece may have moved in-memory state (the audit chain's head)
that the rollback undid. If the commit itself fails, every caller of the batch gets the error.

The single writer also orders the audit chain: every record appended through it is appended by
one thread, in commit order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")

Work = Callable[[Connection], Any]

MAX_BATCH = 128


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
        self._queue: queue.SimpleQueue[tuple[Work, Future[Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # Counted for the benchmarks: batches committed and pieces of work in them.
        self.batches = 0
        self.pieces = 0

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the next batch's transaction; return its result once committed."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("group commit work cannot wait for its own batch")
        future: Future[T] = Future()
        self._ensure_started()
        self._queue.put((work, future))
        return future.result()

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
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Work, Future[Any]]]) -> None:
        results: list[tuple[Future[Any], bool, Any]] = []
        try:
            with self.engine.begin() as conn:
                single = len(batch) == 1
                for work, future in batch:
                    if single:  # no savepoint needed: the transaction is the piece's own
                        try:
                            results.append((future, True, work(conn)))
                        except BaseException as exc:
                            results.append((future, False, exc))
                            raise
                        continue
                    savepoint = conn.begin_nested()
                    try:
                        value = work(conn)
                    except BaseException as exc:
                        savepoint.rollback()
                        self.on_rollback()
                        results.append((future, False, exc))
                    else:
                        savepoint.commit()
                        results.append((future, True, value))
        except BaseException as exc:
            self.on_rollback()
            failed = {id(f) for f, ok, _ in results if not ok}
            for _, future in batch:
                if not future.done():
                    # A piece's own exception is its answer; the others failed with the batch.
                    own = next((v for f, ok, v in results if f is future and not ok), None)
                    future.set_exception(own if id(future) in failed and own else exc)
            return
        self.batches += 1
        self.pieces += len(batch)
        for future, ok, value in results:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
