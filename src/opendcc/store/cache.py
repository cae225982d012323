"""A small time-bounded read cache for registry lookups on the hot path.

Access control reads the same User, certificate and device for request after request. Each
entry lives ``ttl`` seconds (monotonic time), so a change made by another process — a User
suspended from the CLI — takes effect within that time; changes made through the same store
object clear the cache at once. It holds at most ``size`` entries: a schedule run touching a
million devices once each must not keep a million lookups; past the bound the oldest go first.

One load per key at a time: when an entry expires under load, the many threads asking for it
do not all go to the database (the front door's pool asked for each of its devices and
registrations a dozen times a second). The first loads; the others keep the expired value for
the moment that takes, or, when there is none yet, wait for its load. A ``clear()`` while a load
is in flight keeps that load's result out of the cache: it may predate the change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(
        self, ttl: float, clock: Callable[[], float] = time.monotonic, size: int = 100_000
    ) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, threading.Event] = {}
        self._generation = 0  # moved by clear(): loads begun before it are not cached
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], V]) -> V:
        if self.ttl <= 0:
            return load()
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
            loading = self._loading.get(key)
            if loading is None:
                loading = self._loading[key] = threading.Event()
                generation = self._generation
                mine = True
            else:
                mine = False
        if not mine:
            if entry is not None:
                return entry[1]  # expired a moment ago, and being loaded again right now
            loading.wait()
            with self._lock:
                entry = self._entries.get(key)
            return entry[1] if entry is not None else load()  # that load failed, or a clear
        try:
            value = load()
            with self._lock:
                if generation == self._generation:
                    self._put(((key, value),))
            return value
        finally:
            with self._lock:
                self._loading.pop(key, None)
            loading.set()

    def __len__(self) -> int:
        return len(self._entries)

    def put_many(self, items: Iterable[tuple[K, V]]) -> None:
        """Cache values loaded in bulk (a batch of work's lookups, ahead of it)."""
        if self.ttl <= 0:
            return
        with self._lock:
            self._put(items)

    def _put(self, items: Iterable[tuple[K, V]]) -> None:
        expires = self._clock() + self.ttl
        for key, value in items:
            self._entries.pop(key, None)  # re-inserted last: the dict's order is the age
            self._entries[key] = (expires, value)
        while len(self._entries) > self.size:
            del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1
