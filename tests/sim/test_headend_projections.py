"""A head-end walks its hot meters on from their last read, and answers exactly as before.

``HeadEndCore`` lends each meter its kept projection for a command and keeps it after
(``opendcc.sim.state.projections``). Two head-ends over the same fleet, one keeping nothing,
give equal replies to the same commands at the same instants, reads and operations mixed.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import OutcomeStatus, Registry
from opendcc.sim.headends import FleetMeter, HeadEndCore, core_for_fleet
from opendcc.sim.state.projections import Projections

NOW = datetime(2026, 11, 23, 15, 7, 11, 250_000, tzinfo=UTC)
DAY = {"start": "2026-11-22T00:00:00+00:00", "end": "2026-11-23T00:00:00+00:00"}
COMMANDS: list[tuple[str, dict[str, str]]] = [
    ("4.1.1", {}),
    ("4.1.2", {}),
    ("4.6.1", DAY),
    ("4.8.1", DAY),
    ("4.17", DAY),
    ("6.13", {"log": "event", **DAY}),
    ("4.3", {}),
]


def _core(clock: FixedClock) -> HeadEndCore:
    profile = register_all(Registry()).profile("itron")
    fleet = [
        FleetMeter.from_json({"device_id": str(Eui64(0x00DB_1800_0000_0000 + n)), "type": kind})
        for n, kind in enumerate(["ESME", "ESME", "GSME", "ESME"], start=1)
    ]
    return core_for_fleet(profile, fleet, commissioned=NOW - timedelta(days=35), clock=clock)


def test_kept_projections_give_the_same_replies() -> None:
    clock = FixedClock(NOW)
    hot, cold = _core(clock), _core(clock)
    cold.projections = Projections(size=0)  # keeps nothing: every read walks from the ledger
    devices = list(hot.meters)
    turns = itertools.cycle(devices)
    for n in range(240):
        clock.advance(timedelta(minutes=7, microseconds=3_301))
        device = next(turns)
        srv, parameters = COMMANDS[n % len(COMMANDS)]
        if n % 37 == 36:  # now and then an operation settles a meter
            srv, parameters = "3.1", {"message": f"hello {n}"}
        assert hot.execute(f"r{n}", device, srv, parameters) == cold.execute(
            f"r{n}", device, srv, parameters
        ), (n, srv)
    assert len(hot.projections) == len(devices)
    assert len(cold.projections) == 0


def test_the_first_and_second_reads_walk_from_the_ledger_then_reads_walk_on() -> None:
    clock = FixedClock(NOW)
    core = _core(clock)
    device = next(iter(core.meters))
    for n in range(3):
        clock.advance(timedelta(seconds=1))
        assert core.execute(f"r{n}", device, "4.1.1", {}).status is OutcomeStatus.SUCCESS
        assert len(core.projections) == (1 if n else 0)
