"""The simulated head-end: answers from meter state, faults, idempotency, over real TCP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.apdu import (
    HEAD_END,
    U64,
    AttributeRef,
    Connection,
    DateTime,
    GetRequest,
    GetResponse,
    Obis,
    ResultCode,
    Role,
)
from opendcc.sim.headend import CLOCK, Faults, HeadEnd, _arguments, start_headend
from opendcc.sim.meter import Meter

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
STRANGER = Eui64.parse("00-DB-12-34-56-78-90-FF")
NOW = datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
TOTAL = AttributeRef(Obis.parse("1.0.1.8.0.255"))
TOU_2 = AttributeRef(Obis.parse("1.0.1.8.2.255"))


def headend(faults: Faults | None = None) -> HeadEnd:
    return HeadEnd([Meter.for_device(METER)], FixedClock(NOW), faults)


def get(*refs: AttributeRef, device: Eui64 = METER, rid: str = "R1") -> GetRequest:
    return GetRequest(1, device, rid, refs)


def test_registers_come_from_the_meter_model() -> None:
    meter = Meter.for_device(METER)
    answer = headend().answer(get(TOTAL, TOU_2, AttributeRef(CLOCK)))
    assert answer == GetResponse(
        1,
        ResultCode.SUCCESS,
        (
            U64(meter.import_wh(NOW)),
            U64(meter.tou_wh(NOW)[1]),
            DateTime(NOW.replace(microsecond=120000)),
        ),
    )


def test_the_head_end_answers_for_its_own_clock() -> None:
    answer = headend().answer(get(AttributeRef(CLOCK), device=HEAD_END))
    assert answer.result is ResultCode.SUCCESS
    assert headend().answer(get(TOTAL, device=HEAD_END)).result is ResultCode.OBJECT_UNDEFINED


def test_refusals() -> None:
    assert headend().answer(get(TOTAL, device=STRANGER)).result is ResultCode.UNKNOWN_DEVICE
    assert (
        headend(Faults(unreachable=True)).answer(get(TOTAL)).result is ResultCode.DEVICE_UNREACHABLE
    )
    assert headend(Faults(failure_rate=1.0)).answer(get(TOTAL)).result is ResultCode.NO_RESPONSE
    unknown = AttributeRef(Obis.parse("9.9.9.9.9.9"))
    assert headend().answer(get(unknown)).result is ResultCode.OBJECT_UNDEFINED
    assert headend().answer(get(AttributeRef(TOTAL.obis, 3))).result is ResultCode.OBJECT_UNDEFINED


def test_lost_requests_are_chosen_by_request_id() -> None:
    faults = Faults(failure_rate=0.5)
    lost = [faults.loses(f"R{i}") for i in range(400)]
    assert lost == [faults.loses(f"R{i}") for i in range(400)]
    assert 150 < sum(lost) < 250


def test_a_repeated_request_id_reads_the_meter_once() -> None:
    clock = FixedClock(NOW)
    head = HeadEnd([Meter.for_device(METER)], clock)
    first = head.answer(get(TOTAL))
    clock.set(NOW.replace(hour=20))
    assert head.answer(GetRequest(2, METER, "R1", (TOTAL,))) == GetResponse(
        2, first.result, first.values
    )
    assert head.reads[METER] == 1
    assert head.answer(get(TOTAL, rid="R2")).values != first.values
    assert head.reads[METER] == 2


def test_per_meter_faults_override_the_global_ones() -> None:
    head = HeadEnd(
        [Meter.for_device(METER)], FixedClock(NOW), meter_faults={METER: Faults(unreachable=True)}
    )
    assert head.answer(get(TOTAL)).result is ResultCode.DEVICE_UNREACHABLE


def test_served_over_tcp_with_a_corrupted_reply_fault() -> None:
    async def scenario() -> tuple[list[object], bytes]:
        server = await start_headend([METER], clock=FixedClock(NOW))
        try:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            client = Connection(Role.CLIENT)
            writer.write(client.send(get(TOTAL)))
            events: list[object] = []
            while not events:
                events += client.receive_data(await reader.read(65536))
            server.headend.faults = Faults(corrupt=True)
            writer.write(client.send(get(TOTAL, rid="R2")))
            corrupted = await reader.read(65536)
            writer.close()
            return events, corrupted
        finally:
            await server.aclose()

    events, corrupted = asyncio.run(scenario())
    assert events == [
        GetResponse(1, ResultCode.SUCCESS, (U64(Meter.for_device(METER).import_wh(NOW)),))
    ]
    assert corrupted[:4] == (len(corrupted) - 8).to_bytes(4, "big")  # framing survives


def test_command_line_arguments() -> None:
    args = _arguments(
        ["--port", "0", "--meters", f"{METER},{STRANGER}", "--unreachable", str(STRANGER)]
    )
    assert args.port == 0
    assert args.meters == [METER, STRANGER]
    assert args.unreachable == [STRANGER]
    assert args.latency_ms == 0
