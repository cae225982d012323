"""The elective SMETS1 services: those only some cohorts offer beyond the core set.

SMETS1 (Smart Metering Equipment Technical Specifications, first edition) meters of cohorts
that offer them answer these DUIS (DCC User Interface Specification) SRVs (Service Reference
Variants); a cohort profile lists them among its supported and elective services to offer them.

4.2 Read Instantaneous Export Registers: an ESME's (electricity smart metering equipment)
export registers, as the MMC (Message Mapping Catalogue)
``ra:ReadInstantaneousExportRegistersRsp``. Parameters: none. The request body
(``sr:ReadDataOnDemandOrFutureDated``) carries only the optional ``ExecutionDateTime``, which is
the DSP's (data service provider's) business.

6.22 Configure Alert Behaviour: switch a meter's non-mandatory alerts (and, for some, its HAN
(home area network) alerts, audible alarm and event logging) on or off. The body
``sr:ConfigureAlertBehaviour`` holds one of eight settings elements; each names alerts by their
GBCS (Great Britain Companion Specification) code as an element ``x<4 hex digits>`` (within
groups such as ``SupplierESMECommon``) holding ``Enable`` or ``Disable``; only
``GasSupplierAlertEventSettings`` gives each code four such flags (``WANAlert``, ``HANAlert``,
``EventLog``, ``Alarm``). Each flag goes to one parameter, a comma-separated list of
``CODE:on`` / ``CODE:off`` pairs (``CODE`` four upper-case hex digits, the list in code order),
present only when the body sets some:

============================================  ================  =============
settings element                              its flags go to   ``fuel``
============================================  ================  =============
ElectricitySupplierAlerts                     ``alerts``        electricity
ElectricitySupplierHANAlertSettings           ``han_alerts``    electricity
ElectricitySupplierAlarmSettings              ``alarms``        electricity
ElectricitySupplierLoggingSettings            ``logging``       electricity
ElectricityNetworkOperatorAlerts              ``alerts``        electricity
ElectricityNetworkOperatorLoggingSettings     ``logging``       electricity
GasSupplierAlerts                             ``alerts``        gas
GasSupplierAlertEventSettings                 by flag (below)   gas
============================================  ================  =============

``WANAlert`` goes to ``alerts`` (the alerts the meter sends its head-end, and so the DCC),
``HANAlert`` to ``han_alerts``, ``EventLog`` to ``logging``, ``Alarm`` to ``alarms``. The
parameter ``fuel`` says which meter the settings are for. ``alert_settings`` reads a list back.
The response ``ra:ConfigureAlertBehaviourRsp`` carries nothing but its success.

Result keys:

- 4.2: ``export_register`` (active energy exported, Wh) and, where the meter keeps one,
  ``reactive_export_varh`` (reactive energy exported, varh).
- 6.22: none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lxml import etree

from opendcc.duis.xml import ra
from opendcc.s1sp.services.base import Datum, InvalidParameters, Result, Service, no_parameters
from opendcc.s1sp.services.xml import ack

ALERTS, HAN_ALERTS, ALARMS, LOGGING = "alerts", "han_alerts", "alarms", "logging"
ELECTRICITY, GAS = "electricity", "gas"
# The settings element of sr:ConfigureAlertBehaviour: where its flags go (None: by flag, in
# each code's WANHANEventLogAlarm) and which fuel's meter it configures.
_SETTINGS: Mapping[str, tuple[str | None, str]] = {
    "ElectricitySupplierAlerts": (ALERTS, ELECTRICITY),
    "ElectricitySupplierHANAlertSettings": (HAN_ALERTS, ELECTRICITY),
    "ElectricitySupplierAlarmSettings": (ALARMS, ELECTRICITY),
    "ElectricitySupplierLoggingSettings": (LOGGING, ELECTRICITY),
    "ElectricityNetworkOperatorAlerts": (ALERTS, ELECTRICITY),
    "ElectricityNetworkOperatorLoggingSettings": (LOGGING, ELECTRICITY),
    "GasSupplierAlerts": (ALERTS, GAS),
    "GasSupplierAlertEventSettings": (None, GAS),
}
_FLAGS: Mapping[str, str] = {
    "WANAlert": ALERTS,
    "HANAlert": HAN_ALERTS,
    "EventLog": LOGGING,
    "Alarm": ALARMS,
}
_SWITCH: Mapping[str, str] = {"Enable": "on", "Disable": "off"}
_ON_OFF: Mapping[str, bool] = {"on": True, "off": False}
_CODE_ELEMENT = re.compile(r"x([0-9A-Fa-f]{4})")
_PAIR = re.compile(r"([0-9A-F]{4}):(on|off)")


def _int(value: Datum) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _register(parent: etree._Element, local: str, value: int, unit: tuple[str, str]) -> None:
    register = etree.SubElement(parent, ra(local))
    etree.SubElement(register, ra("Value")).text = str(value)
    unit_tag, unit_text = unit
    etree.SubElement(register, ra(unit_tag)).text = unit_text


def export_registers(result: Result) -> etree._Element:
    """4.2: the active export register (and the reactive one, if the Result has it)."""
    element = etree.Element(ra("ReadInstantaneousExportRegistersRsp"))
    element.set("MessageSuccess", "true")
    active = _int(result["export_register"])
    _register(element, "ActiveExportRegister", active, ("ActiveEnergyUnit", "Wh"))
    if "reactive_export_varh" in result:
        reactive = _int(result["reactive_export_varh"])
        _register(element, "ReactiveExportRegister", reactive, ("ReactiveEnergyUnit", "varh"))
    return element


def _switch(element: etree._Element) -> str:
    text = (element.text or "").strip()
    if text not in _SWITCH:
        raise InvalidParameters(f"{etree.QName(element).localname} is Enable or Disable: {text!r}")
    return _SWITCH[text]


def _flags(code: str, element: etree._Element, target: str | None) -> list[tuple[str, str]]:
    """(parameter, ``CODE:on|off``) for one ``x<code>`` element."""
    if target is not None:
        return [(target, f"{code}:{_switch(element)}")]
    flags = []
    for flag in element:
        local = etree.QName(flag).localname
        if local not in _FLAGS:
            raise InvalidParameters(f"x{code} has no flag {local}")
        flags.append((_FLAGS[local], f"{code}:{_switch(flag)}"))
    return flags


def configure_alert_behaviour(body: etree._Element) -> dict[str, str]:
    """6.22: the body's settings as ``fuel`` and lists of ``CODE:on|off`` (see the module)."""
    if len(body) != 1:
        raise InvalidParameters("ConfigureAlertBehaviour holds exactly one settings element")
    settings = body[0]
    local = etree.QName(settings).localname
    if local not in _SETTINGS:
        raise InvalidParameters(f"no alert settings element {local}")
    target, fuel = _SETTINGS[local]
    lists: dict[str, dict[str, str]] = {}
    for element in settings.iter(etree.Element):
        named = _CODE_ELEMENT.fullmatch(etree.QName(element).localname)
        if named is None:
            continue
        code = named.group(1).upper()
        for parameter, pair in _flags(code, element, target):
            if code in lists.setdefault(parameter, {}):
                raise InvalidParameters(f"alert {code} is set twice")
            lists[parameter][code] = pair
    parameters = {name: ",".join(pairs[c] for c in sorted(pairs)) for name, pairs in lists.items()}
    return {"fuel": fuel, **parameters}


def alert_settings(text: str) -> dict[int, bool]:
    """A ``CODE:on|off`` list read back: each GBCS alert code and whether it is on."""
    settings: dict[int, bool] = {}
    for pair in filter(None, text.split(",")):
        matched = _PAIR.fullmatch(pair)
        if matched is None:
            raise InvalidParameters(f"not CODE:on or CODE:off: {pair!r}")
        code = int(matched.group(1), 16)
        if code in settings:
            raise InvalidParameters(f"alert {matched.group(1)} is set twice")
        settings[code] = _ON_OFF[matched.group(2)]
    return settings


SERVICES: tuple[Service, ...] = (
    Service("4.2", "readInstantaneousExportRegisters", no_parameters, export_registers),
    Service(
        "6.22",
        "configureAlertBehaviour",
        configure_alert_behaviour,
        ack("ConfigureAlertBehaviourRsp"),
        writes=True,
    ),
)
