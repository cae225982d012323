"""The router's two writes a request, as group commit work that batches across workers.

A request the router carries writes twice: its advance to SENT_TO_S1SP before the S1SP has it
(``Advance``), and its end (``End``): the outcome's state and DUIS code, its Response (and any
DCC alert) in the outbox, its job removed and the requests waiting for it released, all in one
transaction. Each is a piece of work for the hub's group commit (``opendcc.store.group``), and a
``Batchable`` one: a batch's pieces of one kind run together in a handful of ``executemany``
statements, whatever the number of workers that ended a request meanwhile, instead of a
savepoint and five statements each. The statements are Core compiled once per dialect and run
on the DBAPI cursor (``opendcc.store.raw``): the same rows, without SQLAlchemy's ~100 µs of
Python a statement.

Each piece still gets its own answer. A request's state is moved only from the state the router
read (a conditional UPDATE): if any piece of the batch finds its request moved by someone else,
the batch's statements are rolled back and each piece runs alone, so the one that lost its race
gets ``ConcurrentTransition`` and the others commit (``GroupCommit._many``).

The outbox rows of a batch carry the batch's latest ``now`` (a few milliseconds at most after
the earliest): the time a Response became deliverable is its batch's, never later than its
commit. Each request's history keeps its own time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState, advance
from opendcc.queue.jobs import JobQueue
from opendcc.queue.outbox import Message, Outbox
from opendcc.store.raw import HISTORY, MOVE, MOVE_ANSWERED, moved


def _history(
    key: str, current: RequestState, targets: tuple[RequestState, ...], now: datetime
) -> list[tuple[object, ...]]:
    """The history rows of moving ``current`` along ``targets`` (each step checked), in
    ``HISTORY``'s column order."""
    rows: list[tuple[object, ...]] = []
    state = current
    for target in targets:
        step = advance(state, target, now)
        rows.append((key, step.source.value, target.value, step.at))
        state = target
    return rows


@dataclass(frozen=True, slots=True)
class Advance:
    """Move a request from ``current`` along ``targets`` (to SENT_TO_S1SP), unanswered."""

    request_id: RequestId
    current: RequestState
    targets: tuple[RequestState, ...]
    now: datetime

    def __call__(self, conn: Connection) -> None:
        self.run_many(conn, [self])

    @classmethod
    def run_many(cls, conn: Connection, pieces: list[Advance]) -> list[tuple[bool, Any]]:
        moves: list[dict[str, Any]] = []
        history: list[tuple[object, ...]] = []
        for piece in pieces:
            key = str(piece.request_id)
            history += _history(key, piece.current, piece.targets, piece.now)
            moves.append(
                {
                    "key": key,
                    "current": piece.current.value,
                    "new_state": piece.targets[-1].value,
                    "now": piece.now,
                }
            )
        moved(conn, MOVE, moves)
        HISTORY.run(conn, history)
        return [(True, None)] * len(pieces)


@dataclass(frozen=True, slots=True)
class End:
    """A request's end: ``current`` to ``target`` answered ``code``, its ``messages`` (the
    Response, any DCC alert) in the outbox, its job done, its successors released."""

    request_id: RequestId
    current: RequestState
    target: RequestState
    code: str
    now: datetime
    messages: tuple[Message, ...]

    def __call__(self, conn: Connection) -> bool | None:
        released: bool | None = self.run_many(conn, [self])[0][1]
        return released

    @classmethod
    def run_many(cls, conn: Connection, pieces: list[End]) -> list[tuple[bool, Any]]:
        """Each piece's answer: whether the batch's ends released a waiting job (None: not
        known), the worker pool's cue to claim at once (``WorkerPool``): a released job is due
        now, and nothing else wakes the pool for it."""
        moves: list[dict[str, Any]] = []
        history: list[tuple[object, ...]] = []
        keys: list[str] = []
        for piece in pieces:
            key = str(piece.request_id)
            keys.append(key)
            history += _history(key, piece.current, (piece.target,), piece.now)
            moves.append(
                {
                    "key": key,
                    "current": piece.current.value,
                    "new_state": piece.target.value,
                    "now": piece.now,
                    "code": piece.code,
                }
            )
        moved(conn, MOVE_ANSWERED, moves)
        HISTORY.run(conn, history)
        latest = max(piece.now for piece in pieces)
        Outbox.put_many_in(conn, [(m, None) for piece in pieces for m in piece.messages], latest)
        # The jobs done, the requests waiting freed.
        freed = JobQueue.complete_many_in(conn, keys)
        released = None if freed is None else freed > 0
        return [(True, released)] * len(pieces)
