"""The elective services: RTDS templates to parameters, meter model to Result, Result to MMC.

4.2 Read Instantaneous Export Registers: its templates must read as no parameters; executing on
simulated meters with 40 days of history must answer the export register the
``opendcc.sim.state`` API reads (a gas meter refuses); and the MMC (Message Mapping Catalogue)
element built from the Result must be schema-valid and carry the Result's values.
"""

from __future__ import annotations

from datetime import timedelta

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

from opendcc.catalogue import default_catalogue
from opendcc.core.eui import Eui64
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import ra
from opendcc.s1sp.services.base import Result
from opendcc.s1sp.services.electives import SERVICES
from opendcc.sim.services.electives import EXECUTORS
from opendcc.sim.state import Esme, Gsme, MeterError, Reason
from opendcc.smki import SigningCredentials

SRV = "4.2"
SERVICE = {service.srv: service for service in SERVICES}[SRV]
EXECUTE = EXECUTORS[SRV]
COMMISSIONED = NOW - timedelta(days=40)
# A household with solar panels (ESME_ID's has none, so it exports nothing).
SOLAR_ID = Eui64.parse("00-DB-12-34-56-78-90-A1")
TEMPLATES = ("ECS17a_4.2_SUCCESS_REQUEST_DUIS.XML",)


def esme(device: Eui64) -> Esme:
    return Esme.for_device(device, commissioned=COMMISSIONED)


def exported(result: Result) -> int:
    value = result["export_register"]
    assert isinstance(value, int)
    return value


def test_one_service_and_one_executor() -> None:
    # 6.22 Configure Alert Behaviour: tests/s1sp/services/test_alert_behaviour.py
    assert [s.srv for s in SERVICES] == [SRV, "6.22"]
    assert set(EXECUTORS) == {SRV, "6.22"}
    body_element = default_catalogue().get(SRV).body_element
    assert body_element is not None
    assert SERVICE.command == body_element[0].lower() + body_element[1:]
    assert SERVICE.command == "readInstantaneousExportRegisters"
    assert not SERVICE.writes


def test_the_table_names_every_template() -> None:
    assert tuple(path.name for path in templates_for(SRV)) == TEMPLATES


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_read_as_no_parameters(name: str) -> None:
    (path,) = (p for p in templates_for(SRV) if p.name == name)
    body = request_body(path)
    assert etree.QName(body).localname == default_catalogue().get(SRV).body_element
    assert SERVICE.parameters(body) == {}


@pytest.mark.parametrize("device", [ESME_ID, SOLAR_ID])
def test_reads_the_export_register(device: Eui64) -> None:
    meter = esme(device)
    result, alerts = EXECUTE(meter, {}, NOW)
    assert result == {"export_register": esme(device).export_wh(NOW)}
    assert alerts == ()


def test_a_solar_household_exports_and_its_register_grows() -> None:
    meter = esme(SOLAR_ID)
    earlier, _ = EXECUTE(meter, {}, NOW - timedelta(days=1))
    later, _ = EXECUTE(meter, {}, NOW)
    assert 0 < exported(earlier) < exported(later)
    assert exported(later) == meter.export_wh(NOW)


def test_a_household_without_panels_exports_nothing() -> None:
    result, _ = EXECUTE(esme(ESME_ID), {}, NOW)
    assert result["export_register"] == 0


def test_a_gas_meter_refuses() -> None:
    meter = Gsme.for_device(GSME_ID, commissioned=COMMISSIONED)
    with pytest.raises(MeterError) as refused:
        EXECUTE(meter, {}, NOW)
    assert refused.value.reason is Reason.UNSUPPORTED


def _register(element: etree._Element, local: str, unit_tag: str) -> tuple[str | None, ...]:
    register = element.find(ra(local))
    assert register is not None
    return register.findtext(ra("Value")), register.findtext(ra(unit_tag))


def test_the_mmc_carries_the_executed_register(
    schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    result, _ = EXECUTE(esme(SOLAR_ID), {}, NOW)
    element = SERVICE.response(result)
    validate_mmc(element, SRV, schema, s1sp_credentials)
    assert etree.QName(element).localname == "ReadInstantaneousExportRegistersRsp"
    assert element.get("MessageSuccess") == "true"
    expected = (str(result["export_register"]), "Wh")
    assert _register(element, "ActiveExportRegister", "ActiveEnergyUnit") == expected
    assert element.find(ra("ReactiveExportRegister")) is None


def test_the_mmc_carries_a_reactive_export_register(
    schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    result: Result = {"export_register": 1_234, "reactive_export_varh": 56}
    element = SERVICE.response(result)
    validate_mmc(element, SRV, schema, s1sp_credentials)
    assert _register(element, "ActiveExportRegister", "ActiveEnergyUnit") == ("1234", "Wh")
    assert _register(element, "ReactiveExportRegister", "ReactiveEnergyUnit") == ("56", "varh")


def test_the_mmc_refuses_a_malformed_result() -> None:
    with pytest.raises(TypeError):
        SERVICE.response({"export_register": "1234"})
