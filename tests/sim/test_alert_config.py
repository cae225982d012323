"""A Supplier switches a meter's alerts off and on again (6.22 Configure Alert Behaviour).

On the meter model: a flat-load prepayment meter (``tests.sim.state.support``) runs low on
credit at hour 40, raising low credit (0x8101) unless that alert is switched off, in which case
it is only logged; critical alerts cannot be switched off. Then over each wire protocol that
offers 6.22 (one cohort each), through a DCO-sealed instruction: the head-end stops pushing the
disabled alert, its control API shows the configuration, and a critical alert stays on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.s1sp.dco_key import DCO, OPTIONS
from tests.sim.state.support import T0, flat_meter, hours

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Instruction, OutcomeStatus, Registry, UnsupportedService
from opendcc.sim.headends import FleetMeter, core_for_fleet, start_headend
from opendcc.sim.headends.core import HeadEndCore, PushedAlert
from opendcc.sim.keypad import control_app
from opendcc.sim.services import execute
from opendcc.sim.state import Alert, EventCode, MeterError, Reason

REGISTRY = register_all(Registry())
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
SRV = "6.22"
# What the unconfigured flat meter raises by hour 60 (tests/sim/state/test_device.py).
RUNNING_OUT = [
    EventCode.LOW_CREDIT,
    EventCode.EMERGENCY_CREDIT_AVAILABLE,
    EventCode.SUPPLY_DISABLED_CREDIT,
]


def codes(alerts: Sequence[Alert]) -> list[EventCode]:
    return [a.code for a in alerts]


def configure(alerts: str) -> dict[str, str]:
    return {"fuel": "electricity", "alerts": alerts}


def test_a_disabled_alert_is_logged_but_not_raised() -> None:
    assert codes(flat_meter().advance(hours(60))) == RUNNING_OUT
    meter = flat_meter()
    result, alerts = execute(meter, SRV, configure("8101:off"), hours(1))
    assert (result, alerts) == ({}, ())
    assert meter.disabled_alerts == {0x8101}

    assert codes(meter.advance(hours(60))) == RUNNING_OUT[1:]
    logged = [entry for entry in meter.event_log(hours(60)) if entry.code is EventCode.LOW_CREDIT]
    [entry] = logged  # once 800 p went at 20 p an hour
    assert hours(40) <= entry.at < hours(40) + timedelta(seconds=1)
    assert meter.event_log(hours(60))[-1].code is EventCode.DEVICE_CONFIG_UPDATED


def test_a_re_enabled_alert_is_raised_again() -> None:
    meter = flat_meter()
    execute(meter, SRV, configure("8101:off,8102:off"), hours(1))
    execute(meter, SRV, configure("8101:on"), hours(2))
    assert meter.disabled_alerts == {0x8102}
    assert codes(meter.advance(hours(60))) == [EventCode.LOW_CREDIT, RUNNING_OUT[2]]


def test_a_critical_alert_cannot_be_disabled() -> None:
    meter = flat_meter()
    execute(meter, SRV, configure("8103:off"), hours(1))
    log = meter.event_log(hours(2))
    for attempt in ("8F30:off", "8101:off,8F30:off", "8F1C:off"):
        with pytest.raises(MeterError) as refused:
            execute(meter, SRV, configure(attempt), hours(2))
        assert refused.value.reason is Reason.INVALID_VALUE
    with pytest.raises(MeterError):  # in any list
        execute(meter, SRV, {"logging": "8F30:off"}, hours(2))
    assert meter.disabled_alerts == {0x8103}  # nothing changed
    assert meter.event_log(hours(2)) == log
    assert codes(meter.advance(hours(60))) == RUNNING_OUT
    execute(meter, SRV, configure("8F30:on"), hours(61))  # switching one on is no change


def test_a_malformed_list_is_refused() -> None:
    meter = flat_meter()
    for bad in ({"alerts": "8101:maybe"}, {"fuel": "water", "alerts": "8101:off"}):
        with pytest.raises(MeterError):
            execute(meter, SRV, bad, hours(1))
    assert meter.disabled_alerts == frozenset()


# --------------------------------------------------------------------------- over the wire


async def alerts_config(core: HeadEndCore) -> Any:
    transport = httpx.ASGITransport(app=control_app(core))
    async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
        answer = await client.get(f"/meters/{METER}/alerts-config")
        assert answer.status_code == 200, answer.text
        return answer.json()


async def configure_through(cohort: str) -> list[Any]:
    """Switch low credit off, flag low credit and tamper, switch it on, flag it again, try to
    switch a critical alert off; what the adapter answered and the head-end pushed."""
    core = core_for_fleet(
        REGISTRY.profile(cohort), [FleetMeter(METER)], commissioned=T0, clock=FixedClock(hours(24))
    )
    pushed: list[PushedAlert] = []
    core.subscribe(pushed.append)
    server = await start_headend(core)
    adapter = REGISTRY.adapter_for(cohort, server.endpoint, OPTIONS)
    steps: list[Any] = []

    async def submit(request_id: str, alerts: str) -> None:
        instruction = Instruction(request_id, SRV, METER, configure(alerts))
        steps.append((await adapter.submit(DCO.seal(instruction))).status)
        steps.append(await alerts_config(core))

    try:
        await submit("C1", "8101:off")
        steps.append((core.inject(METER, "low_credit"), core.inject(METER, "tamper")))
        await submit("C2", "8101:on")
        steps.append(core.inject(METER, "low_credit"))
        await submit("C3", "8F20:off")
    finally:
        await asyncio.gather(adapter.aclose(), server.aclose())
    steps.append([core.profile.gbcs_alert(p.code) for p in pushed])
    return steps


@pytest.mark.parametrize("cohort", ["itron", "elster", "secure", "edmi", "landis"])
def test_each_protocol_carries_the_configuration(cohort: str) -> None:
    profile = REGISTRY.profile(cohort)
    assert SRV in profile.elective_srvs
    steps = asyncio.run(configure_through(cohort))
    assert steps == [
        OutcomeStatus.SUCCESS,
        {"disabled": ["8101"]},
        (0, 1),  # low credit only logged; tamper pushed
        OutcomeStatus.SUCCESS,
        {"disabled": []},
        1,
        OutcomeStatus.REJECTED,
        {"disabled": []},
        [0x8F20, 0x8101],
    ]


@pytest.mark.parametrize("cohort", ["aclara"])
def test_cohorts_that_do_not_offer_it_refuse_it(cohort: str) -> None:
    profile = REGISTRY.profile(cohort)
    assert SRV not in profile.supported_srvs

    async def scenario() -> None:
        scheme = "tcp" if profile.protocol == "apdu" else "http"
        adapter = REGISTRY.adapter_for(cohort, f"{scheme}://127.0.0.1:9", OPTIONS)
        try:
            with pytest.raises(UnsupportedService):
                await adapter.submit(DCO.seal(Instruction("C1", SRV, METER, configure(""))))
        finally:
            await adapter.aclose()

    asyncio.run(scenario())


def test_the_control_api_knows_only_its_meters() -> None:
    core = core_for_fleet(
        REGISTRY.profile("itron"), [FleetMeter(METER)], commissioned=T0 - timedelta(days=1)
    )

    async def get(device: str) -> int:
        transport = httpx.ASGITransport(app=control_app(core))
        async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
            return (await client.get(f"/meters/{device}/alerts-config")).status_code

    assert asyncio.run(get("00-DB-12-34-56-78-90-FF")) == 404
    assert asyncio.run(get("not-a-device")) == 404
