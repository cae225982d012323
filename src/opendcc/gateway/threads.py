"""The threads the front door parses in, replaced before what they have parsed can pile up.

lxml (libxml2) keeps every element and attribute name it has parsed in a dictionary per thread,
for the life of the thread; a shared or fresh parser makes no difference. Names a DUIS client
sends are a fixed vocabulary, but a hostile one can invent new names in every document, and a
long-lived thread would keep them all: memory growing with what clients send. A thread's
dictionary is freed when the thread ends, so the front door's threads are replaced once the
documents handed to them reach ``RECYCLE_BYTES``: the old threads finish what they hold and exit.
What the threads keep is then bounded by that figure, whatever clients send (measured on a
running hub: 188 MiB of invented names grew it by 73 MiB, against about 240 MiB without; the rest
is the allocator's own, which levels off).

Two threads, not a ``ThreadPoolExecutor``'s cores + 4: the front door no longer waits in its
thread for the group commit (``gateway.door``), so a thread is busy only for the door's own CPU
(and the odd registry read), and with a gateway per core more threads only took turns at the GIL:
six of them cost the door 2-3 times its in-process CPU per request, two cost it about its own.
The work goes through a plain queue, without a ``Future`` per call (a lock and a condition each):
a call reports back itself (``call_soon_threadsafe``); ``run`` does that for the caller.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

RECYCLE_BYTES = 8 * 1024 * 1024
WORKERS = 2

_Calls = queue.SimpleQueue[Callable[[], Any] | None]


class RecycledPool:
    def __init__(self, recycle_bytes: int = RECYCLE_BYTES, workers: int = WORKERS) -> None:
        self.recycle_bytes = recycle_bytes
        self.workers = workers
        self.generation = 0
        self._calls: _Calls | None = None  # the threads start with the first call
        self._taken = 0

    def _new(self) -> _Calls:
        calls: _Calls = queue.SimpleQueue()
        for i in range(self.workers):
            name = f"front-door_{self.generation}_{i}"
            threading.Thread(target=_serve, args=(calls,), name=name, daemon=True).start()
        return calls

    def submit(self, size: int, call: Callable[[], object]) -> None:
        """``call()`` in a pool thread, not awaited: it reports its own outcome (it must not
        raise; what it raises is logged). ``size``: the bytes of the document it parses. From
        the event loop's thread only."""
        self._taken += size
        if self._calls is None:
            self._calls = self._new()
        elif self._taken > self.recycle_bytes:
            old = self._calls
            self._taken, self.generation = size, self.generation + 1
            self._calls = self._new()
            for _ in range(self.workers):
                old.put(None)  # its threads finish the calls queued before, then exit
        self._calls.put(call)

    async def run(self, size: int, call: Callable[[], T]) -> T:
        """``call()`` in a pool thread, awaited."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()

        def work() -> None:
            try:
                value = call()
            except BaseException as exc:
                loop.call_soon_threadsafe(_fail, done, exc)
            else:
                loop.call_soon_threadsafe(_settle, done, value)

        self.submit(size, work)
        return await done

    def shutdown(self) -> None:
        calls, self._calls = self._calls, None  # a later call starts new threads
        if calls is not None:
            for _ in range(self.workers):
                calls.put(None)


def _serve(calls: _Calls) -> None:
    while (call := calls.get()) is not None:
        try:
            call()
        except Exception as exc:  # a call that broke its promise: the thread carries on
            log.warning("a front-door call raised: %r", exc)


def _settle(done: asyncio.Future[T], value: T) -> None:
    if not done.done():
        done.set_result(value)


def _fail(done: asyncio.Future[Any], exc: BaseException) -> None:
    if not done.done():
        done.set_exception(exc)
