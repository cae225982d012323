"""The SOAP/XML adapter against the SOAP/XML simulated head-end, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tests.s1sp.transports.rig import (
    GBCS_OUTAGE_CODE,
    KEY,
    METER,
    NOW,
    OWN_OUTAGE_CODE,
    STRANGER,
    Executions,
    Seen,
    read,
    seal,
)

from opendcc.core.clock import FixedClock
from opendcc.s1sp.adapter import response_time_s
from opendcc.s1sp.contract import (
    AdapterOptions,
    CohortProfile,
    DeviceAlert,
    Endpoint,
    Instruction,
    InvalidEndpoint,
    NotCountersigned,
    Outcome,
    OutcomeStatus,
    Sealed,
    WanTraits,
)
from opendcc.s1sp.protocols.soapxml import (
    SERVICE_PATH,
    ErrorCode,
    Fault,
    GetHeadEndStatus,
    GetHeadEndStatusResponse,
    HeadEndState,
    Operation,
    decode_response,
    encode_request,
    request_headers,
)
from opendcc.s1sp.transports.soapxml import SoapAdapter, soap_adapter_factory
from opendcc.sim.headends.core import Faults, HeadEndCore
from opendcc.sim.headends.soapxml import SoapHeadEnd, start_soap_headend
from opendcc.sim.state import Esme, EventCode

PROFILE = CohortProfile(
    name="testcohort",
    manufacturer="Test Meters",
    protocol="soapxml",
    supported_srvs=frozenset({"4.1.1", "11.2"}),
    device_models=("SIM-ESME-1",),
    wan=WanTraits(0, 0),
    commands={"4.1.1": "readInstantaneousImport", "11.2": "readFirmwareVersion"},
    alert_codes={OWN_OUTAGE_CODE: GBCS_OUTAGE_CODE},
)
# Every Datum kind: int, str, tz-aware datetime (any zone), nested tuples.
RESULT: Mapping[str, Any] = {
    "total_import_wh": 123_456_789,
    "negative": -7,
    "supplier": "Énergie <&> \"quoted\" 'x'",
    "empty": "",
    "device_time": datetime(2024, 6, 1, 11, 59, 30, 250_000, tzinfo=UTC),
    "local_time": datetime(2024, 6, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
    "tou_wh": (1, 2, 3, 4),
    "log": ((1, "one", datetime(2024, 5, 31, tzinfo=UTC)), (), ("",)),
}
T = TypeVar("T")


@dataclass
class Rig:
    core: HeadEndCore
    clock: FixedClock
    server: SoapHeadEnd
    adapter: SoapAdapter
    seen: Seen

    async def submit(self, instruction: Instruction) -> Outcome:
        return await self.adapter.submit(seal(instruction))

    async def next_alert(self) -> DeviceAlert:
        await asyncio.wait_for(self.seen.alerted.wait(), 2.0)
        self.seen.alerted.clear()
        return self.seen.alerts[-1]


@asynccontextmanager
async def rig(
    faults: Faults | None = None,
    *,
    time_scale: float = 1.0,
    adapter_profile: CohortProfile = PROFILE,
    poll_interval_s: float = 0.02,
) -> AsyncIterator[Rig]:
    """A head-end serving one real ESME, and an adapter for it."""
    clock = FixedClock(NOW)
    meter = Esme.for_device(METER, commissioned=NOW - timedelta(days=1))
    core = HeadEndCore(PROFILE, [meter], clock=clock, faults=faults)
    server = await start_soap_headend(core)
    seen = Seen()
    options = AdapterOptions(
        dco_key=KEY.public_key(),
        on_alert=seen.on_alert,
        on_late=seen.on_late,
        time_scale=time_scale,
    )
    adapter = SoapAdapter(
        adapter_profile, Endpoint.parse(server.endpoint), options, poll_interval_s=poll_interval_s
    )
    try:
        yield Rig(core, clock, server, adapter, seen)
    finally:
        await adapter.aclose()
        await server.aclose()


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario()

    return asyncio.run(main())


# --------------------------------------------------------------------------- commands


def test_success_carries_the_command_and_returns_the_result_in_datum_shape(
    executions: Executions,
) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read(limit="12.5", note="a <b> & c"))

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.SUCCESS
    assert outcome.request_id == "R1"
    assert dict(outcome.data) == RESULT
    assert type(outcome.data["tou_wh"]) is tuple
    assert type(outcome.data["log"][0]) is tuple
    assert outcome.data["log"][1] == ()
    assert outcome.data["device_time"].tzinfo is not None
    assert executions.calls == [(METER, "4.1.1", {"limit": "12.5", "note": "a <b> & c"})]


def test_a_meter_refusal_is_rejected(executions: Executions) -> None:
    executions.refuse = True

    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read())

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.REJECTED
    assert outcome.data == {}


def test_a_device_the_head_end_does_not_serve_is_unknown(executions: Executions) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read(device=STRANGER))

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.UNKNOWN_DEVICE
    assert "UNKNOWN_DEVICE" in outcome.detail
    assert executions.calls == []


def test_a_command_the_head_end_lacks_is_a_client_fault_so_rejected(
    executions: Executions,
) -> None:
    wider = dataclasses.replace(
        PROFILE,
        supported_srvs=PROFILE.supported_srvs | {"6.2.1"},
        commands={**PROFILE.commands, "6.2.1": "readSomethingElse"},
    )

    async def scenario() -> Outcome:
        async with rig(adapter_profile=wider) as r:
            return await r.submit(Instruction("R1", "6.2.1", METER))

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.REJECTED
    assert "UNSUPPORTED_COMMAND" in outcome.detail


def test_a_server_fault_is_no_response(executions: Executions) -> None:
    executions.result = {"ratio": 0.5}  # no wire type for a float: INTERNAL_ERROR

    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read())

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.NO_RESPONSE
    assert "INTERNAL_ERROR" in outcome.detail


@pytest.mark.parametrize(
    ("faults", "status", "reached_meter"),
    [
        (Faults(unreachable=True), OutcomeStatus.DEVICE_UNREACHABLE, False),
        (Faults(keys_missing=True), OutcomeStatus.KEYS_MISSING, False),
        (Faults(han_error=True), OutcomeStatus.HAN_ERROR, False),
        (Faults(failure_rate=1.0), OutcomeStatus.NO_RESPONSE, False),
        (Faults(corrupt=True), OutcomeStatus.NO_RESPONSE, True),
    ],
    ids=["unreachable", "keys_missing", "han_error", "lost", "corrupt"],
)
def test_injected_faults(
    executions: Executions, faults: Faults, status: OutcomeStatus, reached_meter: bool
) -> None:
    async def scenario() -> tuple[Outcome, int]:
        async with rig(faults) as r:
            return await r.submit(read()), r.core.executions[METER]

    outcome, executed = run(scenario)
    assert outcome.status is status
    assert outcome.data == {}
    assert executed == (1 if reached_meter else 0)
    if faults.corrupt:
        assert "undecodable" in outcome.detail


def test_a_late_reply_is_no_response_and_then_reaches_on_late_once(
    executions: Executions,
) -> None:
    # A target of 0.15 s against a WAN of 0.3 s.
    time_scale = 0.15 / response_time_s("4.1.1", AdapterOptions())

    async def scenario() -> tuple[Outcome, Outcome, list[tuple[Instruction, Outcome]], int]:
        async with rig(Faults(latency_ms=300), time_scale=time_scale) as r:
            first = await r.submit(read())
            await asyncio.wait_for(r.seen.was_late.wait(), 2.0)
            r.core.faults = Faults()
            again = await r.submit(read())  # answered from the head-end's memory
            late = list(r.seen.late)
        return first, again, late, r.core.executions[METER]

    first, again, late, executed = run(scenario)
    assert first.status is OutcomeStatus.NO_RESPONSE
    assert "target response time" in first.detail
    assert [(i.request_id, o.status) for i, o in late] == [("R1", OutcomeStatus.SUCCESS)]
    assert dict(late[0][1].data) == RESULT
    assert again.status is OutcomeStatus.SUCCESS
    assert executed == 1


def test_head_end_down_is_unreachable_and_up_again_succeeds(executions: Executions) -> None:
    async def scenario() -> list[object]:
        async with rig() as r:
            warm = await r.submit(read("R0"))  # leaves a pooled keep-alive connection
            await r.server.go_down()
            down = await r.submit(read("R1"))
            healthy_down = await r.adapter.health()
            await r.server.come_up()
            up = await r.submit(read("R1"))  # the same RequestID, tried again
            return [warm.status, down.status, healthy_down, up.status, await r.adapter.health()]

    assert run(scenario) == [
        OutcomeStatus.SUCCESS,
        OutcomeStatus.DEVICE_UNREACHABLE,
        False,
        OutcomeStatus.SUCCESS,
        True,
    ]


def test_a_head_end_going_down_mid_call_is_no_response(executions: Executions) -> None:
    async def scenario() -> tuple[Outcome, int]:
        async with rig(Faults(latency_ms=300)) as r:
            call = asyncio.create_task(r.submit(read()))
            await asyncio.sleep(0.05)  # the command is on the simulated WAN
            await r.server.go_down()
            return await call, r.core.executions[METER]

    outcome, executed = run(scenario)
    # Dropped unanswered, tried once more, refused: the first try may have reached the meter.
    assert outcome.status is OutcomeStatus.NO_RESPONSE
    assert "dropped, then refused" in outcome.detail
    assert executed == 0


def test_unsealed_or_badly_sealed_instructions_never_reach_the_meter(
    executions: Executions,
) -> None:
    impostor = ec.generate_private_key(ec.SECP256R1())

    async def scenario() -> int:
        async with rig() as r:
            with pytest.raises(NotCountersigned):
                await r.adapter.submit(Sealed(read(), b""))
            with pytest.raises(NotCountersigned):
                await r.adapter.submit(seal(read(), impostor))
            tampered = seal(read(limit="1"))
            with pytest.raises(NotCountersigned):
                await r.adapter.submit(Sealed(read(limit="2"), tampered.seal))
            return r.core.executions[METER]

    assert run(scenario) == 0
    assert executions.calls == []


def test_the_same_request_id_acts_on_the_meter_once(executions: Executions) -> None:
    async def scenario() -> list[Outcome]:
        async with rig() as r:
            outcomes = list(await asyncio.gather(r.submit(read()), r.submit(read())))
            outcomes.append(await r.submit(read()))
            # A second adapter (a restarted hub) is answered from the head-end's memory.
            other = SoapAdapter(
                PROFILE, Endpoint.parse(r.server.endpoint), r.adapter.options, poll_interval_s=1
            )
            try:
                outcomes.append(await other.submit(seal(read())))
            finally:
                await other.aclose()
            return outcomes

    outcomes = run(scenario)
    assert [o.status for o in outcomes] == [OutcomeStatus.SUCCESS] * 4
    assert all(dict(o.data) == RESULT for o in outcomes)
    assert len(executions.calls) == 1


# --------------------------------------------------------------------------- alerts


def test_an_alert_reaches_on_alert_with_its_gbcs_code_once() -> None:
    async def scenario() -> tuple[DeviceAlert, int, int, datetime]:
        async with rig() as r:
            r.core.inject(METER, "power_outage")
            [queued] = r.server.alerts
            assert queued.code == OWN_OUTAGE_CODE  # the head-end's own code on the wire
            delivered = await r.adapter.poll_alerts()
            repeated = await r.adapter.poll_alerts()  # Since includes it: de-duplicated
            return r.seen.alerts[0], delivered, repeated, queued.raised_at

    alert, delivered, repeated, raised_at = run(scenario)
    assert (delivered, repeated) == (1, 0)
    assert alert.device_id == METER
    assert alert.code == GBCS_OUTAGE_CODE
    assert alert.raised_at == raised_at


def test_polling_starts_with_the_first_submit_and_survives_a_head_end_down(
    executions: Executions,
) -> None:
    async def scenario() -> list[DeviceAlert]:
        async with rig() as r:
            await r.submit(read())
            r.core.inject(METER, "power_outage")
            first = await r.next_alert()
            await r.server.go_down()
            await asyncio.sleep(0.06)  # a few polls fail
            r.clock.advance(timedelta(minutes=5))
            r.core.inject(METER, "power_restore")
            await r.server.come_up()
            second = await r.next_alert()
            await asyncio.sleep(0.06)  # more polls: nothing is delivered twice
            assert len(r.seen.alerts) == 2
            return [first, second]

    first, second = run(scenario)
    assert first.code == GBCS_OUTAGE_CODE
    assert first.raised_at == NOW
    # An unmapped code passes unchanged; the alert's values arrive in Datum shape.
    assert second.code == EventCode.POWER_RESTORED
    assert second.raised_at == NOW + timedelta(minutes=5)
    assert dict(second.values) == {
        "interruption": "2024-06-01T12:00:00+00:00",
        "restoration": "2024-06-01T12:05:00+00:00",
        "duration_s": 300,
    }


def test_start_polling_without_any_submit() -> None:
    async def scenario() -> DeviceAlert:
        async with rig() as r:
            r.core.inject(METER, "power_outage")
            r.adapter.start_polling()
            r.adapter.start_polling()  # idempotent
            return await r.next_alert()

    assert run(scenario).code == GBCS_OUTAGE_CODE


# --------------------------------------------------------------------------- the rest


def test_health_and_head_end_status() -> None:
    async def scenario() -> tuple[bool, object, bool]:
        async with rig() as r:
            healthy = await r.adapter.health()
            request = GetHeadEndStatus()
            async with httpx.AsyncClient() as client:
                reply = await client.post(
                    r.server.endpoint + SERVICE_PATH,
                    content=encode_request(request),
                    headers=dict(request_headers(request)),
                )
            await r.server.go_down()
            return (
                healthy,
                decode_response(reply.content, Operation.GET_HEAD_END_STATUS),
                (await r.adapter.health()),
            )

    healthy, status, healthy_down = run(scenario)
    assert healthy is True
    assert status == GetHeadEndStatusResponse(HeadEndState.UP, NOW)
    assert healthy_down is False


def test_a_malformed_request_is_a_client_fault() -> None:
    async def scenario() -> httpx.Response:
        async with rig() as r, httpx.AsyncClient() as client:
            return await client.post(
                r.server.endpoint + SERVICE_PATH,
                content=b"<not-soap/>",
                headers={"content-type": "text/xml; charset=utf-8"},
            )

    reply = run(scenario)
    assert reply.status_code == 500
    fault = decode_response(reply.content, Operation.EXECUTE_COMMAND)
    assert isinstance(fault, Fault)
    assert fault.code is ErrorCode.MALFORMED_REQUEST


def test_an_endpoint_must_be_http() -> None:
    with pytest.raises(InvalidEndpoint):
        SoapAdapter(PROFILE, Endpoint.parse("tcp://127.0.0.1:9"))


def test_the_factory_builds_an_adapter() -> None:
    async def scenario() -> SoapAdapter:
        adapter = soap_adapter_factory(PROFILE, poll_interval_s=0.5)(
            Endpoint.parse("http://127.0.0.1:9/prefix"), AdapterOptions()
        )
        assert isinstance(adapter, SoapAdapter)
        await adapter.aclose()
        return adapter

    adapter = run(scenario)
    assert adapter.poll_interval_s == 0.5
    assert adapter.profile is PROFILE
