"""Head-end simulators read block counters, reactive and export profiles, maximum demand and
load limit data from their meter model (``opendcc.s1sp.services.registers`` documents the
Result), and the alert behaviours 6.22 configured (6.2.10, ``opendcc.s1sp.services.behaviour``).

Derived here from what the model keeps (deterministic, as every read of it):

- 4.8.2: each half hour's reactive import is its active import times the household's reactive
  share (``Household.reactive_permille``), as the reactive register of 4.1.1 is.
- 4.12.1 / 4.12.2: the maximum demand registers hold the largest half-hourly import (export)
  since the register was last reset by 6.18.2 (``MaxDemandActivePowerImportValue``,
  ``MaxDemandActivePowerExportValue``), within the profile's 13 months.
- 4.15: the load limit counter counts the finished half hours since 6.4.2 last reset it whose
  average draw passed the threshold 6.4.1 set (none without one); the settings are 6.4.1's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from opendcc.s1sp.services.base import Datum, Parameters, Result
from opendcc.sim.services.base import Execute, electricity_meter, gas_meter
from opendcc.sim.services.reads import _period, _within
from opendcc.sim.state import Esme, MeterState, ProfileEntry
from opendcc.sim.state.device import Alerts
from opendcc.sim.state.history import DEBT_PAYMENT_ENTRIES, PREPAYMENT_CREDIT_ENTRIES

IMPORT_RESET = "MaxDemandActivePowerImportValue"  # 6.18.2's register names
EXPORT_RESET = "MaxDemandActivePowerExportValue"
LOAD_LIMIT_COUNTER = "load limit counter"  # 6.4.2 resets it (``sim.services.settings``)
LOAD_LIMITING = "load limiting"  # 6.4.1 holds it
_SETTINGS = (
    ("LoadLimitPowerThreshold", "threshold_w"),
    ("LoadLimitPeriod", "period_s"),
    ("LoadLimitRestorationPeriod", "restoration_period_s"),
)
HALF_HOURS_PER_HOUR = 2


def event_and_alert_behaviours(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.2.10 Read Device Configuration (Event and Alert Behaviours): what 6.22 switched off."""
    fuel = "gas" if meter.gas else "electricity"
    return {"fuel": fuel, "disabled_alerts": tuple(sorted(meter.disabled_alerts))}, ()


def _esme(meter: MeterState) -> Esme:
    return electricity_meter(meter, "a gas meter has no such electricity register")


def tou_with_blocks(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.1.3 Read Instantaneous Import TOU With Blocks Matrices: an ESME's, Wh."""
    return {"matrix": _esme(meter).import_registers(now).matrix}, ()


def block_counters(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.1.4 Read Instantaneous Import Block Counters: a gas meter's, litres per block."""
    gsme = gas_meter(meter, "an electricity meter's block counters are read with its matrices")
    return {"block_counters": gsme.import_registers(now).blocks}, ()


def debt_payments(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.4.4 Retrieve Billing Data Log (Payment Based Debt Payments), in the period."""
    kept = _within(meter.debt_payments(now), parameters, lambda p: p[0], DEBT_PAYMENT_ENTRIES)
    return {"debt_payments": kept}, ()


def prepayment_credits(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.4.5 Retrieve Billing Data Log (Prepayment Credits), in the period."""
    kept = _within(
        meter.prepayment_credits(now), parameters, lambda c: c[0], PREPAYMENT_CREDIT_ENTRIES
    )
    return {"credits": kept}, ()


def reactive_profile(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.8.2 Read Reactive Import Profile Data: the half hours starting in ``[start, end)``."""
    esme = _esme(meter)
    start, end = _period(parameters)
    share = esme.household.reactive_permille
    entries = esme.profile(now, start=start, end=end)
    return {"profile": tuple((e.start, e.amount * share // 1000) for e in entries)}, ()


def export_profile(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.8.3 Read Export Profile Data: the half hours starting in ``[start, end)``."""
    start, end = _period(parameters)
    entries = _esme(meter).export_profile(now, start=start, end=end)
    return {"profile": tuple((e.start, e.amount) for e in entries)}, ()


def _largest(entries: tuple[ProfileEntry, ...]) -> ProfileEntry | None:
    return max(entries, key=lambda e: (e.amount, e.start), default=None)


def _maximum(esme: Esme, now: datetime, prefix: str, counter: str, *, export: bool) -> Result:
    reset = esme.counter_reset_at(counter)
    since = reset or esme.commissioned
    read = esme.export_profile if export else esme.profile
    largest = _largest(read(now, start=since, end=now))
    result: dict[str, Datum] = {f"{prefix}_max_wh": largest.amount if largest else 0}
    if largest is not None:
        result[f"{prefix}_max_at"] = largest.start
    if reset is not None:
        result[f"{prefix}_reset_at"] = reset
    return result


def maximum_demand_import(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.12.1 Read Maximum Demand Import Registers."""
    return _maximum(_esme(meter), now, "import", IMPORT_RESET, export=False), ()


def maximum_demand_export(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.12.2 Read Maximum Demand Export Registers."""
    return _maximum(_esme(meter), now, "export", EXPORT_RESET, export=True), ()


def _whole(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def load_limit_data(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.15 Read Load Limit Data."""
    esme = _esme(meter)
    held = esme.setting(LOAD_LIMITING)
    result: dict[str, Datum] = {}
    for name, key in _SETTINGS:
        value = _whole(held.get(name))
        if value is not None:
            result[key] = value
    if held.get("LoadLimitSupplyState") in {"Disable", "Unchanged"}:
        result["supply_state"] = held["LoadLimitSupplyState"]
    threshold = _whole(held.get("LoadLimitPowerThreshold"))
    since = esme.counter_reset_at(LOAD_LIMIT_COUNTER) or esme.commissioned
    entries = esme.profile(now, start=since, end=now) if threshold is not None else ()
    limit = threshold or 0
    over = sum(1 for e in entries if e.amount * HALF_HOURS_PER_HOUR > limit)
    return {"counter": over, **result}, ()


EXECUTORS: Mapping[str, Execute] = {
    "4.1.3": tou_with_blocks,
    "4.1.4": block_counters,
    "4.4.4": debt_payments,
    "4.4.5": prepayment_credits,
    "4.8.2": reactive_profile,
    "4.8.3": export_profile,
    "4.12.1": maximum_demand_import,
    "4.12.2": maximum_demand_export,
    "4.15": load_limit_data,
    "6.2.10": event_and_alert_behaviours,
}
