"""The configuration, supply and HAN services of SMETS1 meters: requests in, MMC responses out.

SRVs (Service Reference Variants) 3.1 Display Message, 3.2 Restrict Access For Change Of
Tenancy, 3.4 Update Supplier Name, 6.2.x Read Device Configuration (Voltage, Billing Calendar,
Identity Exc MPxN, MPxN, Gas), 6.8 Update Device Configuration (Billing Calendar), 6.11
Synchronise Clock, 6.20.1 Set Device Configuration (Import MPxN), 7.1-7.4 Enable, Disable, Arm
and Read Supply, 8.7.2 and 8.8.2 Join and Unjoin Service (Non-Critical) and 8.11 Update HAN
(home area network) Device Log. SMETS1: Smart Metering Equipment Technical Specifications,
first edition; DUIS: DCC User Interface Specification; MMC: Message Mapping Catalogue; MPxN:
an MPAN (electricity Meter Point Administration Number) or MPRN (gas Meter Point Reference
Number); ESME/GSME: electricity/gas smart metering equipment.

Parameters are the request's values as text, normalised (UTC date-times as DCC writes them,
canonical EUI-64s, upper-case hex) so that reading the same request twice gives the same
dict. Where a request says which fuel it is for (a choice of electricity or gas element), the
parameter ``fuel`` says so; where a response offers that choice, the ``Result`` key ``fuel``
("electricity" or "gas") picks it. Each builder's docstring lists the Result keys it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal

from lxml import etree

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.duis.request import parse_datetime
from opendcc.duis.response import format_datetime
from opendcc.duis.schema import SchemaInvalid
from opendcc.duis.xml import ra, sr
from opendcc.s1sp.services.base import (
    BuildResponse,
    InvalidParameters,
    Result,
    Service,
    no_parameters,
)
from opendcc.s1sp.services.withheld import SINGLE_ELEMENT
from opendcc.s1sp.services.xml import ack, add, response_element

ELECTRICITY = "electricity"
GAS = "gas"
# DUIS billing periodicities, in the words of the schema (sr/ra GasBillingCalendar).
PERIODICITIES = ("Daily", "Weekly", "Monthly", "Quarterly", "SixMonthly", "Yearly")
# Periodicities whose electricity calendar names a day of the month and a start month.
_MONTH_ANCHORED = ("Quarterly", "SixMonthly", "Yearly")
SUPPLY_STATES = ("Enabled", "Disabled", "Armed")
# GBCS clock time status, as both the electricity and the gas (ASN.1) form code it.
CLOCK_STATUS_CODES: Mapping[str, int] = {"reliable": 0, "invalid": 1, "unreliable": 2}
CLOCK_RELIABLE = "reliable"
ASN1_SUCCESS = "success"  # the join and unjoin response code of a device that obliged
_ASN1_CODES: Mapping[str, int] = {ASN1_SUCCESS: 0}
_MAX_DAY_OF_MONTH = 28  # ra:BillingCalendarDayOfMonth
_MODEL_TYPE_LIMIT = 8  # ra:ModelType
_MANUFACTURER_LIMIT = 32  # ra:ManufacturerIdentifier


# --------------------------------------------------------------------------- request bodies


def _find(parent: etree._Element, local: str) -> etree._Element | None:
    return parent.find(sr(local))


def _text(parent: etree._Element, local: str, *, strip: bool = True) -> str:
    child = _find(parent, local)
    if child is None:
        raise InvalidParameters(f"the request body has no sr:{local}")
    text = child.text or ""
    return text.strip() if strip else text


def _instant(parent: etree._Element, local: str) -> str:
    try:
        return format_datetime(parse_datetime(_text(parent, local)))
    except SchemaInvalid as exc:
        raise InvalidParameters(f"sr:{local}: {exc}") from exc


def _eui(parent: etree._Element, local: str) -> str:
    try:
        return str(Eui64.parse(_text(parent, local)))
    except InvalidIdentifier as exc:
        raise InvalidParameters(f"sr:{local}: {exc}") from exc


def _optional(params: dict[str, str], parent: etree._Element, pairs: Mapping[str, str]) -> None:
    """Copy each present element ``local`` of ``parent`` to ``params[key]``."""
    for local, key in pairs.items():
        if _find(parent, local) is not None:
            params[key] = _text(parent, local)


def _display_message(body: etree._Element) -> dict[str, str]:
    return {"message": _text(body, "SupplierMessage", strip=False)}


def _restrict_access(body: etree._Element) -> dict[str, str]:
    return {"restriction_date_time": _instant(body, "RestrictionDateTime")}


def _supplier_name(body: etree._Element) -> dict[str, str]:
    return {
        "supplier_name": _text(body, "SupplierName", strip=False),
        "supplier_telephone_number": _text(body, "SupplierTelephoneNumber", strip=False),
    }


def _utc_time(text: str) -> str:
    """An xs:time as ``HH:MM:SS`` in UTC (DUIS writes UTC; a bare time is taken as UTC)."""
    try:
        parsed = time.fromisoformat(text)
    except ValueError as exc:
        raise InvalidParameters(f"not an xs:time: {text!r}") from exc
    instant = datetime.combine(date(2000, 1, 1), parsed.replace(tzinfo=parsed.tzinfo or UTC))
    return f"{instant.astimezone(UTC):%H:%M:%S}"


def _billing_calendar(body: etree._Element) -> dict[str, str]:
    """6.8: the electricity form (time of day and a rule) or the gas form (start, period)."""
    gas = _find(body, "GasBillingCalendar")
    if gas is not None:
        return {
            "fuel": GAS,
            "billing_period_start": _instant(gas, "BillingPeriodStart"),
            "periodicity": _text(gas, "Periodicity"),
        }
    elec = _find(body, "ElectricityBillingCalendar")
    if elec is None:
        raise InvalidParameters("the request body has no billing calendar")
    params = {"fuel": ELECTRICITY, "billing_time": _utc_time(_text(elec, "BillingTime"))}
    for periodicity in PERIODICITIES:
        rule = _find(elec, periodicity)
        if rule is None:
            continue
        params["periodicity"] = periodicity
        if periodicity == "Weekly":
            params["day_of_week"] = _text(elec, periodicity)
        elif periodicity == "Monthly":
            params["day_of_month"] = _text(elec, periodicity)
        elif periodicity in _MONTH_ANCHORED:
            params["day_of_month"] = _text(rule, "DayOfMonth")
            params["start_month"] = _text(rule, "BillingPeriodStartMonth")
        return params
    raise InvalidParameters("the electricity billing calendar names no periodicity")


def _synchronise_clock(body: etree._Element) -> dict[str, str]:
    return {
        "current_date_time": _instant(body, "CurrentDateTime"),
        "tolerance_period_s": _text(body, "TolerancePeriod"),
    }


def _import_mpxn(body: etree._Element) -> dict[str, str]:
    mpans = _find(body, "ImportMPANs")
    if mpans is None:
        return {"fuel": GAS, "import_mpxn": _text(body, "ImportMPRN")}
    if _find(mpans, "SecondaryImportMPAN") is not None:
        raise InvalidParameters(f"{SINGLE_ELEMENT} to give a SecondaryImportMPAN")
    return {"fuel": ELECTRICITY, "import_mpxn": _text(mpans, "ImportMPAN")}


def _other_device(body: etree._Element) -> dict[str, str]:
    return {"other_device_id": _eui(body, "OtherDeviceID")}


def _han_device_log(body: etree._Element) -> dict[str, str]:
    """8.11: the device to add or remove and, to add it, what the whitelist entry says."""
    params = {"device_id": _eui(body, "DeviceID"), "request_type": _text(body, "RequestType")}
    entry = _find(body, "AddDeviceToCHFWhitelist")
    if entry is not None:
        params["join_time_period_s"] = _text(entry, "JoinTimePeriod")
        params["install_code"] = _text(entry, "InstallCode").upper()
        _optional(
            params,
            entry,
            {
                "ImportMPxN": "import_mpxn",
                "SecondaryImportMPAN": "secondary_import_mpan",
                "ExportMPAN": "export_mpan",
            },
        )
    return params


# --------------------------------------------------------------------------- Result values


def _get(result: Result, key: str) -> object:
    try:
        return result[key]
    except KeyError:
        raise TypeError(f"the Result has no {key!r}") from None


def _int(result: Result, key: str) -> int:
    value = _get(result, key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{key} needs an integer, got {value!r}")
    return value


def _str(result: Result, key: str) -> str:
    value = _get(result, key)
    if not isinstance(value, str):
        raise TypeError(f"{key} needs text, got {value!r}")
    return value


def _datetime(result: Result, key: str) -> datetime:
    value = _get(result, key)
    if not isinstance(value, datetime):
        raise TypeError(f"{key} needs a date-time, got {value!r}")
    return value


def _choice(result: Result, key: str, allowed: tuple[str, ...]) -> str:
    value = _str(result, key)
    if value not in allowed:
        raise TypeError(f"{key} is one of {allowed}, not {value!r}")
    return value


def _gas(result: Result) -> bool:
    return _choice(result, "fuel", (ELECTRICITY, GAS)) == GAS


def _fuel_element(parent: etree._Element, result: Result) -> etree._Element:
    return etree.SubElement(parent, ra("Gas" if _gas(result) else "Electricity"))


# --------------------------------------------------------------------------- MMC responses


def _volts(decivolts: int) -> str:
    return str((decivolts + 5) // 10)


def _voltage_rsp(result: Result) -> etree._Element:
    """6.2.1, single-phase average RMS thresholds in whole volts (the Result has decivolts).

    Keys: ``over_voltage_threshold_dv``, ``under_voltage_threshold_dv`` (and, which the MMC
    cannot say, ``measurement_period_s``).
    """
    element = response_element("ReadDeviceConfigurationVoltageRsp")
    settings = etree.SubElement(element, ra("SinglePhaseVoltageSettings"))
    over = _volts(_int(result, "over_voltage_threshold_dv"))
    add(settings, "AverageRMSOverVoltageThreshold", over)
    under = _volts(_int(result, "under_voltage_threshold_dv"))
    add(settings, "AverageRMSUnderVoltageThreshold", under)
    return element


def _billing_calendar_rsp(result: Result) -> etree._Element:
    """6.2.3. Keys: ``fuel``, ``billing_period_start`` (date-time), ``periodicity``.

    Gas says both as they are. Electricity says the time of day and the rule the start
    implies: the ISO weekday (1 = Monday), the day of the month (at most 28, all the MMC can
    say) and, for quarterly and longer periods, the start's month.
    """
    element = response_element("ReadDeviceConfigurationDataBillingCalendarRsp")
    calendar = etree.SubElement(element, ra("BillingCalendar"))
    start = _datetime(result, "billing_period_start").astimezone(UTC)
    periodicity = _choice(result, "periodicity", PERIODICITIES)
    if _gas(result):
        gas = etree.SubElement(calendar, ra("GasBillingCalendar"))
        add(gas, "BillingPeriodStart", format_datetime(start))
        add(gas, "Periodicity", periodicity)
        return element
    elec = etree.SubElement(calendar, ra("ElectricityBillingCalendar"))
    add(elec, "BillingTime", f"{start:%H:%M:%S}Z")
    rule = etree.SubElement(elec, ra(periodicity))
    day = str(min(start.day, _MAX_DAY_OF_MONTH))
    if periodicity == "Weekly":
        rule.text = str(start.isoweekday())
    elif periodicity == "Monthly":
        rule.text = day
    elif periodicity in _MONTH_ANCHORED:
        add(rule, "DayOfMonth", day)
        add(rule, "BillingPeriodStartMonth", str(start.month))
    return element


def _identity_rsp(result: Result) -> etree._Element:
    """6.2.4. Keys: ``device_id``, ``model`` (cut to 8 characters), ``manufacturer``."""
    element = response_element("ReadDeviceConfigurationIdentityExcMPxNRsp")
    add(element, "DeviceIdentifier", _str(result, "device_id"))
    add(element, "ModelType", _str(result, "model")[:_MODEL_TYPE_LIMIT])
    add(element, "ManufacturerIdentifier", _str(result, "manufacturer")[:_MANUFACTURER_LIMIT])
    return element


def _mpxn_rsp(result: Result) -> etree._Element:
    """6.2.7. Keys: ``fuel`` and, once one is set, ``import_mpxn`` (MPAN or MPRN)."""
    element = response_element("ReadDeviceConfigurationMPxNRsp")
    fuel = _fuel_element(element, result)
    if "import_mpxn" in result:
        add(fuel, "MPRN" if _gas(result) else "ImportMPAN", _str(result, "import_mpxn"))
    return element


def _scaled(value: int, exponent: int) -> str:
    return format(Decimal(value).scaleb(exponent), "f")


def _gas_rsp(result: Result) -> etree._Element:
    """6.2.8. Keys: ``calorific_value_kj_m3`` (said in MJ/m3), ``conversion_factor_e5``."""
    element = response_element("ReadDeviceConfigurationGasRsp")
    add(element, "CalorificValue", _scaled(_int(result, "calorific_value_kj_m3"), -3))
    add(element, "ConversionFactor", _scaled(_int(result, "conversion_factor_e5"), -5))
    return element


def _clock_rsp(result: Result) -> etree._Element:
    """6.11. Keys: ``fuel``, ``device_time`` (after synchronising), ``clock_status``."""
    element = response_element("SynchroniseClockRsp")
    add(element, "DeviceTime", format_datetime(_datetime(result, "device_time")))
    status = _choice(result, "clock_status", tuple(CLOCK_STATUS_CODES))
    code = str(CLOCK_STATUS_CODES[status])
    fuel = _fuel_element(element, result)
    if _gas(result):
        gas_status = etree.SubElement(fuel, ra("GasClockTimeStatus"), ResponseCode=code)
        add(gas_status, "ASN1Status", status)
    else:
        elec_status = etree.SubElement(fuel, ra("ElecClockTimeStatus"), TimeStatusCode=code)
        add(elec_status, "TimeStatus", status)
    return element


def _supply_status_rsp(result: Result) -> etree._Element:
    """7.4. Key: ``supply_state`` (Enabled, Disabled or Armed)."""
    element = response_element("ReadSupplyStatusRsp")
    add(element, "SupplyState", _choice(result, "supply_state", SUPPLY_STATES))
    return element


def _asn1_rsp(local: str, code_element: str) -> BuildResponse:
    """8.7.2 / 8.8.2: the device's response code. Key: ``response`` (``success``)."""

    def build(result: Result) -> etree._Element:
        element = response_element(local)
        response = _choice(result, "response", tuple(_ASN1_CODES))
        status = etree.SubElement(
            element, ra(code_element), ResponseCode=str(_ASN1_CODES[response])
        )
        add(status, "ASN1Status", response)
        return element

    return build


def _service(
    srv: str,
    element: str,
    parameters: Callable[[etree._Element], dict[str, str]],
    response: BuildResponse,
    *,
    writes: bool,
) -> Service:
    # The neutral command name is the DUIS body element's, in lowerCamelCase.
    command = element[0].lower() + element[1:]
    return Service(srv, command, parameters, response, writes=writes)


SERVICES: tuple[Service, ...] = (
    _service("3.1", "DisplayMessage", _display_message, ack("DisplayMessageRsp"), writes=True),
    _service(
        "3.2",
        "RestrictAccessForChangeOfTenancy",
        _restrict_access,
        ack("RestrictAccessForChangeOfTenancyRsp"),
        writes=True,
    ),
    _service(
        "3.4", "UpdateSupplierName", _supplier_name, ack("UpdateSupplierNameRsp"), writes=True
    ),
    _service("6.2.1", "ReadDeviceConfigurationVoltage", no_parameters, _voltage_rsp, writes=False),
    _service(
        "6.2.3",
        "ReadDeviceConfigurationBillingCalendar",
        no_parameters,
        _billing_calendar_rsp,
        writes=False,
    ),
    _service(
        "6.2.4",
        "ReadDeviceConfigurationIdentityExcMPxN",
        no_parameters,
        _identity_rsp,
        writes=False,
    ),
    _service("6.2.7", "ReadDeviceConfigurationMPxN", no_parameters, _mpxn_rsp, writes=False),
    _service("6.2.8", "ReadDeviceConfigurationGas", no_parameters, _gas_rsp, writes=False),
    _service(
        "6.8",
        "UpdateDeviceConfigurationBillingCalendar",
        _billing_calendar,
        ack("UpdateDeviceConfigurationBillingCalendarRsp"),
        writes=True,
    ),
    _service("6.11", "SynchroniseClock", _synchronise_clock, _clock_rsp, writes=True),
    _service(
        "6.20.1",
        "SetDeviceConfigurationImportMPxN",
        _import_mpxn,
        ack("SetDeviceConfigurationImportMPxNRsp"),
        writes=True,
    ),
    _service("7.1", "EnableSupply", no_parameters, ack("EnableSupplyRsp"), writes=True),
    _service("7.2", "DisableSupply", no_parameters, ack("DisableSupplyRsp"), writes=True),
    _service("7.3", "ArmSupply", no_parameters, ack("ArmSupplyRsp"), writes=True),
    _service("7.4", "ReadSupplyStatus", no_parameters, _supply_status_rsp, writes=False),
    _service(
        "8.7.2",
        "JoinServiceNonCritical",
        _other_device,
        _asn1_rsp("JoinServiceNonCriticalRsp", "joinResponseCode"),
        writes=True,
    ),
    _service(
        "8.8.2",
        "UnjoinServiceNonCritical",
        _other_device,
        _asn1_rsp("UnjoinServiceNonCriticalRsp", "unjoinResponseCode"),
        writes=True,
    ),
    _service(
        "8.11", "UpdateHANDeviceLog", _han_device_log, ack("UpdateHANDeviceLogRsp"), writes=True
    ),
)
