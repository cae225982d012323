"""6.22 Configure Alert Behaviour: RTDS templates to parameters, parameters to the meter, MMC.

Every RTDS template of 6.22 must read as the parameters written out here by hand from the
template's own flags (each settings element to its list, ``CODE:on|off`` in code order); the
lists must read back as codes and switches; executed on a simulated meter of the right fuel,
the WAN alert flags must switch exactly those codes off; and the MMC (Message Mapping
Catalogue) response must be schema-valid.
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
    template_body,
    templates_for,
    validate_mmc,
)

from opendcc.catalogue import default_catalogue
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import ra, sr
from opendcc.s1sp.services import parameters, response_element
from opendcc.s1sp.services.base import InvalidParameters
from opendcc.s1sp.services.electives import SERVICES, alert_settings
from opendcc.sim.services.electives import EXECUTORS
from opendcc.sim.state import Esme, Gsme, MeterError, Reason
from opendcc.smki import SigningCredentials

SRV = "6.22"
SERVICE = {service.srv: service for service in SERVICES}[SRV]
EXECUTE = EXECUTORS[SRV]
COMMISSIONED = NOW - timedelta(days=2)
ELECTRICITY = {"fuel": "electricity"}
GAS_CODES = ("810E", "8161", "8162", "81AA", "81AB", "81BD", "81BE", "81BF", "81C0", "81C4", "81C6")


def pairs(codes: tuple[str, ...], switches: str) -> str:
    """``CODE:on|off`` for each code, ``switches`` giving each one's flag as 1 or 0."""
    return ",".join(
        f"{c}:{'on' if s == '1' else 'off'}" for c, s in zip(codes, switches, strict=True)
    )


# Read by hand from each template.
EXPECTED = {
    "ECS25a1_6.22_SUCCESS_REQUEST_DUIS.XML": {
        **ELECTRICITY,
        "han_alerts": "810D:on,8119:off,8168:off",
    },
    "ECS25a2_6.22_SUCCESS_REQUEST_DUIS.XML": {
        **ELECTRICITY,
        "alarms": "8154:on,8155:on,8161:on,8162:on",
    },
    "ECS25a3_6.22_SUCCESS_REQUEST_DUIS.XML": {
        **ELECTRICITY,
        "logging": "8145:on,8154:off,8155:off,8161:on,8162:on,81C6:on",
    },
    "ECS25a_6.22_SUCCESS_REQUEST_DUIS.XML": {**ELECTRICITY, "alerts": "810D:on,810E:off,81B7:on"},
    "ECS25b3_6.22_SUCCESS_REQUEST_DUIS.XML": {**ELECTRICITY, "logging": "8014:on,8015:off"},
    "ECS25b_6.22_SUCCESS_REQUEST_DUIS.XML": {
        **ELECTRICITY,
        "alerts": "8003:on,8014:on,8015:off",
    },
    "GCS20_6.22_SUCCESS_REQUEST_DUIS.XML": {
        "fuel": "gas",
        "alerts": pairs(GAS_CODES, "10011111110"),  # WANAlert
        "han_alerts": pairs(GAS_CODES, "00011000010"),  # HANAlert
        "logging": pairs(GAS_CODES, "01111111111"),  # EventLog
        "alarms": pairs(GAS_CODES, "01111111111"),  # Alarm
    },
}


def test_the_service_is_the_catalogue_s() -> None:
    srv = default_catalogue().get(SRV)
    assert srv.body_element == "ConfigureAlertBehaviour"
    assert SERVICE.command == "configureAlertBehaviour" and SERVICE.writes
    assert tuple(path.name for path in templates_for(SRV)) == tuple(sorted(EXPECTED))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_template_reads_as_its_flags(name: str) -> None:
    (path,) = (p for p in templates_for(SRV) if p.name == name)
    assert parameters(SRV, request_body(path)) == EXPECTED[name]


def test_a_list_reads_back_as_codes_and_switches() -> None:
    assert alert_settings("810D:on,810E:off,81B7:on") == {0x810D: True, 0x810E: False, 0x81B7: True}
    assert alert_settings("") == {}
    for bad in ("810d:on", "810D:yes", "810D", "810D:on,810D:off", "8101:on;8102:off"):
        with pytest.raises(InvalidParameters):
            alert_settings(bad)


def _body(settings: str, *children: etree._Element) -> etree._Element:
    body = etree.Element(sr("ConfigureAlertBehaviour"))
    etree.SubElement(body, sr(settings)).extend(children)
    return body


def _flag(code: str, text: str) -> etree._Element:
    element = etree.Element(sr(code))
    element.text = text
    return element


@pytest.mark.parametrize(
    "body",
    [
        etree.Element(sr("ConfigureAlertBehaviour")),  # no settings
        _body("ElectricityFancySettings", _flag("x8101", "Enable")),
        _body("GasSupplierAlerts", _flag("x810D", "On")),
        _body("GasSupplierAlertEventSettings", _body("x810D", _flag("Buzzer", "Enable"))[0]),
    ],
    ids=["empty", "unknown-settings", "not-enable", "unknown-flag"],
)
def test_a_body_smets1_cannot_read_is_refused(body: etree._Element) -> None:
    with pytest.raises(InvalidParameters):
        SERVICE.parameters(body)


def test_wan_alert_flags_switch_the_meter_s_alerts() -> None:
    meter = Esme.for_device(ESME_ID, commissioned=COMMISSIONED)
    result, _ = EXECUTE(meter, parameters(SRV, template_body(SRV, 3)), NOW)  # ECS25a
    assert result == {}
    assert meter.disabled_alerts == {0x810E}
    gas = Gsme.for_device(GSME_ID, commissioned=COMMISSIONED)
    EXECUTE(gas, parameters(SRV, template_body(SRV, 6)), NOW)  # GCS20
    assert gas.disabled_alerts == {0x8161, 0x8162, 0x81C6}


def test_settings_for_the_other_fuel_are_refused() -> None:
    meter = Esme.for_device(ESME_ID, commissioned=COMMISSIONED)
    with pytest.raises(MeterError) as refused:
        EXECUTE(meter, parameters(SRV, template_body(SRV, 6)), NOW)  # GCS20: gas
    assert refused.value.reason is Reason.UNSUPPORTED
    assert meter.disabled_alerts == frozenset()


def test_han_alarm_and_logging_settings_change_no_alerts() -> None:
    meter = Esme.for_device(ESME_ID, commissioned=COMMISSIONED)
    for index in (0, 1, 2, 4):  # ECS25a1, a2, a3, b3
        EXECUTE(meter, parameters(SRV, template_body(SRV, index)), NOW)
    assert meter.disabled_alerts == frozenset()


def test_the_mmc_is_an_empty_success(
    schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    meter = Esme.for_device(ESME_ID, commissioned=COMMISSIONED)
    result, _ = EXECUTE(meter, EXPECTED["ECS25a_6.22_SUCCESS_REQUEST_DUIS.XML"], NOW)
    element = response_element(SRV, result)
    validate_mmc(element, SRV, schema, s1sp_credentials)
    assert element.tag == ra("ConfigureAlertBehaviourRsp")
    assert element.get("MessageSuccess") == "true" and len(element) == 0
