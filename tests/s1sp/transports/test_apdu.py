"""The APDU adapter against the APDU simulated head-end, over real TCP on 127.0.0.1.

Instructions travel as ACTIONs on the service objects the profile names by OBIS code; the
tests below also drive ``ApduLink`` directly for GET, SET and ACTION on the head-end's and the
meter's own OBIS objects.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

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
from opendcc.core.eui import Eui64
from opendcc.s1sp.adapter import response_time_s
from opendcc.s1sp.contract import (
    AdapterOptions,
    CohortProfile,
    DeviceAlert,
    Endpoint,
    Instruction,
    NotCountersigned,
    Outcome,
    OutcomeStatus,
    Sealed,
    WanTraits,
)
from opendcc.s1sp.naming import obis_commands
from opendcc.s1sp.protocols.apdu import (
    HEAD_END,
    U32,
    U64,
    ActionRequest,
    ActionResponse,
    Alert,
    Array,
    AttributeRef,
    Connection,
    DateTime,
    GetRequest,
    GetResponse,
    MethodRef,
    Obis,
    Request,
    Response,
    ResultCode,
    Role,
    SetRequest,
    SetResponse,
    Value,
    VisibleString,
    Write,
)
from opendcc.s1sp.protocols.apdu.records import from_record, to_record
from opendcc.s1sp.transports.apdu import ApduAdapter, ApduLink
from opendcc.sim.headends.apdu import ApduHeadEnd
from opendcc.sim.headends.core import Faults, HeadEndCore
from opendcc.sim.state import Esme, EventCode
from opendcc.sim.state.supply import Supply

SLOW_METER = Eui64.parse("00-DB-12-34-56-78-90-A1")
SRVS = frozenset({"4.1.1", "11.2"})
PROFILE = CohortProfile(
    name="testcohort",
    manufacturer="Test Meters",
    protocol="apdu",
    supported_srvs=SRVS,
    device_models=("SIM-ESME-1",),
    wan=WanTraits(0, 0),
    commands=obis_commands(SRVS, group=130),
    alert_codes={OWN_OUTAGE_CODE: GBCS_OUTAGE_CODE},
)
CLOCK = Obis(0, 0, 1, 0, 0, 255)
SUPPLY = Obis(0, 0, 96, 3, 10, 255)
TOTAL_IMPORT = Obis(1, 0, 1, 8, 0, 255)
UNDEFINED = Obis(0, 199, 9, 9, 9, 255)
# Every Datum kind: int (negative too), str (non-ASCII too), tz-aware datetime to the hundredth
# (any zone), nested tuples.
RESULT: Mapping[str, Any] = {
    "total_import_wh": 123_456_789,
    "huge": (1 << 64) - 1,
    "negative": -7,
    "supplier": "Énergie <&> \"quoted\" 'x' ⚡",
    "ascii": "plain text",
    "empty": "",
    "device_time": datetime(2024, 6, 1, 11, 59, 30, 250_000, tzinfo=UTC),
    "local_time": datetime(2024, 6, 1, 13, 0, 0, 990_000, tzinfo=timezone(timedelta(hours=1))),
    "tou_wh": (1, 2, 3, 4),
    "log": ((1, "one", datetime(2024, 5, 31, tzinfo=UTC)), (), ("",), ((-1, "ü"),)),
}
T = TypeVar("T")


@dataclass
class Rig:
    core: HeadEndCore
    clock: FixedClock
    meter: Esme
    server: ApduHeadEnd
    adapter: ApduAdapter
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
    meter_faults: Mapping[Eui64, Faults] | None = None,
) -> AsyncIterator[Rig]:
    """A head-end serving two real ESMEs, and an adapter for it."""
    clock = FixedClock(NOW)
    meter = Esme.for_device(METER, commissioned=NOW - timedelta(days=1))
    slow = Esme.for_device(SLOW_METER, commissioned=NOW - timedelta(days=1))
    core = HeadEndCore(
        PROFILE, [meter, slow], clock=clock, faults=faults, meter_faults=meter_faults
    )
    server = ApduHeadEnd(core)
    await server.start()
    seen = Seen()
    options = AdapterOptions(
        dco_key=KEY.public_key(),
        on_alert=seen.on_alert,
        on_late=seen.on_late,
        time_scale=time_scale,
        connect_timeout_s=1.0,
    )
    adapter = ApduAdapter(adapter_profile, Endpoint.parse(server.endpoint), options)
    try:
        yield Rig(core, clock, meter, server, adapter, seen)
    finally:
        await adapter.aclose()
        await server.aclose()


@asynccontextmanager
async def link_to(
    server: ApduHeadEnd, alerts: list[Alert] | None = None
) -> AsyncIterator[ApduLink]:
    """An ``ApduLink`` to ``server``, collecting what it pushes into ``alerts``."""
    pushed = alerts if alerts is not None else []
    link = ApduLink(Endpoint.parse(server.endpoint), 1.0, pushed.append)
    try:
        yield link
    finally:
        await link.aclose()


async def ask(link: ApduLink, build: Callable[[int], Request]) -> Response:
    return await link.ask(build, 2.0)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario()

    return asyncio.run(main())


# --------------------------------------------------------------------------- commands


def test_the_profile_names_services_by_obis_code() -> None:
    assert PROFILE.command("4.1.1") == "0.130.4.1.1.255"
    assert PROFILE.command("11.2") == "0.130.11.2.0.255"
    assert PROFILE.srv_of("0.130.4.1.1.255") == "4.1.1"


def test_success_carries_the_command_and_returns_the_result_in_datum_shape(
    executions: Executions,
) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read(limit="12.5", note="a <b> & c", name="Zoë", blank=""))

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.SUCCESS
    assert outcome.request_id == "R1"
    assert dict(outcome.data) == RESULT
    assert type(outcome.data["tou_wh"]) is tuple
    assert type(outcome.data["log"][0]) is tuple
    assert type(outcome.data["log"][3][0]) is tuple
    assert outcome.data["log"][1] == ()
    assert outcome.data["local_time"].utcoffset() == timedelta(hours=1)
    assert outcome.data["device_time"].tzinfo is not None
    assert executions.calls == [
        (METER, "4.1.1", {"limit": "12.5", "note": "a <b> & c", "name": "Zoë", "blank": ""})
    ]


def test_a_second_service_goes_to_its_own_service_object(executions: Executions) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(Instruction("R1", "11.2", METER))

    assert run(scenario).status is OutcomeStatus.SUCCESS
    assert executions.calls == [(METER, "11.2", {})]


def test_a_result_time_finer_than_a_hundredth_arrives_to_the_hundredth(
    executions: Executions,
) -> None:
    executions.result = {"at": datetime(2024, 6, 1, 12, 0, 1, 123_456, tzinfo=UTC)}

    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read())

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.SUCCESS
    assert outcome.data == {"at": datetime(2024, 6, 1, 12, 0, 1, 120_000, tzinfo=UTC)}


def test_a_meter_refusal_is_rejected(executions: Executions) -> None:
    executions.refuse = True

    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read())

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.REJECTED
    assert outcome.data == {}
    assert len(executions.calls) == 1


def test_a_device_the_head_end_does_not_serve_is_unknown(executions: Executions) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read(device=STRANGER))

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.UNKNOWN_DEVICE
    assert "UNKNOWN_DEVICE" in outcome.detail
    assert executions.calls == []


def test_a_service_object_the_head_end_lacks_is_rejected(executions: Executions) -> None:
    wider = dataclasses.replace(
        PROFILE,
        supported_srvs=PROFILE.supported_srvs | {"6.2.1"},
        commands={**PROFILE.commands, "6.2.1": str(UNDEFINED)},
    )

    async def scenario() -> Outcome:
        async with rig(adapter_profile=wider) as r:
            return await r.submit(Instruction("R1", "6.2.1", METER))

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.REJECTED
    assert "OBJECT_UNDEFINED" in outcome.detail
    assert executions.calls == []


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
        assert "corrupt" in outcome.detail


def test_a_corrupt_reply_on_a_reused_connection_is_no_response_and_acts_once(
    executions: Executions,
) -> None:
    async def scenario() -> tuple[Outcome, Outcome, int]:
        async with rig() as r:
            warm = await r.submit(read("R0"))  # leaves the connection open
            r.core.faults = Faults(corrupt=True)
            # Garbage on the reused connection: asked once more on a new one, answered from
            # the head-end's memory, garbage again.
            return warm, await r.submit(read("R1")), r.core.executions[METER]

    warm, outcome, executed = run(scenario)
    assert warm.status is OutcomeStatus.SUCCESS
    assert outcome.status is OutcomeStatus.NO_RESPONSE
    assert "corrupt" in outcome.detail
    assert executed == 2


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
    assert dict(again.data) == RESULT
    assert executed == 1


def test_concurrent_instructions_share_one_connection_and_answer_out_of_order(
    executions: Executions,
) -> None:
    async def scenario() -> tuple[list[str], list[Outcome]]:
        async with rig(meter_faults={SLOW_METER: Faults(latency_ms=200)}) as r:
            finished: list[str] = []

            async def submit(instruction: Instruction) -> Outcome:
                outcome = await r.submit(instruction)
                finished.append(instruction.request_id)
                return outcome

            slow = asyncio.create_task(submit(read("SLOW", SLOW_METER)))
            await asyncio.sleep(0.02)  # the slow one is asked first
            fast = await asyncio.gather(*(submit(read(f"F{i}")) for i in range(5)))
            return finished, [await slow, *fast]

    finished, outcomes = run(scenario)
    assert finished[-1] == "SLOW"
    assert sorted(finished[:-1]) == [f"F{i}" for i in range(5)]
    assert all(o.status is OutcomeStatus.SUCCESS for o in outcomes)
    assert all(dict(o.data) == RESULT for o in outcomes)
    assert [o.request_id for o in outcomes] == ["SLOW", *(f"F{i}" for i in range(5))]


def test_head_end_down_is_unreachable_and_up_again_succeeds(executions: Executions) -> None:
    async def scenario() -> list[object]:
        async with rig() as r:
            warm = await r.submit(read("R0"))  # leaves an open connection
            await r.server.go_down()
            # At once: the open connection is seen to be closed before it would be reused.
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
    assert [call[0] for call in executions.calls] == [METER, METER]


def test_a_head_end_restarted_while_the_connection_was_idle_is_reconnected(
    executions: Executions,
) -> None:
    async def scenario() -> list[OutcomeStatus]:
        async with rig() as r:
            first = await r.submit(read("R0"))
            await r.server.go_down()
            await r.server.come_up()
            return [first.status, (await r.submit(read("R1"))).status]

    assert run(scenario) == [OutcomeStatus.SUCCESS, OutcomeStatus.SUCCESS]
    assert len(executions.calls) == 2


@pytest.mark.parametrize("warm", [False, True], ids=["new connection", "reused connection"])
def test_a_head_end_going_down_mid_call_is_no_response(executions: Executions, warm: bool) -> None:
    async def scenario() -> tuple[Outcome, int]:
        async with rig(meter_faults={SLOW_METER: Faults(latency_ms=300)}) as r:
            if warm:
                assert (await r.submit(read("R0"))).status is OutcomeStatus.SUCCESS
            call = asyncio.create_task(r.submit(read("R1", SLOW_METER)))
            await asyncio.sleep(0.05)  # the command is on the simulated WAN
            await r.server.go_down()
            return await call, r.core.executions[SLOW_METER]

    outcome, executed = run(scenario)
    # Dropped unanswered (then refused): the command may have reached the meter.
    assert outcome.status is OutcomeStatus.NO_RESPONSE
    if warm:  # asked once more on a new connection, which the head-end refused
        assert "then refused" in outcome.detail
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
            unkeyed = ApduAdapter(PROFILE, Endpoint.parse(r.server.endpoint))
            try:
                with pytest.raises(NotCountersigned):
                    await unkeyed.submit(seal(read()))
            finally:
                await unkeyed.aclose()
            return r.core.executions[METER]

    assert run(scenario) == 0
    assert executions.calls == []


def test_the_same_request_id_acts_on_the_meter_once(executions: Executions) -> None:
    async def scenario() -> list[Outcome]:
        async with rig() as r:
            outcomes = list(await asyncio.gather(r.submit(read()), r.submit(read())))
            outcomes.append(await r.submit(read()))
            # A second adapter (a restarted hub) is answered from the head-end's memory.
            other = ApduAdapter(PROFILE, Endpoint.parse(r.server.endpoint), r.adapter.options)
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


def test_an_alert_reaches_on_alert_with_its_gbcs_code() -> None:
    async def scenario() -> tuple[DeviceAlert, list[Alert]]:
        wire: list[Alert] = []
        async with rig() as r, link_to(r.server, wire) as link:
            await r.adapter.listen()
            await link.connect()
            assert await r.adapter.health()  # both connections are being served
            await ask(link, lambda i: GetRequest(i, HEAD_END, "h", (AttributeRef(CLOCK),)))
            r.core.inject(METER, "power_outage")
            alert = await r.next_alert()
            await asyncio.sleep(0.02)  # nothing more arrives
            assert len(r.seen.alerts) == 1
            return alert, wire

    alert, wire = run(scenario)
    assert alert.device_id == METER
    assert alert.code == GBCS_OUTAGE_CODE
    assert alert.raised_at == NOW
    # On the wire: the head-end's own code, invoke id 0, pushed to every connection.
    [pushed] = wire
    assert (pushed.device, pushed.code, pushed.invoke_id) == (METER, OWN_OUTAGE_CODE, 0)


def test_alert_values_arrive_in_datum_shape_and_unmapped_codes_pass_unchanged() -> None:
    async def scenario() -> DeviceAlert:
        async with rig() as r:
            await r.adapter.listen()
            assert await r.adapter.health()
            r.core.inject(METER, "power_outage")
            await r.next_alert()
            r.clock.advance(timedelta(minutes=5))
            r.core.inject(METER, "power_restore")
            return await r.next_alert()

    alert = run(scenario)
    assert alert.code == EventCode.POWER_RESTORED
    assert alert.raised_at == NOW + timedelta(minutes=5)
    assert dict(alert.values) == {
        "interruption": "2024-06-01T12:00:00+00:00",
        "restoration": "2024-06-01T12:05:00+00:00",
        "duration_s": 300,
    }


def test_alerts_arrive_after_a_head_end_restart_once_reconnected(
    executions: Executions,
) -> None:
    async def scenario() -> DeviceAlert:
        async with rig() as r:
            await r.submit(read("R0"))
            await r.server.go_down()
            await r.server.come_up()
            await r.submit(read("R1"))  # reconnects
            r.core.inject(METER, "power_outage")
            return await r.next_alert()

    assert run(scenario).code == GBCS_OUTAGE_CODE


def test_listen_with_the_head_end_down_does_not_raise() -> None:
    async def scenario() -> bool:
        async with rig() as r:
            await r.server.go_down()
            await r.adapter.listen()
            return await r.adapter.health()

    assert run(scenario) is False


# --------------------------------------------------------------------------- health


def test_health_is_true_while_the_head_end_answers_and_false_once_it_is_down() -> None:
    async def scenario() -> list[bool]:
        async with rig() as r:
            healthy = await r.adapter.health()
            await r.server.go_down()
            down = await r.adapter.health()
            await r.server.come_up()
            return [healthy, down, await r.adapter.health()]

    assert run(scenario) == [True, False, True]


def test_health_is_false_when_nothing_ever_listened() -> None:
    async def scenario() -> bool:
        async with rig() as r:
            port = r.server.port
            await r.server.go_down()
        adapter = ApduAdapter(PROFILE, Endpoint("127.0.0.1", port), AdapterOptions())
        try:
            return await adapter.health()
        finally:
            await adapter.aclose()

    assert run(scenario) is False


# --------------------------------------------------------------------------- the link itself


def test_the_head_end_clock_answers_a_get_and_other_head_end_objects_are_undefined() -> None:
    async def scenario() -> tuple[Response, Response]:
        async with rig() as r, link_to(r.server) as link:
            clock = await ask(link, lambda i: GetRequest(i, HEAD_END, "h1", (AttributeRef(CLOCK),)))
            other = await ask(
                link, lambda i: GetRequest(i, HEAD_END, "h2", (AttributeRef(TOTAL_IMPORT),))
            )
            return clock, other

    clock, other = run(scenario)
    assert isinstance(clock, GetResponse)
    assert clock.result is ResultCode.SUCCESS
    assert clock.values == (DateTime(NOW),)
    assert isinstance(other, GetResponse)
    assert (other.result, other.values) == (ResultCode.OBJECT_UNDEFINED, ())


def test_a_get_of_meter_objects_reads_the_meter() -> None:
    async def scenario() -> tuple[Response, Value, Response, Response]:
        async with rig() as r, link_to(r.server) as link:
            both = (AttributeRef(CLOCK), AttributeRef(TOTAL_IMPORT))
            read_both = await ask(link, lambda i: GetRequest(i, METER, "G1", both))
            expected_total = U64(r.meter.import_registers(NOW).total)
            undefined = await ask(
                link, lambda i: GetRequest(i, METER, "G2", (AttributeRef(UNDEFINED),))
            )
            stranger = await ask(
                link, lambda i: GetRequest(i, STRANGER, "G3", (AttributeRef(CLOCK),))
            )
            return read_both, expected_total, undefined, stranger

    read_both, expected_total, undefined, stranger = run(scenario)
    assert isinstance(read_both, GetResponse)
    assert read_both.result is ResultCode.SUCCESS
    assert read_both.values == (DateTime(NOW), expected_total)
    assert isinstance(undefined, GetResponse)
    assert undefined.result is ResultCode.OBJECT_UNDEFINED
    assert isinstance(stranger, GetResponse)
    assert stranger.result is ResultCode.UNKNOWN_DEVICE


def test_a_set_of_the_supply_control_state_switches_the_supply_and_pushes_its_alert() -> None:
    supply_to = AttributeRef(SUPPLY)

    def to(state: int, request_id: str) -> Callable[[int], Request]:
        return lambda i: SetRequest(i, METER, request_id, (Write(supply_to, U32(state)),))

    async def scenario() -> tuple[list[Response], list[Supply], list[Alert]]:
        pushed: list[Alert] = []
        states: list[Supply] = []
        async with rig() as r, link_to(r.server, pushed) as link:
            answers = [await ask(link, to(0, "S1"))]
            states.append(r.meter.supply_state(NOW))
            answers.append(await ask(link, to(2, "S2")))
            states.append(r.meter.supply_state(NOW))
            answers.append(await ask(link, lambda i: GetRequest(i, METER, "G1", (supply_to,))))
            return answers, states, pushed

    (disabled, armed, after), states, pushed = run(scenario)
    assert disabled == SetResponse(disabled.invoke_id, ResultCode.SUCCESS)
    assert armed == SetResponse(armed.invoke_id, ResultCode.SUCCESS)
    assert states == [Supply.DISABLED, Supply.ARMED]
    assert isinstance(after, GetResponse)
    assert after.values == (U32(2),)
    # Disabling raises no alert; arming does, pushed with invoke id 0.
    assert [(a.device, a.code, a.invoke_id) for a in pushed] == [(METER, EventCode.SUPPLY_ARMED, 0)]


@pytest.mark.parametrize(
    ("write", "result"),
    [
        (Write(AttributeRef(SUPPLY), VisibleString("off")), ResultCode.OTHER),
        (Write(AttributeRef(SUPPLY), U32(7)), ResultCode.OTHER),
        (Write(AttributeRef(SUPPLY), U32(2)), ResultCode.OTHER),  # arming an enabled supply
        (Write(AttributeRef(TOTAL_IMPORT), U64(0)), ResultCode.OBJECT_UNDEFINED),
        (Write(AttributeRef(UNDEFINED), U32(0)), ResultCode.OBJECT_UNDEFINED),
        (Write(AttributeRef(SUPPLY, 3), U32(0)), ResultCode.OBJECT_UNDEFINED),
    ],
    ids=[
        "wrong type",
        "no such state",
        "illegal move",
        "read only",
        "no such object",
        "no such attribute",
    ],
)
def test_a_set_the_meter_cannot_take_is_refused(write: Write, result: ResultCode) -> None:
    async def scenario() -> tuple[Response, Supply]:
        async with rig() as r, link_to(r.server) as link:
            answer = await ask(link, lambda i: SetRequest(i, METER, "S1", (write,)))
            return answer, r.meter.supply_state(NOW)

    answer, state = run(scenario)
    assert isinstance(answer, SetResponse)
    assert answer.result is result
    assert state is Supply.ENABLED


def test_an_action_on_an_unknown_object_or_method_is_object_undefined(
    executions: Executions,
) -> None:
    service = Obis.parse(PROFILE.command("4.1.1"))

    async def scenario() -> list[Response]:
        async with rig() as r, link_to(r.server) as link:
            return [
                await ask(link, lambda i: ActionRequest(i, METER, "A1", MethodRef(UNDEFINED))),
                await ask(link, lambda i: ActionRequest(i, METER, "A2", MethodRef(service, 2))),
            ]

    answers = run(scenario)
    assert all(isinstance(a, ActionResponse) for a in answers)
    assert [a.result for a in answers] == [ResultCode.OBJECT_UNDEFINED] * 2
    assert executions.calls == []


def test_an_action_with_parameters_that_are_not_pairs_is_type_unmatched(
    executions: Executions,
) -> None:
    service = MethodRef(Obis.parse(PROFILE.command("4.1.1")))
    pair = Array((VisibleString("a"), VisibleString("1")))

    async def scenario() -> list[Response]:
        async with rig() as r, link_to(r.server) as link:
            return [
                await ask(link, lambda i: ActionRequest(i, METER, "A1", service, (U32(1),))),
                await ask(link, lambda i: ActionRequest(i, METER, "A2", service, (pair, pair))),
                await ask(link, lambda i: ActionRequest(i, METER, "A3", service, (pair,))),
            ]

    first, repeated, good = run(scenario)
    assert isinstance(first, ActionResponse)
    assert first.result is ResultCode.TYPE_UNMATCHED
    assert isinstance(repeated, ActionResponse)
    assert repeated.result is ResultCode.TYPE_UNMATCHED
    assert isinstance(good, ActionResponse)
    assert good.result is ResultCode.SUCCESS
    assert from_record(good.values) == RESULT
    assert executions.calls == [(METER, "4.1.1", {"a": "1"})]


def test_a_raw_action_round_trips_the_record(executions: Executions) -> None:
    service = MethodRef(Obis.parse(PROFILE.command("11.2")))
    parameters = to_record({"n": "ü", "x": "1"})

    async def scenario() -> Response:
        async with rig() as r, link_to(r.server) as link:
            return await ask(link, lambda i: ActionRequest(i, METER, "A1", service, parameters))

    answer = run(scenario)
    assert isinstance(answer, ActionResponse)
    assert answer.values == to_record(RESULT)
    assert executions.calls == [(METER, "11.2", {"n": "ü", "x": "1"})]


def test_a_peer_that_breaks_the_protocol_is_dropped_and_others_are_still_served(
    executions: Executions,
) -> None:
    async def scenario() -> tuple[bytes, Outcome]:
        async with rig() as r:
            reader, writer = await asyncio.open_connection("127.0.0.1", r.server.port)
            writer.write(b"\x00\x00\x00\x03abc\x00\x00\x00\x00")  # a frame with a bad CRC
            await writer.drain()
            leftover = await asyncio.wait_for(reader.read(), 2.0)  # EOF: dropped
            writer.close()
            return leftover, await r.submit(read())

    leftover, outcome = run(scenario)
    assert leftover == b""
    assert outcome.status is OutcomeStatus.SUCCESS


def test_a_client_may_not_push_alerts_to_the_head_end(executions: Executions) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            reader, writer = await asyncio.open_connection("127.0.0.1", r.server.port)
            writer.write(Connection(Role.SERVER).send(Alert(METER, 1, NOW)))
            await writer.drain()
            await asyncio.wait_for(reader.read(), 2.0)
            writer.close()
            return await r.submit(read())

    assert run(scenario).status is OutcomeStatus.SUCCESS
