"""The head-end simulator's CPU per read: ``HeadEndCore.execute`` of SRV 4.1.1, in process.

A head-end serves its meters' reads on the same cores as the hub in the end-to-end benchmarks,
so its CPU per command is part of what ``front_door.py`` measures. This times the core alone
(no HTTP, no codec), on a fleet commissioned ``--days`` before the first read, with a clock
that moves forward ``--step-ms`` per read from mid-afternoon (so each read projects the day so
far and every whole day before it):

- ``hot``: the same 8 meters read in turn, as ``front_door.py`` reads the scenario's 8;
- ``spread``: every read a meter not read before, as on a large fleet;
- ``daily log``: 4.6.1 (yesterday's daily read) on the hot meters, which reads the projection's
  midnight records too.

Run with:

    .venv/bin/python benchmarks/headend_reads.py [--reads 3000] [--days 35]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import OutcomeStatus, Registry
from opendcc.sim.headends import FleetMeter, HeadEndCore, core_for_fleet

START = datetime(2026, 11, 23, 15, 7, 11, 123456, tzinfo=UTC)
YESTERDAY = {"start": "2026-11-22T00:00:00+00:00", "end": "2026-11-23T00:00:00+00:00"}


def _core(meters: int, days: int, clock: FixedClock) -> tuple[HeadEndCore, list[Eui64]]:
    profile = register_all(Registry()).profiles()[0]  # the cohort front_door.py reads
    fleet = [
        FleetMeter.from_json({"device_id": str(Eui64(0x00DB_1700_0000_0000 + n)), "type": "ESME"})
        for n in range(1, meters + 1)
    ]
    core = core_for_fleet(profile, fleet, commissioned=START - timedelta(days=days), clock=clock)
    return core, [m.device_id for m in fleet]


def _cpu_us_per_read(reads: int, read: Callable[[int], None]) -> float:
    started = time.process_time()
    for n in range(reads):
        read(n)
    return (time.process_time() - started) / reads * 1e6


def measure(label: str, reads: int, meters: int, *, days: int, step: timedelta, srv: str) -> None:
    clock = FixedClock(START)
    core, devices = _core(meters, days, clock)
    parameters = YESTERDAY if srv == "4.6.1" else {}
    turns = itertools.cycle(devices)

    def read(n: int) -> None:
        clock.advance(step)
        reply = core.execute(f"{label}-{n}", next(turns), srv, parameters)
        assert reply.status is OutcomeStatus.SUCCESS, reply

    print(f"{label:<34} {_cpu_us_per_read(reads, read):>10,.0f} µs/read", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--days", type=int, default=35, help="commissioned this long before")
    parser.add_argument("--step-ms", type=float, default=3.3, help="clock step per read")
    args = parser.parse_args()
    step = timedelta(milliseconds=args.step_ms)
    print(f"head-end core, SRV 4.1.1 unless named, meters commissioned {args.days} days back")
    days = args.days
    measure("hot: 8 meters in turn", args.reads, 8, days=days, step=step, srv="4.1.1")
    spread = "spread: a new meter every read"
    measure(spread, args.reads, args.reads, days=days, step=step, srv="4.1.1")
    measure("daily log (4.6.1), 8 meters", args.reads, 8, days=days, step=step, srv="4.6.1")


if __name__ == "__main__":
    main()
