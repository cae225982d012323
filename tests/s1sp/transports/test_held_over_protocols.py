"""Future-dated instructions over each wire protocol: held, released by the head-end, alerted.

For one Device-pattern cohort per protocol (itron REST/JSON, landis APDU, elster SOAP/XML) a
real head-end server listens on 127.0.0.1 and the cohort's real adapter carries DCO-sealed
instructions carrying ``execute_at``. The head-end answers ``held_until`` and leaves the meter
alone; once its clock passes ``execute_at`` the server itself carries the instruction out and the
adapter's ``on_alert`` receives 0x8F66 (or 0x8F67 for one the meter refuses) with the request
id. A cancel notice (99.2) drops a held one; on an executed one it is REJECTED.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from tests.s1sp.dco_key import DCO
from tests.s1sp.transports.rig import Seen

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import (
    AdapterOptions,
    DeviceAlert,
    Instruction,
    Outcome,
    OutcomeStatus,
    Registry,
    S1spAdapter,
)
from opendcc.s1sp.services import CANCEL_NOTICE, FUTURE_DATED_EXECUTED, FUTURE_DATED_FAILED
from opendcc.s1sp.services.future import EXECUTE_AT, future_dated, held_until
from opendcc.sim.headends import FleetMeter, core_for_fleet, start_headend
from opendcc.sim.headends.core import HeadEndCore

REGISTRY = register_all(Registry())
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=3)
SUPPLIER = {"supplier_name": "E-ON", "supplier_telephone_number": "0333 202 4650"}
UNKNOWN_HASH = "cd" * 32
PROTOCOLS = {"itron": "restjson", "landis": "apdu", "elster": "soapxml"}


@dataclass
class Rig:
    core: HeadEndCore
    clock: FixedClock
    adapter: S1spAdapter
    seen: Seen

    async def submit(self, request_id: str, srv: str, parameters: dict[str, str]) -> Outcome:
        instruction = Instruction(request_id, srv, METER, parameters)
        return await self.adapter.submit(DCO.seal(instruction))

    async def alerts(self, count: int, tries: int = 250) -> list[DeviceAlert]:
        """The alerts the adapter handed on, once there are ``count`` (SOAP is polled)."""
        poll = getattr(self.adapter, "poll_alerts", None)
        for _ in range(tries):
            if poll is not None:
                await poll()
            if len(self.seen.alerts) >= count:
                break
            await asyncio.sleep(0.02)
        return list(self.seen.alerts)

    @property
    def supplier_name(self) -> str:
        meter = self.core.meter(METER)
        assert meter is not None
        return meter.supplier_name


@asynccontextmanager
async def rig(cohort: str) -> AsyncIterator[Rig]:
    clock = FixedClock(NOW)
    core = core_for_fleet(
        REGISTRY.profile(cohort),
        [FleetMeter(METER)],
        commissioned=NOW - timedelta(days=2),
        clock=clock,
    )
    server = await start_headend(core)
    seen = Seen()
    options = AdapterOptions(dco_key=DCO.public_key, on_alert=seen.on_alert)
    adapter = REGISTRY.adapter_for(cohort, server.endpoint, options)
    await adapter.listen()
    try:
        yield Rig(core, clock, adapter, seen)
    finally:
        await adapter.aclose()
        await server.aclose()


@dataclass
class Story:
    held: list[Outcome]
    name_while_held: str
    held_on_head_end: list[str]
    cancelled: Outcome
    name_after: str
    alerts: list[DeviceAlert]
    executions: int
    late_cancel: Outcome


async def held_story(cohort: str) -> Story:
    async with rig(cohort) as r:
        held = [
            await r.submit("R1", "3.4", future_dated(SUPPLIER, LATER)),
            await r.submit("R2", "11.3", future_dated({"hash": UNKNOWN_HASH}, LATER)),
            await r.submit("R3", "3.4", future_dated({**SUPPLIER, "supplier_name": "X"}, LATER)),
        ]
        name_while_held = r.supplier_name
        held_on_head_end = [h.request_id for h in r.core.held(METER)]
        cancelled = await r.submit("C1", CANCEL_NOTICE, {"request_id": "R3"})
        await asyncio.sleep(0.15)  # the server's releaser runs: nothing is due yet
        assert r.seen.alerts == [] and r.supplier_name == ""
        r.clock.set(LATER + timedelta(seconds=1))
        alerts = await r.alerts(2)
        await asyncio.sleep(0.15)  # time for any alert that should not come
        alerts = await r.alerts(3, tries=1)
        late_cancel = await r.submit("C2", CANCEL_NOTICE, {"request_id": "R1"})
        return Story(
            held,
            name_while_held,
            held_on_head_end,
            cancelled,
            r.supplier_name,
            alerts,
            r.core.executions[METER],
            late_cancel,
        )


@pytest.mark.parametrize("cohort", sorted(PROTOCOLS))
def test_a_held_instruction_over_each_protocol(cohort: str) -> None:
    profile = REGISTRY.profile(cohort)
    assert profile.protocol == PROTOCOLS[cohort] and profile.device_future_dating

    story = asyncio.run(held_story(cohort))

    # held: answered at once, nothing done to the meter
    assert [o.status for o in story.held] == [OutcomeStatus.SUCCESS] * 3
    assert [held_until(o.data) for o in story.held] == [LATER] * 3
    assert story.name_while_held == ""
    assert story.held_on_head_end == ["R1", "R2", "R3"]
    # 99.2 dropped R3 before its time
    assert story.cancelled.status is OutcomeStatus.SUCCESS
    assert dict(story.cancelled.data) == {"cancelled": 1}
    # released: R1 changed the meter, R2 failed on it, R3 never ran
    assert story.name_after == "E-ON"
    assert story.executions == 2
    executed, failed = sorted(story.alerts, key=lambda a: a.code)
    assert len(story.alerts) == 2
    assert (executed.device_id, executed.code) == (METER, FUTURE_DATED_EXECUTED)
    assert dict(executed.values) == {"request_id": "R1", "srv": "3.4", "outcome": "success"}
    assert (failed.device_id, failed.code) == (METER, FUTURE_DATED_FAILED)
    assert (failed.values["request_id"], failed.values["outcome"]) == ("R2", "failed")
    assert "not distributed" in str(failed.values["detail"])
    # a cancel notice for an instruction already carried out
    assert story.late_cancel.status is OutcomeStatus.REJECTED


async def without_device_pattern(cohort: str) -> tuple[Outcome, str, int]:
    async with rig(cohort) as r:
        outcome = await r.submit("R1", "3.4", future_dated(SUPPLIER, LATER))
        return outcome, r.supplier_name, len(r.core.held())


@pytest.mark.parametrize("cohort", ["aclara", "edmi"])
def test_execute_at_reaches_a_head_end_without_the_device_pattern_and_is_ignored(
    cohort: str,
) -> None:
    assert not REGISTRY.profile(cohort).device_future_dating
    outcome, name, held = asyncio.run(without_device_pattern(cohort))
    assert outcome.status is OutcomeStatus.SUCCESS and held_until(outcome.data) is None
    assert (name, held) == ("E-ON", 0)


def test_execute_at_is_a_generic_parameter_of_the_sealed_instruction() -> None:
    instruction = Instruction("R1", "3.4", METER, future_dated(SUPPLIER, LATER))
    assert b'"execute_at":"2024-06-01T15:00:00.000Z"' in instruction.canonical()
    assert instruction.parameters[EXECUTE_AT] == "2024-06-01T15:00:00.000Z"
