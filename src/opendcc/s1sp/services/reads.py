"""The reads and logs family of core SMETS1 services: registers, logs, profile, firmware.

SMETS1 (Smart Metering Equipment Technical Specifications, first edition) meters answer these
DUIS (DCC User Interface Specification) Service Reference Variants (SRVs) without changing:
4.1.1 and 4.1.2 import registers and TOU (time-of-use) matrices, 4.4.2 and 4.4.3 billing data
logs, 4.6.1 daily read log, 4.8.1 half-hourly profile, 4.10 network data, 4.17 daily
consumption, 6.13 event or security log, 8.9 the HAN (home area network) device log and 11.2
the firmware version. Each answer is an MMC (Message Mapping Catalogue) ``ra:<Name>Rsp``.

Parameters: a request's ``ReadLogPeriod`` becomes ``start`` and ``end`` (ISO 8601 UTC text to
the millisecond, ``2024-06-01T00:00:00.000Z``); 6.13 adds ``log`` (``event``, ``security`` or
``power``, the event log's power outage and restoration entries, or ``alcs``, an ESME's
auxiliary load control switches' log).
Neither ``ExecutionDateTime`` (future dating, the DSP's business) nor
``KAPublicSecurityCredentials`` (the User's key agreement certificate, for GBCS end-to-end
encryption of the answer) means anything to a SMETS1 meter: neither is a parameter.

Result keys (records are tuples, fields in the order given; logs newest first, profiles oldest
first). ``fuel`` is ``electricity`` or ``gas``; quantities are Wh for electricity and litres
for gas (the MMC carries gas as m3 with three decimals); money is pence; a GSME has 4 TOU rates.

- 4.1.1: ``fuel``, ``import_register``, ``reactive_import_varh`` (electricity only)
- 4.1.2: ``fuel``, ``tou_registers`` (rate 1 first)
- 4.4.2, 4.4.3: ``fuel``, ``billing_log``: (taken at, import register, TOU registers, block
  registers, TOU x block matrix [rate][block], meter balance, emergency credit, accumulated
  debt, payment debt, time debt 1, time debt 2)
- 4.6.1: ``fuel``, ``daily_reads``: (taken at, import register, TOU registers)
- 4.8.1: ``fuel``, ``profile``: (half hour start, consumption)
- 4.10: ``fuel``; electricity: ``measurement_period_s``, ``over_voltage_count``,
  ``under_voltage_count``, ``voltage_profile``: (period start, average RMS voltage in
  decivolts); gas: ``network_log``: (taken at, volume register)
- 4.17: ``fuel``, ``daily_consumption``: (day start, consumption)
- 6.13: ``log``, ``log_entries``: (timestamp, 16-bit event code, meaning); for ``alcs``:
  (timestamp, switch 1-5, action: ``On``, ``Off`` or ``Revert to calendar control``)
- 8.9: ``han_devices``: (EUI-64 text, device type: IHD, PPMID, CAD, HCALCS, GSME, GPF)
- 11.2: ``firmware_version``
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from lxml import etree

from opendcc.duis.response import format_datetime
from opendcc.duis.xml import ra, sr
from opendcc.s1sp.services.base import (
    Datum,
    InvalidParameters,
    Result,
    Service,
    int_of,
    ints_of,
    is_gas,
    log_period,
    no_parameters,
    str_of,
    tuple_of,
)
from opendcc.s1sp.services.xml import add, add_indexed, response_element

Record = tuple[Datum, ...]

# 6.13 LogToRead: a GSME's own logs are its event and security logs; the power event log is
# the event log's power outage and restoration entries; an ESME's ALCS event log is its
# auxiliary load control switches' (``opendcc.s1sp.services.alcs``).
_LOGS: Mapping[str, str] = {
    "ALCSEvent": "alcs",
    "Event": "event",
    "GSMEEvent": "event",
    "Security": "security",
    "GSMESecurity": "security",
    "PowerEvent": "power",
}
# 8.9: the MMC names IHDs and CADs (consumer access devices) Type 2 devices.
_DEVICE_TYPES: Mapping[str, str] = {
    "IHD": "Type2",
    "CAD": "Type2",
    "PPMID": "PPMID",
    "HCALCS": "HCALCS",
    "GSME": "GSME",
    "GPF": "GPF",
    "ESME": "ESME",
}
_BLOCKS = 4
MILLIPENCE_PER_PENNY = 1000  # the MMC states money in milli-pence; records hold pence
# PrepaymentOperationalDataType's elements, in schema order, and their billing record fields.
_PREPAYMENT_FIELDS = (
    ("AccumulatedDebtRegister", 7),
    ("EmergencyCreditBalance", 6),
    ("MeterBalance", 5),
    ("PaymentDebtRegister", 8),
    ("TimeDebtRegisters1", 9),
    ("TimeDebtRegisters2", 10),
)

# --------------------------------------------------------------------------- parameters


def event_log_parameters(body: etree._Element) -> dict[str, str]:
    """6.13: the log period and which log (``event``, ``security`` or ``power``)."""
    requested = (body.findtext(sr("LogToRead")) or "").strip()
    if requested not in _LOGS:
        raise InvalidParameters(f"a SMETS1 meter has no {requested or 'unnamed'} log to read")
    return {**log_period(body), "log": _LOGS[requested]}


def device_log_parameters(body: etree._Element) -> dict[str, str]:
    """8.9: nothing, unless the request asks for a communications hub's security details."""
    if body.find(sr("ReadSecurityDetails")) is not None:
        raise InvalidParameters("ReadSecurityDetails reads a communications hub's device log")
    return {}


# --------------------------------------------------------------------------- Result values


def _time(value: Datum) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a date-time, got {value!r}")
    return format_datetime(value)


def _records(result: Result, key: str) -> tuple[Record, ...]:
    return tuple(tuple_of(record) for record in tuple_of(result[key]))


def _scaled(value: int, places: int) -> str:
    """An integer count of 10**-places units as an xs:decimal (litres -> m3, dV -> V)."""
    whole, fraction = divmod(abs(value), 10**places)
    return f"{'-' if value < 0 else ''}{whole}.{fraction:0{places}d}"


def _m3(litres: Datum) -> str:
    return _scaled(int_of(litres), 3)


# --------------------------------------------------------------------------- elements


def _indexed(parent: etree._Element, local: str, values: tuple[str, ...]) -> None:
    for index, value in enumerate(values, start=1):
        add_indexed(parent, local, index, value)


def _register(parent: etree._Element, local: str, value: str, unit_tag: str, unit: str) -> None:
    register = etree.SubElement(parent, ra(local))
    add(register, "Value", value)
    add(register, unit_tag, unit)


def _prepayment(parent: etree._Element, local: str, record: Record) -> None:
    """A ``PrepaymentOperationalDataType`` from a billing record (see the module docstring)."""
    entry = etree.SubElement(parent, ra(local))
    for name, field in _PREPAYMENT_FIELDS:
        add(entry, name, str(int_of(record[field]) * MILLIPENCE_PER_PENNY))
    add(entry, "Timestamp", _time(record[0]))


def _tou_blocks(parent: etree._Element, matrix: Datum) -> None:
    """``TariffTOUBlock<n>RegisterMatrixValue``: block n's register for each TOU rate."""
    rows = [ints_of(row) for row in tuple_of(matrix)]
    for block in range(_BLOCKS):
        local = f"TariffTOUBlock{block + 1}RegisterMatrixValue"
        _indexed(parent, local, tuple(str(row[block]) for row in rows))


def _strs(values: Datum) -> tuple[str, ...]:
    return tuple(str(v) for v in ints_of(values))


def _volumes(values: Datum) -> tuple[str, ...]:
    return tuple(_m3(v) for v in ints_of(values))


# --------------------------------------------------------------------------- builders


def import_registers(result: Result) -> etree._Element:
    """4.1.1: the import register (and the reactive one of an electricity meter)."""
    element = response_element("ReadInstantaneousImportRegistersRsp")
    if is_gas(result):
        gas = etree.SubElement(element, ra("Gas"))
        _register(gas, "ConsumptionRegister", _m3(result["import_register"]), "Unit", "m3")
        return element
    electricity = etree.SubElement(element, ra("Electricity"))
    active = str(int_of(result["import_register"]))
    _register(electricity, "ActiveImportRegister", active, "ActiveEnergyUnit", "Wh")
    if "reactive_import_varh" in result:
        reactive = str(int_of(result["reactive_import_varh"]))
        _register(electricity, "ReactiveImportRegister", reactive, "ReactiveEnergyUnit", "varh")
    return element


def tou_matrices(result: Result) -> etree._Element:
    """4.1.2: one register per TOU rate."""
    element = response_element("ReadInstantaneousImportTOUMatricesRsp")
    registers = result["tou_registers"]
    if is_gas(result):
        matrix = etree.SubElement(
            etree.SubElement(element, ra("Gas")), ra("TariffTOURegisterMatrix")
        )
        _indexed(matrix, "TOURegisterMatrixValue", _volumes(registers))
        return element
    electricity = etree.SubElement(element, ra("Electricity"))
    collection = etree.SubElement(electricity, ra("TariffTOURegisterCollection"))
    _indexed(collection, "TOUPrimaryRegisterValue", _strs(registers))
    return element


def triggered_billing_log(result: Result) -> etree._Element:
    """4.4.2: billing data snapshotted at each change of payment mode or tariff."""
    element = response_element("RetrieveCoMOrTariffTriggeredBillingDataLogRsp")
    records = _records(result, "billing_log")
    if is_gas(result):
        gas = etree.SubElement(element, ra("Gas"))
        for at, total, tou, blocks, *_ in records:
            entry = etree.SubElement(gas, ra("LogEntryConsumptionRegister"))
            add(entry, "ConsumptionRegister", _m3(total))
            add(entry, "Timestamp", _time(at))
            _indexed(entry, "TariffTOURegisterMatrixValue", _volumes(tou))
            _indexed(entry, "BlockRegisterMatrixValue", _volumes(blocks))
        parent = gas
    else:
        parent = etree.SubElement(element, ra("Electricity"))
        for at, total, tou, _blocks, matrix, *_ in records:
            entry = etree.SubElement(parent, ra("LogEntryConsumptionAndTariffRegistersData"))
            add(entry, "ActiveImportRegisterConsumption", str(int_of(total)))
            _indexed(entry, "TariffTOURegisterMatrixValue", _strs(tou))
            _tou_blocks(entry, matrix)
            add(entry, "Timestamp", _time(at))
    for record in records:
        _prepayment(parent, "LogEntryPrepaymentData", record)
    return element


def calendar_billing_log(result: Result) -> etree._Element:
    """4.4.3: billing data snapshotted on each billing calendar date."""
    element = response_element("RetrieveBillingCalendarTriggeredBillingDataLogRsp")
    records = _records(result, "billing_log")
    gas = is_gas(result)
    parent = etree.SubElement(element, ra("Gas" if gas else "Electricity"))
    meter = "GSME" if gas else "ESME"
    for at, total, tou, blocks, matrix, *_ in records:
        entry = etree.SubElement(parent, ra(f"{meter}BillingDataLogEntry"))
        add(entry, "Timestamp", _time(at))
        if gas:
            add(entry, "ActiveImportRegisterValueConsumption", _m3(total))
            _indexed(entry, "BlockRegisterMatrixValue", _volumes(blocks))
            _indexed(entry, "TariffTOURegisterMatrixValue", _volumes(tou))
        else:
            add(entry, "ActiveImportRegisterValueConsumption", str(int_of(total)))
            _indexed(entry, "TariffTOURegisterMatrixValue", _strs(tou))
            _tou_blocks(entry, matrix)
    for record in records:
        _prepayment(parent, f"{meter}BillingPrepaymentDataLogEntry", record)
    return element


def daily_read_log(result: Result) -> etree._Element:
    """4.6.1: the import register and TOU registers at each midnight."""
    element = response_element("RetrieveImportDailyReadLogRsp")
    gas = is_gas(result)
    for at, total, tou in _records(result, "daily_reads"):
        entry = etree.SubElement(element, ra("LogEntry"))
        add(entry, "Timestamp", _time(at))
        if gas:
            values = etree.SubElement(entry, ra("Gas"))
            add(values, "GasActiveImportRegisterConsumption", _m3(total))
            _indexed(values, "TariffTOURegisterMatrix", _volumes(tou))
        else:
            values = etree.SubElement(entry, ra("Electricity"))
            add(values, "ElecActiveImportRegisterConsumption", str(int_of(total)))
            _indexed(values, "TariffTOURegisterMatrixValue", _strs(tou))
    return element


def profile_data(result: Result) -> etree._Element:
    """4.8.1: consumption in each half hour."""
    element = response_element("ReadActiveImportProfileDataRsp")
    gas = is_gas(result)
    for start, amount in _records(result, "profile"):
        entry = etree.SubElement(element, ra("LogEntry"))
        add(entry, "Timestamp", _time(start))
        values = etree.SubElement(entry, ra("Gas" if gas else "Electricity"))
        add(values, "PrimaryValue", _m3(amount) if gas else str(int_of(amount)))
    return element


def network_data(result: Result) -> etree._Element:
    """4.10: an electricity meter's RMS voltage profile, a gas meter's volume readings."""
    element = response_element("ReadNetworkDataRsp")
    if is_gas(result):
        log = etree.SubElement(etree.SubElement(element, ra("Gas")), ra("NetworkDataLog"))
        for at, volume in _records(result, "network_log"):
            entry = etree.SubElement(log, ra("LogEntry"))
            add(entry, "Value", _m3(volume))
            add(entry, "Timestamp", _time(at))
        return element
    phase = etree.SubElement(etree.SubElement(element, ra("Electricity")), ra("SinglePhaseESME"))
    for local, key in (
        ("AvgRMSOverVoltageCounter", "over_voltage_count"),
        ("AvgRMSUnderVoltageCounter", "under_voltage_count"),
    ):
        add(etree.SubElement(phase, ra(local)), "Value", str(int_of(result[key])))
    log = etree.SubElement(phase, ra("AvgRMSVoltageProfileDataLog"))
    for start, decivolts in _records(result, "voltage_profile"):
        entry = etree.SubElement(log, ra("LogEntry"))
        add(entry, "Value", _scaled(int_of(decivolts), 1))
        add(entry, "Timestamp", _time(start))
    add(log, "MeasurementPeriod", str(int_of(result["measurement_period_s"])))
    return element


def daily_consumption_log(result: Result) -> etree._Element:
    """4.17: consumption over each whole day."""
    element = response_element("RetrieveDailyConsumptionLogRsp")
    gas = is_gas(result)
    parent = etree.SubElement(element, ra("Gas" if gas else "Electricity"))
    for day, amount in _records(result, "daily_consumption"):
        entry = etree.SubElement(parent, ra("LogEntry"))
        add(entry, "Value", _m3(amount) if gas else str(int_of(amount)))
        add(entry, "Timestamp", _time(day))
    return element


def event_or_security_log(result: Result) -> etree._Element:
    """6.13: the entries of the event (or power event) or security log."""
    element = response_element("ReadEventOrSecurityLogRsp")
    if result.get("log") == "alcs":
        switched = etree.SubElement(element, ra("ALCSEvent"))
        for at, switch, action in _records(result, "log_entries"):
            entry = etree.SubElement(switched, ra("ALCSEventLogEntry"))
            add(entry, "Timestamp", _time(at))
            add(entry, "SwitchNumber", int_of(switch))
            add(entry, "SwitchAction", str_of(action))
            add(entry, "Outcome", "Success")
        return element
    log = etree.SubElement(element, ra("Log"))
    for at, code, meaning in _records(result, "log_entries"):
        entry = etree.SubElement(log, ra("LogEntry"))
        add(entry, "Timestamp", _time(at))
        add(entry, "LogCode", f"{int_of(code):04X}")
        add(entry, "LogMeaning", str_of(meaning))
    return element


def device_log(result: Result) -> etree._Element:
    """8.9: the devices joined to the meter's HAN."""
    element = response_element("ReadDeviceLogRsp")
    log = etree.SubElement(element, ra("DeviceLogEntries"))
    for device, device_type in _records(result, "han_devices"):
        entry = etree.SubElement(log, ra("LogEntry"))
        add(entry, "DeviceID", str_of(device))
        add(entry, "DeviceType", _DEVICE_TYPES[str_of(device_type)])
    return element


def firmware_version(result: Result) -> etree._Element:
    """11.2: the active firmware version."""
    element = response_element("ReadFirmwareVersionRsp")
    add(element, "FirmwareVersion", str_of(result["firmware_version"]))
    return element


SERVICES: tuple[Service, ...] = (
    Service("4.1.1", "readInstantaneousImportRegisters", no_parameters, import_registers),
    Service("4.1.2", "readInstantaneousImportTOUMatrices", no_parameters, tou_matrices),
    Service(
        "4.4.2",
        "retrieveCoMOrTariffTriggeredBillingDataLog",
        log_period,
        triggered_billing_log,
    ),
    Service(
        "4.4.3", "retrieveBillingCalendarTriggeredBillingDataLog", log_period, calendar_billing_log
    ),
    Service("4.6.1", "retrieveImportDailyReadLog", log_period, daily_read_log),
    Service("4.8.1", "readActiveImportProfileData", log_period, profile_data),
    Service("4.10", "readNetworkData", log_period, network_data),
    Service("4.17", "retrieveDailyConsumptionLog", log_period, daily_consumption_log),
    Service("6.13", "readEventOrSecurityLog", event_log_parameters, event_or_security_log),
    Service("8.9", "readDeviceLog", device_log_parameters, device_log),
    Service("11.2", "readFirmwareVersion", no_parameters, firmware_version),
)
