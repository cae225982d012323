"""What the User gets when a cohort's WAN or head-end fails, on every cohort, through the hub.

Each injected fault has its expected DUIS answer: an unreachable device E20; a corrupted reply
E21; a head-end that is down E20, and once it is back the same request type succeeds; a WAN
slower than the SRV's target response time E21, after which the late reply is recorded (for
the S1SP's performance figures) and not delivered a second time. Target response times are
scaled down (``response_time_scale``) so a "slow" WAN takes a second, not half a minute. A
meter that answers and refuses is no fault of the WAN: E11 with the meter's reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.s1sp.contract.estate import PROFILES, Estate, estate, response_code
from tests.s1sp.services.harness import template_body

from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.duis.xml import ra
from opendcc.sim.headends.core import Faults
from opendcc.sim.state import MeterError, MeterState, Reason
from opendcc.store import create_engine_for
from opendcc.store.tables import s1sp_late_replies

COHORTS = [profile.name for profile in PROFILES]
SCALE = 0.03  # 30 s targets become 0.9 s
READ = "<sr:ReadInstantaneousImportRegisters/>"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(Path(tmp_path_factory.mktemp("faults")), response_time_scale=SCALE) as running:
        yield running


def _esme(running: Estate, cohort: str) -> Eui64:
    return running.installs[cohort].devices["ESME"]


def _with_fault(running: Estate, cohort: str, faults: Faults) -> str:
    core = running.headends.core(cohort)
    device = _esme(running, cohort)
    core.meter_faults[device] = faults
    try:
        return response_code(running.send("4.1.1", device, READ, critical=False))
    finally:
        del core.meter_faults[device]


@pytest.mark.parametrize("cohort", COHORTS)
def test_an_unreachable_device_is_e20(running: Estate, cohort: str) -> None:
    assert _with_fault(running, cohort, Faults(unreachable=True)) == "E20"


@pytest.mark.parametrize("cohort", COHORTS)
def test_a_corrupted_reply_is_e21(running: Estate, cohort: str) -> None:
    assert _with_fault(running, cohort, Faults(corrupt=True)) == "E21"


@pytest.mark.parametrize("cohort", COHORTS)
def test_a_head_end_that_is_down_is_e20_and_then_serves_again(running: Estate, cohort: str) -> None:
    server = running.headends.servers[cohort]
    running.headends.call(server.go_down())
    try:
        assert (
            response_code(running.send("4.1.1", _esme(running, cohort), READ, critical=False))
            == "E20"
        )
    finally:
        running.headends.call(server.come_up())
    assert (
        response_code(running.send("4.1.1", _esme(running, cohort), READ, critical=False)) == "I0"
    )


@pytest.mark.parametrize("cohort", COHORTS)
def test_a_slow_wan_is_e21_and_the_late_reply_is_recorded_not_delivered(
    running: Estate, cohort: str
) -> None:
    before = len(running.callback.deliveries)
    request = running.supplier.request("4.1.1", _esme(running, cohort), cv=1, body=READ)
    core = running.headends.core(cohort)
    device = _esme(running, cohort)
    core.meter_faults[device] = Faults(latency_ms=2_000)
    try:
        assert running.post("serviceS", request).status_code == 200
        assert response_code(running.response_to(request)) == "E21"
        request_id = _request_id(request)
        engine = create_engine_for(running.database())
        try:
            deadline = time.monotonic() + 10
            late: list[str] = []
            while not late and time.monotonic() < deadline:
                time.sleep(0.2)
                with engine.connect() as conn:
                    late = list(
                        conn.execute(
                            select(s1sp_late_replies.c.status).where(
                                s1sp_late_replies.c.request_id == request_id
                            )
                        ).scalars()
                    )
        finally:
            engine.dispose()
    finally:
        core.meter_faults.pop(device, None)
    assert late == ["success"]
    time.sleep(0.3)  # anything still on its way to the callback would arrive now
    key = f"R:{RequestId.parse(request_id).response_id()}"
    delivered = [d for d in running.callback.deliveries[before:] if d.key == key]
    assert len(delivered) == 1, "the late reply was delivered again"


def test_a_srv_that_makes_no_sense_for_smets1_is_refused_with_e11(running: Estate) -> None:
    """SMETS2 v4's auxiliary controllers have no SMETS1 counterpart (the catalogue: not
    applicable, E11 with the reason)."""
    from lxml import etree

    body = etree.tostring(template_body("7.13"), encoding="unicode")
    device = _esme(running, COHORTS[0])
    request = running.supplier.request("7.13", device, cv=4, body=body)
    answer = running.post("serviceT", request)
    assert answer.status_code == 200
    assert answer.headers.get("X-DUIS-Response-Code") == "E11"
    assert "SMETS1" in answer.headers.get("X-OpenDCC-Reason", "")


def _request_id(request: bytes) -> str:
    from opendcc.duis.xml import parse_xml, sr

    return parse_xml(request).getroot().findtext(f"{sr('Header')}/{sr('RequestID')}") or ""


def _out_of_service(meter: MeterState) -> bool:
    try:
        meter.privacy_pin  # noqa: B018 (a decommissioned meter refuses every read)
    except MeterError as exc:
        return exc.reason is Reason.DECOMMISSIONED
    return False


def test_decommissioning_a_device_takes_it_out_of_service(running: Estate) -> None:
    """8.3 (non-device, CV 8): answered I0, then the device takes no more requests (E5) and
    its head-end, told by the S1SP notice 99.3, takes the meter out of service; only the
    responsible supplier may ask (the distributor's role is not eligible: E2)."""
    gsme = running.installs[COHORTS[-1]].devices["GSME"]
    body = f"<sr:DecommissionDevice><sr:DeviceID>{gsme}</sr:DeviceID></sr:DecommissionDevice>"
    refused = running.post("serviceD", running.operator.request("8.3", gsme, cv=8, body=body))
    assert refused.headers.get("X-DUIS-Response-Code") == "E2"
    answer = running.post("serviceD", running.supplier.request("8.3", gsme, cv=8, body=body))
    assert (answer.status_code, answer.headers.get("X-DUIS-Response-Code")) == (200, "I0")
    meter = running.headends.core(COHORTS[-1]).meter(gsme)
    assert meter is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _out_of_service(meter):
        time.sleep(0.2)
    assert _out_of_service(meter), "the head-end was never told"
    again = running.post("serviceD", running.supplier.request("8.3", gsme, cv=8, body=body))
    assert again.headers.get("X-DUIS-Response-Code") == "E5"
    read = running.supplier.request("4.1.1", gsme, body=READ)
    assert running.post("serviceS", read).headers.get("X-DUIS-Response-Code") == "E5"


@pytest.mark.parametrize("cohort", COHORTS)
def test_a_meter_that_refuses_is_e11_with_its_reason_not_e21(running: Estate, cohort: str) -> None:
    # Emergency credit is not on offer to these meters (in credit mode, or in prepayment with
    # credit above the threshold): the meter refuses. It answered, so the User is told it
    # refused and why, over every cohort's wire protocol, not that it did not answer.
    root = running.send(
        "2.5", _esme(running, cohort), "<sr:ActivateEmergencyCredit/>", critical=True
    )
    assert response_code(root) == "E11"
    why = " ".join(e.text or "" for e in root.iter(ra("Error")))
    assert why.startswith("the device refused it: ") and "meter refused: " in why, why
    assert "credit" in why.removeprefix("the device refused it: head-end"), why
