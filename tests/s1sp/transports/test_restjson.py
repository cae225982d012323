"""The REST/JSON adapter against the REST/JSON simulated head-end, over real HTTP on 127.0.0.1.

Both sides listen: the head-end for commands, the adapter for callbacks and alerts.
"""

from __future__ import annotations

import asyncio
import socket
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
from opendcc.s1sp.protocols.restjson import (
    ApiError,
    ApiErrorCode,
    CommandState,
    CommandStatus,
    HttpReply,
    PollCommand,
    decode_poll_reply,
    encode_request,
)
from opendcc.s1sp.transports.restjson import (
    RestJsonAdapter,
    command_id_for,
    restjson_adapter_factory,
)
from opendcc.sim.headends import core as headend_core
from opendcc.sim.headends.core import Faults, HeadEndCore, PushedAlert
from opendcc.sim.headends.restjson import RestJsonHeadEnd, start_restjson_headend
from opendcc.sim.state import Esme

PROFILE = CohortProfile(
    name="testcohort",
    manufacturer="Test Meters",
    protocol="restjson",
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
    "supplier": 'Énergie <&> "quoted" {x}',
    "empty": "",
    "device_time": datetime(2024, 6, 1, 11, 59, 30, 250_000, tzinfo=UTC),
    "local_time": datetime(2024, 6, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
    "tou_wh": (1, 2, 3, 4),
    "log": ((1, "one", datetime(2024, 5, 31, tzinfo=UTC)), (), ("",)),
}
TARGET_S = 0.25  # the target response time of 4.1.1 in these tests
SHORT_TARGET_S = 0.1  # where a test waits for the target (or its grace period) to pass
LONG_TARGET_S = 2.0  # where a test shows something happens well before the target
TIME_SCALE = TARGET_S / response_time_s("4.1.1", AdapterOptions())
T = TypeVar("T")


@dataclass
class Rig:
    core: HeadEndCore
    server: RestJsonHeadEnd
    adapter: RestJsonAdapter
    seen: Seen
    options: AdapterOptions

    async def submit(self, instruction: Instruction) -> Outcome:
        return await self.adapter.submit(seal(instruction))

    def another_adapter(self) -> RestJsonAdapter:
        """A second adapter to the same head-end, as after a restart of the hub."""
        return RestJsonAdapter(PROFILE, self.adapter.endpoint, self.options)


@asynccontextmanager
async def rig(
    faults: Faults | None = None,
    *,
    adapter_profile: CohortProfile = PROFILE,
    advertised_url: str | None = None,
    target_s: float = TARGET_S,
) -> AsyncIterator[Rig]:
    """A head-end serving one real ESME, and an adapter for it."""
    meter = Esme.for_device(METER, commissioned=NOW - timedelta(days=1))
    core = HeadEndCore(PROFILE, [meter], clock=FixedClock(NOW), faults=faults)
    server = await start_restjson_headend(core)
    seen = Seen()
    options = AdapterOptions(
        dco_key=KEY.public_key(),
        on_alert=seen.on_alert,
        on_late=seen.on_late,
        time_scale=TIME_SCALE * target_s / TARGET_S,
    )
    adapter = RestJsonAdapter(
        adapter_profile, Endpoint.parse(server.endpoint), options, advertised_url=advertised_url
    )
    try:
        yield Rig(core, server, adapter, seen, options)
    finally:
        await asyncio.gather(adapter.aclose(), server.aclose())


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario()

    return asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- commands


def test_success_carries_the_command_and_returns_the_result_in_datum_shape(
    executions: Executions,
) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read(limit="12.5", note="a <b> & ü"))

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.SUCCESS
    assert outcome.request_id == "R1"
    assert dict(outcome.data) == RESULT
    assert type(outcome.data["tou_wh"]) is tuple
    assert type(outcome.data["log"][0]) is tuple
    assert outcome.data["log"][1] == ()
    assert type(outcome.data["total_import_wh"]) is int
    assert outcome.data["device_time"].tzinfo is not None
    assert executions.calls == [(METER, "4.1.1", {"limit": "12.5", "note": "a <b> & ü"})]


def test_a_meter_refusal_is_rejected(executions: Executions) -> None:
    executions.refuse = True

    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read())

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.REJECTED
    assert "invalid_value" in outcome.detail
    assert outcome.data == {}


def test_a_device_the_head_end_does_not_serve_is_unknown(executions: Executions) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read(device=STRANGER))

    assert run(scenario).status is OutcomeStatus.UNKNOWN_DEVICE
    assert executions.calls == []


def test_a_command_the_head_end_does_not_know_is_rejected(executions: Executions) -> None:
    other = CohortProfile(
        name="testcohort",
        manufacturer="Test Meters",
        protocol="restjson",
        supported_srvs=frozenset({"4.1.1"}),
        device_models=("SIM-ESME-1",),
        wan=WanTraits(0, 0),
        commands={"4.1.1": "readSomethingElse"},
    )

    async def scenario() -> Outcome:
        async with rig(adapter_profile=other) as r:
            return await r.submit(read())

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.REJECTED
    assert ApiErrorCode.UNSUPPORTED_COMMAND in outcome.detail
    assert executions.calls == []


def test_a_result_outside_the_datum_shape_is_no_response(executions: Executions) -> None:
    executions.result = {"ratio": 0.5}

    async def scenario() -> Outcome:
        async with rig() as r:
            return await r.submit(read())

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.NO_RESPONSE
    assert "unreadable result" in outcome.detail


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (Faults(unreachable=True), OutcomeStatus.DEVICE_UNREACHABLE),
        (Faults(keys_missing=True), OutcomeStatus.KEYS_MISSING),
        (Faults(han_error=True), OutcomeStatus.HAN_ERROR),
        (Faults(failure_rate=1.0), OutcomeStatus.NO_RESPONSE),
    ],
    ids=["unreachable", "keys_missing", "han_error", "lost"],
)
def test_injected_faults_become_their_outcomes(
    executions: Executions, faults: Faults, status: OutcomeStatus
) -> None:
    async def scenario() -> Outcome:
        async with rig(faults) as r:
            return await r.submit(read())

    outcome = run(scenario)
    assert outcome.status is status
    assert executions.calls == []  # refused before the meter


def test_a_reply_beyond_the_target_is_no_response_then_late_exactly_once(
    executions: Executions,
) -> None:
    async def scenario() -> tuple[Outcome, Outcome, Seen]:
        late = Faults(latency_ms=int(SHORT_TARGET_S * 1000) + 150)
        async with rig(late, target_s=SHORT_TARGET_S) as r:
            first = await r.submit(read())
            await asyncio.wait_for(r.seen.was_late.wait(), 2.0)
            # Redelivered: the head-end answers from memory, calling back at once.
            r.core.faults = Faults()
            again = await r.submit(read())
            return first, again, r.seen

    first, again, seen = run(scenario)
    assert first.status is OutcomeStatus.NO_RESPONSE
    assert [(i.request_id, o.status) for i, o in seen.late] == [("R1", OutcomeStatus.SUCCESS)]
    assert dict(seen.late[0][1].data) == RESULT
    assert again.status is OutcomeStatus.SUCCESS
    assert len(executions.calls) == 1


def test_a_corrupt_callback_is_polled_at_once_and_a_corrupt_poll_is_no_response(
    executions: Executions,
) -> None:
    async def scenario() -> tuple[Outcome, float]:
        # A long target, so that a loaded box cannot make "at once" look like "at the target".
        async with rig(Faults(corrupt=True), target_s=LONG_TARGET_S) as r:
            started = asyncio.get_running_loop().time()
            outcome = await r.submit(read())
            return outcome, asyncio.get_running_loop().time() - started

    outcome, took_s = run(scenario)
    assert outcome.status is OutcomeStatus.NO_RESPONSE
    assert "poll failed" in outcome.detail  # not merely the target running out
    assert took_s < LONG_TARGET_S / 2, took_s
    assert len(executions.calls) == 1  # the meter acted; its answer was lost on the way


def test_a_lost_callback_is_made_up_for_by_one_poll(executions: Executions) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # the head-end cannot call back

    async def scenario() -> tuple[Outcome, Seen]:
        async with rig(advertised_url=nowhere, target_s=SHORT_TARGET_S) as r:
            outcome = await r.submit(read())
            await asyncio.wait_for(r.seen.was_late.wait(), 2.0)
            return outcome, r.seen

    outcome, seen = run(scenario)
    assert outcome.status is OutcomeStatus.NO_RESPONSE  # the poll comes after the target
    assert [o.status for _, o in seen.late] == [OutcomeStatus.SUCCESS]
    assert dict(seen.late[0][1].data) == RESULT


def test_a_head_end_that_is_down_is_unreachable_and_serves_again_once_up(
    executions: Executions,
) -> None:
    async def scenario() -> list[object]:
        async with rig() as r:
            seen: list[object] = [await r.adapter.health()]
            await r.server.go_down()
            seen += [await r.adapter.health(), (await r.submit(read())).status]
            await r.server.come_up()
            seen += [await r.adapter.health(), (await r.submit(read())).status]
            return seen

    assert run(scenario) == [
        True,
        False,
        OutcomeStatus.DEVICE_UNREACHABLE,
        True,
        OutcomeStatus.SUCCESS,
    ]
    assert len(executions.calls) == 1


# --------------------------------------------------------------------------- seals, idempotency


@pytest.mark.parametrize("how", ["unsealed", "other key", "no DCO key"])
def test_an_instruction_without_a_valid_seal_reaches_nothing(
    executions: Executions, how: str
) -> None:
    instruction = read()
    sealed = {
        "unsealed": Sealed(instruction, b""),
        "other key": seal(instruction, ec.generate_private_key(ec.SECP256R1())),
        "no DCO key": seal(instruction),
    }[how]

    async def scenario() -> None:
        async with rig() as r:
            adapter = r.adapter
            if how == "no DCO key":
                adapter = RestJsonAdapter(PROFILE, r.adapter.endpoint, AdapterOptions())
            try:
                with pytest.raises(NotCountersigned):
                    await adapter.submit(sealed)
            finally:
                await adapter.aclose()
            assert r.core.executions == {}

    run(scenario)
    assert executions.calls == []


def test_the_same_request_id_acts_once_even_across_adapters(executions: Executions) -> None:
    async def scenario() -> list[Outcome]:
        async with rig(Faults(latency_ms=20)) as r:
            together = await asyncio.gather(r.submit(read()), r.submit(read()))
            again = await r.submit(read())
            restarted = r.another_adapter()  # no memory of R1: the head-end remembers it
            try:
                after_restart = await restarted.submit(seal(read()))
            finally:
                await restarted.aclose()
            return [*together, again, after_restart]

    outcomes = run(scenario)
    assert [o.status for o in outcomes] == [OutcomeStatus.SUCCESS] * 4
    assert all(dict(o.data) == RESULT for o in outcomes)
    assert len(executions.calls) == 1


def test_a_request_id_reused_for_another_instruction_is_refused(executions: Executions) -> None:
    async def scenario() -> Outcome:
        async with rig() as r:
            await r.submit(read())
            restarted = r.another_adapter()
            try:
                return await restarted.submit(seal(read(limit="1")))
            finally:
                await restarted.aclose()

    outcome = run(scenario)
    assert outcome.status is OutcomeStatus.REJECTED
    assert ApiErrorCode.DUPLICATE_COMMAND in outcome.detail
    assert len(executions.calls) == 1


# --------------------------------------------------------------------------- alerts, health


def test_an_alert_reaches_on_alert_with_its_gbcs_code() -> None:
    async def scenario() -> tuple[DeviceAlert, list[PushedAlert], dict[str, str]]:
        async with rig() as r:
            pushed: list[PushedAlert] = []
            r.core.subscribe(pushed.append)
            assert await r.adapter.health()  # renews (here: takes out) the alert subscription
            r.core.inject(METER, "power_outage")
            await asyncio.wait_for(r.seen.alerted.wait(), 2.0)
            await r.adapter.aclose()  # says goodbye
            return r.seen.alerts[0], pushed, dict(r.server.subscriptions)

    alert, pushed, left = run(scenario)
    assert [p.code for p in pushed] == [OWN_OUTAGE_CODE]  # the head-end's own code on the wire
    assert alert.device_id == METER
    assert alert.code == GBCS_OUTAGE_CODE
    assert alert.raised_at == pushed[0].raised_at
    assert dict(alert.values) == dict(pushed[0].values)
    assert left == {}


def test_listen_subscribes_without_waiting_for_an_instruction() -> None:
    async def scenario() -> tuple[bool, list[str]]:
        async with rig() as r:
            subscribed = await r.adapter.listen()
            return subscribed, list(r.server.subscriptions.values())

    subscribed, urls = run(scenario)
    assert subscribed
    assert len(urls) == 1 and urls[0].endswith("/callbacks/alerts")


def test_health_is_false_when_nothing_listens() -> None:
    async def scenario() -> bool:
        adapter = RestJsonAdapter(
            PROFILE, Endpoint.parse(f"http://127.0.0.1:{free_port()}"), AdapterOptions()
        )
        try:
            return await adapter.health()
        finally:
            await adapter.aclose()

    assert run(scenario) is False


# --------------------------------------------------------------------------- the wire


def test_the_command_is_named_by_its_request_id_and_can_be_polled(executions: Executions) -> None:
    async def scenario() -> tuple[HttpReply, HttpReply]:
        async with rig() as r, httpx.AsyncClient(trust_env=False) as client:
            await r.submit(read())
            replies = []
            for command_id in (command_id_for("R1"), command_id_for("R2")):
                poll = encode_request(PollCommand(command_id))
                response = await client.get(r.server.endpoint + poll.path)
                headers = tuple(response.headers.items())
                replies.append(HttpReply(response.status_code, headers, response.content))
            return replies[0], replies[1]

    known, unknown = run(scenario)
    status = decode_poll_reply(known)
    assert isinstance(status, CommandStatus)
    assert status.status is CommandState.COMPLETED
    assert status.command_id == command_id_for("R1") != command_id_for("R2")
    assert decode_poll_reply(unknown) == ApiError(
        ApiErrorCode.UNKNOWN_COMMAND, "no command " + command_id_for("R2")
    )


def test_the_head_end_forgets_its_oldest_finished_commands(
    executions: Executions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(headend_core, "REMEMBERED", 2)

    async def scenario() -> list[HttpReply]:
        async with rig() as r, httpx.AsyncClient(trust_env=False) as client:
            for n in range(1, 4):
                await r.submit(read(f"R{n}"))
            replies = []
            for n in range(1, 4):
                poll = encode_request(PollCommand(command_id_for(f"R{n}")))
                response = await client.get(r.server.endpoint + poll.path)
                headers = tuple(response.headers.items())
                replies.append(HttpReply(response.status_code, headers, response.content))
            return replies

    first, *kept = run(scenario)
    assert decode_poll_reply(first) == ApiError(
        ApiErrorCode.UNKNOWN_COMMAND, "no command " + command_id_for("R1")
    )
    for reply in kept:
        status = decode_poll_reply(reply)
        assert isinstance(status, CommandStatus)
        assert status.status is CommandState.COMPLETED


def test_the_adapter_needs_an_http_endpoint() -> None:
    with pytest.raises(InvalidEndpoint):
        RestJsonAdapter(PROFILE, Endpoint.parse("tcp://127.0.0.1:9"), AdapterOptions())
    create = restjson_adapter_factory(PROFILE)
    assert isinstance(
        create(Endpoint.parse("http://127.0.0.1:9"), AdapterOptions()), RestJsonAdapter
    )


def test_callbacks_are_answered_by_the_listeners_protocol_and_the_rest_the_same_by_asgi(
    executions: Executions,
) -> None:
    """A command's callback takes the direct path (``httpserver``); a callback the direct
    path leaves to Starlette (a query string, an escaped id) is answered the same."""
    from opendcc.httpserver import DirectProtocol

    async def scenario() -> tuple[int, Outcome, list[tuple[int, str]]]:
        async with rig() as r, httpx.AsyncClient(trust_env=False) as client:
            before = DirectProtocol.answered
            outcome = await r.submit(read())
            took_direct = DirectProtocol.answered - before
            await r.adapter._listening()
            answers = []
            for suffix in ("nobody", "nobody?x=1", "nob%6Fdy", "a" * 201):
                before = DirectProtocol.answered
                answer = await client.post(
                    r.adapter.base_url + "/callbacks/commands/" + suffix,
                    content=b"{not json",
                    headers={"content-type": "application/json"},
                )
                answers.append((answer.status_code, answer.text))
                direct = DirectProtocol.answered - before
                assert direct == (1 if suffix == "nobody" else 0), suffix
            return took_direct, outcome, answers

    took_direct, outcome, answers = run(scenario)
    assert outcome.status is OutcomeStatus.SUCCESS
    assert took_direct == 1  # the head-end's one callback
    assert len(set(answers)) == 1, answers  # the same refusal either way
    assert answers[0][0] == 400


def test_the_listener_refuses_a_body_over_its_limit_on_either_path() -> None:
    """1 MiB on the direct path (a command's callback) and on the ASGI side (alerts, a callback
    with a query string): refused 413 from the declared length, never read whole."""

    async def scenario() -> list[int]:
        async with rig() as r, httpx.AsyncClient(trust_env=False) as client:
            await r.adapter._listening()
            statuses = []
            for path in ("/callbacks/commands/x", "/callbacks/commands/x?y=1", "/callbacks/alerts"):
                answer = await client.post(
                    r.adapter.base_url + path,
                    content=b"{" + b" " * (1024 * 1024) + b"}",
                    headers={"content-type": "application/json"},
                )
                statuses.append(answer.status_code)
            return statuses

    assert run(scenario) == [413, 413, 413]
