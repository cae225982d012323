"""The DCC's restriction notice (SRV 99.1) reaches a head-end and is recorded as its view.

Through each wire protocol (one cohort each), an adapter carries a DCO-sealed 99.1 instruction
to a head-end running in this process; the meter's model then shows what the notice said, and
so does the head-end's control API. Clearing works; a repeat changes nothing. The executor is
also tested alone: the notice is the head-end's record, so the meter logs and alerts nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from lxml import etree
from tests.s1sp.dco_key import DCO, OPTIONS
from tests.s1sp.services.harness import validate_mmc

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import sr
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Instruction, Outcome, OutcomeStatus, Registry
from opendcc.s1sp.services import CORE_SRVS, RESTRICTION_NOTICE, S1SP_NOTICES, service
from opendcc.s1sp.services.base import InvalidParameters
from opendcc.s1sp.services.notices import RestrictionNotice
from opendcc.sim.headends import FleetMeter, core_for_fleet, start_headend
from opendcc.sim.headends.core import HeadEndCore, PushedAlert
from opendcc.sim.keypad import control_app
from opendcc.sim.services import execute
from opendcc.sim.services.notices import restriction_notice
from opendcc.sim.state import Esme, MeterError, Reason
from opendcc.smki import SigningCredentials

REGISTRY = register_all(Registry())
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
STRANGER = Eui64.parse("00-DB-12-34-56-78-90-FF")
SUPPLIER_TEXT = "90-B3-D5-1F-30-01-00-00"
SUPPLIER = Eui64.parse(SUPPLIER_TEXT)
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SET_AT = datetime(2024, 6, 1, 11, 30, 15, 250_000, tzinfo=UTC)
CLEARED_AT = datetime(2024, 6, 2, 9, 0, tzinfo=UTC)
REASON = "Customer dispute: site visit booked"

SET = {
    "restricted": "true",
    "since": "2024-06-01T11:30:15.250Z",
    "set_by": SUPPLIER_TEXT,
    "reason": REASON,
}
CLEAR = {"restricted": "false", "since": "2024-06-02T09:00:00.000Z", "set_by": "", "reason": ""}


def esme() -> Esme:
    return Esme.for_device(METER, commissioned=NOW - timedelta(days=2))


# --------------------------------------------------------------------------- the service


def test_every_cohort_carries_the_notice_but_none_elects_it() -> None:
    assert RESTRICTION_NOTICE == "99.1"
    assert sorted(S1SP_NOTICES) == ["11.1", "99.1", "99.2", "99.3"]  # cancel, decommission
    assert RESTRICTION_NOTICE not in CORE_SRVS
    for profile in REGISTRY.profiles():
        assert RESTRICTION_NOTICE in profile.supported_srvs, profile.name
        assert RESTRICTION_NOTICE not in profile.elective_srvs, profile.name
    # The binary protocol's service object, and the API commands, named as for every SRV.
    assert REGISTRY.profile("landis").command(RESTRICTION_NOTICE) == "0.129.99.1.0.255"
    assert REGISTRY.profile("aclara").command(RESTRICTION_NOTICE) == "notifyRestriction"
    assert REGISTRY.profile("elster").command(RESTRICTION_NOTICE) == "exNotifyRestriction"


def test_the_notice_writes_the_parameters_the_head_end_reads() -> None:
    notice = RestrictionNotice(True, SET_AT, SUPPLIER, REASON)
    assert notice.parameters() == SET
    assert RestrictionNotice.from_parameters(SET) == notice
    cleared = RestrictionNotice(False, CLEARED_AT)
    assert cleared.parameters() == CLEAR
    assert RestrictionNotice.from_parameters(CLEAR) == cleared


@pytest.mark.parametrize(
    "change",
    [
        {"restricted": "yes"},
        {"since": "yesterday"},
        {"since": "2024-06-01T11:30:15"},  # no time zone
        {"set_by": "not-an-eui"},
        {"set_by": ""},  # setting restricted mode names the Supplier
    ],
)
def test_a_malformed_notice_is_refused(change: dict[str, str]) -> None:
    with pytest.raises(InvalidParameters):
        RestrictionNotice.from_parameters({**SET, **change})
    meter = esme()
    with pytest.raises(MeterError) as refused:
        restriction_notice(meter, {**SET, **change}, NOW)
    assert refused.value.reason is Reason.INVALID_VALUE
    assert not meter.restricted and meter.restriction_notices == 0


def test_no_user_request_carries_a_notice_and_no_response_carries_its_answer(
    schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    notice = service(RESTRICTION_NOTICE)
    assert notice.command == "notifyRestriction" and notice.writes
    body = etree.Element(sr("ReadSupplyStatus"))
    with pytest.raises(InvalidParameters):
        notice.parameters(body)
    element = notice.response({"restricted": 1, "changed": 1})
    assert element.tag == "RestrictionNoticeAck" and len(element) == 0
    # Not an MMC element: a DUIS Response refuses to carry it, so it is never sent by mistake.
    with pytest.raises(ValueError, match="MMC element"):
        validate_mmc(element, "6.22", schema, s1sp_credentials)


# --------------------------------------------------------------------------- the executor


def test_the_executor_records_sets_clears_and_repeats() -> None:
    meter = esme()
    log_before = meter.event_log(NOW), meter.security_log(NOW)
    assert (meter.restricted, meter.restricted_since, meter.restriction_notices) == (False, None, 0)

    result, alerts = restriction_notice(meter, SET, NOW)
    assert (result, alerts) == ({"restricted": 1, "changed": 1}, ())
    assert meter.restricted
    assert meter.restricted_since == SET_AT
    assert (meter.restricted_by, meter.restricted_reason) == (SUPPLIER_TEXT, REASON)

    again, alerts = restriction_notice(meter, dict(SET), NOW)
    assert (again, alerts) == ({"restricted": 1, "changed": 0}, ())
    assert (meter.restricted, meter.restricted_since, meter.restricted_by) == (
        True,
        SET_AT,
        SUPPLIER_TEXT,
    )

    cleared, alerts = execute(meter, "99.1", CLEAR, NOW)  # the table names it too
    assert (cleared, alerts) == ({"restricted": 0, "changed": 1}, ())
    assert not meter.restricted
    assert (meter.restricted_since, meter.restricted_by, meter.restricted_reason) == (
        CLEARED_AT,
        "",
        "",
    )
    assert meter.restriction_notices == 3
    # The head-end's record, not the meter's: nothing logged.
    assert (meter.event_log(NOW), meter.security_log(NOW)) == log_before


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


async def restriction_view(core: HeadEndCore, device: Eui64 = METER) -> httpx.Response:
    transport = httpx.ASGITransport(app=control_app(core))
    async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
        return await client.get(f"/meters/{device}/restriction")


async def notices_through(cohort: str) -> list[Any]:
    """Set, repeat and clear restricted mode on a meter through the cohort's adapter; what the
    meter and the control API showed after each step."""
    core = core_for_fleet(
        REGISTRY.profile(cohort),
        [FleetMeter(METER)],
        commissioned=NOW - timedelta(days=2),
        clock=FixedClock(NOW),
    )
    pushed: list[PushedAlert] = []
    core.subscribe(pushed.append)
    server = await start_headend(core)
    adapter = REGISTRY.adapter_for(cohort, server.endpoint, OPTIONS)
    meter = core.meter(METER)
    assert meter is not None
    seen: list[Any] = []

    async def submit(request_id: str, parameters: dict[str, str]) -> Outcome:
        instruction = Instruction(request_id, RESTRICTION_NOTICE, METER, parameters)
        outcome = await adapter.submit(DCO.seal(instruction))
        state = (meter.restricted, meter.restricted_since, meter.restricted_by)
        seen.append((outcome.status, dict(outcome.data), state, meter.restriction_notices))
        seen.append((await restriction_view(core)).json())
        return outcome

    try:
        await submit("N1", SET)
        await submit("N2", SET)  # the same notice again, as a new instruction
        await submit("N3", CLEAR)
        seen.append((await restriction_view(core, STRANGER)).status_code)
    finally:
        await asyncio.gather(adapter.aclose(), server.aclose())
    seen.append(pushed)
    return seen


@pytest.mark.parametrize("cohort", ["aclara", "elster", "landis"])
def test_a_notice_reaches_the_head_end_over_every_protocol(
    cohort: str, loop: asyncio.AbstractEventLoop
) -> None:
    protocol = REGISTRY.profile(cohort).protocol
    assert protocol == {"aclara": "restjson", "elster": "soapxml", "landis": "apdu"}[cohort]
    steps = loop.run_until_complete(notices_through(cohort))
    set_view = {
        "device": str(METER),
        "restricted": True,
        "since": "2024-06-01T11:30:15.250000+00:00",
        "set_by": SUPPLIER_TEXT,
        "reason": REASON,
        "notices": 1,
    }
    success = OutcomeStatus.SUCCESS
    assert steps[0] == (success, {"restricted": 1, "changed": 1}, (True, SET_AT, SUPPLIER_TEXT), 1)
    assert steps[1] == set_view
    assert steps[2] == (success, {"restricted": 1, "changed": 0}, (True, SET_AT, SUPPLIER_TEXT), 2)
    assert steps[3] == {**set_view, "notices": 2}
    assert steps[4] == (success, {"restricted": 0, "changed": 1}, (False, CLEARED_AT, ""), 3)
    assert steps[5] == {
        "device": str(METER),
        "restricted": False,
        "since": "2024-06-02T09:00:00+00:00",
        "set_by": "",
        "reason": "",
        "notices": 3,
    }
    assert steps[6] == 404
    assert steps[7] == []  # no alert for any notice
