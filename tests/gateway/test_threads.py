"""``gateway.threads.RecycledPool``: calls run in its threads, awaited or not, and the threads
are replaced (the old ones exit) once the documents handed to them pass the recycling size."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from opendcc.gateway.threads import RecycledPool


def _name() -> str:
    return threading.current_thread().name


def test_calls_run_in_the_pools_threads_and_their_outcomes_come_back() -> None:
    async def go() -> None:
        pool = RecycledPool(recycle_bytes=10_000, workers=2)
        names = await asyncio.gather(*(pool.run(1, _name) for _ in range(20)))
        assert set(names) <= {"front-door_0_0", "front-door_0_1"}
        with pytest.raises(ZeroDivisionError):
            await pool.run(1, lambda: 1 / 0)
        pool.shutdown()

    asyncio.run(go())


def test_the_threads_are_replaced_once_their_documents_pass_the_size() -> None:
    async def go() -> None:
        pool = RecycledPool(recycle_bytes=100, workers=2)
        first = await asyncio.gather(*(pool.run(30, threading.current_thread) for _ in range(3)))
        assert pool.generation == 0  # 90 bytes: the first pair
        assert {t.name for t in first} <= {"front-door_0_0", "front-door_0_1"}
        later = await pool.run(20, threading.current_thread)  # 110: a new pair
        assert pool.generation == 1 and later.name.startswith("front-door_1_")
        deadline = time.monotonic() + 5
        while any(t.is_alive() for t in first) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert not any(t.is_alive() for t in first)  # the old ones ended (their names with them)
        assert later.is_alive()
        pool.shutdown()

    asyncio.run(go())


def test_a_call_that_raises_unawaited_is_logged_and_the_thread_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def go() -> None:
        pool = RecycledPool(workers=1)
        with caplog.at_level(logging.WARNING, "opendcc.gateway.threads"):
            pool.submit(1, lambda: 1 / 0)
            assert await pool.run(1, lambda: 42) == 42
        pool.shutdown()

    asyncio.run(go())
    assert ["a front-door call raised" in r.getMessage() for r in caplog.records] == [True]
