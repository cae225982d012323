"""The embedded default's engine: writes wait their turn, reads never wait for the writer."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pytest import MonkeyPatch
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from tests.conftest import postgres_url
from tests.processes.scale import fresh_database

from opendcc.store import create_engine_for
from opendcc.store import engine as engine_module
from opendcc.store.cache import TtlCache


def test_a_read_does_not_wait_for_a_writer_holding_the_lock(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with engine.connect() as conn:  # the snapshot before the writer's uncommitted row
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        thread.join()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()


def test_a_second_writer_waits_for_the_first_and_both_commit(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
    holding = threading.Event()
    order: list[str] = []

    def first() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            time.sleep(0.3)
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(10)
    with engine.begin() as conn:  # BEGIN IMMEDIATE: waits for the first writer's commit
        order.append("second")
        count = conn.execute(text("SELECT count(*) FROM t")).scalar()
        conn.execute(text("INSERT INTO t VALUES (2)"))
    thread.join()
    assert order == ["first", "second"]
    assert count == 1
    engine.dispose()


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest() -> None:
    cache: TtlCache[int, int] = TtlCache(60, size=3)
    for n in range(5):
        assert cache.get(n, lambda n=n: n * 10) == n * 10
    assert len(cache) == 3
    loads: list[int] = []
    assert cache.get(4, lambda: loads.append(4) or 0) == 40  # still cached
    assert cache.get(0, lambda: loads.append(0) or 0) == 0  # dropped: loaded again
    assert loads == [0]


HOLD_THE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO t VALUES (-1)")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""

WRITE_MANY = """
import sys
from sqlalchemy import text
from opendcc.store import create_engine_for
engine = create_engine_for(sys.argv[1])
for n in range(int(sys.argv[2])):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:a)"), {"a": n})
"""


def _table(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
    engine.dispose()
    return url


def test_writers_in_two_processes_wait_for_each_other_and_never_see_a_locked_database(
    tmp_path: Path,
) -> None:
    url = _table(tmp_path / "db.sqlite")
    each = 300
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITE_MANY, url, str(each)], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [writer.communicate(timeout=120)[1].decode() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    engine = create_engine_for(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2 * each
    engine.dispose()


def test_a_writer_waits_for_another_process_holding_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    url = _table(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(path), "0.5"], stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    engine = create_engine_for(url)
    started = time.monotonic()
    with engine.begin() as conn:  # polls past the holder's commit, no "database is locked"
        waited = time.monotonic() - started
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert holder.wait(10) == 0
    assert waited >= 0.3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT a FROM t ORDER BY rowid")).scalars().all() == [-1, 1]
    engine.dispose()


def test_a_writer_gives_up_at_the_deadline(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    path = tmp_path / "db.sqlite"
    url = _table(path)
    monkeypatch.setattr(engine_module, "LOCK_TIMEOUT", 0.4)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(path), "5"], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        engine = create_engine_for(url)
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"), engine.begin():
            pass
        waited = time.monotonic() - started
        assert 0.4 <= waited < 3.0
        # the busy timeout is restored for whatever else meets a lock on this connection
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 400
        engine.dispose()
    finally:
        holder.kill()
        holder.wait()


def _cut(url: str, pid: int) -> None:
    """End backend ``pid`` from another session, as a database restart would."""
    other = create_engine_for(url)
    with other.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    other.dispose()
    time.sleep(0.1)


def test_postgresql_pings_only_a_connection_that_sat_idle(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "PG_IDLE_PING", 0.5)
    with fresh_database(postgres_url()) as url:
        engine = create_engine_for(url)
        pings: list[int] = []
        ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(1) or ping(c))
        pid = 0
        for _ in range(20):  # busy: no round trip before each use
            with engine.connect() as conn:
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert pings == []
        _cut(url, pid)
        time.sleep(0.6)  # idle: the checkout pings, finds it dead and connects afresh
        with engine.begin() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        assert pings == [1]
        engine.dispose()


def test_postgresql_replaces_every_connection_after_one_fails_under_use() -> None:
    with fresh_database(postgres_url()) as url:
        engine = create_engine_for(url)
        with engine.connect() as first, engine.connect() as second:
            pids = [
                conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                for conn in (first, second)
            ]
        for pid in pids:
            _cut(url, pid)
        # used a moment ago, so not pinged: the transaction in hand fails, as it would have
        # had it been in flight when the server went away ...
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        # ... and the pool is invalidated: the other pooled connection is not tried again
        for _ in range(3):
            with engine.connect() as conn:
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() not in pids
        engine.dispose()
