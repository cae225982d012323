"""The threads the front door parses in, replaced before what they have parsed can pile up.

lxml (libxml2) keeps every element and attribute name it has parsed in a dictionary per thread,
for the life of the thread; a shared or fresh parser makes no difference. Names a DUIS client
sends are a fixed vocabulary, but a hostile one can invent new names in every document, and a
long-lived thread would keep them all: memory growing with what clients send. A thread's
dictionary is freed when the thread ends, so the front door's thread pool is replaced once the
documents handed to it reach ``RECYCLE_BYTES``: the old threads finish what they hold and exit.
What a thread pool keeps is then bounded by that figure, whatever clients send (measured on a
running hub: 188 MiB of invented names grew it by 73 MiB, against about 240 MiB without; the rest
is the allocator's own, which levels off).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

RECYCLE_BYTES = 8 * 1024 * 1024
WORKERS = min(32, (os.cpu_count() or 1) + 4)  # as asyncio's default executor


class RecycledPool:
    def __init__(self, recycle_bytes: int = RECYCLE_BYTES, workers: int = WORKERS) -> None:
        self.recycle_bytes = recycle_bytes
        self.workers = workers
        self._pool = self._new()
        self._taken = 0
        self.generation = 0

    def _new(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.workers, thread_name_prefix="front-door")

    async def run(self, size: int, call: Callable[[], T]) -> T:
        """``call()`` in a pool thread; ``size`` is the bytes of the document it parses."""
        return await asyncio.wrap_future(self.submit(size, call))

    def submit(self, size: int, call: Callable[[], T]) -> Future[T]:
        """``call()`` in a pool thread, not awaited (from the event loop's thread only)."""
        self._taken += size
        if self._taken > self.recycle_bytes:
            old, self._pool = self._pool, self._new()
            old.shutdown(wait=False)  # its threads finish their documents, then exit
            self._taken, self.generation = size, self.generation + 1
        return self._pool.submit(call)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)
