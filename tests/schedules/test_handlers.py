"""5.1 Create, 5.2 Read and 5.3 Delete Schedule as the front door calls them, on each database;
payloads are checked inside a full signed Response against the DUIS v5.4 XSD."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree
from sqlalchemy import Engine
from tests.reference import NOW
from tests.schedules.support import (
    METER,
    OTHER,
    SUPPLIER,
    Rig,
    dsp_schedule,
    granted,
    rig,
    service_request,
)

from opendcc.core.clock import FixedClock
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessDenied
from opendcc.dsp.frontdoor import NonDeviceAnswer
from opendcc.duis.response import response, sign_document, to_bytes
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml, sr
from opendcc.s1sp.services import InvalidParameters
from opendcc.smki import SigningCredentials


@pytest.fixture
def setup(
    engine: Engine, dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> Rig:
    return rig(engine, FixedClock(NOW), dcc_credentials, s1sp_credentials)


def answer(
    setup: Rig, srv: str, body: etree._Element, user: Eui64 = SUPPLIER
) -> tuple[NonDeviceAnswer, etree._Element | None]:
    handler = setup.schedules.handlers()[srv]
    given = handler(service_request(srv, body, user), granted(srv, user), NOW)
    with setup.schedules.store.engine.begin() as conn:
        payload = given.write(conn)
    given.then()
    return given, payload


def published(
    srv: str, payload: etree._Element | None, dcc: SigningCredentials, schema: DuisSchema
) -> etree._ElementTree:
    """The payload inside the signed Response the front door sends, checked against the XSD."""
    request = service_request(srv, etree.Element(sr("ReadSchedule")))
    tree = response(
        request.request_id,
        service_reference=srv,
        srv=srv,
        code=ResponseCode.SUCCESS,
        now=NOW,
        payload=payload,
    )
    document = parse_xml(to_bytes(sign_document(tree, dcc)))
    schema.validate(document)
    return document


def create(setup: Rig, user: Eui64 = SUPPLIER, **kwargs: object) -> int:
    given, payload = answer(setup, "5.1", dsp_schedule(**kwargs), user)  # type: ignore[arg-type]
    assert given.code is ResponseCode.SUCCESS
    assert payload is not None
    assert etree.QName(payload).localname == "DSPScheduleID"
    return int(payload.text or "")


def by_id(local: str, schedule_id: int) -> etree._Element:
    body = etree.Element(sr(local))
    etree.SubElement(body, sr("DSPScheduleID")).text = str(schedule_id)
    return body


def by_device(local: str, device: Eui64 = METER) -> etree._Element:
    body = etree.Element(sr(local))
    etree.SubElement(body, sr("DeviceID")).text = str(device)
    return body


def test_create_stores_an_active_schedule_and_answers_its_id(
    setup: Rig, dcc_credentials: SigningCredentials, schema: DuisSchema
) -> None:
    _, payload = answer(setup, "5.1", dsp_schedule())
    published("5.1", payload, dcc_credentials, schema)
    assert setup.schedules.wake.is_set()  # the runner is told at once
    assert payload is not None
    row = setup.schedules.store.get(int(payload.text or ""))
    assert row is not None
    assert (row.state, row.srv, row.user_id, row.device_id) == ("active", "4.6.1", SUPPLIER, METER)
    assert row.next_run_at is not None
    assert row.next_run_at.isoformat() == "2024-06-02T01:00:00+00:00"
    assert row.due_at is not None
    assert row.next_run_at <= row.due_at < row.next_run_at + setup.schedules.settings.spread
    assert create(setup) == row.schedule_id + 1


def test_a_schedule_started_in_the_past_runs_first_at_the_next_occurrence(setup: Rig) -> None:
    row = setup.schedules.store.get(create(setup, start="2024-05-01", at="13:00:00"))
    assert row is not None and row.next_run_at is not None
    assert row.next_run_at.isoformat() == "2024-06-01T13:00:00+00:00"  # NOW is 12:00


def test_read_by_id_and_by_device_answers_the_schedule_as_sent(
    setup: Rig, dcc_credentials: SigningCredentials, schema: DuisSchema
) -> None:
    first = create(setup)
    second = create(setup, frequency="Monthly", srv="4.17", choice="DSPRetrieveDailyConsumptionLog")
    create(setup, OTHER)  # another User's schedule for the same device: not shown
    _, payload = answer(setup, "5.2", by_id("ReadSchedule", second))
    document = published("5.2", payload, dcc_credentials, schema)
    ids = [int(e.text or "") for e in document.iter(sr("DSPScheduleID"))]
    assert ids == [second]
    details = document.find(f".//{sr('DSPScheduleDetails')}")
    assert details is not None
    assert details.findtext(sr("ScheduleFrequency")) == "Monthly"
    assert details.findtext(sr("DSPScheduledServiceReferenceVariant")) == "4.17"

    _, payload = answer(setup, "5.2", by_device("ReadSchedule"))
    document = published("5.2", payload, dcc_credentials, schema)
    assert [int(e.text or "") for e in document.iter(sr("DSPScheduleID"))] == [first, second]


def test_read_by_a_device_without_schedules_answers_i0_with_no_payload(
    setup: Rig, dcc_credentials: SigningCredentials, schema: DuisSchema
) -> None:
    given, payload = answer(setup, "5.2", by_device("ReadSchedule"))
    assert (given.code, payload) == (ResponseCode.SUCCESS, None)
    published("5.2", payload, dcc_credentials, schema)


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(AccessDenied) as caught:
        call()
    assert caught.value.code is not None
    return caught.value.code.value


def test_another_users_schedule_is_refused_e4_and_an_unknown_one_e19(setup: Rig) -> None:
    mine = create(setup)
    assert refused(lambda: answer(setup, "5.2", by_id("ReadSchedule", mine), OTHER)) == "E4"
    assert refused(lambda: answer(setup, "5.3", by_id("DeleteSchedule", mine), OTHER)) == "E4"
    assert refused(lambda: answer(setup, "5.2", by_id("ReadSchedule", mine + 50))) == "E19"
    assert refused(lambda: answer(setup, "5.3", by_id("DeleteSchedule", mine + 50))) == "E19"
    row = setup.schedules.store.get(mine)
    assert row is not None and row.state == "active"


def test_delete_by_id_and_by_device(
    setup: Rig, dcc_credentials: SigningCredentials, schema: DuisSchema
) -> None:
    one, two, three = create(setup), create(setup), create(setup)
    theirs = create(setup, OTHER)
    given, payload = answer(setup, "5.3", by_id("DeleteSchedule", one))
    assert (given.code, payload) == (ResponseCode.SUCCESS, None)
    published("5.3", payload, dcc_credentials, schema)
    store = setup.schedules.store
    assert [store.get(i).state for i in (one, two, three)] == ["deleted", "active", "active"]  # type: ignore[union-attr]
    assert refused(lambda: answer(setup, "5.3", by_id("DeleteSchedule", one))) == "E19"
    answer(setup, "5.3", by_device("DeleteSchedule"))
    assert [store.get(i).state for i in (two, three, theirs)] == ["deleted", "deleted", "active"]  # type: ignore[union-attr]
    assert refused(lambda: answer(setup, "5.3", by_device("DeleteSchedule"))) == "E19"


@pytest.mark.parametrize(
    ("srv", "choice"),
    [
        ("4.6.2", "DSPRetrieveExportDailyReadLog"),  # DUIS-schedulable, no SMETS1 service
        ("14.1", "DSPRecordNetworkDataGAS"),
        ("4.1.1", "DSPReadInstantaneousExportRegisters"),  # not DSP-schedulable at all
    ],
)
def test_an_srv_opendcc_cannot_schedule_for_smets1_is_refused_e11(
    setup: Rig, srv: str, choice: str
) -> None:
    body = dsp_schedule(srv=srv, choice=choice, offsets=None)
    assert refused(lambda: answer(setup, "5.1", body)) == "E11"


def test_a_choice_element_that_is_not_the_srvs_is_refused_e11(setup: Rig) -> None:
    body = dsp_schedule(srv="4.6.1", choice="DSPReadNetworkData")
    assert refused(lambda: answer(setup, "5.1", body)) == "E11"


def test_an_end_date_before_the_start_is_refused_e11(setup: Rig) -> None:
    body = dsp_schedule(start="2024-06-10", end="2024-06-09")
    assert refused(lambda: answer(setup, "5.1", body)) == "E11"


def test_a_schedule_already_over_is_refused_e11(setup: Rig) -> None:
    body = dsp_schedule(start="2024-05-01", end="2024-05-31")
    assert refused(lambda: answer(setup, "5.1", body)) == "E11"


def test_a_log_period_that_ends_before_it_starts_is_refused(setup: Rig) -> None:
    body = dsp_schedule(offsets=(0, "00:00:00", -1, "00:00:00"))
    with pytest.raises((AccessDenied, InvalidParameters)) as caught:
        answer(setup, "5.1", body)
    assert caught.value.code is ResponseCode.SRV_NOT_FOR_DEVICE_TYPE


@pytest.mark.parametrize(
    "code", [ResponseCode.NOT_RESPONSIBLE_PARTY, ResponseCode.DEVICE_RESTRICTED]
)
def test_authorise_refusals_propagate_and_store_nothing(setup: Rig, code: ResponseCode) -> None:
    setup.authority.refusal = code
    assert refused(lambda: answer(setup, "5.1", dsp_schedule())) == code.value
    setup.authority.refusal = None
    assert create(setup) == 1  # nothing was stored before


def test_an_elective_srv_without_a_log_period_can_be_scheduled(setup: Rig) -> None:
    # 4.2 carries an empty DSPReadData; whether the device's cohort offers it is authorise's.
    schedule_id = create(
        setup, srv="4.2", choice="DSPReadInstantaneousExportRegisters", offsets=None
    )
    row = setup.schedules.store.get(schedule_id)
    assert row is not None and row.srv == "4.2"
