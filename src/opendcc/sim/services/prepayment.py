"""Simulated SMETS1 meters carry out the tariff and prepayment family of core services.

The executors take the parameters ``opendcc.s1sp.services.prepayment`` reads from DUIS (DCC
User Interface Specification) requests, apply them to the meter model (``opendcc.sim.state``)
and answer with the Results that module documents. SRVs (Service Reference Variants): 1.1.1,
1.2.1, 1.5, 1.6, 2.1, 2.2, 2.3 and 2.5 write; 4.3, 4.11.1, 4.13, 4.14, 4.18 and 6.2.9 read.

2.2 Top Up Device hands the UTRN (Unique Transaction Reference Number) to the meter's own token
reader (``MeterState.take_utrn``, the path a UTRN keyed in at the meter takes too): the meter
authenticates it with the algorithm and keys its head-end provisioned, refuses a counter it has
used, and credits the amount as a top-up. A refusal is a ``MeterError`` whose detail starts
``UTRN <rejection>: `` (``opendcc.prepayment.utrn.Rejection``), which the S1SP reads back; the
Result carries what was credited (``amount_p``, ``counter``) for the S1SP's ledger.

Where the model is coarser than DUIS, the simulator says so here rather than pretend:

- Money in the model is whole pence; parameters are milli-pence, so amounts are rounded to the
  nearest penny (halves away from zero): a 22.465p standing charge is charged as 22p.
  ``DebtRecoveryPerPayment`` (hundredths of a percent) is rounded to a whole percent.
- A 1.5 adjustment that rounds to nothing is refused, as the model refuses a zero adjustment;
  a reset takes the whole pence of the balance away (it reads 0 afterwards).
- 1.2.1 replaces the prices of the rates it names; the others keep theirs. A rate given fewer
  than 4 block prices charges its last price in the blocks above.
- Not modelled, so accepted and ignored: 1.6's debt suspension flags and disablement threshold
  (the model disables at no credit), 2.1's maximum meter balance and maximum credit threshold.
  2.1's calendar only switches the model's own non-disablement calendar (weekday nights and
  weekends, ``opendcc.sim.state.tariff.in_non_disablement_period``) on or off; 4.13 states it.
- 4.11.1 states the active price only when it does not depend on the block (the model does
  not expose consumption in the billing period), and the active rate at ``now`` in UTC.

Parameters that name the other fuel (a gas tariff for an electricity meter) or a payment mode
the meter is not in (1.5) are refused with ``MeterError``, as are values the model refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from opendcc.s1sp.services.base import Datum, Parameters, Result
from opendcc.sim.services.base import Execute
from opendcc.sim.state import (
    BLOCKS,
    TOU_RATES,
    DebtRegister,
    MeterError,
    MeterState,
    PaymentMode,
    Reason,
    Tariff,
)
from opendcc.sim.state.device import Alerts

_MP_PER_PENNY = 1000
_BP_PER_PERCENT = 100
_SLOT_MINUTES = 30
PREPAYMENT_LOG_ENTRIES = 31
_WEEKDAYS = (1, 2, 3, 4, 5)
_WEEKEND = (6, 7)
# The model's non-disablement calendar (``in_non_disablement_period``) as switches: weekdays
# 16:00-08:00 UTC and all of Saturday and Sunday.
NON_DISABLEMENT_SCHEDULE: tuple[Datum, ...] = (
    (_WEEKDAYS, 0, "START"),
    (_WEEKDAYS, 8 * 60, "STOP"),
    (_WEEKDAYS, 16 * 60, "START"),
    (_WEEKEND, 0, "START"),
)

# --------------------------------------------------------------------------- parameters


def _invalid(detail: str) -> MeterError:
    return MeterError(Reason.INVALID_VALUE, detail)


def _get(parameters: Parameters, key: str) -> str:
    try:
        return parameters[key]
    except KeyError:
        raise _invalid(f"the instruction has no {key}") from None


def _int(parameters: Parameters, key: str) -> int:
    text = _get(parameters, key)
    try:
        return int(text)
    except ValueError:
        raise _invalid(f"{key} is not an integer: {text!r}") from None


def _ints(parameters: Parameters, key: str) -> tuple[int, ...]:
    text = _get(parameters, key)
    try:
        return tuple(int(part) for part in text.split(",")) if text else ()
    except ValueError:
        raise _invalid(f"{key} is not a list of integers: {text!r}") from None


def _flag(parameters: Parameters, key: str) -> bool:
    text = _get(parameters, key)
    if text not in {"0", "1"}:
        raise _invalid(f"{key} is 0 or 1, not {text!r}")
    return text == "1"


def pence(mp: int) -> int:
    """Milli-pence to the nearest penny, halves away from zero."""
    whole, rest = divmod(abs(mp), _MP_PER_PENNY)
    whole += 1 if 2 * rest >= _MP_PER_PENNY else 0
    return whole if mp >= 0 else -whole


def _pence(parameters: Parameters, key: str) -> int:
    return pence(_int(parameters, key))


def _fuel(meter: MeterState) -> str:
    return "gas" if meter.gas else "electricity"


def _check_fuel(meter: MeterState, parameters: Parameters) -> None:
    fuel = _get(parameters, "fuel")
    if fuel != _fuel(meter):
        raise _invalid(f"{fuel} settings for an {_fuel(meter)} meter")


def _mode(text: str) -> PaymentMode:
    try:
        return PaymentMode(text)
    except ValueError:
        raise _invalid(f"a payment mode is credit or prepayment, not {text!r}") from None


def _instant(parameters: Parameters, key: str) -> datetime:
    text = _get(parameters, key)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(f"{key} is not an ISO 8601 date-time: {text!r}") from None
    if instant.utcoffset() is None:
        raise MeterError(Reason.INVALID_TIME, f"{key} has no time zone: {text!r}")
    return instant


# --------------------------------------------------------------------------- tariff writes


def _price_rows(parameters: Parameters) -> dict[int, tuple[int, ...]]:
    """The ``price.<rate>`` rows named, each padded to 4 blocks with its last price."""
    rows = {}
    for key in parameters:
        name = key.removeprefix("price.")
        if name == key:
            continue
        rate = int(name) if name.isdigit() else 0
        if not 1 <= rate <= TOU_RATES:
            raise MeterError(Reason.UNKNOWN_RATE, f"no rate {name}; rates are 1-{TOU_RATES}")
        given = _ints(parameters, key)
        if not 1 <= len(given) <= BLOCKS:
            raise _invalid(f"rate {rate} has 1-{BLOCKS} block prices, not {len(given)}")
        rows[rate] = given + (given[-1],) * (BLOCKS - len(given))
    return rows


def update_tariff(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """1.1.1: the rates not priced cost nothing (the switching table does not use them)."""
    _check_fuel(meter, parameters)
    rows = _price_rows(parameters)
    tariff = Tariff(
        switching_table=_ints(parameters, "switching_table"),
        prices_mp=tuple(rows.get(rate, (0,) * BLOCKS) for rate in range(1, TOU_RATES + 1)),
        block_thresholds=_ints(parameters, "block_thresholds"),
        standing_charge_p=_pence(parameters, "standing_charge_mp"),
    )
    return {}, meter.update_tariff(now, tariff)


def update_price(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """1.2.1: new prices for the rates named and a new standing charge."""
    _check_fuel(meter, parameters)
    rows = _price_rows(parameters)
    current = meter.tariff.prices_mp
    prices = [rows.get(rate, current[rate - 1]) for rate in range(1, TOU_RATES + 1)]
    standing = _pence(parameters, "standing_charge_mp")
    return {}, meter.update_price(now, prices_mp=prices, standing_charge_p=standing)


# --------------------------------------------------------------------------- prepayment writes


def update_meter_balance(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """1.5: adjust the balance, or reset it to zero, in the payment mode the request expects."""
    mode = _mode(_get(parameters, "mode"))
    if meter.payment_mode is not mode:
        detail = f"the meter is in {meter.payment_mode.value} mode, not {mode.value}"
        raise MeterError(Reason.WRONG_PAYMENT_MODE, detail)
    operation = _get(parameters, "operation")
    if operation == "adjust":
        alerts = meter.adjust_balance(now, _pence(parameters, "amount_mp"))
    elif operation == "reset":
        balance = meter.meter_balance(now)
        alerts = meter.adjust_balance(now, -balance) if balance else meter.advance(now)
    else:
        raise _invalid(f"a balance update is adjust or reset, not {operation!r}")
    return {"balance_p": meter.meter_balance(now)}, alerts


def update_payment_mode(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """1.6: the debt suspension flags and disablement threshold are not modelled."""
    mode = _mode(_get(parameters, "mode"))
    alerts = meter.update_payment_mode(now, mode)
    return {"payment_mode": meter.payment_mode.value}, alerts


def update_prepay_configuration(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """2.1: thresholds, emergency credit, the daily debt recovery cap and non-disablement."""
    _check_fuel(meter, parameters)
    config = replace(
        meter.prepay_config,
        low_credit_threshold_p=_pence(parameters, "low_credit_threshold_mp"),
        emergency_credit_limit_p=_pence(parameters, "emergency_credit_limit_mp"),
        emergency_credit_threshold_p=_pence(parameters, "emergency_credit_threshold_mp"),
        debt_recovery_cap_p_per_day=_pence(parameters, "debt_recovery_cap_mp"),
        non_disablement_calendar=_flag(parameters, "non_disablement_calendar"),
    )
    return {}, meter.update_prepay_configuration(now, config)


def top_up_device(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """2.2 Top Up Device: the meter takes the UTRN as if keyed in, but raises no keypad alert."""
    credit, alerts = meter.take_utrn(now, _get(parameters, "UTRN"))
    return {"amount_p": credit.amount_p, "counter": credit.counter}, alerts


def update_debt(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """2.3: adjust the three debt registers, set the time-based daily rates and the share of
    each top-up taken for payment-based debt. Everything is checked before anything changes."""
    _check_fuel(meter, parameters)
    basis_points = _int(parameters, "debt_recovery_per_payment_bp")
    percent = (basis_points + _BP_PER_PERCENT // 2) // _BP_PER_PERCENT
    config = replace(meter.prepay_config, payment_debt_recovery_percent=percent)
    values = meter.prepay_values(now)
    current = (*values.time_debts_p, values.payment_debt_p)
    plan = (
        (DebtRegister.TIME_1, "time_debt_1_mp", "recovery_rate_1_mp"),
        (DebtRegister.TIME_2, "time_debt_2_mp", "recovery_rate_2_mp"),
        (DebtRegister.PAYMENT, "payment_debt_mp", None),
    )
    steps = []
    for (register, debt_key, rate_key), debt_p in zip(plan, current, strict=True):
        adjustment = _pence(parameters, debt_key)
        rate = None if rate_key is None else _pence(parameters, rate_key)
        if debt_p + adjustment < 0:
            raise _invalid(f"{register.value} debt would be {debt_p + adjustment}p")
        if rate is not None and rate < 0:
            raise _invalid("a debt recovery rate is not negative")
        steps.append((register, adjustment, rate))
    alerts: Alerts = ()
    for register, adjustment, rate in steps:
        alerts += meter.update_debt(
            now, register, adjustment_p=adjustment, recovery_rate_p_per_day=rate
        )
    if config != meter.prepay_config:
        alerts += meter.update_prepay_configuration(now, config)
    after = meter.prepay_values(now)
    first, second = after.time_debts_p
    result = {
        "time_debt_1_p": first,
        "time_debt_2_p": second,
        "payment_debt_p": after.payment_debt_p,
    }
    return result, alerts


def activate_emergency_credit(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """2.5: refused in credit mode and while emergency credit is not on offer."""
    del parameters
    alerts = meter.activate_emergency_credit(now)
    return {"emergency_credit_p": meter.prepay_values(now).emergency_credit_p}, alerts


# --------------------------------------------------------------------------- reads


def prepay_values(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.3 Read Instantaneous Prepay Values."""
    del parameters
    values = meter.prepay_values(now)
    first, second = values.time_debts_p
    return {
        "balance_p": values.balance_p,
        "emergency_credit_p": values.emergency_credit_p,
        "emergency_credit_active": int(values.emergency_credit_active),
        "emergency_credit_available": int(values.emergency_credit_available),
        "time_debt_1_p": first,
        "time_debt_2_p": second,
        "payment_debt_p": values.payment_debt_p,
        "accumulated_debt_p": values.accumulated_debt_p,
    }, ()


def read_tariff(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """4.11.1 Read Tariff: the rate of the UTC half hour of ``now`` is the active one."""
    del parameters
    tariff = meter.tariff
    utc = now.astimezone(UTC)
    rate = tariff.switching_table[(utc.hour * 60 + utc.minute) // _SLOT_MINUTES]
    result: dict[str, Datum] = {
        "fuel": _fuel(meter),
        "switching_table": tariff.switching_table,
        "prices_mp": tariff.prices_mp,
        "block_thresholds": tariff.block_thresholds,
        "standing_charge_p": tariff.standing_charge_p,
        "active_rate": rate,
    }
    row = tariff.prices_mp[rate - 1]
    if not tariff.block_thresholds or len(set(row)) == 1:
        result["active_price_mp"] = row[0]
    return result, ()


def prepayment_configuration(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.13 Read Prepayment Configuration."""
    del parameters, now
    config = meter.prepay_config
    return {
        "fuel": _fuel(meter),
        "payment_mode": meter.payment_mode.value,
        "debt_recovery_per_payment_bp": config.payment_debt_recovery_percent * _BP_PER_PERCENT,
        "debt_recovery_cap_p": config.debt_recovery_cap_p_per_day,
        "emergency_credit_limit_p": config.emergency_credit_limit_p,
        "emergency_credit_threshold_p": config.emergency_credit_threshold_p,
        "low_credit_threshold_p": config.low_credit_threshold_p,
        "debt_recovery_rates_p": meter.debt_recovery_rates_p,
        "non_disablement_schedule": (
            NON_DISABLEMENT_SCHEDULE if config.non_disablement_calendar else ()
        ),
    }, ()


def prepayment_daily_log(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.14: the midnight snapshots taken in ``[start, end]``, newest first, at most 31."""
    start, end = _instant(parameters, "start"), _instant(parameters, "end")
    entries: list[Datum] = []
    for read in meter.daily_reads(now):
        if not start <= read.at <= end:
            continue
        values = read.prepay
        first, second = values.time_debts_p
        entries.append(
            (
                read.at,
                values.balance_p,
                values.emergency_credit_p,
                values.accumulated_debt_p,
                values.payment_debt_p,
                first,
                second,
            )
        )
    return {"fuel": _fuel(meter), "prepayment_log": tuple(entries[:PREPAYMENT_LOG_ENTRIES])}, ()


def read_meter_balance(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.18 Read Meter Balance."""
    del parameters
    return {
        "fuel": _fuel(meter),
        "payment_mode": meter.payment_mode.value,
        "balance_p": meter.meter_balance(now),
    }, ()


def read_payment_mode(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.2.9 Read Device Configuration (Payment Mode)."""
    del parameters, now
    return {"payment_mode": meter.payment_mode.value}, ()


EXECUTORS: Mapping[str, Execute] = {
    "1.1.1": update_tariff,
    "1.2.1": update_price,
    "1.5": update_meter_balance,
    "1.6": update_payment_mode,
    "2.1": update_prepay_configuration,
    "2.2": top_up_device,
    "2.3": update_debt,
    "2.5": activate_emergency_credit,
    "4.3": prepay_values,
    "4.11.1": read_tariff,
    "4.13": prepayment_configuration,
    "4.14": prepayment_daily_log,
    "4.18": read_meter_balance,
    "6.2.9": read_payment_mode,
}
