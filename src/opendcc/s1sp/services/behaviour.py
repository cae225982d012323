"""6.2.10 Read Device Configuration (Event and Alert Behaviours): what 6.22 configured.

A SMETS1 (first-edition) meter sends each non-critical alert unless it was switched off (DUIS
6.22 Configure Alert Behaviour), logs every event, and the meters here have no HAN (home area
network) alert output or audible alarm. The read takes no parameters; the Result is ``fuel``
(``electricity`` or ``gas``) and ``disabled_alerts``, the GBCS (Great Britain Companion
Specification) alert codes switched off, ascending. The MMC (Message Mapping Catalogue) answer
lists every configurable code of the supplier's settings (the schema's, in its order): an ESME's
WAN alert settings ``Enable`` or ``Disable``, a GSME's four flags per code (its WAN alert as
configured, HAN alert and alarm ``Disable``, event log ``Enable``).
"""

from __future__ import annotations

from lxml import etree

from opendcc.s1sp.services.base import Result, Service, ints_of, is_gas, no_parameters
from opendcc.s1sp.services.xml import add, response_element

# The codes of MMC SupplierESMECommon and SupplierGSMEAlertsEvents, in schema order.
ESME_CODES = tuple(
    int(code, 16)
    for code in [
        "810D",
        "810E",
        "8119",
        "8145",
        "8154",
        "8155",
        "8161",
        "8162",
        "8168",
        "8183",
        "81A0",
        "81A1",
        "81A2",
        "81A3",
        "81A4",
        "81A5",
        "81A6",
        "81A7",
        "81A8",
        "81A9",
        "81AA",
        "81AB",
        "81AC",
        "81AD",
        "81AE",
        "81AF",
        "81B0",
        "81B1",
        "81B2",
        "81B3",
        "81B8",
        "81B9",
        "81BA",
        "81BB",
        "81BC",
        "81BD",
        "81BE",
        "81C0",
        "81C1",
        "81C4",
        "81C5",
        "81C6",
    ]
)
GSME_CODES = tuple(
    int(code, 16)
    for code in [
        "810D",
        "810E",
        "8119",
        "8145",
        "8154",
        "8155",
        "8161",
        "8162",
        "8168",
        "8183",
        "8184",
        "81A0",
        "81A1",
        "81A4",
        "81A5",
        "81A6",
        "81A7",
        "81A8",
        "81A9",
        "81AA",
        "81AB",
        "81AC",
        "81AD",
        "81AE",
        "81AF",
        "81B0",
        "81B1",
        "81B2",
        "81B3",
        "81B4",
        "81B5",
        "81B6",
        "81B9",
        "81BA",
        "81BC",
        "81BD",
        "81BE",
        "81BF",
        "81C0",
        "81C2",
        "81C3",
        "81C4",
        "81C5",
        "81C6",
    ]
)


def _switch(on: bool) -> str:
    return "Enable" if on else "Disable"


def event_and_alert_behaviours(result: Result) -> etree._Element:
    """6.2.10: the supplier's alert and event settings of the meter's fuel."""
    element = response_element("ReadDeviceConfigurationEventAndAlertBehavioursRsp")
    disabled = set(ints_of(result["disabled_alerts"]))
    if is_gas(result):
        settings = add(element, "GasSupplierAlertEventSettings")
        for code in GSME_CODES:
            flags = add(settings, f"x{code:04X}")
            add(flags, "WANAlert", _switch(code not in disabled))
            add(flags, "HANAlert", _switch(False))
            add(flags, "EventLog", _switch(True))
            add(flags, "Alarm", _switch(False))
        return element
    settings = add(element, "ElectricitySupplierAlertEventSettings")
    common = add(add(settings, "ElectricitySupplierWANAlertSettings"), "SupplierESMECommon")
    for code in ESME_CODES:
        add(common, f"x{code:04X}", _switch(code not in disabled))
    return element


SERVICES: tuple[Service, ...] = (
    Service(
        "6.2.10",
        "readDeviceConfigurationEventAndAlertBehaviours",
        no_parameters,
        event_and_alert_behaviours,
    ),
)
