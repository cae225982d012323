"""The reads and logs family of core SMETS1 services: registers, logs, profile, firmware.

SMETS1 (Smart Metering Equipment Technical Specifications, first edition) meters answer these
DUIS (DCC User Interface Specification) Service Reference Variants (SRVs) without changing:
4.1.1 and 4.1.2 import registers and TOU (time-of-use) matrices, 4.4.2 and 4.4.3 billing data
logs, 4.6.1 daily read log, 4.8.1 half-hourly profile, 4.10 network data, 4.17 daily
consumption, 6.13 event or security log, 8.9 the HAN (home area network) device log and 11.2
the firmware version. Each answer is an MMC (Message Mapping Catalogue) ``ra:<Name>Rsp``.

Parameters: a request's ``ReadLogPeriod`` becomes ``start`` and ``end`` (ISO 8601 UTC text to
the millisecond, ``2024-06-01T00:00:00.000Z``); 6.13 adds ``log`` (``event``, ``security`` or
``power``, the event log's power outage and restoration entries).
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
- 6.13: ``log``, ``log_entries``: (timestamp, 16-bit event code, meaning)
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
    no_parameters,
)

Record = tuple[Datum, ...]

# 6.13 LogToRead: a GSME's own logs are its event and security logs; the power event log is
# the event log's power outage and restoration entries. SMETS1 meters here have no ALCS.
_LOGS: Mapping[str, str] = {
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


def _instant(period: etree._Element, local: str) -> str:
    text = (period.findtext(sr(local)) or "").strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameters(f"{local} is not an xs:dateTime: {text!r}") from None
    if value.utcoffset() is None:
        raise InvalidParameters(f"{local} has no time zone: {text!r}")
    return format_datetime(value)


def log_period(body: etree._Element) -> dict[str, str]:
    """``start`` and ``end`` of the body's ``sr:ReadLogPeriod``."""
    period = body.find(sr("ReadLogPeriod"))
    if period is None:
        raise InvalidParameters(f"{etree.QName(body).localname} has no ReadLogPeriod")
    return {"start": _instant(period, "StartDateTime"), "end": _instant(period, "EndDateTime")}


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


def _int(value: Datum) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _text(value: Datum) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def _time(value: Datum) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a date-time, got {value!r}")
    return format_datetime(value)


def _tuple(value: Datum) -> tuple[Datum, ...]:
    if not isinstance(value, tuple):
        raise TypeError(f"expected a tuple, got {value!r}")
    return value


def _ints(value: Datum) -> tuple[int, ...]:
    return tuple(_int(v) for v in _tuple(value))


def _records(result: Result, key: str) -> tuple[Record, ...]:
    return tuple(_tuple(record) for record in _tuple(result[key]))


def _gas(result: Result) -> bool:
    fuel = _text(result["fuel"])
    if fuel not in {"electricity", "gas"}:
        raise ValueError(f"fuel is electricity or gas, not {fuel!r}")
    return fuel == "gas"


def _scaled(value: int, places: int) -> str:
    """An integer count of 10**-places units as an xs:decimal (litres -> m3, dV -> V)."""
    whole, fraction = divmod(abs(value), 10**places)
    return f"{'-' if value < 0 else ''}{whole}.{fraction:0{places}d}"


def _m3(litres: Datum) -> str:
    return _scaled(_int(litres), 3)


# --------------------------------------------------------------------------- elements


def _response(local: str) -> etree._Element:
    element = etree.Element(ra(local))
    element.set("MessageSuccess", "true")
    return element


def _add(parent: etree._Element, local: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, ra(local))
    child.text = text
    return child


def _indexed(parent: etree._Element, local: str, values: tuple[str, ...]) -> None:
    for index, value in enumerate(values, start=1):
        _add(parent, local, value).set("index", str(index))


def _register(parent: etree._Element, local: str, value: str, unit_tag: str, unit: str) -> None:
    register = etree.SubElement(parent, ra(local))
    _add(register, "Value", value)
    _add(register, unit_tag, unit)


def _prepayment(parent: etree._Element, local: str, record: Record) -> None:
    """A ``PrepaymentOperationalDataType`` from a billing record (see the module docstring)."""
    entry = etree.SubElement(parent, ra(local))
    for name, field in _PREPAYMENT_FIELDS:
        _add(entry, name, str(_int(record[field]) * MILLIPENCE_PER_PENNY))
    _add(entry, "Timestamp", _time(record[0]))


def _tou_blocks(parent: etree._Element, matrix: Datum) -> None:
    """``TariffTOUBlock<n>RegisterMatrixValue``: block n's register for each TOU rate."""
    rows = [_ints(row) for row in _tuple(matrix)]
    for block in range(_BLOCKS):
        local = f"TariffTOUBlock{block + 1}RegisterMatrixValue"
        _indexed(parent, local, tuple(str(row[block]) for row in rows))


def _strs(values: Datum) -> tuple[str, ...]:
    return tuple(str(v) for v in _ints(values))


def _volumes(values: Datum) -> tuple[str, ...]:
    return tuple(_m3(v) for v in _ints(values))


# --------------------------------------------------------------------------- builders


def import_registers(result: Result) -> etree._Element:
    """4.1.1: the import register (and the reactive one of an electricity meter)."""
    element = _response("ReadInstantaneousImportRegistersRsp")
    if _gas(result):
        gas = etree.SubElement(element, ra("Gas"))
        _register(gas, "ConsumptionRegister", _m3(result["import_register"]), "Unit", "m3")
        return element
    electricity = etree.SubElement(element, ra("Electricity"))
    active = str(_int(result["import_register"]))
    _register(electricity, "ActiveImportRegister", active, "ActiveEnergyUnit", "Wh")
    if "reactive_import_varh" in result:
        reactive = str(_int(result["reactive_import_varh"]))
        _register(electricity, "ReactiveImportRegister", reactive, "ReactiveEnergyUnit", "varh")
    return element


def tou_matrices(result: Result) -> etree._Element:
    """4.1.2: one register per TOU rate."""
    element = _response("ReadInstantaneousImportTOUMatricesRsp")
    registers = result["tou_registers"]
    if _gas(result):
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
    element = _response("RetrieveCoMOrTariffTriggeredBillingDataLogRsp")
    records = _records(result, "billing_log")
    if _gas(result):
        gas = etree.SubElement(element, ra("Gas"))
        for at, total, tou, blocks, *_ in records:
            entry = etree.SubElement(gas, ra("LogEntryConsumptionRegister"))
            _add(entry, "ConsumptionRegister", _m3(total))
            _add(entry, "Timestamp", _time(at))
            _indexed(entry, "TariffTOURegisterMatrixValue", _volumes(tou))
            _indexed(entry, "BlockRegisterMatrixValue", _volumes(blocks))
        parent = gas
    else:
        parent = etree.SubElement(element, ra("Electricity"))
        for at, total, tou, _blocks, matrix, *_ in records:
            entry = etree.SubElement(parent, ra("LogEntryConsumptionAndTariffRegistersData"))
            _add(entry, "ActiveImportRegisterConsumption", str(_int(total)))
            _indexed(entry, "TariffTOURegisterMatrixValue", _strs(tou))
            _tou_blocks(entry, matrix)
            _add(entry, "Timestamp", _time(at))
    for record in records:
        _prepayment(parent, "LogEntryPrepaymentData", record)
    return element


def calendar_billing_log(result: Result) -> etree._Element:
    """4.4.3: billing data snapshotted on each billing calendar date."""
    element = _response("RetrieveBillingCalendarTriggeredBillingDataLogRsp")
    records = _records(result, "billing_log")
    gas = _gas(result)
    parent = etree.SubElement(element, ra("Gas" if gas else "Electricity"))
    meter = "GSME" if gas else "ESME"
    for at, total, tou, blocks, matrix, *_ in records:
        entry = etree.SubElement(parent, ra(f"{meter}BillingDataLogEntry"))
        _add(entry, "Timestamp", _time(at))
        if gas:
            _add(entry, "ActiveImportRegisterValueConsumption", _m3(total))
            _indexed(entry, "BlockRegisterMatrixValue", _volumes(blocks))
            _indexed(entry, "TariffTOURegisterMatrixValue", _volumes(tou))
        else:
            _add(entry, "ActiveImportRegisterValueConsumption", str(_int(total)))
            _indexed(entry, "TariffTOURegisterMatrixValue", _strs(tou))
            _tou_blocks(entry, matrix)
    for record in records:
        _prepayment(parent, f"{meter}BillingPrepaymentDataLogEntry", record)
    return element


def daily_read_log(result: Result) -> etree._Element:
    """4.6.1: the import register and TOU registers at each midnight."""
    element = _response("RetrieveImportDailyReadLogRsp")
    gas = _gas(result)
    for at, total, tou in _records(result, "daily_reads"):
        entry = etree.SubElement(element, ra("LogEntry"))
        _add(entry, "Timestamp", _time(at))
        if gas:
            values = etree.SubElement(entry, ra("Gas"))
            _add(values, "GasActiveImportRegisterConsumption", _m3(total))
            _indexed(values, "TariffTOURegisterMatrix", _volumes(tou))
        else:
            values = etree.SubElement(entry, ra("Electricity"))
            _add(values, "ElecActiveImportRegisterConsumption", str(_int(total)))
            _indexed(values, "TariffTOURegisterMatrixValue", _strs(tou))
    return element


def profile_data(result: Result) -> etree._Element:
    """4.8.1: consumption in each half hour."""
    element = _response("ReadActiveImportProfileDataRsp")
    gas = _gas(result)
    for start, amount in _records(result, "profile"):
        entry = etree.SubElement(element, ra("LogEntry"))
        _add(entry, "Timestamp", _time(start))
        values = etree.SubElement(entry, ra("Gas" if gas else "Electricity"))
        _add(values, "PrimaryValue", _m3(amount) if gas else str(_int(amount)))
    return element


def network_data(result: Result) -> etree._Element:
    """4.10: an electricity meter's RMS voltage profile, a gas meter's volume readings."""
    element = _response("ReadNetworkDataRsp")
    if _gas(result):
        log = etree.SubElement(etree.SubElement(element, ra("Gas")), ra("NetworkDataLog"))
        for at, volume in _records(result, "network_log"):
            entry = etree.SubElement(log, ra("LogEntry"))
            _add(entry, "Value", _m3(volume))
            _add(entry, "Timestamp", _time(at))
        return element
    phase = etree.SubElement(etree.SubElement(element, ra("Electricity")), ra("SinglePhaseESME"))
    for local, key in (
        ("AvgRMSOverVoltageCounter", "over_voltage_count"),
        ("AvgRMSUnderVoltageCounter", "under_voltage_count"),
    ):
        _add(etree.SubElement(phase, ra(local)), "Value", str(_int(result[key])))
    log = etree.SubElement(phase, ra("AvgRMSVoltageProfileDataLog"))
    for start, decivolts in _records(result, "voltage_profile"):
        entry = etree.SubElement(log, ra("LogEntry"))
        _add(entry, "Value", _scaled(_int(decivolts), 1))
        _add(entry, "Timestamp", _time(start))
    _add(log, "MeasurementPeriod", str(_int(result["measurement_period_s"])))
    return element


def daily_consumption_log(result: Result) -> etree._Element:
    """4.17: consumption over each whole day."""
    element = _response("RetrieveDailyConsumptionLogRsp")
    gas = _gas(result)
    parent = etree.SubElement(element, ra("Gas" if gas else "Electricity"))
    for day, amount in _records(result, "daily_consumption"):
        entry = etree.SubElement(parent, ra("LogEntry"))
        _add(entry, "Value", _m3(amount) if gas else str(_int(amount)))
        _add(entry, "Timestamp", _time(day))
    return element


def event_or_security_log(result: Result) -> etree._Element:
    """6.13: the entries of the event (or power event) or security log."""
    element = _response("ReadEventOrSecurityLogRsp")
    log = etree.SubElement(element, ra("Log"))
    for at, code, meaning in _records(result, "log_entries"):
        entry = etree.SubElement(log, ra("LogEntry"))
        _add(entry, "Timestamp", _time(at))
        _add(entry, "LogCode", f"{_int(code):04X}")
        _add(entry, "LogMeaning", _text(meaning))
    return element


def device_log(result: Result) -> etree._Element:
    """8.9: the devices joined to the meter's HAN."""
    element = _response("ReadDeviceLogRsp")
    log = etree.SubElement(element, ra("DeviceLogEntries"))
    for device, device_type in _records(result, "han_devices"):
        entry = etree.SubElement(log, ra("LogEntry"))
        _add(entry, "DeviceID", _text(device))
        _add(entry, "DeviceType", _DEVICE_TYPES[_text(device_type)])
    return element


def firmware_version(result: Result) -> etree._Element:
    """11.2: the active firmware version."""
    element = _response("ReadFirmwareVersionRsp")
    _add(element, "FirmwareVersion", _text(result["firmware_version"]))
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
