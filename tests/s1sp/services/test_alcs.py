"""The auxiliary load control services: RTDS requests, a simulated ESME's switches, MMC answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from lxml import etree
from tests.s1sp.services.harness import (
    ESME_ID,
    GSME_ID,
    NOW,
    request_body,
    templates_for,
    validate_mmc,
)

from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import ra, sr
from opendcc.s1sp.services import SERVICES as ALL_SERVICES
from opendcc.s1sp.services.alcs import SERVICES
from opendcc.s1sp.services.base import InvalidParameters, Parameters, Result
from opendcc.sim.services import EXECUTORS
from opendcc.sim.state import Esme, Gsme, MeterError, MeterState, Reason
from opendcc.smki import SigningCredentials

SRVS = ("6.14.1", "6.14.2", "7.5", "7.6", "7.7", "7.8", "7.9", "7.10", "7.11")
MONDAY = datetime(2024, 6, 3, tzinfo=NOW.tzinfo)  # a Monday, not a special day
PERIOD = {"start": "2024-01-01T00:00:00.000Z", "end": "2025-01-01T00:00:00.000Z"}
SCHEDULER = "ECS46c_6.14.2_IMMEDIATE_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML"


@pytest.fixture
def esme() -> Esme:
    return Esme.for_device(ESME_ID, commissioned=NOW - timedelta(days=40))


def run(srv: str, meter: MeterState, parameters: Parameters, now: datetime = NOW) -> Result:
    result, _ = EXECUTORS[srv](meter, parameters, now)
    return result


def parameters_of(name: str) -> dict[str, str]:
    srv = name.split("_")[1]
    return ALL_SERVICES[srv].parameters(
        request_body(next(p for p in templates_for(srv) if p.name == name))
    )


Checked = Callable[[str, Result], etree._Element]


@pytest.fixture
def mmc(schema: DuisSchema, s1sp_credentials: SigningCredentials) -> Checked:
    def build(srv: str, result: Result) -> etree._Element:
        element = ALL_SERVICES[srv].response(result)
        validate_mmc(element, srv, schema, s1sp_credentials)
        return element

    return build


def texts(element: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in element.iterfind(path, {"ra": ra("")[1:-1]})]


# --------------------------------------------------------------------------- requests


def test_the_family_is_the_nine_alcs_srvs_and_the_meter_carries_each_out() -> None:
    assert {s.srv for s in SERVICES} == set(SRVS)
    assert set(SRVS) <= set(EXECUTORS)
    assert {s.srv for s in SERVICES if not s.writes} == {"7.7", "7.11"}


def test_the_rtds_requests_read_as_these_parameters() -> None:
    assert parameters_of("ECS47Activate_7.5_SUCCESS_REQUEST_DUIS.XML") == {
        "switch": "1",
        "duration": "30",
    }
    assert parameters_of("ECS47Deactivate_7.6_SUCCESS_REQUEST_DUIS.XML") == {
        "switch": "3",
        "duration": "60",
    }
    assert parameters_of("ECS47Reset_7.8_SUCCESS_REQUEST_DUIS.XML") == {"switch": "5"}
    assert parameters_of("ECS62Add_7.9_SUCCESS_REQUEST_DUIS.XML") == {"switches": "1,2,3,4,5"}
    assert parameters_of("ECS46a_6.14.1_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML") == {
        "description.2": "Label2",
        "description.3": "Label3",
        "description.4": "Label4",
    }
    scheduler = parameters_of(SCHEDULER)
    assert scheduler["schedule.0"] == "1 on Mon,Tue,Wed,Thu,Fri,Sat,Sun 06:00:00 *-*-*-* *-*-*-* -"
    assert scheduler["schedule.2"] == "2 on Mon,Tue,Wed,Thu,Fri 17:00:00 *-6-21-* *-9-21-* -"


def test_every_rtds_template_of_the_family_is_carried_out_on_an_esme(esme: Esme) -> None:
    for srv in SRVS:
        for path in templates_for(srv):
            run(srv, esme, ALL_SERVICES[srv].parameters(request_body(path)))


@pytest.mark.parametrize(
    ("srv", "body", "why"),
    [
        (
            "7.5",
            "<sr:ActivateAuxiliaryLoad><sr:ActivateALCSHCALCS index='6'><sr:Duration>1"
            "</sr:Duration></sr:ActivateALCSHCALCS></sr:ActivateAuxiliaryLoad>",
            "index is 1 to 5",
        ),
        (
            "6.14.1",
            "<sr:UpdateDeviceConfigurationALCDescriptions><sr:ALCSHCALCSDescription index='1'>"
            "<sr:SwitchDescription>twenty-three characters</sr:SwitchDescription>"
            "</sr:ALCSHCALCSDescription></sr:UpdateDeviceConfigurationALCDescriptions>",
            "1 to 22",
        ),
        (
            "7.10",
            "<sr:RemoveAuxiliaryLoadFromBoostButton><sr:RemoveFromBoostButton index='1'>false"
            "</sr:RemoveFromBoostButton></sr:RemoveAuxiliaryLoadFromBoostButton>",
            "flags no switch",
        ),
    ],
)
def test_a_request_no_switch_can_carry_out_is_refused(srv: str, body: str, why: str) -> None:
    element = etree.fromstring(f"<w xmlns:sr='{sr('')[1:-1]}'>{body}</w>")[0]
    with pytest.raises(InvalidParameters, match=why):
        ALL_SERVICES[srv].parameters(element)


# --------------------------------------------------------------------------- the meter


def test_a_switch_follows_its_calendar(esme: Esme, mmc: Checked) -> None:
    run("6.14.2", esme, parameters_of(SCHEDULER), MONDAY)
    morning, noon = MONDAY.replace(hour=7), MONDAY.replace(hour=11)
    states = {n: state for n, _, _, state in run("7.7", esme, {}, morning)["switches"]}
    assert states[1] == 1  # switch 1: on 06:00 to 10:00 every day
    assert states[2] == 0  # switch 2's calendar is for 21 June to 21 September
    assert {n: s for n, _, _, s in run("7.7", esme, {}, noon)["switches"]}[1] == 0
    summer = datetime(2024, 7, 1, 18, tzinfo=NOW.tzinfo)  # a Monday evening in the season
    assert {n: s for n, _, _, s in run("7.7", esme, {}, summer)["switches"]}[2] == 1
    element = mmc("7.7", run("7.7", esme, {}, morning))
    assert texts(element, "ra:AuxiliaryLoadControlSwitch/ra:State")[:2] == ["true", "false"]


def test_activate_holds_a_switch_for_its_duration_and_reset_returns_it(
    esme: Esme, mmc: Checked
) -> None:
    run("6.14.2", esme, parameters_of(SCHEDULER), MONDAY)
    noon = MONDAY.replace(hour=12)
    run("7.5", esme, {"switch": "1", "duration": "30"}, noon)
    state = lambda at: {n: s for n, _, _, s in run("7.7", esme, {}, at)["switches"]}[1]  # noqa: E731
    assert state(noon + timedelta(minutes=29)) == 1
    assert state(noon + timedelta(minutes=31)) == 0  # the calendar has it off at noon
    run("7.5", esme, {"switch": "1", "duration": "0"}, noon + timedelta(hours=1))
    assert state(noon + timedelta(hours=9)) == 1  # held until reset
    run("7.8", esme, {"switch": "1"}, noon + timedelta(hours=10))
    assert state(noon + timedelta(hours=10)) == 0
    log = run("6.13", esme, {**PERIOD, "log": "alcs"}, noon + timedelta(hours=11))
    assert [(switch, action) for _, switch, action in log["log_entries"]] == [
        (1, "Revert to calendar control"),
        (1, "On"),
        (1, "On"),
    ]
    element = mmc("6.13", log)
    assert texts(element, "ra:ALCSEvent/ra:ALCSEventLogEntry/ra:SwitchNumber") == ["1"] * 3


def test_descriptions_are_read_back(esme: Esme, mmc: Checked) -> None:
    run("6.14.1", esme, {"description.2": "Storage heaters"})
    element = mmc("7.7", run("7.7", esme, {}))
    assert texts(element, "ra:AuxiliaryLoadControlSwitch/ra:Description") == ["Storage heaters"]


def test_the_boost_button_turns_its_switches_on_and_is_logged(esme: Esme, mmc: Checked) -> None:
    run("7.9", esme, {"switches": "2,4"})
    run("7.10", esme, {"switches": "4"})
    esme.press_boost(NOW + timedelta(minutes=1), minutes=60)
    inside = NOW + timedelta(minutes=30)
    states = {n: s for n, _, _, s in run("7.7", esme, {}, inside)["switches"]}
    assert (states[2], states[4]) == (1, 0)
    details = run("7.11", esme, PERIOD, NOW + timedelta(hours=2))
    assert details["boost_switches"] == (0, 1, 0, 0, 0)
    assert details["boost_events"] == ((NOW + timedelta(minutes=1), NOW + timedelta(minutes=61)),)
    element = mmc("7.11", details)
    assert texts(element, "ra:BoostFunctionControl2Value") == ["true"]
    assert len(texts(element, "ra:EventLogEntry/ra:BoostStart")) == 1


def test_a_gas_meter_has_no_switches() -> None:
    gsme = Gsme.for_device(GSME_ID, commissioned=NOW - timedelta(days=40))
    for srv, parameters in (("7.5", {"switch": "1", "duration": "1"}), ("7.7", {})):
        with pytest.raises(MeterError) as caught:
            run(srv, gsme, parameters)
        assert caught.value.reason is Reason.UNSUPPORTED
    with pytest.raises(MeterError):
        run("6.13", gsme, {**PERIOD, "log": "alcs"})


def test_a_calendar_naming_an_unknown_special_day_changes_nothing(esme: Esme) -> None:
    before = run("7.7", esme, {})
    with pytest.raises(MeterError) as caught:
        run("6.14.2", esme, {"schedule.0": "1 on - 06:00:00 *-*-*-* *-*-*-* 3"})
    assert caught.value.reason is Reason.INVALID_VALUE
    assert run("7.7", esme, {}) == before


def test_the_alcs_event_log_is_asked_for_by_name() -> None:
    assert parameters_of("ECS35f_6.13_SUCCESS_REQUEST_DUIS.XML")["log"] == "alcs"
