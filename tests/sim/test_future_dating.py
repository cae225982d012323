"""A head-end that holds future-dated instructions (the Device pattern), on ``HeadEndCore``.

The head-end checks the meter, holds the instruction and answers ``held_until``; when its clock
reaches ``execute_at`` ``release_due`` carries it out on the meter and pushes 0x8F66 (or 0x8F67
when the meter refuses). The cancel notice 99.2 drops a held one. A head-end without device
future dating ignores ``execute_at``. The control API lists what is held.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import OutcomeStatus, Registry
from opendcc.s1sp.services import (
    CANCEL_NOTICE,
    CORE_SRVS,
    FUTURE_DATED_EXECUTED,
    FUTURE_DATED_FAILED,
    S1SP_NOTICES,
)
from opendcc.s1sp.services.future import (
    EXECUTE_AT,
    execute_at,
    future_dated,
    held_until,
    without_execute_at,
)
from opendcc.s1sp.services.notices import CancelNotice
from opendcc.sim.headends import FleetMeter, core_for_fleet, start_headend
from opendcc.sim.headends.core import Faults, HeadEndCore, PushedAlert, Reply
from opendcc.sim.keypad import control_app

REGISTRY = register_all(Registry())
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
HUB = Eui64.parse("00-DB-12-34-56-78-90-A1")  # the meter's comms hub
OTHER = Eui64.parse("00-DB-12-34-56-78-90-A2")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
SUPPLIER = {"supplier_name": "E-ON", "supplier_telephone_number": "0333 202 4650"}
UNKNOWN_HASH = "ab" * 32


def head_end(cohort: str = "itron") -> tuple[HeadEndCore, FixedClock, list[PushedAlert]]:
    clock = FixedClock(NOW)
    core = core_for_fleet(
        REGISTRY.profile(cohort),
        [FleetMeter(METER, aliases=(HUB,)), FleetMeter(OTHER)],
        commissioned=NOW - timedelta(days=2),
        clock=clock,
    )
    pushed: list[PushedAlert] = []
    core.subscribe(pushed.append)
    return core, clock, pushed


def supplier_name(core: HeadEndCore, device: Eui64 = METER) -> str:
    meter = core.meter(device)
    assert meter is not None
    return meter.supplier_name


def test_the_device_pattern_cohorts_cover_every_protocol() -> None:
    holding = {p.name: p.protocol for p in REGISTRY.profiles() if p.device_future_dating}
    assert holding == {
        "itron": "restjson",
        "landis": "apdu",
        "secure": "apdu",
        "elster": "soapxml",
    }
    for profile in REGISTRY.profiles():
        assert CANCEL_NOTICE in profile.supported_srvs and CANCEL_NOTICE in S1SP_NOTICES
        assert CANCEL_NOTICE not in profile.elective_srvs and CANCEL_NOTICE not in CORE_SRVS
        # each maps the two outcome alerts onto codes of its own, and back
        own = [profile.cohort_alert(c) for c in (FUTURE_DATED_EXECUTED, FUTURE_DATED_FAILED)]
        assert [profile.gbcs_alert(c) for c in own] == [0x8F66, 0x8F67]
    assert REGISTRY.profile("landis").cohort_alert(FUTURE_DATED_EXECUTED) == 0x0C66
    assert REGISTRY.profile("landis").command(CANCEL_NOTICE) == "0.129.99.2.0.255"


def test_execute_at_is_read_and_stripped() -> None:
    parameters = future_dated(SUPPLIER, LATER)
    assert parameters[EXECUTE_AT] == "2024-06-01T14:00:00.000Z"
    assert execute_at(parameters) == LATER
    assert execute_at(SUPPLIER) is None
    assert without_execute_at(parameters) == SUPPLIER
    assert held_until({"held_until": "2024-06-01T14:00:00.000Z"}) == LATER
    assert held_until({"held_until": LATER}) == LATER  # as the REST/JSON wire delivers it
    assert held_until({}) is None


def test_a_future_dated_instruction_is_held_then_carried_out_when_due() -> None:
    core, clock, pushed = head_end()
    parameters = future_dated(SUPPLIER, LATER)

    reply = core.execute("R1", HUB, "3.4", parameters)  # addressed through the comms hub

    assert reply == Reply(OutcomeStatus.SUCCESS, {"held_until": "2024-06-01T14:00:00.000Z"})
    assert supplier_name(core) == "" and pushed == []
    assert core.executions[METER] == 0
    assert [(h.request_id, h.srv, h.device, h.execute_at) for h in core.held()] == [
        ("R1", "3.4", METER, LATER)
    ]
    assert core.held(HUB) == core.held(METER) and core.held(OTHER) == []
    # resent: the same held answer, still held once
    assert core.execute("R1", HUB, "3.4", parameters) == reply
    assert len(core.held()) == 1

    clock.advance(timedelta(hours=1, minutes=59))
    assert core.release_due() == 0
    assert supplier_name(core) == ""

    clock.set(LATER)
    assert core.release_due() == 1
    assert supplier_name(core) == "E-ON"
    assert core.executions[METER] == 1
    assert [(a.device, a.code, a.raised_at, a.values) for a in pushed] == [
        (METER, 0x8F66, LATER, {"request_id": "R1", "srv": "3.4", "outcome": "success"})
    ]
    assert core.held() == [] and core.release_due() == 0  # carried out once
    assert core.execute("R1", HUB, "3.4", parameters) == reply  # answered from memory


def test_the_result_of_a_held_read_travels_in_its_alert() -> None:
    core, clock, pushed = head_end()
    core.execute("R1", METER, "11.2", future_dated({}, LATER))
    clock.set(LATER + timedelta(seconds=30))
    assert core.release_due() == 1
    assert pushed[0].values == {
        "firmware_version": "1.0.0",
        "request_id": "R1",
        "srv": "11.2",
        "outcome": "success",
    }
    assert pushed[0].raised_at == LATER + timedelta(seconds=30)


def test_a_held_instruction_the_meter_refuses_alerts_its_failure() -> None:
    core, clock, pushed = head_end("landis")  # renumbers alert codes
    reply = core.execute("R1", METER, "11.3", future_dated({"hash": UNKNOWN_HASH}, LATER))
    assert reply.status is OutcomeStatus.SUCCESS  # held: the meter has not been asked yet
    clock.set(LATER)
    assert core.release_due() == 1
    [alert] = pushed
    assert alert.code == 0x0C67  # landis's own code for 0x8F67
    assert {k: alert.values[k] for k in ("request_id", "srv", "outcome")} == {
        "request_id": "R1",
        "srv": "11.3",
        "outcome": "failed",
    }
    assert "not distributed" in str(alert.values["detail"])


def test_held_instructions_are_released_in_time_order() -> None:
    core, clock, pushed = head_end("secure")
    core.execute("LATE", METER, "3.4", future_dated({**SUPPLIER, "supplier_name": "B"}, LATER))
    soon = NOW + timedelta(minutes=5)
    core.execute("SOON", METER, "3.4", future_dated({**SUPPLIER, "supplier_name": "A"}, soon))
    clock.set(soon)
    assert core.release_due() == 1 and supplier_name(core) == "A"
    clock.set(LATER + timedelta(days=1))
    assert core.release_due() == 1 and supplier_name(core) == "B"
    assert [a.values["request_id"] for a in pushed] == ["SOON", "LATE"]


def test_due_or_past_instructions_are_carried_out_at_once() -> None:
    core, _, pushed = head_end()
    for request_id, instant in (("NOW", NOW), ("PAST", NOW - timedelta(days=1))):
        reply = core.execute(request_id, METER, "3.4", future_dated(SUPPLIER, instant))
        assert reply == Reply(OutcomeStatus.SUCCESS, {})
    assert supplier_name(core) == "E-ON" and core.held() == [] and pushed == []


def test_a_head_end_without_device_future_dating_ignores_execute_at() -> None:
    core, _, pushed = head_end("aclara")
    assert not core.profile.device_future_dating
    reply = core.execute("R1", METER, "3.4", future_dated(SUPPLIER, LATER))
    assert reply == Reply(OutcomeStatus.SUCCESS, {})
    assert supplier_name(core) == "E-ON" and core.held() == [] and pushed == []


def test_the_executor_never_sees_execute_at(monkeypatch: pytest.MonkeyPatch) -> None:
    import opendcc.sim.headends.core as core_module

    seen: list[dict[str, str]] = []

    def spy(meter: object, srv: str, parameters: dict[str, str], now: datetime) -> object:
        seen.append(dict(parameters))
        return {}, ()

    monkeypatch.setattr(core_module, "execute", spy)
    core, clock, _ = head_end()
    core.execute("HELD", METER, "3.4", future_dated(SUPPLIER, LATER))
    core.execute("DUE", METER, "3.4", future_dated(SUPPLIER, NOW))
    clock.set(LATER)
    core.release_due()
    assert seen == [SUPPLIER, SUPPLIER]


def test_a_held_instruction_needs_a_reachable_known_meter() -> None:
    core, _, _ = head_end()
    core.meter_faults[METER] = Faults(unreachable=True)
    unreachable = core.execute("R1", METER, "3.4", future_dated(SUPPLIER, LATER))
    assert unreachable.status is OutcomeStatus.DEVICE_UNREACHABLE
    stranger = Eui64.parse("00-DB-12-34-56-78-90-FF")
    unknown = core.execute("R2", stranger, "3.4", future_dated(SUPPLIER, LATER))
    assert unknown.status is OutcomeStatus.UNKNOWN_DEVICE
    malformed = core.execute("R3", OTHER, "3.4", {**SUPPLIER, EXECUTE_AT: "tomorrow"})
    assert malformed.status is OutcomeStatus.REJECTED and EXECUTE_AT in malformed.detail
    assert core.held() == [] and supplier_name(core, OTHER) == ""


def test_a_cancel_notice_drops_a_held_instruction() -> None:
    core, clock, pushed = head_end()
    core.execute("R1", METER, "3.4", future_dated(SUPPLIER, LATER))
    cancel = CancelNotice("R1").parameters()
    assert cancel == {"request_id": "R1"}

    wrong_meter = core.execute("C0", OTHER, CANCEL_NOTICE, cancel)
    assert (wrong_meter.status, wrong_meter.detail) == (OutcomeStatus.REJECTED, "not held")
    assert core.execute("C1", HUB, CANCEL_NOTICE, cancel) == Reply(
        OutcomeStatus.SUCCESS, {"cancelled": 1}
    )
    assert core.held() == []
    again = core.execute("C2", METER, CANCEL_NOTICE, cancel)
    assert (again.status, again.detail) == (OutcomeStatus.REJECTED, "not held")

    clock.set(LATER + timedelta(hours=1))
    assert core.release_due() == 0
    assert supplier_name(core) == "" and pushed == [] and core.executions[METER] == 0


def test_a_cancel_notice_for_an_executed_instruction_is_rejected() -> None:
    core, clock, _ = head_end()
    core.execute("R1", METER, "3.4", future_dated(SUPPLIER, LATER))
    clock.set(LATER)
    core.release_due()
    late = core.execute("C1", METER, CANCEL_NOTICE, {"request_id": "R1"})
    assert (late.status, late.detail) == (OutcomeStatus.REJECTED, "not held")
    assert supplier_name(core) == "E-ON"
    unnamed = core.execute("C2", METER, CANCEL_NOTICE, {})
    assert unnamed.status is OutcomeStatus.REJECTED and "request_id" in unnamed.detail


def test_the_control_api_lists_held_instructions() -> None:
    core, _, _ = head_end()
    core.execute("R2", METER, "3.4", future_dated(SUPPLIER, LATER))
    core.execute("R1", METER, "11.2", future_dated({}, NOW + timedelta(minutes=1)))

    async def view(device: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=control_app(core))
        async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
            return await client.get(f"/meters/{device}/held")

    listed = asyncio.run(view(str(HUB)))
    assert listed.status_code == 200
    assert listed.json() == [
        {"request_id": "R1", "srv": "11.2", "execute_at": "2024-06-01T12:01:00.000Z"},
        {"request_id": "R2", "srv": "3.4", "execute_at": "2024-06-01T14:00:00.000Z"},
    ]
    assert asyncio.run(view(str(OTHER))).json() == []
    assert asyncio.run(view("00-DB-12-34-56-78-90-FF")).status_code == 404


def test_a_serving_head_end_releases_held_instructions_by_itself() -> None:
    async def scenario() -> tuple[str, list[PushedAlert]]:
        core, clock, pushed = head_end("elster")
        server = await start_headend(core)
        try:
            core.execute("R1", METER, "3.4", future_dated(SUPPLIER, LATER))
            clock.set(LATER)
            for _ in range(100):  # the server releases every 0.05 s
                if pushed:
                    break
                await asyncio.sleep(0.02)
        finally:
            await server.aclose()
        return supplier_name(core), pushed

    name, pushed = asyncio.run(scenario())
    assert name == "E-ON"
    assert [a.values["request_id"] for a in pushed] == ["R1"]
