"""The Secure adapter against the real simulated head-end, over TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp import (
    ConflictingInstruction,
    Endpoint,
    Instruction,
    Outcome,
    OutcomeStatus,
    UnsupportedService,
)
from opendcc.s1sp.cohorts.secure import PROFILE, SecureAdapter
from opendcc.sim.headend import Faults, HeadEndServer, start_headend
from opendcc.sim.meter import Meter

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
SECOND = Eui64.parse("00-DB-12-34-56-78-90-A1")
STRANGER = Eui64.parse("00-DB-12-34-56-78-90-FF")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
T = TypeVar("T")


def read(request_id: str = "R1", device: Eui64 = METER) -> Instruction:
    return Instruction(request_id, "4.1.1", device)


def expected(device: Eui64, now: datetime = NOW) -> dict[str, object]:
    meter = Meter.for_device(device)
    return {
        "total_import_kwh_wh": meter.import_wh(now),
        "tou_wh": list(meter.tou_wh(now)),
        "reactive_import_varh": meter.reactive_import_varh(now),
        "device_time": meter.clock(now),
    }


def with_headend(
    scenario: Callable[[HeadEndServer, SecureAdapter], Awaitable[T]],
    faults: Faults | None = None,
    timeout_s: float = 5.0,
) -> T:
    """Run ``scenario`` against a fresh head-end (meters METER and SECOND) and adapter."""

    async def main() -> T:
        server = await start_headend([METER, SECOND], faults=faults, clock=FixedClock(NOW))
        adapter = SecureAdapter(Endpoint(server.host, server.port), timeout_s=timeout_s)
        try:
            return await scenario(server, adapter)
        finally:
            await adapter.aclose()
            await server.aclose()

    return asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- success


def test_4_1_1_reads_the_registers_and_clock() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> Outcome:
        return await adapter.submit(read())

    outcome = with_headend(scenario)
    assert outcome == Outcome("R1", OutcomeStatus.SUCCESS, expected(METER))
    assert outcome.data["device_time"] == NOW


def test_concurrent_instructions_share_one_connection_out_of_order() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> list[Outcome]:
        # The first meter answers last: replies are matched by invoke id, not order.
        server.headend.meter_faults[METER] = Faults(latency_ms=150)
        return await asyncio.gather(
            adapter.submit(read("R1", METER)), adapter.submit(read("R2", SECOND))
        )

    first, second = with_headend(scenario)
    assert first.data == expected(METER)
    assert second.data == expected(SECOND)


def test_health_reads_the_head_end_clock() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> tuple[bool, bool]:
        up = await adapter.health()
        await server.go_down()
        return up, await adapter.health()

    assert with_headend(scenario) == (True, False)


def test_reconnects_after_the_head_end_comes_back() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> list[OutcomeStatus]:
        statuses = [(await adapter.submit(read("R1"))).status]
        await server.go_down()
        statuses.append((await adapter.submit(read("R2"))).status)
        await server.come_up()
        statuses.append((await adapter.submit(read("R3"))).status)
        # A restart while the connection sits idle: the stale connection is replaced.
        await server.go_down()
        await server.come_up()
        statuses.append((await adapter.submit(read("R4"))).status)
        return statuses

    assert with_headend(scenario) == [
        OutcomeStatus.SUCCESS,
        OutcomeStatus.DEVICE_UNREACHABLE,
        OutcomeStatus.SUCCESS,
        OutcomeStatus.SUCCESS,
    ]


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("faults", "device", "status", "timeout_s"),
    [
        (Faults(unreachable=True), METER, OutcomeStatus.DEVICE_UNREACHABLE, 5.0),
        (Faults(failure_rate=1.0), METER, OutcomeStatus.NO_RESPONSE, 5.0),
        (Faults(latency_ms=10_000), METER, OutcomeStatus.NO_RESPONSE, 0.2),
        (Faults(corrupt=True), METER, OutcomeStatus.NO_RESPONSE, 5.0),
        (None, STRANGER, OutcomeStatus.UNKNOWN_DEVICE, 5.0),
    ],
    ids=["unreachable", "lost", "slow WAN", "corrupt reply", "unknown device"],
)
def test_faults_map_to_outcomes(
    faults: Faults | None, device: Eui64, status: OutcomeStatus, timeout_s: float
) -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> Outcome:
        return await adapter.submit(read("R1", device))

    outcome = with_headend(scenario, faults, timeout_s)
    assert outcome.status is status
    assert outcome.data == {}
    assert outcome.detail


def test_a_head_end_that_refuses_connections_is_device_unreachable() -> None:
    async def scenario() -> tuple[Outcome, bool]:
        adapter = SecureAdapter(Endpoint("127.0.0.1", free_port()))
        try:
            return await adapter.submit(read()), await adapter.health()
        finally:
            await adapter.aclose()

    outcome, healthy = asyncio.run(scenario())
    assert outcome.status is OutcomeStatus.DEVICE_UNREACHABLE
    assert "unreachable" in outcome.detail
    assert not healthy


def test_a_corrupt_reply_fails_only_the_connection_not_the_adapter() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> list[OutcomeStatus]:
        server.headend.faults = Faults(corrupt=True)
        first = await adapter.submit(read("R1"))
        server.headend.faults = Faults()
        return [first.status, (await adapter.submit(read("R2"))).status]

    assert with_headend(scenario) == [
        OutcomeStatus.NO_RESPONSE,
        OutcomeStatus.SUCCESS,
    ]


# --------------------------------------------------------------------------- idempotency


def test_the_same_request_id_twice_reads_the_meter_once() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> tuple[list[Outcome], int]:
        outcomes = list(await asyncio.gather(adapter.submit(read()), adapter.submit(read())))
        outcomes.append(await adapter.submit(read()))
        return outcomes, server.headend.reads[METER]

    outcomes, reads = with_headend(scenario)
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0].status is OutcomeStatus.SUCCESS
    assert reads == 1


def test_a_second_adapter_replaying_a_request_id_gets_the_head_end_s_answer() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> tuple[bool, int]:
        first = await adapter.submit(read())
        other = SecureAdapter(Endpoint(server.host, server.port))
        try:
            again = await other.submit(read())
        finally:
            await other.aclose()
        return first == again, server.headend.reads[METER]

    assert with_headend(scenario) == (True, 1)


def test_transport_failures_are_retried_on_redelivery() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> list[OutcomeStatus]:
        server.headend.faults = Faults(unreachable=True)
        first = await adapter.submit(read())
        server.headend.faults = Faults()
        return [first.status, (await adapter.submit(read())).status]

    assert with_headend(scenario) == [OutcomeStatus.DEVICE_UNREACHABLE, OutcomeStatus.SUCCESS]


def test_a_request_id_reused_for_another_instruction_is_refused() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> None:
        await adapter.submit(read("R1", METER))
        await adapter.submit(read("R1", SECOND))

    with pytest.raises(ConflictingInstruction):
        with_headend(scenario)


def test_an_unsupported_srv_is_a_caller_error() -> None:
    async def scenario(server: HeadEndServer, adapter: SecureAdapter) -> None:
        await adapter.submit(Instruction("R1", "6.13", METER))

    with pytest.raises(UnsupportedService):
        with_headend(scenario)
    assert "6.13" not in PROFILE.supported_srvs


# --------------------------------------------------------------------------- process


@pytest.fixture
def headend_process() -> Iterator[tuple[str, int]]:
    """``python -m opendcc.sim.headend`` on a free port; yields its host and port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "opendcc.sim.headend", "--port", "0",
         "--meters", f"{METER},{SECOND}", "--unreachable", str(SECOND), "--latency-ms", "5"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on "), line
        host, port = line.removeprefix("listening on ").rsplit(":", 1)
        yield host, int(port)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_simulator_process_answers_a_real_adapter(headend_process: tuple[str, int]) -> None:
    host, port = headend_process

    async def scenario() -> tuple[bool, Outcome, Outcome]:
        adapter = SecureAdapter(Endpoint(host, port), timeout_s=5.0)
        try:
            return (
                await adapter.health(),
                await adapter.submit(read("R1", METER)),
                await adapter.submit(read("R2", SECOND)),
            )
        finally:
            await adapter.aclose()

    healthy, reachable, unreachable = asyncio.run(scenario())
    assert healthy
    assert reachable.status is OutcomeStatus.SUCCESS
    assert reachable.data["total_import_kwh_wh"] >= Meter.for_device(METER).initial_import_wh
    assert sum(reachable.data["tou_wh"]) <= reachable.data["total_import_kwh_wh"]
    assert unreachable.status is OutcomeStatus.DEVICE_UNREACHABLE
