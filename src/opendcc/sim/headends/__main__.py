"""Run one cohort's simulated head-end as a process.

    python -m opendcc.sim.headends --cohort NAME --port 0 --fleet FLEET.jsonl [--realistic-wan]
        [--key-seed HEX] [--control-port 0]

It prints ``listening on HOST:PORT ENDPOINT`` once ready and serves until SIGINT or SIGTERM.
Meters are commissioned a fixed number of days before now, so logs and profiles hold data.
They take the UTRNs (Unique Transaction Reference Numbers) made with the cohort's keys from
``--key-seed`` (hex; the simulation's default seed unless given), the seed the hub issues them
with. With ``--control-port`` it also serves the control API (``opendcc.sim.keypad``: a consumer
keying a UTRN into a meter) and prints ``control on http://HOST:PORT`` next.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from opendcc.core.clock import SystemClock
from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import DEFAULT_SEED
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim.headends import FleetMeter, core_for_fleet, read_fleet, start_headend
from opendcc.sim.headends.core import Faults
from opendcc.sim.keypad import ControlServer

HISTORY = timedelta(days=35)


def _euis(text: str) -> list[Eui64]:
    return [Eui64.parse(part) for part in text.split(",") if part.strip()]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m opendcc.sim.headends", description=__doc__)
    parser.add_argument("--cohort", required=True, help="the cohort's registry name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--fleet", type=Path, help="JSON Lines of meters (see FleetMeter)")
    parser.add_argument("--meters", type=_euis, default=[], help="ESME EUI-64s, comma-separated")
    parser.add_argument("--latency-ms", type=int, default=0, help="added WAN latency")
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument(
        "--realistic-wan", action="store_true", help="the cohort's latency, loss and wake-ups"
    )
    parser.add_argument(
        "--key-seed",
        type=bytes.fromhex,
        default=DEFAULT_SEED,
        help="hex seed of the cohort's UTRN keys (default: the simulation's own)",
    )
    parser.add_argument(
        "--control-port", type=int, help="serve the control API here too (0 picks a free port)"
    )
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    profile = register_all(Registry()).profile(args.cohort)
    fleet = [FleetMeter(device) for device in args.meters]
    if args.fleet is not None:
        fleet += read_fleet(args.fleet)
    clock = SystemClock()
    core = core_for_fleet(
        profile,
        fleet,
        commissioned=clock.now() - HISTORY,
        clock=clock,
        faults=Faults(latency_ms=args.latency_ms, failure_rate=args.failure_rate),
        realistic_wan=args.realistic_wan,
        key_seed=args.key_seed,
    )
    # The fleet lives as long as the process: keep the collector from walking it again and
    # again (a third of a million meters made every full collection slow).
    gc.collect()
    gc.freeze()
    server = await start_headend(core, args.host, args.port)
    control: ControlServer | None = None
    if args.control_port is not None:
        control = ControlServer(core, args.host, args.control_port)
        await control.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    port = server.endpoint.rsplit(":", 1)[1].split("/")[0]
    print(f"listening on {args.host}:{port} {server.endpoint}", flush=True)
    if control is not None:
        print(f"control on {control.url}", flush=True)
    await stop.wait()
    if control is not None:
        await control.aclose()
    await server.aclose()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is there (uvicorn's extra brings it), as the hub's processes
    run on: it shares their cores in the benchmarks (asyncio's loop cost it about 8 % more CPU
    a request in alternated runs of benchmarks/front_door.py)."""
    with contextlib.suppress(ImportError):
        import uvloop

        factory: Callable[[], Any] = uvloop.new_event_loop
        return factory
    return None


def main(argv: list[str] | None = None) -> None:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_run(_arguments(argv)))


if __name__ == "__main__":
    main()
