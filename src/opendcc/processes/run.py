"""What every process kind does alike: run a hub with some roles until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from opendcc.config import HubConfig
from opendcc.hub import Hub, Role
from opendcc.processes.wake import Wakes

LOG_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s %(message)s"


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # One line per callback POST would drown the log (and cost CPU) at alert rates.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)


# What a process runs beside its hub's loops, once the hub has started (cancelled at the stop).
Beside = Callable[[Hub], Coroutine[Any, Any, None]]


def run_roles(
    config: HubConfig,
    roles: frozenset[Role],
    name: str,
    beside: Beside | None = None,
    wakes: Wakes | None = None,
) -> None:
    """Run a hub that does ``roles`` (no HTTP) until stopped; ``wakes``: the eventfds
    ``opendcc serve`` handed down (``processes.wake``)."""
    setup_logging()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_run(config, roles, name, beside, wakes))


async def _run(
    config: HubConfig,
    roles: frozenset[Role],
    name: str,
    beside: Beside | None,
    wakes: Wakes | None,
) -> None:
    hub = Hub(config, roles=roles)
    hub.wakes = wakes
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await hub.start()
    extra = asyncio.create_task(beside(hub), name=f"{name}: beside") if beside else None
    logging.getLogger(__name__).info("%s running", name)
    try:
        await stopping.wait()
    finally:
        if extra is not None:
            extra.cancel()
            await asyncio.gather(extra, return_exceptions=True)
        await hub.stop()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is there (uvicorn's extra brings it), else asyncio's."""
    with contextlib.suppress(ImportError):
        import uvloop

        factory: Callable[[], Any] = uvloop.new_event_loop
        return factory
    return None
