"""``store.cache.TtlCache``: one load per key at a time, expired values served while it runs,
and a clear() wins over a load that began before it."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from opendcc.store.cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_many_threads_missing_at_once_load_once() -> None:
    cache: TtlCache[str, int] = TtlCache(1.0, Clock())
    release, calls = threading.Event(), []

    def load() -> int:
        calls.append(1)
        release.wait(5)
        return 42

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cache.get, "k", load) for _ in range(8)]
        threading.Timer(0.2, release.set).start()
        assert [f.result(10) for f in futures] == [42] * 8
    assert len(calls) == 1


def test_an_expired_value_is_served_while_it_is_loaded_again() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(1.0, clock)
    assert cache.get("k", lambda: 1) == 1
    clock.now = 5.0  # expired
    started, release = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        release.wait(5)
        return 2

    loader = threading.Thread(target=cache.get, args=("k", slow))
    loader.start()
    assert started.wait(5)
    assert cache.get("k", lambda: 3) == 1  # the old value, no second load
    release.set()
    loader.join(5)
    assert cache.get("k", lambda: 4) == 2


def test_a_clear_during_a_load_keeps_that_load_out() -> None:
    cache: TtlCache[str, int] = TtlCache(1.0, Clock())

    def load_then_clear() -> int:
        cache.clear()  # the registry changed while this load read it
        return 1

    assert cache.get("k", load_then_clear) == 1
    assert cache.get("k", lambda: 2) == 2  # loaded again, not the pre-change value


def test_a_failed_load_lets_the_waiters_load() -> None:
    cache: TtlCache[str, int] = TtlCache(1.0, Clock())
    entered, release = threading.Event(), threading.Event()

    def failing() -> int:
        entered.set()
        release.wait(5)
        raise RuntimeError("database gone")

    def first() -> None:
        with contextlib.suppress(RuntimeError):
            cache.get("k", failing)

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(5)
    with ThreadPoolExecutor(1) as pool:
        waiter = pool.submit(cache.get, "k", lambda: 7)
        release.set()
        assert waiter.result(5) == 7
    thread.join(5)
