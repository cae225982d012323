"""A simulated head-end's core modelling one meter on a fixed clock: what the tests of the
head-ends' unacknowledged alerts (tests/sim) and of the adapters acknowledging them
(tests/s1sp/transports) both start from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim.headends import FleetMeter, core_for_fleet
from opendcc.sim.headends.core import HeadEndCore

REGISTRY = register_all(Registry())
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
NOW = datetime(2024, 6, 1, 12, 0, 0, 120_000, tzinfo=UTC)  # on a hundredth: APDU's resolution


def core_of(cohort: str) -> HeadEndCore:
    """``cohort``'s head-end core, its one meter commissioned two days before NOW."""
    return core_for_fleet(
        REGISTRY.profile(cohort),
        [FleetMeter(METER)],
        commissioned=NOW - timedelta(days=2),
        clock=FixedClock(NOW),
    )
