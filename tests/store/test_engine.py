"""The embedded default's engine: writes wait their turn, reads never wait for the writer."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from opendcc.store import create_engine_for
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
