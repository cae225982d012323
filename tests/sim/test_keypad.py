"""A consumer keys a UTRN into a simulated meter: through a running head-end's control API and
``opendcc sim keypad``, and the meter's alert reaching the hub's adapter over each protocol.

Tokens are issued with the cohort's real algorithm and ``CohortKeys`` from the seed the
head-end provisioned its meters with; the credit is read back from the meter.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import typer
from typer.testing import CliRunner

from opendcc.cli_sim import sim_app
from opendcc.core.clock import FixedClock, SystemClock
from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.utrn import algorithm
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import AdapterOptions, CohortProfile, DeviceAlert, Registry
from opendcc.s1sp.services import UTRN_ACCEPTED_AT_KEYPAD
from opendcc.s1sp.transports.apdu import ApduAdapter
from opendcc.s1sp.transports.restjson import RestJsonAdapter
from opendcc.s1sp.transports.soapxml import SoapAdapter
from opendcc.sim.headends import FleetMeter, core_for_fleet, start_headend
from opendcc.sim.headends.core import PushedAlert
from opendcc.sim.processes import HeadEndProcess
from opendcc.sim.state import PaymentMode

REGISTRY = register_all(Registry())
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
NEIGHBOUR = Eui64.parse("00-DB-12-34-56-78-90-A1")  # a meter of the same cohort
STRANGER = Eui64.parse("00-DB-12-34-56-78-90-FF")  # served by no head-end here
SEED = bytes.fromhex("0123456789abcdef")  # not the default: the head-end must be told it
AMOUNT_P = 2_000
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
cli = typer.Typer()
cli.add_typer(sim_app, name="sim")
runner = CliRunner()


def fleet_meters() -> list[FleetMeter]:
    return [
        FleetMeter(device, payment_mode=PaymentMode.PREPAYMENT, balance_p=50_000)
        for device in (METER, NEIGHBOUR)
    ]


def issue(cohort: str, device: Eui64, now: datetime, seed: bytes = SEED) -> str:
    """A UTRN for ``device`` as the cohort's S1SP issues it (first counter at ``now``)."""
    utrn = algorithm(REGISTRY.profile(cohort).utrn_algorithm)
    keys = CohortKeys(cohort, seed)
    return utrn.issue(keys, device, utrn.next_counter(None, now), AMOUNT_P)


# --------------------------------------------------------------------------- a running head-end


@pytest.fixture(scope="module", params=["landis", "elster"], ids=["gbcs", "sts"])
def headend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HeadEndProcess]:
    fleet = tmp_path_factory.mktemp("keypad") / "fleet.jsonl"
    fleet.write_text("".join(json.dumps(m.to_json()) + "\n" for m in fleet_meters()))
    process = HeadEndProcess(request.param, fleet=fleet, key_seed=SEED)
    try:
        yield process
    finally:
        process.stop()


def balance(headend: HeadEndProcess, device: Eui64 = METER) -> int:
    answer = httpx.get(f"{headend.control_url}/meters/{device}/balance", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["payment_mode"] == "prepayment"
    return int(answer.json()["balance_p"])


def key_in(headend: HeadEndProcess, utrn: str, device: Eui64 = METER) -> httpx.Response:
    url = f"{headend.control_url}/keypad"
    return httpx.post(url, json={"device": str(device), "utrn": utrn}, timeout=10)


def test_a_keyed_in_token_is_credited_once(headend: HeadEndProcess) -> None:
    now = SystemClock().now()
    utrn = issue(headend.cohort, METER, now)
    before = balance(headend)

    answer = key_in(headend, utrn)

    assert answer.status_code == 200, answer.text
    counter = algorithm(REGISTRY.profile(headend.cohort).utrn_algorithm).next_counter(None, now)
    assert answer.json() == {"accepted": True, "amount_p": AMOUNT_P, "counter": counter}
    # The household keeps drawing while the test runs: a penny at most.
    assert AMOUNT_P - 1 <= balance(headend) - before <= AMOUNT_P
    again = key_in(headend, utrn)
    assert again.status_code == 422
    assert again.json()["accepted"] is False
    assert again.json()["reason"] == "replay"
    assert "used already" in again.json()["detail"]


def test_a_token_the_meter_cannot_take_is_refused(headend: HeadEndProcess) -> None:
    now = SystemClock().now()
    before = balance(headend, NEIGHBOUR)
    for utrn, reason in (
        (issue(headend.cohort, METER, now), "authentication"),  # made for another meter
        (issue(headend.cohort, NEIGHBOUR, now, seed=b"another seed"), "authentication"),
    ):
        answer = key_in(headend, utrn, NEIGHBOUR)
        assert answer.status_code == 422, answer.text
        assert answer.json()["reason"] == reason
    assert balance(headend, NEIGHBOUR) <= before  # nothing credited
    assert key_in(headend, issue(headend.cohort, STRANGER, now), STRANGER).status_code == 404
    assert httpx.get(f"{headend.control_url}/meters/{STRANGER}/balance").status_code == 404
    assert httpx.post(f"{headend.control_url}/keypad", content=b"{}").status_code == 400


def test_opendcc_sim_keypad(headend: HeadEndProcess) -> None:
    assert headend.control_url is not None
    utrn = issue(headend.cohort, NEIGHBOUR, SystemClock().now())
    command = ["sim", "keypad", str(NEIGHBOUR), utrn, "--headend", headend.control_url]

    first = runner.invoke(cli, command)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("accepted: 20.00 GBP credited (2000p, counter ")

    second = runner.invoke(cli, command)
    assert second.exit_code == 1
    assert second.stderr.startswith("refused: replay: ")

    unknown = runner.invoke(
        cli, ["sim", "keypad", str(STRANGER), utrn, "--headend", headend.control_url]
    )
    assert unknown.exit_code == 1 and "404" in unknown.stderr


# --------------------------------------------------------------------------- the alert


async def keyed_in_alert(profile: CohortProfile) -> tuple[DeviceAlert, list[PushedAlert]]:
    """Key a token in at a head-end in this process; what the cohort's real adapter hands on."""
    clock = FixedClock(NOW)
    core = core_for_fleet(
        profile, fleet_meters(), commissioned=NOW - timedelta(days=2), clock=clock, key_seed=SEED
    )
    pushed: list[PushedAlert] = []
    core.subscribe(pushed.append)
    server = await start_headend(core)
    seen: list[DeviceAlert] = []
    arrived = asyncio.Event()

    def on_alert(alert: DeviceAlert) -> None:
        seen.append(alert)
        arrived.set()

    adapter = REGISTRY.adapter_for(profile.name, server.endpoint, AdapterOptions(on_alert=on_alert))
    try:
        if isinstance(adapter, ApduAdapter | RestJsonAdapter):
            await adapter.listen()  # connected or subscribed: the head-end pushes
        core.key_in(METER, issue(profile.name, METER, NOW))
        if isinstance(adapter, SoapAdapter):
            await adapter.poll_alerts()  # this head-end keeps alerts until polled
        await asyncio.wait_for(arrived.wait(), 5)
    finally:
        await asyncio.gather(adapter.aclose(), server.aclose())
    [alert] = [a for a in seen if a.code == UTRN_ACCEPTED_AT_KEYPAD]
    return alert, pushed


@pytest.mark.parametrize(
    "cohort", ["landis", "aclara", "edmi"], ids=["apdu", "restjson", "soapxml"]
)
def test_the_keypad_alert_reaches_the_hub_with_what_was_credited(cohort: str) -> None:
    profile = REGISTRY.profile(cohort)
    alert, pushed = asyncio.run(keyed_in_alert(profile))

    assert alert.device_id == METER
    counter = algorithm(profile.utrn_algorithm).next_counter(None, NOW)
    assert dict(alert.values) == {
        "utrn": issue(cohort, METER, NOW),
        "amount_p": AMOUNT_P,
        "counter": counter,
        "channel": "keypad",
    }
    # On the wire it went with the cohort's own code.
    [wire] = [p for p in pushed if p.values.get("channel") == "keypad"]
    assert wire.code == profile.cohort_alert(UTRN_ACCEPTED_AT_KEYPAD)
