"""Head-end simulators carry out the reads and logs family of SMETS1 services on a meter model.

SMETS1: Smart Metering Equipment Technical Specifications, first edition. Each executor reads
the simulated ESME (electricity smart metering equipment) or GSME (gas) at ``now`` through the
``opendcc.sim.state`` API and answers the ``Result`` that ``opendcc.s1sp.services.reads``
documents (keys, record field order, units). Reads project the meter without changing it, so
they raise no alerts: what time passing raised comes back with the meter's next operation.

A log read keeps the entries whose instant lies in the request's period, both ends included
(4.8.1 keeps the half hours starting in ``[start, end)``, as the model does), at most as many
as the MMC (Message Mapping Catalogue) response holds, the newest first. A GSME has the 4 TOU
(time-of-use) rates GBCS (Great Britain Companion Specification) gives it: its TOU registers
and matrix rows are the model's first 4.

Two answers are derived here, as the model keeps neither (both deterministic):

- 4.10 on an ESME: the average RMS (root mean square) voltage of each measurement period
  (6.2.1's ``measurement_period_s``) in the window, up to 4,320 of them, is what the
  household's voltage (``Household.voltage_dv``) is at the period's start while drawing the
  average power of its half hour in the profile (4.8.1); the over- and under-voltage counters
  count those periods beyond the configured thresholds. Periods without profile data (before
  commissioning or the change-of-tenancy restriction) are left out.
- 4.10 on a GSME: the network data log is the volume register at each midnight (the daily
  read log), up to 41 entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from opendcc.s1sp.services.base import Datum, Parameters, Result
from opendcc.sim.services.base import Execute, electricity_meter
from opendcc.sim.state import (
    BillingRecord,
    Esme,
    EventCode,
    LogEntry,
    MeterError,
    MeterState,
    Reason,
)
from opendcc.sim.state.device import Alerts

T = TypeVar("T")
Record = tuple[Datum, ...]

GSME_TOU_RATES = 4
# The most entries each MMC response element holds.
BILLING_LOG_LIMIT = 12
DAILY_READ_LIMIT = 31
DAILY_CONSUMPTION_LIMIT = 731
EVENT_LOG_LIMIT = 100
VOLTAGE_PROFILE_LIMIT = 4_320
GAS_NETWORK_LOG_LIMIT = 41

_POWER_EVENTS = frozenset({EventCode.POWER_OUTAGE, EventCode.POWER_RESTORED})
_SLOT = timedelta(minutes=30)
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)

# --------------------------------------------------------------------------- helpers


def _instant(parameters: Parameters, key: str) -> datetime:
    try:
        value = datetime.fromisoformat(parameters[key])
    except KeyError:
        raise MeterError(Reason.INVALID_VALUE, f"the read names no {key} instant") from None
    except ValueError:
        raise MeterError(Reason.INVALID_VALUE, f"{key} is not ISO 8601 text") from None
    if value.utcoffset() is None:
        raise MeterError(Reason.INVALID_TIME, f"{key} has no time zone")
    return value.astimezone(UTC)


def _period(parameters: Parameters) -> tuple[datetime, datetime]:
    return _instant(parameters, "start"), _instant(parameters, "end")


def _within(
    items: Sequence[T], parameters: Parameters, when: Callable[[T], datetime], limit: int
) -> tuple[T, ...]:
    """The items (newest first) whose instant is in the period, at most ``limit``."""
    start, end = _period(parameters)
    return tuple(item for item in items if start <= when(item) <= end)[:limit]


def _fuel(meter: MeterState) -> str:
    return "gas" if meter.gas else "electricity"


def _rates(meter: MeterState, values: tuple[T, ...]) -> tuple[T, ...]:
    return values[:GSME_TOU_RATES] if meter.gas else values


def _floor(instant: datetime, step: timedelta) -> datetime:
    """The latest multiple of ``step`` since the Unix epoch not after ``instant``."""
    return _UNIX + (instant - _UNIX) // step * step


def _esme(meter: MeterState) -> Esme:
    return electricity_meter(meter, "only an electricity meter measures voltage")


# --------------------------------------------------------------------------- executors


def import_registers(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.1.1 Read Instantaneous Import Registers."""
    result: dict[str, Datum] = {
        "fuel": _fuel(meter),
        "import_register": meter.import_registers(now).total,
    }
    if isinstance(meter, Esme):
        result["reactive_import_varh"] = meter.reactive_import_varh(now)
    return result, ()


def tou_matrices(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """4.1.2 Read Instantaneous Import TOU Matrices."""
    tou = _rates(meter, meter.import_registers(now).tou)
    return {"fuel": _fuel(meter), "tou_registers": tou}, ()


def _billing(meter: MeterState, record: BillingRecord) -> Record:
    registers = record.registers
    prepay = record.prepay
    return (
        record.at,
        registers.total,
        _rates(meter, registers.tou),
        registers.blocks,
        _rates(meter, registers.matrix),
        prepay.balance_p,
        prepay.emergency_credit_p,
        prepay.accumulated_debt_p,
        prepay.payment_debt_p,
        *prepay.time_debts_p,
    )


def _billing_log(
    meter: MeterState, parameters: Parameters, log: tuple[BillingRecord, ...]
) -> Result:
    kept = _within(log, parameters, lambda b: b.at, BILLING_LOG_LIMIT)
    return {"fuel": _fuel(meter), "billing_log": tuple(_billing(meter, b) for b in kept)}


def triggered_billing_log(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.4.2 Retrieve Change Of Mode / Tariff Triggered Billing Data Log."""
    return _billing_log(meter, parameters, meter.triggered_billing_log(now)), ()


def calendar_billing_log(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.4.3 Retrieve Billing Calendar Triggered Billing Data Log."""
    return _billing_log(meter, parameters, meter.calendar_billing_log(now)), ()


def daily_read_log(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.6.1 Retrieve Import Daily Read Log."""
    reads = _within(meter.daily_reads(now), parameters, lambda r: r.at, DAILY_READ_LIMIT)
    records = tuple((r.at, r.total, _rates(meter, r.tou)) for r in reads)
    return {"fuel": _fuel(meter), "daily_reads": records}, ()


def profile_data(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """4.8.1 Read Active Import Profile Data: the half hours starting in ``[start, end)``."""
    start, end = _period(parameters)
    entries = meter.profile(now, start=start, end=end)
    return {"fuel": _fuel(meter), "profile": tuple((e.start, e.amount) for e in entries)}, ()


def network_data(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """4.10 Read Network Data (see the module docstring for what is derived)."""
    if meter.gas:
        reads = _within(meter.daily_reads(now), parameters, lambda r: r.at, GAS_NETWORK_LOG_LIMIT)
        return {"fuel": "gas", "network_log": tuple((r.at, r.total) for r in reads)}, ()
    esme = _esme(meter)
    config = esme.voltage_config
    profile = voltage_profile(esme, parameters, now)
    result: Result = {
        "fuel": "electricity",
        "measurement_period_s": config.measurement_period_s,
        "over_voltage_count": sum(1 for _, v in profile if v > config.over_voltage_dv),
        "under_voltage_count": sum(1 for _, v in profile if v < config.under_voltage_dv),
        "voltage_profile": profile,
    }
    return result, ()


def voltage_profile(
    meter: Esme, parameters: Parameters, now: datetime
) -> tuple[tuple[datetime, int], ...]:
    """Average RMS voltage (decivolts) of each finished measurement period starting in the
    period, oldest first (derived: see the module docstring)."""
    start, end = _period(parameters)
    period = timedelta(seconds=meter.voltage_config.measurement_period_s)
    earliest = max(start, now.astimezone(UTC) - VOLTAGE_PROFILE_LIMIT * period)
    at = _floor(earliest, period)
    if at < earliest:
        at += period
    # A half hour's average draw, W, from its consumption, Wh.
    half_hours = meter.profile(now, start=_floor(at, _SLOT), end=end)
    drawing_w = {e.start: e.amount * 2 for e in half_hours}
    profile: list[tuple[datetime, int]] = []
    while at < end and at + period <= now:
        slot = _floor(at, _SLOT)
        if slot in drawing_w:
            volts = meter.household.voltage_dv(meter.device_id, at, drawing_w=drawing_w[slot])
            profile.append((at, volts))
        at += period
    return tuple(profile)


def daily_consumption_log(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.17 Retrieve Daily Consumption Log."""
    days = _within(
        meter.daily_consumption(now), parameters, lambda d: d.day, DAILY_CONSUMPTION_LIMIT
    )
    return {"fuel": _fuel(meter), "daily_consumption": tuple((d.day, d.amount) for d in days)}, ()


_LOG_READS: Mapping[str, Callable[[MeterState, datetime], tuple[LogEntry, ...]]] = {
    "event": lambda meter, now: meter.event_log(now),
    "security": lambda meter, now: meter.security_log(now),
    "power": lambda meter, now: tuple(e for e in meter.event_log(now) if e.code in _POWER_EVENTS),
}


def event_or_security_log(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.13 Read Event Or Security Log: ``log`` is event, security or power (power events),
    or on an ESME alcs (its auxiliary load control switches' log)."""
    log = parameters.get("log", "")
    if log == "alcs":
        esme = electricity_meter(meter, "a gas meter has no auxiliary load control switches")
        switched = _within(esme.alcs_log(now), parameters, lambda e: e[0], EVENT_LOG_LIMIT)
        return {"log": log, "log_entries": switched}, ()
    if log not in _LOG_READS:
        raise MeterError(Reason.INVALID_VALUE, f"the meter has no {log or 'unnamed'} log")
    entries = _within(_LOG_READS[log](meter, now), parameters, lambda e: e.at, EVENT_LOG_LIMIT)
    records = tuple((e.at, int(e.code), e.text) for e in entries)
    return {"log": log, "log_entries": records}, ()


def device_log(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """8.9 Read Device Log: the HAN (home area network) devices joined to the meter."""
    devices = tuple((str(d.device), d.device_type.value) for d in meter.han_devices)
    return {"han_devices": devices}, ()


def firmware_version(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """11.2 Read Firmware Version: the active image's version."""
    return {"firmware_version": meter.firmware.version}, ()


EXECUTORS: Mapping[str, Execute] = {
    "4.1.1": import_registers,
    "4.1.2": tou_matrices,
    "4.4.2": triggered_billing_log,
    "4.4.3": calendar_billing_log,
    "4.6.1": daily_read_log,
    "4.8.1": profile_data,
    "4.10": network_data,
    "4.17": daily_consumption_log,
    "6.13": event_or_security_log,
    "8.9": device_log,
    "11.2": firmware_version,
}
