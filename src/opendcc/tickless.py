"""uvicorn without its tenth-of-a-second tick: an idle server costs nothing between requests.

uvicorn's ``Server.main_loop`` wakes ten times a second to see whether it should exit and, every
tenth wake, to refresh the ``Date`` header (plus a reload/notify callback and a request limit
the hub never configures). In a hub process that waits for work, those wakes were a measurable
part of its idle CPU (issue 20). ``TicklessServer`` waits instead on an event set the moment
``should_exit`` becomes true (by ``stop``, by uvicorn's own signal handler, from any thread),
and wakes on a timer only when a ``Date`` header is sent: once a second, which is as often as
uvicorn changes it. Shutdown is uvicorn's own, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

from opendcc.core.woken import woken

DATE_REFRESH_S = 1.0  # the Date header's resolution is a second


class TicklessServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        self._exit: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._should_exit = False
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value and self._loop is not None and self._exit is not None:
            # Safe from a signal handler and from another thread, as asyncio's own Runner
            # wakes its loop on SIGINT.
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._exit.set)

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        every = DATE_REFRESH_S if self.config.date_header else None
        # Counter 0: the default headers (and the Date) are set on every wake.
        while not await self.on_tick(0):
            if every is None:
                await self._exit.wait()
            else:
                await woken(self._exit, every)
