"""The group commit's batches gather what is about to arrive: pieces announced as coming (the
gateway's accepts between its event loop and the writer) are waited for, up to ``gather`` s, and
pieces that arrive while a BEGIN waits for SQLite's write lock join that BEGIN's batch. Work no
one announced is committed at once (the worker's: no added latency at low rates)."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from opendcc.store.group import GroupCommit


def _noop(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT 1").scalar_one())


def _group(engine: Engine, gather: float) -> GroupCommit:
    group = GroupCommit(engine)
    group.gather = gather
    group.run(_noop)  # the writer started and connected: later timings are the batches' own
    return group


def _settled(futures: list[Future[Any]], timeout: float = 10.0) -> None:
    for future in futures:
        future.result(timeout=timeout)


def test_a_batch_waits_for_the_pieces_announced_as_coming(engine: Engine) -> None:
    group = _group(engine, gather=5.0)
    batches = group.batches
    for _ in range(3):
        group.coming()
    first = group.submit(_noop, announced=True)
    time.sleep(0.1)
    assert not first.done()  # waiting for the other two
    started = time.monotonic()
    rest = [group.submit(_noop, announced=True) for _ in range(2)]
    _settled([first, *rest])
    assert time.monotonic() - started < 2.0  # all arrived: no wait for the deadline
    assert group.batches == batches + 1  # one commit for the three
    assert group.announced == 0
    group.close()


def test_a_piece_called_off_ends_the_wait_for_it(engine: Engine) -> None:
    group = _group(engine, gather=5.0)
    group.coming()
    group.coming()
    first = group.submit(_noop, announced=True)
    time.sleep(0.1)
    assert not first.done()
    started = time.monotonic()
    group.not_coming()  # answered without a write (a refusal, say)
    first.result(timeout=10)
    assert time.monotonic() - started < 2.0
    assert group.announced == 0
    group.close()


def test_the_wait_is_bounded(engine: Engine) -> None:
    group = _group(engine, gather=0.2)
    group.coming()  # never comes, never called off
    started = time.monotonic()
    group.run(_noop)
    waited = time.monotonic() - started
    assert 0.15 <= waited < 5.0
    group.not_coming()
    group.close()


def test_work_nobody_announced_commits_at_once(engine: Engine) -> None:
    group = _group(engine, gather=5.0)
    started = time.monotonic()
    for _ in range(5):
        group.run(_noop)
    assert time.monotonic() - started < 2.0  # no wait at all, one piece after another
    group.close()


def test_pieces_arriving_while_begin_waits_for_the_lock_join_its_batch(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's one write lock, taken by another connection")
    group = _group(engine, gather=0.0)
    batches, pieces = group.batches, group.pieces
    database = engine.url.database
    assert database is not None
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    first = group.submit(_noop)
    time.sleep(0.1)  # the writer took it alone and is polling for the lock
    rest = [group.submit(_noop) for _ in range(3)]
    time.sleep(0.1)
    assert not first.done()
    other.execute("COMMIT")
    other.close()
    _settled([first, *rest])
    assert (group.batches, group.pieces) == (batches + 1, pieces + 4)
    group.close()
