"""MMC response elements: schema-valid inside a SMETS1 Response, for success and failure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from opendcc.core import RequestId, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.duis.response import Smets1Payload, smets1_response
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import ra
from opendcc.s1sp import Outcome, OutcomeStatus, UnsupportedService
from opendcc.s1sp.mmc import read_instantaneous_import_registers, response_element
from opendcc.sim.meter import Meter
from opendcc.smki import SigningCredentials

NOW = datetime(2026, 1, 1, tzinfo=UTC)  # inside the validity of the ZAZ1 keys
REQUEST_ID = RequestId.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1660751141087")
METER = Meter.for_device(Eui64.parse("00-DB-12-34-56-78-90-A0"))
SUCCESS = Outcome(
    str(REQUEST_ID),
    OutcomeStatus.SUCCESS,
    {
        "total_import_kwh_wh": METER.import_wh(NOW),
        "tou_wh": list(METER.tou_wh(NOW)),
        "reactive_import_varh": METER.reactive_import_varh(NOW),
        "device_time": METER.clock(NOW),
    },
)
FAILURE = Outcome(str(REQUEST_ID), OutcomeStatus.NO_RESPONSE, detail="no answer within 30 s")


def text(element: etree._Element, *path: str) -> str | None:
    return element.findtext("/".join(ra(p) for p in path))


def test_success_carries_active_and_reactive_import() -> None:
    element = read_instantaneous_import_registers(SUCCESS)
    assert element.tag == ra("ReadInstantaneousImportRegistersRsp")
    assert element.get("MessageSuccess") == "true"
    assert text(element, "Electricity", "ActiveImportRegister", "Value") == str(
        METER.import_wh(NOW)
    )
    assert text(element, "Electricity", "ActiveImportRegister", "ActiveEnergyUnit") == "Wh"
    assert text(element, "Electricity", "ReactiveImportRegister", "Value") == str(
        METER.reactive_import_varh(NOW)
    )
    assert text(element, "Electricity", "ReactiveImportRegister", "ReactiveEnergyUnit") == "varh"


def test_failure_is_message_success_false() -> None:
    element = read_instantaneous_import_registers(FAILURE)
    assert element.get("MessageSuccess") == "false"
    assert len(element[0]) == 0


@pytest.mark.parametrize(
    ("outcome", "code"),
    [(SUCCESS, ResponseCode.SUCCESS), (FAILURE, ResponseCode.NO_DEVICE_RESPONSE)],
    ids=["success", "no response"],
)
def test_the_element_is_valid_inside_a_smets1_response(
    outcome: Outcome, code: ResponseCode, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    document = smets1_response(
        REQUEST_ID,
        service_reference="4.1",
        srv="4.1.1",
        code=code,
        now=NOW,
        s1sp_credentials=s1sp_credentials,
        payload=Smets1Payload(smets_data=response_element("4.1.1", outcome)),
    )
    schema.validate(document)


def test_the_schema_notices_a_wrong_unit(
    schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    element = read_instantaneous_import_registers(SUCCESS)
    unit = element.find(
        f"{ra('Electricity')}/{ra('ActiveImportRegister')}/{ra('ActiveEnergyUnit')}"
    )
    assert unit is not None
    unit.text = "kWh"
    document = smets1_response(
        REQUEST_ID,
        service_reference="4.1",
        srv="4.1.1",
        code=ResponseCode.SUCCESS,
        now=NOW,
        s1sp_credentials=s1sp_credentials,
        payload=Smets1Payload(smets_data=element),
    )
    assert not schema.is_valid(document)


def test_readings_must_be_integers() -> None:
    with pytest.raises(TypeError):
        read_instantaneous_import_registers(
            Outcome("R1", OutcomeStatus.SUCCESS, {"total_import_kwh_wh": "12"})
        )


def test_srvs_without_a_builder_are_refused() -> None:
    with pytest.raises(UnsupportedService):
        response_element("6.13", SUCCESS)
