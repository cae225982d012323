"""A head-end simulator's memory stays bounded however many of its meters are read.

The million-schedule benchmark reads every meter of a third-of-a-million-meter fleet once per
simulator. What a read leaves behind per meter must be small: the cached projection the meter
builds to answer (about 22 KB) is forgotten after each command, and the answers remembered for
repeated request ids are the newest ``REMEMBERED`` only.
"""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import OutcomeStatus, Registry
from opendcc.sim.headends import FleetMeter, core_for_fleet
from opendcc.sim.headends import core as headend_core

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
METERS = 300
YESTERDAY = {"start": "2026-11-22T00:00:00+00:00", "end": "2026-11-23T00:00:00+00:00"}


def _fleet() -> list[FleetMeter]:
    return [
        FleetMeter.from_json({"device_id": str(Eui64(0x00DB_1600_0000_0000 + n)), "type": "ESME"})
        for n in range(1, METERS + 1)
    ]


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_reading_every_meter_leaves_little_behind_per_meter() -> None:
    profile = register_all(Registry()).profile("itron")
    fleet = _fleet()
    core = core_for_fleet(
        profile, fleet, commissioned=NOW - timedelta(days=35), clock=FixedClock(NOW)
    )
    tracemalloc.start()
    try:
        before = _traced()
        for n, meter in enumerate(fleet):
            reply = core.execute(f"run-{n}", meter.device_id, "4.6.1", YESTERDAY)
            assert reply.status is OutcomeStatus.SUCCESS
        left = (_traced() - before) / METERS
    finally:
        tracemalloc.stop()
    # The answer remembered for its request id (about 0.5 KB), not the 22 KB projection.
    assert left < 4_000, f"{left:,.0f} bytes left behind per meter read"


def test_only_the_newest_answers_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(headend_core, "REMEMBERED", 10)
    profile = register_all(Registry()).profile("itron")
    fleet = _fleet()[:30]
    core = core_for_fleet(
        profile, fleet, commissioned=NOW - timedelta(days=35), clock=FixedClock(NOW)
    )
    for n, meter in enumerate(fleet):
        core.execute(f"run-{n}", meter.device_id, "4.6.1", YESTERDAY)
    first, newest = fleet[0].device_id, fleet[-1].device_id
    before = core.executions[newest]
    assert core.execute("run-29", newest, "4.6.1", YESTERDAY).status is OutcomeStatus.SUCCESS
    assert core.executions[newest] == before  # answered from memory, not carried out again
    core.execute("run-0", first, "4.6.1", YESTERDAY)
    assert core.executions[first] == 2  # forgotten: carried out again
