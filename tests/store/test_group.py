"""Group commit: concurrent callers share a transaction; each gets its own result or error."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.store.audit import AuditLog, AuditRecord
from opendcc.store.group import GroupCommit, Work
from opendcc.store.requests import NewRequest, Replay, RequestStore
from opendcc.store.tables import service_requests

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USER = "90-B3-D5-1F-30-01-00-00"
DEVICE = "00-DB-12-34-56-78-90-A0"


def new(counter: int) -> NewRequest:
    return NewRequest(RequestId.parse(f"{USER}:{DEVICE}:{counter}"), "4.1.1", 1, b"<signed/>")


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(service_requests)).scalar_one())


def test_concurrent_accepts_commit_in_batches_and_a_replay_refuses_only_itself(
    engine: Engine,
) -> None:
    requests = RequestStore(engine)
    audit = AuditLog(engine)
    group = GroupCommit(engine, on_rollback=audit.forget_head)
    audit.group = group
    # 40 distinct counters and 10 duplicates of some of them, all at once from 50 threads.
    counters = list(range(1, 41)) + list(range(1, 11))
    barrier = threading.Barrier(len(counters))
    outcomes: dict[int, list[str]] = {c: [] for c in range(1, 41)}

    def accept(counter: int) -> None:
        def write(conn: Connection) -> None:
            requests.accept_in(conn, new(counter), T0)
            audit.append(conn, AuditRecord(T0, "serviceS", "I99", "accepted", "d", str(counter)))

        barrier.wait()
        try:
            group.run(write)
            outcomes[counter].append("ok")
        except Replay:
            audit.record(AuditRecord(T0, "serviceS", "E1", "replay", "d", str(counter)))
            outcomes[counter].append("replay")

    threads = [threading.Thread(target=accept, args=(c,)) for c in counters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    group.close()
    assert all(sorted(o) == (["ok", "replay"] if c <= 10 else ["ok"]) for c, o in outcomes.items())
    assert stored(engine) == 40
    # 50 accepts (10 refused) and 10 refusals' audit records; grouped: fewer commits than pieces
    # (a replay alone in its batch rolls that batch back: it is counted there, not committed)
    assert group.pieces + group.rolled_back == 60 and group.rolled_back <= 10
    assert group.batches < group.pieces
    records = audit.records()
    assert len(records) == 50
    assert audit.verify_chain() is None  # the chain holds across savepoint rollbacks


def test_a_failing_commit_fails_every_caller_and_changes_nothing(engine: Engine) -> None:
    group = GroupCommit(engine)
    requests = RequestStore(engine)

    def boom(conn: Connection) -> None:
        requests.accept_in(conn, new(1), T0)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        group.run(boom)
    assert stored(engine) == 0
    assert group.run(lambda conn: requests.accept_in(conn, new(1), T0)) is None
    assert stored(engine) == 1
    group.close()


class _Piece:
    """A Batchable accept: alone via ``accept_in``, together via ``accept_many_in``."""

    calls: ClassVar[list[int]] = []
    store: RequestStore

    def __init__(self, counter: int) -> None:
        self.counter = counter

    def __call__(self, conn: Connection) -> None:
        self.store.accept_in(conn, new(self.counter), T0)

    @classmethod
    def run_many(cls, conn: Connection, pieces: list[_Piece]) -> list[tuple[bool, object]]:
        cls.calls.append(len(pieces))
        if any(p.counter == 13 for p in pieces):
            raise RuntimeError("unlucky: run them one by one")
        answers = cls.store.accept_many_in(conn, [(new(p.counter), S, T0) for p in pieces])
        return [(a is None, a) for a in answers]


S = RequestState.ACCEPTED


@pytest.mark.parametrize("counters", [[1, 2, 3, 2, 4, 5, 6, 7], [11, 12, 13, 12, 14]])
def test_batchable_pieces_run_together_or_fall_back_one_by_one(
    engine: Engine, counters: list[int]
) -> None:
    _Piece.store, _Piece.calls = RequestStore(engine), []
    group = GroupCommit(engine)
    # One batch, as the writer would take it from the queue.
    batch: list[tuple[Any, Future[Any]]] = [(_Piece(c), Future()) for c in counters]
    with group._connect() as session:
        group._commit(session, batch)
    answers = []
    for _, future in batch:
        error = future.exception()
        answers.append("ok" if error is None else type(error).__name__)
    second = counters.index(counters[3], 0, 3)  # the duplicate's first occurrence
    assert answers[3] == "Replay" and answers[second] == "ok"
    assert answers.count("ok") == len(counters) - 1
    assert _Piece.calls == [len(counters)]  # together; with 13, then one by one
    assert stored(engine) == len(counters) - 1


def test_a_database_out_of_reach_fails_its_callers_and_not_the_writer(tmp_path: Path) -> None:
    """The writer connects per run of batches: a failed connection answers the batch's callers
    with the error, and the writer goes on (no caller waits for ever)."""
    from concurrent.futures import ThreadPoolExecutor

    from opendcc.store import create_engine_for

    engine = create_engine_for(f"sqlite:///{tmp_path / 'missing' / 'store.db'}")
    group = GroupCommit(engine)
    with ThreadPoolExecutor(2) as pool:
        for _ in range(2):
            calls = [pool.submit(group.run, lambda conn: 1) for _ in range(2)]
            for call in calls:
                with pytest.raises(OperationalError):
                    call.result(timeout=10)
        (tmp_path / "missing").mkdir()
        seven = pool.submit(group.run, lambda conn: conn.exec_driver_sql("SELECT 7").scalar())
        assert seven.result(timeout=10) == 7
    group.close()


def test_the_writer_keeps_one_connection_and_begins_on_it_itself(engine: Engine) -> None:
    """Back-to-back batches share one pooled connection and SQLAlchemy begins it once: each
    batch's BEGIN and COMMIT go straight to the DBAPI connection (store.writer)."""
    checkouts, begins = [], []
    event.listen(engine, "checkout", lambda *_: checkouts.append(1))
    event.listen(engine, "begin", lambda *_: begins.append(1))
    group = GroupCommit(engine)
    requests = RequestStore(engine)
    for counter in range(1, 6):
        group.run(lambda conn, c=counter: requests.accept_in(conn, new(c), T0))
    assert (len(checkouts), len(begins)) == (1, 1)
    assert group.batches == 5
    group.close()
    assert stored(engine) == 5


def test_a_refused_first_piece_is_undone_without_a_savepoint_and_the_rest_commit(
    engine: Engine,
) -> None:
    requests = RequestStore(engine)
    rollbacks: list[int] = []
    group = GroupCommit(engine, on_rollback=lambda: rollbacks.append(1))

    def accept(counter: int) -> Work:
        return lambda conn: requests.accept_in(conn, new(counter), T0)

    def refused(conn: Connection) -> None:
        requests.accept_in(conn, new(99), T0)  # written, then undone with its transaction
        raise Replay("refused")

    batch: list[tuple[Any, Future[Any]]] = [
        (refused, Future()),
        (accept(1), Future()),
        (refused, Future()),  # now after a piece's work: undone by its savepoint
        (accept(2), Future()),
    ]
    with group._connect() as session:
        assert group._commit(session, batch)[0]
    answers = [type(f.exception()).__name__ if f.exception() else "ok" for _, f in batch]
    assert answers == ["Replay", "ok", "Replay", "ok"]
    assert len(rollbacks) == 2
    assert (group.batches, group.pieces) == (1, 4)
    with engine.connect() as conn:
        keys = conn.execute(select(service_requests.c.request_id)).scalars().all()
    assert sorted(keys) == sorted(str(new(c).request_id) for c in (1, 2))
    group.close()


def test_a_commit_that_fails_fails_every_caller_and_the_next_batch_gets_a_fresh_connection(
    engine: Engine,
) -> None:
    """A deferred foreign key fails at COMMIT, after every piece ran: each caller of the batch
    gets the error, nothing is stored, the connection is thrown away and the writer goes on."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql(
            "CREATE TABLE child (parent INTEGER REFERENCES parent (id)"
            " DEFERRABLE INITIALLY DEFERRED)"
        )
    checkouts: list[int] = []
    event.listen(engine, "checkout", lambda *_: checkouts.append(1))
    group = GroupCommit(engine)
    requests = RequestStore(engine)

    def orphan(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO child (parent) VALUES (7)")

    batch: list[tuple[Any, Future[Any]]] = [
        (lambda conn: requests.accept_in(conn, new(1), T0), Future()),
        (orphan, Future()),
    ]
    with group._connect() as session:
        assert not group._commit(session, batch)[0]
        assert session.broken
    for _, future in batch:
        with pytest.raises(IntegrityError):
            future.result(timeout=1)
    assert stored(engine) == 0 and group.rolled_back == 2
    before = len(checkouts)
    group.run(lambda conn: requests.accept_in(conn, new(1), T0))
    group.run(lambda conn: requests.accept_in(conn, new(2), T0))
    assert len(checkouts) == before + 1  # one fresh connection for both runs
    assert stored(engine) == 2
    group.close()
