"""Head-end simulators carry out the SMETS1 configuration services on a meter model.

What the model acts on it takes (6.5's single-phase voltage thresholds into the voltage
configuration 6.2.1 reads, 6.6's conversion factor and calorific value into the gas
configuration 6.2.8 reads and the energy it registers from now on, 3.3's cleared event log,
3.5's privacy PIN, 4.16's instantaneous demand, the HAN device log of 8.7.1 / 8.8.1); the
rest (load limiting, gas flow, power thresholds, maximum demand period, tamper state, the block
counters' daily reset, randomised offset limit) the meter holds as written, readable with
``MeterState.setting`` (and by Users with 6.2.5 and 6.2.2, for 6.12 and 7.12), and counter
resets are recorded with their instant (``counter_reset_at``). Each is logged as a device
configuration update. A setting for the other fuel's meter is refused, as is a value out of the
meter's range. See ``opendcc.s1sp.services.settings`` for the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from opendcc.s1sp.services.base import Parameters, Result
from opendcc.s1sp.services.settings import POWER_THRESHOLDS, RANDOMISATION
from opendcc.sim.services.base import Execute, electricity_meter, gas_meter
from opendcc.sim.services.config import _join, _synchronise_clock, _unjoin
from opendcc.sim.state import Esme, Gsme, MeterError, MeterState, Reason
from opendcc.sim.state.config import GasConfig, VoltageConfig
from opendcc.sim.state.device import Alerts

_SINGLE_PHASE = "SinglePhaseVoltageSettings."


def _esme(meter: MeterState, what: str) -> Esme:
    return electricity_meter(meter, f"a gas meter has no {what}")


def _gsme(meter: MeterState, what: str) -> Gsme:
    return gas_meter(meter, f"an electricity meter has no {what}")


def _number(parameters: Parameters, key: str) -> Decimal:
    try:
        value = Decimal(parameters[key])
    except (KeyError, InvalidOperation):
        raise MeterError(Reason.INVALID_VALUE, f"{key} is not a number") from None
    if not value.is_finite() or value < 0:
        raise MeterError(Reason.INVALID_VALUE, f"{key} is not a non-negative number")
    return value


def _holds(item: str, *, electricity: bool) -> Execute:
    """An executor that keeps ``item`` as written, on the one fuel's meter that has it."""

    def execute(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
        (_esme if electricity else _gsme)(meter, item)
        for key in parameters:
            if key.endswith(("Threshold", "Period", "Limit", "Rate")) and parameters[key]:
                _number(parameters, key)  # a number the meter can hold
        return {}, meter.hold_setting(now, item, parameters)

    return execute


def _resets(counter: str) -> Execute:
    def execute(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
        _esme(meter, counter)
        return {}, meter.reset_counter(now, counter)

    return execute


def _acting(action: Callable[[MeterState, datetime], Alerts]) -> Execute:
    def execute(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
        return {}, action(meter, now)

    return execute


def _voltage(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """6.5: single-phase average RMS thresholds (volts) and period (seconds) into the voltage
    configuration; every setting held as written."""
    esme = _esme(meter, "supply voltage")
    current = esme.voltage_config
    over, under, period = (
        f"{_SINGLE_PHASE}AverageRMS{name}"
        for name in ("OverVoltageThreshold", "UnderVoltageThreshold", "VoltageMeasurementPeriod")
    )
    config = VoltageConfig(
        over_voltage_dv=int(_number(parameters, over) * 10)
        if over in parameters
        else current.over_voltage_dv,
        under_voltage_dv=int(_number(parameters, under) * 10)
        if under in parameters
        else current.under_voltage_dv,
        measurement_period_s=int(_number(parameters, period))
        if period in parameters
        else current.measurement_period_s,
    )
    alerts = esme.update_voltage_configuration(now, config)
    return {}, (*alerts, *esme.hold_setting(now, "voltage", parameters))


def _gas_conversion(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.6: ConversionFactor (e.g. 1.02264) and CalorificValue (MJ/m3, e.g. 39.5)."""
    gsme = _gsme(meter, "gas conversion")
    current = gsme.gas_config
    factor = parameters.get("ConversionFactor")
    value = parameters.get("CalorificValue")
    config = GasConfig(
        conversion_factor_e5=(
            int(_number(parameters, "ConversionFactor") * 100_000)
            if factor
            else current.conversion_factor_e5
        ),
        calorific_value_kj_m3=(
            int(_number(parameters, "CalorificValue") * 1000)
            if value
            else current.calorific_value_kj_m3
        ),
    )
    return {}, gsme.update_gas_configuration(now, config)


def _max_demand_reset(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.18.2: each maximum demand register the body names (all, if it names none)."""
    esme = _esme(meter, "maximum demand registers")
    registers = sorted(parameters) or ["MaxDemandActivePowerImportValue"]
    alerts: Alerts = ()
    for register in registers:
        alerts = (*alerts, *esme.reset_counter(now, register))
    return {}, alerts


def _active_power(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.16 Read Active Power Import: the electricity meter's instantaneous demand, W."""
    return {"power_w": _esme(meter, "active power").power_w(now)}, ()


def _reads_back(item: str, names: tuple[str, ...]) -> Execute:
    """6.2.5 / 6.2.2: the integers ``item`` holds under ``names`` (what 6.12 / 7.12 wrote)."""

    def execute(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
        held = _esme(meter, item).setting(item)
        return {n: int(_number(held, n)) for n in names if held.get(n)}, ()

    return execute


EXECUTORS: Mapping[str, Execute] = {
    "1.7": _resets("tariff block counter matrix"),
    "3.3": _acting(lambda meter, now: meter.clear_event_log(now)),
    "3.5": _acting(lambda meter, now: meter.disable_privacy_pin(now)),
    "6.4.1": _holds("load limiting", electricity=True),
    "6.4.2": _resets("load limit counter"),
    "6.5": _voltage,
    "6.6": _gas_conversion,
    "6.7": _holds("gas flow", electricity=False),
    "6.12": _holds("instantaneous power thresholds", electricity=True),
    "6.18.1": _holds("maximum demand period", electricity=True),
    "6.18.2": _max_demand_reset,
    "6.25": _holds("supply tamper state", electricity=True),
    "6.26": _holds("daily block counter reset", electricity=True),
    "6.27": _resets("RMS voltage counters"),
    "7.12": _holds("randomised offset limit", electricity=True),
    "4.16": _active_power,
    "6.2.2": _reads_back("randomised offset limit", RANDOMISATION),
    "6.2.5": _reads_back("instantaneous power thresholds", POWER_THRESHOLDS),
    "8.1.1": _synchronise_clock,  # commissioning a SMETS1 device sets its clock
    "8.7.1": _join,
    "8.8.1": _unjoin,
}
