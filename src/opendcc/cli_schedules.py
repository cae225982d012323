"""``opendcc schedules run``: DCC schedules' runs in a process of their own.

The hub makes the runs itself by default. At scale they go to runner processes beside it: set
``[schedules] in_hub = false`` in the hub's configuration and start one or more of these with
the same file. Each run leases its schedule, so runners share the work without doing a run
twice. A runner's adapters carry instructions only: the hub takes the head-ends' alerts. A
runner lowers its own CPU priority (``--nice``, 10 by default), so that on a shared machine the
hub's interactive requests and top-ups go first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Annotated, Any

import typer

from opendcc.cli_common import ConfigOption, config_of
from opendcc.config import HubConfig

app = typer.Typer(help="DCC schedules (SRV 5.1-5.3): their runs.", no_args_is_help=True)


@app.command("run")
def schedules_run(
    config: ConfigOption,
    nice: Annotated[int, typer.Option(min=0, max=19, help="Lower this process's priority.")] = 10,
) -> None:
    """Make the DCC schedules' runs in this process, until stopped (SIGTERM or Ctrl-C)."""
    settings = config_of(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if nice:
        os.nice(nice)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_run(settings))


async def _run(settings: HubConfig) -> None:
    from opendcc.hub import Hub

    hub = Hub(settings, alerts=False)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await hub.start_schedules()
    logging.getLogger(__name__).info("making DCC schedules' runs")
    try:
        await stopping.wait()
    finally:
        await hub.stop()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is there (uvicorn's extra brings it), else asyncio's."""
    with contextlib.suppress(ImportError):
        import uvloop

        factory: Callable[[], Any] = uvloop.new_event_loop
        return factory
    return None
