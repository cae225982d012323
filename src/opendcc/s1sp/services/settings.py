"""The SMETS1 configuration services: settings a meter holds, counters it resets, its logs.

SMETS1 (first-edition) meters keep configuration the DUIS (DCC User Interface Specification)
SRVs (Service Reference Variants) below write; each answers with its empty MMC (Message Mapping
Catalogue) ``ra:<Name>Rsp``, except the critical Join and Unjoin, which carry the device's
response code like their non-critical twins (8.7.2, 8.8.2).

Settings travel as the body's leaves (``leaves``): each leaf element's path of local names
below the body element, joined by ``.`` (a repeated element numbered ``[n]`` from 0), to its
text; an empty element (6.18.2's register names) is present with the value ``""``. The DCO
compares them and every wire protocol carries them as they are; the meter reads what it models
(``opendcc.sim.services.settings``) and holds the rest as written.

- 1.7 Reset Tariff Block Counter Matrix, 3.3 Clear Event Log, 3.5 Disable Privacy PIN, 6.27
  RMS Voltage Counter Reset, 6.4.2 Load Limiting Counter Reset: no parameters.
- 6.4.1 Load Limiting General Settings, 6.5 Voltage, 6.6 Gas Conversion, 6.7 Gas Flow, 6.12
  Instantaneous Power Threshold, 6.18.1 Maximum Demand Configurable Time Period, 6.18.2 Reset
  Maximum Demand Registers (which registers), 6.25 Set Electricity Supply Tamper State, 6.26
  Daily Resetting of the Tariff Block Counter Matrix, 7.12 Set Randomised Offset Limit: the
  body's leaves.
- 8.7.1 / 8.8.1 Join / Unjoin Service (Critical): ``other_device_id`` (and for 8.7.1 the
  optional ``other_device_type``), as 8.7.2 / 8.8.2.

8.1.1 Commission Device: the clock synchronisation of 6.11 (``current_date_time``,
``tolerance_period_s``) and its answer, as ``ra:CommissionDeviceSynchroniseClockRsp``; the DSP
commissions the device in the SMI when it succeeds (``opendcc.dsp.commissioning``).

Reads (no parameters): 4.16 Read Active Power Import, the meter's instantaneous active power
import, ``ra:ActivePowerImport`` in W; 6.2.5 Read Device Configuration (Instantaneous Power
Thresholds) and 6.2.2 (Randomisation) read back what 6.12 and 7.12 wrote (an element the meter
was never given is left out, as the MMC allows).

Result keys: none, but ``response`` (``success``) for 8.7.1 and 8.8.1, ``power_w`` for 4.16,
and for 6.2.5 / 6.2.2 the setting's own names (``LowMediumPowerThreshold``,
``MediumHighPowerThreshold``; ``RandomisedOffsetLimit``), integers, where held.
"""

from __future__ import annotations

from lxml import etree

from opendcc.s1sp.services.base import (
    BuildResponse,
    InvalidParameters,
    Result,
    Service,
    int_of,
    no_parameters,
)
from opendcc.s1sp.services.config import _asn1_rsp, _clock_rsp, _other_device, _synchronise_clock
from opendcc.s1sp.services.xml import ack, add, response_element

POWER_THRESHOLDS = ("LowMediumPowerThreshold", "MediumHighPowerThreshold")  # 6.12 / 6.2.5
RANDOMISATION = ("RandomisedOffset", "RandomisedOffsetNumber", "RandomisedOffsetLimit")  # 6.2.2
MAX_LEAVES = 64  # the longest SMETS1 settings body has 16
MAX_TEXT = 64


def _walk(element: etree._Element, path: str, found: dict[str, str]) -> None:
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        text = (element.text or "").strip()
        if len(text) > MAX_TEXT:
            raise InvalidParameters(f"{path} is longer than {MAX_TEXT} characters")
        found[path] = text
        return
    seen: dict[str, int] = {}
    for child in children:
        local = etree.QName(child).localname
        seen[local] = seen.get(local, 0) + 1
    counted: dict[str, int] = {}
    for child in children:
        local = etree.QName(child).localname
        name = local
        if seen[local] > 1:
            name = f"{local}[{counted.get(local, 0)}]"
            counted[local] = counted.get(local, 0) + 1
        _walk(child, f"{path}.{name}" if path else name, found)
    if len(found) > MAX_LEAVES:
        raise InvalidParameters(f"more than {MAX_LEAVES} settings in one request")


def leaves(body: etree._Element) -> dict[str, str]:
    """The body's leaf elements by their path below it (see the module)."""
    found: dict[str, str] = {}
    if any(isinstance(child.tag, str) for child in body):
        _walk(body, "", found)
    return found


def _setting(srv: str, element: str, *, parameters: bool = True, command: str = "") -> Service:
    # The neutral command name is the body element's in lowerCamelCase, unless it is longer
    # than head-end APIs take (64 characters).
    command = command or element[0].lower() + element[1:]
    read = leaves if parameters else no_parameters
    return Service(srv, command, read, ack(f"{element}Rsp"), writes=True)


def active_power_import(result: Result) -> etree._Element:
    """4.16: ``power_w`` as ``ra:ActivePowerImport``."""
    element = response_element("ReadActivePowerImportRsp")
    power = add(element, "ActivePowerImport")
    add(power, "Value", int_of(result["power_w"]))
    add(power, "Unit", "W")
    return element


def _read_back(local: str, names: tuple[str, ...]) -> BuildResponse:
    """An ``ra:<local>`` holding, in the MMC order ``names``, the integers the Result has."""

    def build(result: Result) -> etree._Element:
        element = response_element(local)
        for name in names:
            if name in result:
                add(element, name, int_of(result[name]))
        return element

    return build


def commission_device(result: Result) -> etree._Element:
    """8.1.1: what 6.11 answers, as ``ra:CommissionDeviceSynchroniseClockRsp`` (its MMC type
    extends ``SynchroniseClockRsp``)."""
    element = _clock_rsp(result)
    element.tag = etree.QName(
        etree.QName(element).namespace, "CommissionDeviceSynchroniseClockRsp"
    ).text
    return element


SERVICES: tuple[Service, ...] = (
    _setting("1.7", "ResetTariffBlockCounterMatrix", parameters=False),
    _setting("3.3", "ClearEventLog", parameters=False),
    _setting("3.5", "DisablePrivacyPIN", parameters=False),
    _setting("6.4.1", "UpdateDeviceConfigurationLoadLimitingGeneralSettings"),
    _setting("6.4.2", "UpdateDeviceConfigurationLoadLimitingCounterReset", parameters=False),
    _setting("6.5", "UpdateDeviceConfigurationVoltage"),
    _setting("6.6", "UpdateDeviceConfigurationGasConversion"),
    _setting("6.7", "UpdateDeviceConfigurationGasFlow"),
    _setting("6.12", "UpdateDeviceConfigurationInstantaneousPowerThreshold"),
    _setting("6.18.1", "SetMaximumDemandConfigurableTimePeriod"),
    _setting("6.18.2", "ResetMaximumDemandRegisters"),
    _setting("6.25", "SetElectricitySupplyTamperState"),
    _setting(
        "6.26",
        "UpdateDeviceConfigurationDailyResettingOfTariffBlockCounterMatrix",
        command="updateDailyResettingOfTariffBlockCounterMatrix",
    ),
    _setting("6.27", "UpdateDeviceConfigurationRMSVoltageCounterReset", parameters=False),
    _setting("7.12", "SetRandomisedOffsetLimit"),
    Service("4.16", "readActivePowerImport", no_parameters, active_power_import),
    Service(
        "6.2.2",
        "readDeviceConfigurationRandomisation",
        no_parameters,
        _read_back("ReadDeviceConfigurationRandomisationRsp", RANDOMISATION),
    ),
    Service(
        "6.2.5",
        "readDeviceConfigurationInstantaneousPowerThresholds",
        no_parameters,
        _read_back("ReadDeviceConfigurationInstantaneousPowerThresholdsRsp", POWER_THRESHOLDS),
    ),
    Service("8.1.1", "commissionDevice", _synchronise_clock, commission_device, writes=True),
    Service(
        "8.7.1",
        "joinServiceCritical",
        _other_device,
        _asn1_rsp("JoinServiceCriticalRsp", "joinResponseCode"),
        writes=True,
    ),
    Service(
        "8.8.1",
        "unjoinServiceCritical",
        _other_device,
        _asn1_rsp("UnjoinServiceCriticalRsp", "unjoinResponseCode"),
        writes=True,
    ),
)
