"""Simulated SMETS1 meters carry out the configuration, supply and HAN services.

The executors of SRVs (Service Reference Variants) 3.1, 3.2, 3.4, 6.2.1, 6.2.3, 6.2.4, 6.2.7,
6.2.8, 6.8, 6.11, 6.20.1, 7.1-7.4, 8.7.2, 8.8.2 and 8.11 on the meter model
(``opendcc.sim.state``), answering with the ``Result`` keys ``opendcc.s1sp.services.config``
reads. SMETS1: Smart Metering Equipment Technical Specifications, first edition; ESME/GSME:
electricity/gas smart metering equipment; HAN: home area network; MPxN: MPAN or MPRN.

Where the model is narrower than DUIS (DCC User Interface Specification), the meter refuses
with ``MeterError``: it holds one import MPxN (no secondary MPAN of a twin-element meter). Its
billing calendar repeats as DUIS's does: daily, weekly, monthly, quarterly, six-monthly or
yearly.
It keeps the supplier's name but not the telephone number 3.4 also carries (checked, then
dropped). Services the catalogue offers on one fuel only are refused on the other: 6.2.1 and
7.1 on a GSME (a gas valve is armed remotely and opened by the consumer), 6.2.8 on an ESME.

DUIS join requests name only the other device; a non-critical join adds a type 2 device (an
IHD, in-home display, or a CAD, consumer access device), so the simulator logs an IHD unless
the head-end adds ``other_device_type`` (a ``DeviceType`` value) from its own records. 8.11
Update HAN Device Log runs on the meter whose HAN the device is in (the head-end routes it so):
"Add" joins the device, logged as a GSME when its whitelist entry names an MPRN, else as an IHD
(or as ``device_type`` says); "Remove" unjoins it. A meter is always on its own HAN: adding
itself changes nothing and removing itself is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.s1sp.services.base import Parameters, Result
from opendcc.s1sp.services.config import ASN1_SUCCESS, CLOCK_RELIABLE, ELECTRICITY, GAS
from opendcc.sim.services.base import Execute, electricity_meter, gas_meter
from opendcc.sim.state import (
    BillingCalendar,
    BillingPeriod,
    DeviceType,
    Esme,
    Gsme,
    MeterError,
    MeterState,
    Reason,
    Supply,
)
from opendcc.sim.state.device import Alerts

_PERIODS: Mapping[str, BillingPeriod] = {
    "Daily": BillingPeriod.DAILY,
    "Weekly": BillingPeriod.WEEKLY,
    "Monthly": BillingPeriod.MONTHLY,
    "Quarterly": BillingPeriod.QUARTERLY,
    "SixMonthly": BillingPeriod.SIX_MONTHLY,
    "Yearly": BillingPeriod.YEARLY,
}
_MONTH_ANCHORED = ("Quarterly", "SixMonthly", "Yearly")  # a rule with a start month
_PERIODICITY = {period: name for name, period in _PERIODS.items()}
_SUPPLY_STATES: Mapping[Supply, str] = {
    Supply.ENABLED: "Enabled",
    Supply.DISABLED: "Disabled",
    Supply.ARMED: "Armed",
}
_PHONE_LIMIT = 18  # sr:SupplierTelephoneNumber
_MPRN_LIMIT = 10
_DAYS_PER_WEEK = 7


# --------------------------------------------------------------------------- parameters


def _param(parameters: Parameters, key: str) -> str:
    try:
        return parameters[key]
    except KeyError:
        raise MeterError(Reason.INVALID_VALUE, f"the instruction lacks {key!r}") from None


def _int(parameters: Parameters, key: str) -> int:
    text = _param(parameters, key)
    try:
        return int(text)
    except ValueError:
        raise MeterError(Reason.INVALID_VALUE, f"{key} is an integer, not {text!r}") from None


def _instant(parameters: Parameters, key: str) -> datetime:
    text = _param(parameters, key)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise MeterError(Reason.INVALID_VALUE, f"{key} is a date-time, not {text!r}") from None
    if value.tzinfo is None:
        raise MeterError(Reason.INVALID_TIME, f"{key} has no time zone: {text!r}")
    return value


def _eui(parameters: Parameters, key: str) -> Eui64:
    text = _param(parameters, key)
    try:
        return Eui64.parse(text)
    except InvalidIdentifier:
        raise MeterError(Reason.INVALID_VALUE, f"{key} is an EUI-64, not {text!r}") from None


def _device_type(parameters: Parameters, key: str, default: DeviceType) -> DeviceType:
    if key not in parameters:
        return default
    try:
        return DeviceType(parameters[key])
    except ValueError:
        raise MeterError(Reason.INVALID_VALUE, f"no HAN device type {parameters[key]!r}") from None


def _fuel(meter: MeterState) -> str:
    return GAS if meter.gas else ELECTRICITY


def _check_fuel(meter: MeterState, parameters: Parameters) -> None:
    fuel = _param(parameters, "fuel")
    if fuel != _fuel(meter):
        raise MeterError(Reason.INVALID_VALUE, f"the {fuel} form does not fit an {meter.model}")


def _esme(meter: MeterState, srv: str) -> Esme:
    return electricity_meter(meter, f"SRV {srv} is for electricity meters")


def _gsme(meter: MeterState, srv: str) -> Gsme:
    return gas_meter(meter, f"SRV {srv} is for gas meters")


# --------------------------------------------------------------------------- consumer-facing


def _display_message(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    return {}, meter.display_message(now, _param(parameters, "message"))


def _restrict_access(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    return {}, meter.restrict_access(now, _instant(parameters, "restriction_date_time"))


def _update_supplier_name(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    phone = _param(parameters, "supplier_telephone_number")
    if not (0 < len(phone) <= _PHONE_LIMIT and all(c.isdigit() or c == " " for c in phone)):
        raise MeterError(Reason.INVALID_VALUE, "a telephone number is 1-18 digits and spaces")
    return {}, meter.update_supplier_name(now, _param(parameters, "supplier_name"))


# --------------------------------------------------------------------------- configuration


def _read_voltage(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    config = _esme(meter, "6.2.1").voltage_config
    result = {
        "over_voltage_threshold_dv": config.over_voltage_dv,
        "under_voltage_threshold_dv": config.under_voltage_dv,
        "measurement_period_s": config.measurement_period_s,
    }
    return result, ()


def _read_billing_calendar(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    calendar = meter.billing_calendar
    result: Result = {
        "fuel": _fuel(meter),
        "billing_period_start": calendar.start,
        "periodicity": _PERIODICITY[calendar.period],
    }
    return result, ()


def _read_identity(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    identity = meter.identity
    result = {
        "device_id": str(meter.device_id),
        "manufacturer": identity.manufacturer,
        "model": identity.model,
        "serial": identity.serial,
    }
    return result, ()


def _read_mpxn(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    mpxn = meter.mpxn
    return ({"fuel": _fuel(meter), "import_mpxn": mpxn} if mpxn else {"fuel": _fuel(meter)}), ()


def _read_gas(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    config = _gsme(meter, "6.2.8").gas_config
    result = {
        "calorific_value_kj_m3": config.calorific_value_kj_m3,
        "conversion_factor_e5": config.conversion_factor_e5,
    }
    return result, ()


def _electricity_start(parameters: Parameters, now: datetime) -> datetime:
    """The first billing instant of an electricity rule, anchored in the year before ``now``.

    The rule says a time of day and which day; any past instant that fits it is a start, and
    one in the previous year is always past. 6.2.3 reads the rule back from it.
    """
    periodicity = _param(parameters, "periodicity")
    try:
        at = time.fromisoformat(_param(parameters, "billing_time")).replace(tzinfo=UTC)
        year = now.astimezone(UTC).year - 1
        if periodicity == "Weekly":
            january = date(year, 1, 1)
            weekday = _int(parameters, "day_of_week")
            if not 1 <= weekday <= _DAYS_PER_WEEK:
                raise ValueError(f"no weekday {weekday}")
            day = january + timedelta(days=(weekday - january.isoweekday()) % 7)
        elif periodicity == "Daily":
            day = date(year, 1, 1)
        else:
            month = _int(parameters, "start_month") if periodicity in _MONTH_ANCHORED else 1
            day = date(year, month, _int(parameters, "day_of_month"))
    except ValueError as exc:
        raise MeterError(Reason.INVALID_VALUE, f"not a billing calendar: {exc}") from None
    return datetime.combine(day, at)


def _update_billing_calendar(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    _check_fuel(meter, parameters)
    periodicity = _param(parameters, "periodicity")
    if periodicity not in _PERIODS:
        raise MeterError(Reason.UNSUPPORTED, f"the meter has no {periodicity} billing calendar")
    if meter.gas:
        start = _instant(parameters, "billing_period_start")
    else:
        start = _electricity_start(parameters, now)
    calendar = BillingCalendar(start=start, period=_PERIODS[periodicity])
    return {}, meter.update_billing_calendar(now, calendar)


def _synchronise_clock(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    # The command is good for TolerancePeriod either side of its CurrentDateTime.
    current = _instant(parameters, "current_date_time")
    tolerance = timedelta(seconds=_int(parameters, "tolerance_period_s"))
    if abs(now - current) > tolerance:
        raise MeterError(Reason.INVALID_VALUE, f"the command was valid at {current}, not now")
    alerts = meter.synchronise_clock(now)
    result: Result = {
        "fuel": _fuel(meter),
        "device_time": meter.clock(now),
        "clock_status": CLOCK_RELIABLE,
    }
    return result, alerts


def _set_mpxn(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    _check_fuel(meter, parameters)
    if "secondary_import_mpan" in parameters:
        raise MeterError(Reason.UNSUPPORTED, "the meter is single-element: no secondary MPAN")
    return {}, meter.set_mpxn(now, _param(parameters, "import_mpxn"))


# --------------------------------------------------------------------------- supply


def _switch(
    operation: Callable[[MeterState, datetime], Alerts], *, electricity_only: str = ""
) -> Execute:
    def execute(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
        if electricity_only:
            _esme(meter, electricity_only)
        return {}, operation(meter, now)

    return execute


def _read_supply(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    return {"supply_state": _SUPPLY_STATES[meter.supply_state(now)]}, ()


# --------------------------------------------------------------------------- HAN


def _join(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    other = _eui(parameters, "other_device_id")
    kind = _device_type(parameters, "other_device_type", DeviceType.IHD)
    if other == meter.device_id:
        raise MeterError(Reason.INVALID_VALUE, "a meter does not join itself")
    alerts = meter.join_device(now, other, kind)
    result = {"other_device_id": str(other), "other_device_type": kind.value}
    return {**result, "response": ASN1_SUCCESS}, alerts


def _unjoin(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    other = _eui(parameters, "other_device_id")
    alerts = meter.unjoin_device(now, other)
    return {"other_device_id": str(other), "response": ASN1_SUCCESS}, alerts


def _logged_type(parameters: Parameters) -> DeviceType:
    mpxn = parameters.get("import_mpxn")
    if mpxn is None:
        default = DeviceType.IHD
    elif len(mpxn) <= _MPRN_LIMIT:
        default = DeviceType.GSME
    else:
        raise MeterError(Reason.INVALID_VALUE, "an electricity meter joins no other meter's HAN")
    return _device_type(parameters, "device_type", default)


def _update_han_device_log(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    device = _eui(parameters, "device_id")
    request = _param(parameters, "request_type")
    result: dict[str, str] = {"device_id": str(device), "request_type": request}
    if request == "Add":
        if device == meter.device_id:
            return result, ()
        kind = _logged_type(parameters)
        return {**result, "device_type": kind.value}, meter.join_device(now, device, kind)
    if request == "Remove":
        if device == meter.device_id:
            raise MeterError(Reason.INVALID_VALUE, "a meter cannot leave its own HAN")
        return result, meter.unjoin_device(now, device)
    raise MeterError(Reason.INVALID_VALUE, f"no HAN device log request {request!r}")


EXECUTORS: Mapping[str, Execute] = MappingProxyType(
    {
        "3.1": _display_message,
        "3.2": _restrict_access,
        "3.4": _update_supplier_name,
        "6.2.1": _read_voltage,
        "6.2.3": _read_billing_calendar,
        "6.2.4": _read_identity,
        "6.2.7": _read_mpxn,
        "6.2.8": _read_gas,
        "6.8": _update_billing_calendar,
        "6.11": _synchronise_clock,
        "6.20.1": _set_mpxn,
        "7.1": _switch(MeterState.enable_supply, electricity_only="7.1"),
        "7.2": _switch(MeterState.disable_supply),
        "7.3": _switch(MeterState.arm_supply),
        "7.4": _read_supply,
        "8.7.2": _join,
        "8.8.2": _unjoin,
        "8.11": _update_han_device_log,
    }
)
