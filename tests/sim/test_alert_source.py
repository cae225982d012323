"""The synthetic alert source: ``POST /alerts`` on a head-end's control API publishes alerts for
devices the simulator holds no model of, as the head-end publishes a meter's own.

The alerts reach the hub's real adapter over a running head-end's wire (the binary protocol,
whose cohort numbers alerts its own way, 0x0Cxx), stamped with the head-end clock's now.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import AdapterOptions, DeviceAlert, Registry
from opendcc.sim.headends import FleetMeter, core_for_fleet, start_headend
from opendcc.sim.headends.core import HeadEndCore, PushedAlert
from opendcc.sim.keypad import ControlServer, control_app

REGISTRY = register_all(Registry())
PROFILE = REGISTRY.profile("landis")
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")  # the one meter the head-end models
ESTATE = [Eui64.parse(f"00-DB-14-00-00-00-00-{n:02X}") for n in range(3)]  # modelled nowhere
NOW = datetime(2024, 6, 1, 12, 0, 0, 120_000, tzinfo=UTC)  # on a hundredth: APDU's resolution


def new_core() -> HeadEndCore:
    return core_for_fleet(
        PROFILE, [FleetMeter(METER)], commissioned=NOW - timedelta(days=2), clock=FixedClock(NOW)
    )


def post(core: HeadEndCore, body: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=control_app(core))
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
            if isinstance(body, bytes):
                return await client.post("/alerts", content=body)
            return await client.post("/alerts", json=body)

    return asyncio.run(send())


ORDER = {
    "alerts": [
        {"device": str(ESTATE[0]), "code": "8F20", "values": {"sent": "1717243200.5", "n": 7}},
        {"device": str(ESTATE[1]), "code": "8f34"},
        {"device": str(ESTATE[2]), "code": "8101", "values": {}},
    ]
}


async def through_the_wire() -> tuple[httpx.Response, list[DeviceAlert], list[PushedAlert]]:
    """Post ``ORDER`` to a running control server; what the landis adapter is handed."""
    core = new_core()
    pushed: list[PushedAlert] = []
    core.subscribe(pushed.append)
    server = await start_headend(core)
    control = ControlServer(core)
    await control.start()
    seen: list[DeviceAlert] = []
    all_in = asyncio.Event()

    def on_alert(alert: DeviceAlert) -> None:
        seen.append(alert)
        if len(seen) == len(ORDER["alerts"]):
            all_in.set()

    adapter = REGISTRY.adapter_for("landis", server.endpoint, AdapterOptions(on_alert=on_alert))
    try:
        await adapter.listen()
        async with httpx.AsyncClient(base_url=control.url) as client:
            answer = await client.post("/alerts", json=ORDER, timeout=5)
        await asyncio.wait_for(all_in.wait(), 5)
    finally:
        await asyncio.gather(adapter.aclose(), control.aclose(), server.aclose())
    return answer, seen, pushed


def test_alerts_for_unmodelled_devices_reach_the_adapter() -> None:
    answer, seen, pushed = asyncio.run(through_the_wire())

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"published": 3}
    got = sorted(seen, key=lambda alert: str(alert.device_id))
    assert [(a.device_id, a.code) for a in got] == list(
        zip(ESTATE, [0x8F20, 0x8F34, 0x8101], strict=True)
    )
    assert dict(got[0].values) == {"sent": "1717243200.5", "n": 7}
    assert [dict(a.values) for a in got[1:]] == [{}, {}]
    assert {a.raised_at for a in got} == {NOW}
    # On the wire each went with the cohort's own code: 0x0C and the GBCS code's low byte.
    assert sorted(p.code for p in pushed) == [0x0C01, 0x0C20, 0x0C34]


def test_the_largest_order_is_published_whole() -> None:
    core = new_core()
    pushed: list[PushedAlert] = []
    core.subscribe(pushed.append)
    alerts = [
        {"device": str(Eui64(0x00DB_1500_0000_0000 + n)), "code": "8F35"} for n in range(5000)
    ]

    answer = post(core, {"alerts": alerts})

    assert answer.status_code == 200 and answer.json() == {"published": 5000}
    assert len(pushed) == 5000 and len({p.device for p in pushed}) == 5000
    assert {p.code for p in pushed} == {0x0C35}


def entry(**changes: Any) -> dict[str, Any]:
    return {"device": str(ESTATE[0]), "code": "8F20", "values": {"n": 1}} | changes


@pytest.mark.parametrize(
    "body",
    [
        {"alerts": []},
        {"alerts": [entry()] * 5001},
        {"alerts": [entry(code="8001")]},  # logged by the meter, never alerted
        {"alerts": [entry(code="ZZZZ")]},
        {"alerts": [entry(), entry(device="not-an-eui")]},  # one bad entry spoils the call
        {"alerts": [entry(values=["n", 1])]},
        {"alerts": [entry(values={"flag": True})]},
        {"alerts": [entry(values={"x": 1.5})]},
        {"alerts": [entry(values={"": "no name"})]},
        {"alerts": ["8F20"]},
        {"alerts": entry()},
        {"alert": [entry()]},
        b"not json",
    ],
    ids=[
        "none",
        "too-many",
        "logged-only",
        "not-hex",
        "bad-device",
        "values-list",
        "bool",
        "float",
        "no-name",
        "bare-code",
        "not-a-list",
        "misspelt",
        "junk",
    ],
)
def test_a_bad_order_publishes_nothing(body: Any) -> None:
    core = new_core()
    pushed: list[PushedAlert] = []
    core.subscribe(pushed.append)

    answer = post(core, body)

    assert answer.status_code == 400
    assert "error" in answer.json()
    assert pushed == []
