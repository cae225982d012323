"""The tariff and prepayment family of core SMETS1 services: tariffs, prices, credit and debt.

SMETS1 (Smart Metering Equipment Technical Specifications, first edition) meters carry out these
DUIS (DCC User Interface Specification) Service Reference Variants (SRVs): 1.1.1 Update Import
Tariff, 1.2.1 Update Price, 1.5 Update Meter Balance, 1.6 Update Payment Mode, 2.1 Update
Prepay Configuration, 2.2 Top Up Device, 2.3 Update Debt and 2.5 Activate Emergency Credit
write; 4.3 Read Instantaneous Prepay Values, 4.11.1 Read Tariff, 4.13 Read Prepayment
Configuration, 4.14 Read Prepayment Daily Read Log, 4.18 Read Meter Balance and 6.2.9 Read
Device Configuration (Payment Mode) read. Each answer is an MMC (Message Mapping Catalogue)
``ra:<Name>Rsp``. All of them serve an ESME (electricity meter) and a GSME (gas meter); ``fuel``
says which.

Units. DUIS states money in milli-pence (1/1000 penny, 10^-5 GBP; the MMC's "Millipence"):
balances, debts, thresholds, limits and gas prices and standing charge as plain integers;
electricity prices, standing charge and debt recovery rates as a value and a power-of-ten
``...Scale`` in pounds (2121 at scale -5 is 0.02121 GBP/kWh, 2121 milli-pence). Parameters
carry every amount exactly, in milli-pence (``_mp``); a value finer than a milli-penny is
refused. Unit prices are per kWh; debt recovery rates and caps per day (an HOURLY rate is
multiplied by 24). ``DebtRecoveryPerPayment`` is in hundredths of a percent. Electricity block
thresholds are Wh; gas block thresholds are carried as given, in the meter's register unit.
Results hold the meter's own units: money in pence, unit prices in milli-pence per kWh; the
MMC states money in milli-pence again (pence x 1000).

Tariffs. A SMETS1 meter here holds ``TOU_RATES`` (8) rates of ``BLOCKS`` (4) block prices
each, one switching table (the rate of each UTC half hour, the same every day) and one set of
block thresholds. A DUIS TOU (time-of-use) rate n becomes rate n, with one price for every
block; a block tariff n (one of the 8 rows of block prices; a gas block tariff is row 1)
becomes rate 9 - n, with a price per block: TOU rates count up and block tariffs down, so a
hybrid tariff fits when it uses 8 rates in all. A tariff is refused (``InvalidParameters``)
when the meter cannot hold it: days switching differently (week, season or special-day
profiles that differ), a switch off the half hour, more than 8 TOU rates or block tariffs, a
TOU rate and a block tariff on the same rate, a rate switched to but not priced, block
tariffs with different thresholds, or euro prices.

Parameters (text; lists are comma-separated):

- 1.1.1: ``fuel``, ``switching_table`` (48 rates), ``block_thresholds`` (ascending, maybe
  empty), ``standing_charge_mp`` (per day), ``price.<rate>`` (1 price, or 1-4 block prices);
  and the whole tariff, ``seasons``, ``week_profiles``, ``day_profiles``, ``special_days``
  and ``threshold_matrix`` (see ``wholetariff``; the meter uses the above)
- 1.2.1: ``fuel``, ``standing_charge_mp``, ``price.<rate>``
- 1.5: ``mode`` (``prepayment`` or ``credit``: the mode the meter must be in), ``operation``
  (``adjust`` or ``reset``), ``amount_mp`` (adjust only; negative takes credit away)
- 1.6: ``mode``; for prepayment also ``suspend_debt_disabled``, ``suspend_debt_emergency``
  (0 or 1) and ``disablement_threshold_mp``
- 2.1: ``fuel``, ``debt_recovery_cap_mp``, ``emergency_credit_limit_mp``,
  ``emergency_credit_threshold_mp``, ``low_credit_threshold_mp``, ``non_disablement_calendar``
  (1 if the calendar starts any non-disablement period), ``max_meter_balance_mp``,
  ``max_credit_threshold_mp``; and the whole calendar: for electricity ``special_days`` and
  ``non_disablement_schedule``, for gas ``day_profiles``, ``week_profiles``, ``seasons`` and
  ``special_days`` (see ``nondisablement``; the meter uses only the switch)
- 2.2: ``UTRN``: the 20 digits of the UTRN (Unique Transaction Reference Number) as given; the
  meter authenticates them, the DSP and the DCO only compare them
- 2.3: ``fuel``, ``time_debt_1_mp``, ``time_debt_2_mp``, ``payment_debt_mp`` (adjustments),
  ``debt_recovery_per_payment_bp``, ``recovery_rate_1_mp``, ``recovery_rate_2_mp`` (per day)
- 4.14: ``start``, ``end`` (xs:dateTime text in UTC, to the millisecond,
  ``2024-06-01T00:00:00.000Z``); the other reads and 2.5 take none.
  ``ExecutionDateTime`` is the DSP's (future dating) and ``KAPublicSecurityCredentials`` is for
  SMETS2 devices: neither is a parameter.

Result keys (booleans 0/1; records are tuples with fields in the order given):

- 1.5: ``balance_p``; 1.6: ``payment_mode``; 2.2: ``amount_p``, ``counter`` (what the UTRN
  credited, for the S1SP's ledger; the MMC answer states neither); 2.3: ``time_debt_1_p``,
  ``time_debt_2_p``, ``payment_debt_p``; 2.5: ``emergency_credit_p``; 1.1.1, 1.2.1, 2.1: none
- 4.3: ``balance_p``, ``emergency_credit_p``, ``emergency_credit_active``,
  ``emergency_credit_available``, ``time_debt_1_p``, ``time_debt_2_p``, ``payment_debt_p``,
  ``accumulated_debt_p``
- 4.11.1: ``fuel``, ``switching_table`` (48 rates), ``prices_mp`` (8 rows of 4 block
  prices), ``block_thresholds``, ``standing_charge_p``, ``active_rate`` and, when the block
  does not matter, ``active_price_mp``
- 4.13: ``fuel``, ``payment_mode``, ``debt_recovery_per_payment_bp``, ``debt_recovery_cap_p``,
  ``emergency_credit_limit_p``, ``emergency_credit_threshold_p``, ``low_credit_threshold_p``,
  ``debt_recovery_rates_p`` (per day, time debt 1 and 2), ``non_disablement_schedule``:
  (ISO weekdays (1 is Monday), UTC minute of the day, ``START`` or ``STOP``)
- 4.14: ``fuel``, ``prepayment_log``: (taken at, meter balance, emergency credit, accumulated
  debt, payment debt, time debt 1, time debt 2), newest first, at most 31
- 4.18: ``fuel``, ``payment_mode``, ``balance_p``; 6.2.9: ``payment_mode``
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from itertools import groupby

from lxml import etree

from opendcc.duis.response import format_datetime
from opendcc.duis.xml import sr
from opendcc.s1sp.services.base import (
    Datum,
    InvalidParameters,
    Result,
    Service,
    child_of,
    int_of,
    ints_of,
    is_gas,
    log_period,
    no_parameters,
    str_of,
    tuple_of,
)
from opendcc.s1sp.services.nondisablement import calendar_parameters, gas_calendar_parameters
from opendcc.s1sp.services.wholetariff import (
    electricity_tariff_parameters,
    gas_tariff_parameters,
)
from opendcc.s1sp.services.xml import ack, add, add_indexed, response_element

TOU_RATES = 8
BLOCKS = 4
SLOTS_PER_DAY = 48
_MP_EXPONENT = 5  # a milli-penny is 10^-5 GBP
_MP_PER_PENNY = 1000
_UNUSED_THRESHOLD = 0xFFFFFFFF  # an unused electricity block threshold
_HOURS_PER_DAY = 24
_MINUTES_PER_DAY = 1440
_SLOT_MINUTES = 30
_SHORT_MAX = 32767  # ra:PriceType is an xs:short
_GAS_TOU_RATES = 4  # a GSME's switching table and TOU prices name rates 1-4
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_PAYMENT_MODES: Mapping[str, str] = {"credit": "Credit", "prepayment": "Prepayment"}
_RECOVERY_PERIODS: Mapping[str, int] = {"DAILY": 1, "HOURLY": _HOURS_PER_DAY}
_UTRN = re.compile(r"[0-9]{20}")

Action = tuple[str, int]  # ("tou", rate) or ("block", row) in a switching table

# --------------------------------------------------------------------------- reading requests


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _text(parent: etree._Element, local: str) -> str:
    return (child_of(parent, local).text or "").strip()


def _integer(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidParameters(f"{what} is not an integer: {text!r}") from None


def _int(parent: etree._Element, local: str) -> int:
    return _integer(_text(parent, local), local)


def _indexed(parent: etree._Element, local: str) -> dict[int, int]:
    """The values of ``local`` children by their ``index`` attribute."""
    values: dict[int, int] = {}
    for child in parent.findall(sr(local)):
        index = _integer(child.get("index", ""), f"the index of {local}")
        if index in values:
            raise InvalidParameters(f"{local} {index} is given twice")
        values[index] = _integer(child.text or "", local)
    return values


def _ten(power: int) -> int:
    """10^``power`` for a non-negative ``power``, as an exact integer."""
    return int(10**power)


def _mp(value: int, scale: int, what: str) -> int:
    """Milli-pence in ``value`` x 10^``scale`` pounds, exactly."""
    shift = scale + _MP_EXPONENT
    if shift >= 0:
        return value * _ten(shift)
    whole, rest = divmod(value, _ten(-shift))
    if rest:
        raise InvalidParameters(f"{what} ({value}e{scale} GBP) is finer than a milli-penny")
    return whole


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _boolean(parent: etree._Element, local: str) -> bool:
    text = _text(parent, local)
    if text not in {"true", "false", "1", "0"}:
        raise InvalidParameters(f"{local} is not an xs:boolean: {text!r}")
    return text in {"true", "1"}


def _choice(parent: etree._Element, *locals_: str) -> etree._Element:
    for local in locals_:
        child = parent.find(sr(local))
        if child is not None:
            return child
    raise InvalidParameters(f"{_local(parent)} has none of {', '.join(locals_)}")


def _check_gbp(parent: etree._Element) -> None:
    currency = _text(parent, "CurrencyUnits")
    if currency != "GBP":
        raise InvalidParameters(f"a SMETS1 meter in GB holds prices in GBP, not {currency}")


def _fuel(body: etree._Element, electricity: str, gas: str) -> str:
    return "electricity" if _choice(body, electricity, gas).tag == sr(electricity) else "gas"


def _joined(values: list[int] | tuple[int, ...]) -> str:
    return ",".join(str(v) for v in values)


# --------------------------------------------------------------------------- prices


@dataclass(frozen=True, slots=True)
class _Prices:
    fuel: str
    standing_charge_mp: int
    tou: dict[int, int] = field(default_factory=dict)  # TOU rate -> price
    blocks: dict[int, tuple[int, ...]] = field(default_factory=dict)  # block row -> prices
    gas_thresholds: int = 0  # a gas block tariff's NumberOfThresholds


def _block_row(row: Mapping[int, int], what: str) -> list[int]:
    if sorted(row) != list(range(1, len(row) + 1)):
        raise InvalidParameters(f"{what} are not numbered from block 1 up")
    return [row[block] for block in sorted(row)]


def _electricity_prices(prices: etree._Element) -> _Prices:
    standing_scale = _int(prices, "StandingChargeScale")
    standing = _mp(_int(prices, "StandingCharge"), standing_scale, "the standing charge")
    scale = _int(prices, "PriceScale")
    tariff = _choice(prices, "TOUTariff", "BlockTariff", "HybridTariff")
    tou = {
        rate: _mp(price, scale, f"TOU price {rate}")
        for rate, price in _indexed(tariff, "TOUPrice").items()
    }
    blocks: dict[int, tuple[int, ...]] = {}
    for row in tariff.findall(sr("BlockPrices")):
        index = _integer(row.get("index", ""), "the index of BlockPrices")
        what = f"the block prices of row {index}"
        given = _block_row(_indexed(row, "BlockPrice"), what)
        blocks[index] = tuple(_mp(price, scale, what) for price in given)
    return _Prices("electricity", standing, tou, blocks)


def _gas_prices(prices: etree._Element) -> _Prices:
    _check_gbp(prices)
    standing = _int(prices, "StandingCharge")
    tariff = _choice(prices, "TOUTariff", "BlockTariff")
    if tariff.tag == sr("TOUTariff"):
        return _Prices("gas", standing, tou=_indexed(tariff, "TOUPrice"))
    row = tuple(_block_row(_indexed(tariff, "BlockPrice"), "the gas block prices"))
    return _Prices(
        "gas", standing, blocks={1: row}, gas_thresholds=_int(tariff, "NumberOfThresholds")
    )


def _prices(body: etree._Element) -> _Prices:
    elements = child_of(body, "PriceElements")
    prices = _choice(elements, "ElectricityPriceElements", "GasPriceElements")
    if prices.tag == sr("ElectricityPriceElements"):
        return _electricity_prices(prices)
    return _gas_prices(prices)


def _rate(action: Action) -> int:
    """The meter's rate for a TOU rate (itself) or a block-tariff row (counted from 8 down)."""
    kind, number = action
    if not 1 <= number <= TOU_RATES:
        what = "TOU rates" if kind == "tou" else "block tariffs"
        raise InvalidParameters(f"a SMETS1 meter holds {TOU_RATES} {what}, not {number}")
    return number if kind == "tou" else TOU_RATES + 1 - number


def _price_parameters(prices: _Prices) -> dict[str, str]:
    rows: dict[int, tuple[int, ...]] = {_rate(("tou", n)): (p,) for n, p in prices.tou.items()}
    for number, row in prices.blocks.items():
        rate = _rate(("block", number))
        if rate in rows:
            raise InvalidParameters(
                f"TOU rate {rate} and block tariff {number} would share the meter's rate {rate}"
            )
        rows[rate] = row
    return {
        "fuel": prices.fuel,
        "standing_charge_mp": str(prices.standing_charge_mp),
        **{f"price.{rate}": _joined(rows[rate]) for rate in sorted(rows)},
    }


def price_parameters(body: etree._Element) -> dict[str, str]:
    """1.2.1: the standing charge and the prices of the rates named."""
    return _price_parameters(_prices(body))


# --------------------------------------------------------------------------- switching table


def _minute(text: str) -> int:
    """The UTC minute of the day of an xs:time on a half hour (no zone is taken as UTC)."""
    try:
        clock = time.fromisoformat(text.strip())
    except ValueError:
        raise InvalidParameters(f"not an xs:time: {text!r}") from None
    offset = clock.utcoffset()
    shift = 0 if offset is None else int(offset.total_seconds()) // 60
    minute = (clock.hour * 60 + clock.minute - shift) % _MINUTES_PER_DAY
    if clock.second or clock.microsecond or minute % _SLOT_MINUTES:
        raise InvalidParameters(f"a SMETS1 meter switches on the half hour, not at {text}")
    return minute


def _day_table(schedule: list[tuple[int, Action]]) -> tuple[Action, ...]:
    """The action of each half hour; before the first switch the day's last one holds."""
    ordered = sorted(schedule)
    starts = [start for start, _ in ordered]
    if len(set(starts)) != len(starts):
        raise InvalidParameters("a day profile switches twice at the same time")
    table = []
    for slot in range(SLOTS_PER_DAY):
        current = ordered[-1][1]
        for start, action in ordered:
            if start <= slot * _SLOT_MINUTES:
                current = action
        table.append(current)
    return tuple(table)


def _electricity_profiles(table: etree._Element) -> dict[int, tuple[Action, ...]]:
    profiles = {}
    for profile in child_of(table, "DayProfiles").findall(sr("DayProfile")):
        schedule = []
        for entry in profile.findall(sr("ProfileSchedule")):
            tou = entry.findtext(sr("TOUTariffAction"))
            action: Action = (
                ("tou", _integer(tou, "TOUTariffAction"))
                if tou is not None
                else ("block", _int(entry, "BlockTariffAction"))
            )
            schedule.append((_minute(_text(entry, "StartTime")), action))
        profiles[_int(profile, "DayName")] = _day_table(schedule)
    return profiles


def _gas_profiles(table: etree._Element) -> dict[int, tuple[Action, ...]]:
    profiles = {}
    for profile in child_of(table, "DayProfiles").findall(sr("DayProfile")):
        tou = profile.findtext(sr("TOUTariffAction"))
        # A gas day profile has one action all day; a block tariff prices rate 1 by block.
        action: Action = ("tou", _integer(tou, "TOUTariffAction")) if tou else ("block", 1)
        profiles[_int(profile, "DayName")] = (action,) * SLOTS_PER_DAY
    return profiles


def _referenced_days(table: etree._Element, special_days: etree._Element) -> set[int]:
    """The day profiles that ever apply: through seasons' week profiles and special days."""
    weeks = {
        _int(week, "WeekName"): [
            _integer(day.text or "", "ReferencedDayName")
            for day in week.findall(sr("ReferencedDayName"))
        ]
        for week in child_of(table, "WeekProfiles").findall(sr("WeekProfile"))
    }
    days: set[int] = set()
    for season in child_of(table, "Seasons").findall(sr("Season")):
        week = _int(season, "ReferencedWeekName")
        if week not in weeks:
            raise InvalidParameters(f"a season refers to week profile {week}, which is missing")
        days.update(weeks[week])
    days.update(_int(day, "ReferencedDayName") for day in special_days.findall(sr("SpecialDay")))
    return days


def _one_day(elements: etree._Element, gas: bool) -> tuple[Action, ...]:
    table = child_of(elements, "SwitchingTable")
    profiles = _gas_profiles(table) if gas else _electricity_profiles(table)
    tables = set()
    for day in _referenced_days(table, child_of(elements, "SpecialDays")):
        if day not in profiles:
            raise InvalidParameters(f"the tariff refers to day profile {day}, which is missing")
        tables.add(profiles[day])
    if len(tables) != 1:
        raise InvalidParameters(
            "a SMETS1 meter here follows one switching table every day; this tariff switches "
            "differently on different days, weeks, seasons or special days"
        )
    return tables.pop()


# --------------------------------------------------------------------------- tariff


def _check_priced(actions: set[Action], prices: _Prices) -> None:
    for kind, rate in sorted(actions):
        priced = prices.tou if kind == "tou" else prices.blocks
        if rate not in priced:
            what = "TOU rate" if kind == "tou" else "block tariff"
            raise InvalidParameters(f"the switching table uses {what} {rate}, which has no price")


def _electricity_thresholds(elements: etree._Element, rows: set[int]) -> tuple[int, ...]:
    matrix = child_of(elements, "ThresholdMatrix")
    by_row = {
        _integer(row.get("index", ""), "the index of Thresholds"): tuple(
            value
            for _, value in sorted(_indexed(row, "BlockThreshold").items())
            if value < _UNUSED_THRESHOLD
        )
        for row in matrix.findall(sr("Thresholds"))
    }
    sets = {by_row.get(row, ()) for row in rows}
    if len(sets) > 1:
        raise InvalidParameters("a SMETS1 meter here holds one set of block thresholds")
    return sets.pop() if sets else ()


def _gas_thresholds(elements: etree._Element, count: int) -> tuple[int, ...]:
    given = _indexed(child_of(elements, "ThresholdMatrix"), "BlockThreshold")
    values = tuple(value for _, value in sorted(given.items()))
    if count > len(values):
        raise InvalidParameters(
            f"the tariff names {count} block thresholds but gives {len(values)}"
        )
    return values[:count]


def tariff_parameters(body: etree._Element) -> dict[str, str]:
    """1.1.1: the one-day switching table, block thresholds, standing charge and prices."""
    fuel = _fuel(body, "ElecTariffElements", "GasTariffElements")
    elements = _choice(body, "ElecTariffElements", "GasTariffElements")
    prices = _prices(body)
    if prices.fuel != fuel:
        raise InvalidParameters(f"{fuel} tariff elements come with {prices.fuel} prices")
    gas = fuel == "gas"
    if not gas:
        _check_gbp(elements)
    day = _one_day(elements, gas)
    actions = set(day)
    _check_priced(actions, prices)
    block_rows = {rate for kind, rate in actions if kind == "block"}
    if gas:
        thresholds = _gas_thresholds(elements, prices.gas_thresholds) if block_rows else ()
    else:
        thresholds = _electricity_thresholds(elements, block_rows)
    parameters = _price_parameters(prices)
    # The whole tariff rides along for the GBCS pre-command (ECS01a, GCS01a); read once
    # the checks above have found its numbers and indices well formed.
    whole = (gas_tariff_parameters if gas else electricity_tariff_parameters)(elements)
    return {
        **parameters,
        "switching_table": _joined([_rate(action) for action in day]),
        "block_thresholds": _joined(thresholds),
        **whole,
    }


# --------------------------------------------------------------------------- prepayment writes


def meter_balance_parameters(body: etree._Element) -> dict[str, str]:
    """1.5: which payment mode the meter must be in, and an adjustment or a reset."""
    mode = _choice(body, "PrepaymentMode", "CreditMode")
    operation = _choice(mode, "AdjustMeterBalance", "ResetMeterBalance")
    parameters = {
        "mode": "prepayment" if mode.tag == sr("PrepaymentMode") else "credit",
        "operation": "adjust" if operation.tag == sr("AdjustMeterBalance") else "reset",
    }
    if parameters["operation"] == "adjust":
        parameters["amount_mp"] = str(_integer(operation.text or "", "AdjustMeterBalance"))
    return parameters


def payment_mode_parameters(body: etree._Element) -> dict[str, str]:
    """1.6: credit, or prepayment with its debt suspension flags and disablement threshold."""
    mode = _choice(body, "Credit", "Prepayment")
    if mode.tag == sr("Credit"):
        return {"mode": "credit"}
    return {
        "mode": "prepayment",
        "suspend_debt_disabled": _flag(_boolean(mode, "SuspendDebtDisabled")),
        "suspend_debt_emergency": _flag(_boolean(mode, "SuspendDebtEmergency")),
        "disablement_threshold_mp": str(_int(mode, "DisablementThreshold")),
    }


def _starts_non_disablement(calendar: etree._Element) -> bool:
    """Whether an electricity or gas non-disablement calendar ever starts a period."""
    actions = calendar.iter(sr("NonDisablementScript"), sr("NonDisablementAction"))
    return any((action.text or "").strip() == "START" for action in actions)


def prepay_configuration_parameters(body: etree._Element) -> dict[str, str]:
    """2.1: credit thresholds and limits, the debt recovery cap and non-disablement."""
    fuel = _fuel(body, "UpdatePrepayConfigElectricity", "UpdatePrepayConfigGas")
    config = _choice(body, "UpdatePrepayConfigElectricity", "UpdatePrepayConfigGas")
    calendar = _choice(config, "ElectricityNonDisablementCalendar", "GasNonDisablementCalendar")
    # The whole calendar rides along for the GBCS pre-command (ECS08, GCS05).
    whole = (calendar_parameters if fuel == "electricity" else gas_calendar_parameters)(calendar)
    return {
        **whole,
        "fuel": fuel,
        "debt_recovery_cap_mp": str(_int(config, "DebtRecoveryRateCap")),
        "emergency_credit_limit_mp": str(_int(config, "EmergencyCreditLimit")),
        "emergency_credit_threshold_mp": str(_int(config, "EmergencyCreditThreshold")),
        "low_credit_threshold_mp": str(_int(config, "LowCreditThreshold")),
        "non_disablement_calendar": _flag(_starts_non_disablement(calendar)),
        "max_meter_balance_mp": str(_int(config, "MaxMeterBalance")),
        "max_credit_threshold_mp": str(_int(config, "MaxCreditThreshold")),
    }


def _recovery_rate(recovery: etree._Element, gas: bool, what: str) -> int:
    """Milli-pence per day of an ``ElecDebtRecovery`` or ``GasDebtRecovery``."""
    rate = _int(recovery, "DebtRecoveryRate")
    mp = rate if gas else _mp(rate, _int(recovery, "DebtRecoveryRatePriceScale"), what)
    period = _text(recovery, "DebtRecoveryRatePeriod")
    if period not in _RECOVERY_PERIODS:
        raise InvalidParameters(f"a debt recovery period is DAILY or HOURLY, not {period!r}")
    return mp * _RECOVERY_PERIODS[period]


def debt_parameters(body: etree._Element) -> dict[str, str]:
    """2.3: adjustments of the three debt registers and how debt is recovered."""
    gas = body.find(sr("GasDebtRecovery1")) is not None
    prefix = "GasDebtRecovery" if gas else "ElecDebtRecovery"
    return {
        "fuel": "gas" if gas else "electricity",
        "time_debt_1_mp": str(_int(body, "TimeDebtRegister1")),
        "time_debt_2_mp": str(_int(body, "TimeDebtRegister2")),
        "payment_debt_mp": str(_int(body, "PaymentDebtRegister")),
        "debt_recovery_per_payment_bp": str(_int(body, "DebtRecoveryPerPayment")),
        **{
            f"recovery_rate_{n}_mp": str(
                _recovery_rate(child_of(body, f"{prefix}{n}"), gas, f"debt recovery rate {n}")
            )
            for n in (1, 2)
        },
    }


def top_up_parameters(body: etree._Element) -> dict[str, str]:
    """2.2: the UTRN, 20 decimal digits (``sr:TopUpDevice/sr:UTRN``)."""
    utrn = _text(body, "UTRN")
    if not _UTRN.fullmatch(utrn):
        raise InvalidParameters(f"a UTRN is 20 decimal digits, not {utrn!r}")
    return {"UTRN": utrn}


# 4.14: ``start`` and ``end`` of the body's ``sr:ReadLogPeriod``, in UTC, as the reads read them.
log_period_parameters = log_period


# --------------------------------------------------------------------------- Result values


def _money(result: Result, key: str) -> str:
    """A Result's pence as the MMC's milli-pence."""
    return str(int_of(result[key]) * _MP_PER_PENNY)


def _payment_mode(result: Result) -> str:
    mode = str_of(result["payment_mode"])
    if mode not in _PAYMENT_MODES:
        raise ValueError(f"a payment mode is credit or prepayment, not {mode!r}")
    return _PAYMENT_MODES[mode]


# --------------------------------------------------------------------------- elements


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}:00Z"


def prepay_values(result: Result) -> etree._Element:
    """4.3: credit, emergency credit and the debt registers, in milli-pence."""
    element = response_element("ReadInstantaneousPrepayValuesRsp")
    for local, key in (
        ("EmergencyCreditBalance", "emergency_credit_p"),
        ("AccumulatedDebtRegister", "accumulated_debt_p"),
        ("PaymentDebtRegister", "payment_debt_p"),
        ("TimeDebtRegister1", "time_debt_1_p"),
        ("TimeDebtRegister2", "time_debt_2_p"),
        ("MeterBalance", "balance_p"),
    ):
        add(element, local, _money(result, key))
    return element


def meter_balance(result: Result) -> etree._Element:
    """4.18: the meter balance (a GSME in prepayment mode states it once more for that mode)."""
    element = response_element("ReadMeterBalanceRsp")
    balance = _money(result, "balance_p")
    add(element, "MeterBalance", balance)
    if is_gas(result) and _payment_mode(result) == "Prepayment":
        add(add(element, "Gas"), "MeterBalancePrepaymentMode", balance)
    return element


def payment_mode(result: Result) -> etree._Element:
    """6.2.9: the payment mode."""
    element = response_element("ReadDeviceConfigurationPaymentModeRsp")
    add(element, "PaymentMode", _payment_mode(result))
    return element


def prepayment_daily_log(result: Result) -> etree._Element:
    """4.14: one ``LogEntry`` per midnight snapshot (see the module docstring's record)."""
    element = response_element("ReadPrepaymentDailyReadLogRsp")
    log = add(element, "Gas" if is_gas(result) else "Electricity")
    names = (
        "AccumulatedDebtRegister",
        "EmergencyCreditBalance",
        "MeterBalance",
        "PaymentDebtRegister",
        "TimeDebtRegisters1",
        "TimeDebtRegisters2",
    )
    for record in tuple_of(result["prepayment_log"]):
        at, balance, emergency, accumulated, payment, debt_1, debt_2 = tuple_of(record)
        if not isinstance(at, datetime):
            raise TypeError(f"a log entry is taken at a date-time, not {at!r}")
        entry = add(log, "LogEntry")
        for name, value in zip(
            names, (accumulated, emergency, balance, payment, debt_1, debt_2), strict=True
        ):
            add(entry, name, int_of(value) * _MP_PER_PENNY)
        add(entry, "Timestamp", format_datetime(at))
    return element


# --------------------------------------------------------------------------- 4.13


def _weekday_groups(schedule: Datum) -> dict[int, tuple[tuple[int, str], ...]]:
    """Each ISO weekday's (minute, action) switches of a non-disablement schedule."""
    days: dict[int, list[tuple[int, str]]] = {day: [] for day in range(1, 8)}
    for record in tuple_of(schedule):
        weekdays, minute, action = tuple_of(record)
        for day in ints_of(weekdays):
            days[day].append((int_of(minute), str_of(action)))
    return {day: tuple(sorted(switches)) for day, switches in days.items()}


def _electricity_calendar(parent: etree._Element, schedule: Datum) -> None:
    calendar = add(parent, "NonDisablementCalendar")
    for record in tuple_of(schedule):
        weekdays, minute, action = tuple_of(record)
        entry = add(calendar, "ElectricityNonDisablementSchedule")
        add(entry, "NonDisablementScript", str_of(action))
        days = add(entry, "DaysOfWeekApplicability")
        for day in ints_of(weekdays):
            add(add(days, "DayOfWeekApplicability"), "DayOfWeekID", _WEEKDAYS[day - 1])
        add(add(entry, "ScheduleDatesAndTime"), "SwitchTime", _clock(int_of(minute)))


def _gas_calendar(parent: etree._Element, schedule: Datum) -> None:
    """Weekdays with the same switches share a day profile, named in order of first use."""
    by_day = _weekday_groups(schedule)
    names: dict[tuple[tuple[int, str], ...], int] = {}
    for switches in by_day.values():
        names.setdefault(switches, len(names) + 1)
    calendar = add(parent, "NonDisablementCalendar")
    profiles = add(calendar, "DayProfiles")
    for switches, name in names.items():
        profile = add(profiles, "GasNonDisablementDayProfile")
        for index, (minute, action) in enumerate(switches, start=1):
            start = add(profile, "TimeStartAction")
            start.set("index", str(index))
            add(start, "StartTime", _clock(minute))
            add(start, "NonDisablementAction", action)
        add(profile, "GasDayName", name)
    week = add(add(calendar, "WeekProfiles"), "WeekProfile")
    add(week, "WeekName", 1)
    for day, switches in by_day.items():
        add_indexed(week, "ReferencedDayName", day, names[switches])


def prepayment_configuration(result: Result) -> etree._Element:
    """4.13: thresholds and limits (milli-pence), debt recovery and non-disablement."""
    element = response_element("ReadPrepaymentConfigurationRsp")
    add(element, "DebtRecoveryPerPayment", int_of(result["debt_recovery_per_payment_bp"]))
    add(element, "DebtRecoveryRateCap", _money(result, "debt_recovery_cap_p"))
    add(element, "EmergencyCreditLimit", _money(result, "emergency_credit_limit_p"))
    add(element, "EmergencyCreditThreshold", _money(result, "emergency_credit_threshold_p"))
    add(element, "LowCreditThreshold", _money(result, "low_credit_threshold_p"))
    gas = is_gas(result)
    fuel = add(element, "Gas" if gas else "Electricity")
    if not gas:
        add(fuel, "PaymentMode", _payment_mode(result))
    schedule = result["non_disablement_schedule"]
    if tuple_of(schedule):
        (_gas_calendar if gas else _electricity_calendar)(fuel, schedule)
    for n, rate_p in enumerate(ints_of(result["debt_recovery_rates_p"]), start=1):
        recovery = add(fuel, f"DebtRecovery{n}")
        if gas:
            add(recovery, "DebtRecoveryRate", rate_p * _MP_PER_PENNY)
        else:
            add(recovery, "DebtRecoveryRate", rate_p)
            add(recovery, "DebtRecoveryRatePriceScale", -2)  # pence are 10^-2 GBP
        add(recovery, "DebtRecoveryRatePeriod", "DAILY")
    return element


# --------------------------------------------------------------------------- 4.11.1


def _short_scale(values_mp: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """The smallest power-of-ten pound scale (from -5) at which every value fits an xs:short,
    exactly if any scale allows it, else rounded half away from zero."""
    for exact in (True, False):
        for scale in range(-_MP_EXPONENT, 128):
            unit = _ten(scale + _MP_EXPONENT)
            if exact and any(v % unit for v in values_mp):
                continue
            scaled = tuple(_round_div(v, unit) for v in values_mp)
            if all(abs(v) <= _SHORT_MAX for v in scaled):
                return scale, scaled
    raise ValueError("no price scale fits")  # unreachable: scale 127 fits any price


def _round_div(value: int, unit: int) -> int:
    whole, rest = divmod(abs(value), unit)
    whole += 1 if 2 * rest >= unit else 0
    return whole if value >= 0 else -whole


@dataclass(frozen=True, slots=True)
class _Tariff:
    table: tuple[int, ...]
    prices: tuple[tuple[int, ...], ...]
    thresholds: tuple[int, ...]

    @classmethod
    def of(cls, result: Result) -> _Tariff:
        prices = tuple(ints_of(row) for row in tuple_of(result["prices_mp"]))
        return cls(ints_of(result["switching_table"]), prices, ints_of(result["block_thresholds"]))

    def flat(self, rate: int) -> bool:
        return len(set(self.prices[rate - 1])) == 1

    def shown(self) -> list[int]:
        """Rates worth stating: those switched to and those with any price."""
        used = set(self.table)
        return [r for r in range(1, len(self.prices) + 1) if r in used or any(self.prices[r - 1])]


def _block_number(rate: int) -> int:
    """The DUIS block tariff a non-flat rate stands for (the inverse of ``_rate``)."""
    return TOU_RATES + 1 - rate


def _electricity_prices_of(parent: etree._Element, tariff: _Tariff, unit: int) -> None:
    shown = tariff.shown()
    block_rates = [r for r in shown if not tariff.flat(r)]
    if block_rates:
        matrix = add(parent, "TariffBlockPriceMatrix")
        for rate in sorted(block_rates, key=_block_number):
            row = add(matrix, "TariffBlockPrices")
            row.set("index", str(_block_number(rate)))
            for block, price in enumerate(tariff.prices[rate - 1], start=1):
                add_indexed(row, "BlockPrice", block, _round_div(price, unit))
    tou_rates = [r for r in shown if tariff.flat(r)]
    if tou_rates:
        matrix = add(parent, "TariffTOUPriceMatrix")
        for rate in tou_rates:
            price = _round_div(tariff.prices[rate - 1][0], unit)
            add_indexed(matrix, "TariffTOUPrice", rate, price)


def _electricity_switching_of(parent: etree._Element, tariff: _Tariff) -> None:
    switching = add(parent, "TariffSwitchingTable")
    day = add(add(switching, "DayProfiles"), "DayProfile")
    add(day, "Day", 1)
    for rate, slots in groupby(enumerate(tariff.table), key=lambda pair: pair[1]):
        schedule = add(day, "ProfileSchedule")
        add(schedule, "StartTime", _clock(next(slots)[0] * _SLOT_MINUTES))
        if tariff.flat(rate):
            add(schedule, "TOUTariffAction", rate)
        else:
            add(schedule, "BlockTariffAction", _block_number(rate))
    week = add(add(switching, "WeekProfiles"), "WeekProfile")
    add(week, "WeekName", 1)
    for weekday in range(1, 8):
        add_indexed(week, "ReferencedElecDay", weekday, 1)


def _electricity_tariff(element: etree._Element, result: Result) -> None:
    tariff = _Tariff.of(result)
    electricity = add(element, "Electricity")
    scale, _ = _short_scale(tuple(p for r in tariff.shown() for p in tariff.prices[r - 1]))
    unit = _ten(scale + _MP_EXPONENT)
    if "active_price_mp" in result:
        active = _round_div(int_of(result["active_price_mp"]), unit)
        add(electricity, "PrimaryActiveTariffPrice", active)
    add(electricity, "CurrencyUnitsLabel", "GBP")
    add(electricity, "CurrencyUnitsName", "Millipence")
    standing_mp = int_of(result["standing_charge_p"]) * _MP_PER_PENNY
    standing_scale, (standing,) = _short_scale((standing_mp,))
    add(electricity, "StandingCharge", standing)
    add(electricity, "StandingChargeScale", standing_scale)
    add(electricity, "PriceScale", scale)
    _electricity_prices_of(electricity, tariff, unit)
    _electricity_switching_of(electricity, tariff)
    if tariff.thresholds:
        # One set of thresholds serves every block tariff.
        matrix = add(electricity, "TariffThresholdMatrix")
        for number in range(1, TOU_RATES + 1):
            row = add(matrix, "ElecTariffThresholds")
            row.set("index", str(number))
            for index, threshold in enumerate(tariff.thresholds, start=1):
                add_indexed(row, "BlockThreshold", index, threshold)


def _gas_tariff(element: etree._Element, result: Result) -> None:
    """A GSME's switching table says one action a day: stated only if the meter's is one rate
    all day (then a rate priced by block is a block tariff); TOU prices are rates 1-4."""
    tariff = _Tariff.of(result)
    gas = add(element, "Gas")
    if "active_price_mp" in result:
        add(gas, "PrimaryActiveTariffPrice", int_of(result["active_price_mp"]))
        add(gas, "PrimaryActiveTariffPriceScale", -_MP_EXPONENT)
    add(gas, "CurrencyUnitsLabel", "GBP")
    add(gas, "StandingCharge", int_of(result["standing_charge_p"]) * _MP_PER_PENNY)
    rates = set(tariff.table)
    constant = rates.pop() if len(rates) == 1 else None
    block = constant is not None and not tariff.flat(constant)
    if constant is not None and (block or constant <= _GAS_TOU_RATES):
        switching = add(gas, "TariffSwitchingTable")
        day = add(add(switching, "DayProfiles"), "DayProfile")
        add(day, "DayName", 1)
        if block:
            add(day, "BlockTariff")
        else:
            add(day, "TOUTariffAction", constant)
        week = add(add(switching, "WeekProfiles"), "WeekProfile")
        add(week, "WeekName", 1)
        for weekday in range(1, 8):
            add_indexed(week, "ReferencedDay", weekday, 1)
    if tariff.thresholds:
        thresholds = add(gas, "TariffThresholds")
        for index, threshold in enumerate(tariff.thresholds, start=1):
            add_indexed(thresholds, "BlockThreshold", index, threshold)
    if block and constant is not None:
        prices = add(gas, "BlockTariff")
        for index, price in enumerate(tariff.prices[constant - 1], start=1):
            add_indexed(prices, "BlockPrice", index, price)
    else:
        prices = add(gas, "TOUTariff")
        for rate in range(1, _GAS_TOU_RATES + 1):
            add_indexed(prices, "TariffTOUPrice", rate, tariff.prices[rate - 1][0])


def tariff(result: Result) -> etree._Element:
    """4.11.1: prices, standing charge, the one-day switching table and block thresholds.

    Electricity prices share one ``PriceScale`` (the finest at which all fit an xs:short);
    a rate with one price for every block is a TOU rate, any other a block-tariff row.
    """
    element = response_element("ReadTariffPrimaryElementRsp")
    (_gas_tariff if is_gas(result) else _electricity_tariff)(element, result)
    return element


# --------------------------------------------------------------------------- the table

SERVICES: tuple[Service, ...] = (
    Service(
        "1.1.1",
        "updateImportTariff",
        tariff_parameters,
        ack("UpdateImportTariffPrimaryElementRsp"),
        writes=True,
    ),
    Service(
        "1.2.1",
        "updatePrice",
        price_parameters,
        ack("UpdatePricePrimaryElementRsp"),
        writes=True,
    ),
    Service(
        "1.5",
        "updateMeterBalance",
        meter_balance_parameters,
        ack("UpdateMeterBalanceRsp"),
        writes=True,
    ),
    Service(
        "1.6",
        "updatePaymentMode",
        payment_mode_parameters,
        ack("UpdatePaymentModeRsp"),
        writes=True,
    ),
    Service(
        "2.1",
        "updatePrepayConfiguration",
        prepay_configuration_parameters,
        ack("UpdatePrepayConfigurationRsp"),
        writes=True,
    ),
    # 2.2 answers nothing: what the UTRN credited stays in the Result, for the S1SP's ledger.
    Service("2.2", "topUpDevice", top_up_parameters, ack("TopUpDeviceRsp"), writes=True),
    Service("2.3", "updateDebt", debt_parameters, ack("UpdateDebtRsp"), writes=True),
    Service(
        "2.5",
        "activateEmergencyCredit",
        no_parameters,
        ack("ActivateEmergencyCreditRsp"),
        writes=True,
    ),
    Service("4.3", "readInstantaneousPrepayValues", no_parameters, prepay_values),
    Service("4.11.1", "readTariff", no_parameters, tariff),
    Service("4.13", "readPrepaymentConfiguration", no_parameters, prepayment_configuration),
    Service("4.14", "readPrepaymentDailyReadLog", log_period_parameters, prepayment_daily_log),
    Service("4.18", "readMeterBalance", no_parameters, meter_balance),
    Service("6.2.9", "readPaymentMode", no_parameters, payment_mode),
)
