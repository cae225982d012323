"""Events on demand: the control API makes things happen to a meter, and its alerts are pushed.

``POST /meters/{device}/events`` injects an event ``count`` times and answers how many alerts
the head-end pushed; the test counts them itself, as a subscriber of the head-end, and checks
them against the meter's logs. The cohort here numbers its alerts its own way, so what is
pushed is the cohort's code of each GBCS one.
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
from opendcc.s1sp.contract import CohortProfile, Registry
from opendcc.sim.headends import FleetMeter, core_for_fleet
from opendcc.sim.headends.core import HeadEndCore, PushedAlert
from opendcc.sim.keypad import ControlServer, control_app
from opendcc.sim.state import EventCode, MeterState
from opendcc.sim.state.history import EVENT_LOG_ENTRIES

REGISTRY = register_all(Registry())
PROFILE: CohortProfile = REGISTRY.profile("landis")  # its own alert codes, 0x0Cxx
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
STRANGER = Eui64.parse("00-DB-12-34-56-78-90-FF")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class Rig:
    def __init__(self) -> None:
        self.core: HeadEndCore = core_for_fleet(
            PROFILE,
            [FleetMeter(METER)],
            commissioned=NOW - timedelta(days=2),
            clock=FixedClock(NOW),
        )
        self.pushed: list[PushedAlert] = []
        self.core.subscribe(self.pushed.append)
        meter = self.core.meter(METER)
        assert meter is not None
        self.meter: MeterState = meter

    def post(self, body: Any, device: Eui64 | str = METER) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=control_app(self.core))
            async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
                url = f"/meters/{device}/events"
                if isinstance(body, bytes):
                    return await client.post(url, content=body)
                return await client.post(url, json=body)

        return asyncio.run(send())

    def gbcs(self) -> list[int]:
        return [PROFILE.gbcs_alert(alert.code) for alert in self.pushed]


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_tamper_count_times(rig: Rig) -> None:
    answer = rig.post({"event": "tamper", "count": 3})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"device": str(METER), "event": "tamper", "alerts": 3}
    assert [alert.code for alert in rig.pushed] == [0x0C20] * 3  # 0x8F20 in the cohort's code
    assert [e.code for e in rig.meter.security_log(NOW)[:3]] == [EventCode.TAMPER_DETECTED] * 3


def test_the_answer_counts_what_was_pushed_not_what_was_asked(rig: Rig) -> None:
    # Power goes once: a meter already without power raises nothing more.
    answer = rig.post({"event": "power_outage", "count": 2})
    assert answer.json()["alerts"] == 1 and rig.gbcs() == [0x8F34]
    assert rig.post({"event": "power_restore"}).json()["alerts"] == 1  # count defaults to 1
    assert rig.gbcs() == [0x8F34, 0x8F35]


def test_a_firmware_image_fails_verification(rig: Rig) -> None:
    before = rig.meter.firmware
    answer = rig.post({"event": "firmware_failed", "count": 1})
    assert answer.json()["alerts"] == 1
    [alert] = rig.pushed
    assert PROFILE.gbcs_alert(alert.code) == 0x8F1C
    version = alert.values["version"]
    assert isinstance(version, str) and version and version != before.version
    assert rig.meter.firmware == before and rig.meter.pending_firmware is None
    assert rig.meter.security_log(NOW)[0].code is EventCode.FIRMWARE_VERIFICATION_FAILED


def test_low_credit_floods_on_demand(rig: Rig) -> None:
    assert rig.meter.payment_mode.value == "credit"  # nothing to be low on
    answer = rig.post({"event": "low_credit", "count": 500})
    assert answer.json() == {"device": str(METER), "event": "low_credit", "alerts": 500}
    assert rig.gbcs() == [0x8101] * 500
    assert all(dict(alert.values) == {} for alert in rig.pushed)
    low = [e for e in rig.meter.event_log(NOW) if e.code is EventCode.LOW_CREDIT]
    assert len(low) == EVENT_LOG_ENTRIES  # the newest ones: the log is bounded


def test_a_disabled_alert_floods_nothing(rig: Rig) -> None:
    rig.meter.configure_alerts(NOW, {0x8101: False})
    assert rig.post({"event": "low_credit", "count": 10}).json()["alerts"] == 0
    assert rig.pushed == []


@pytest.mark.parametrize(
    "body",
    [
        {"event": "earthquake"},
        {"event": "tamper", "count": 0},
        {"event": "tamper", "count": 10_001},
        {"event": "tamper", "count": "3"},
        {"event": "tamper", "count": True},
        {"count": 1},
        ["tamper"],
        b"not json",
    ],
    ids=["unknown", "zero", "too-many", "text", "bool", "no-event", "list", "junk"],
)
def test_a_bad_order_is_refused(rig: Rig, body: Any) -> None:
    assert rig.post(body).status_code == 400
    assert rig.pushed == []


def test_an_unknown_device_is_not_found(rig: Rig) -> None:
    assert rig.post({"event": "tamper"}, STRANGER).status_code == 404
    assert rig.post({"event": "tamper"}, "not-an-eui").status_code == 404


def test_a_refusing_meter_is_a_conflict(rig: Rig) -> None:
    answer = rig.post({"event": "consumer_enable"})  # the supply is enabled, not armed
    assert answer.status_code == 409
    assert answer.json()["reason"] == "illegal_supply_transition"
    assert rig.pushed == []


def test_the_running_control_server_serves_it(rig: Rig) -> None:
    async def scenario() -> httpx.Response:
        server = ControlServer(rig.core)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as client:
                return await client.post(f"/meters/{METER}/events", json={"event": "tamper"})
        finally:
            await server.aclose()

    assert asyncio.run(scenario()).json()["alerts"] == 1
    assert rig.gbcs() == [0x8F20]
