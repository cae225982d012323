"""Tariff, payment mode, prepayment configuration and billing calendar of a simulated meter.

These are the settings a Supplier writes with DUIS (DCC User Interface Specification) Service
Reference Variants (SRVs): 1.1.1 Update Import Tariff and 1.2.1 Update Price (``Tariff``),
1.6 Update Payment Mode (``PaymentMode``), 2.1 Update Prepay Configuration (``PrepayConfig``)
and 6.8 Update Billing Calendar (``BillingCalendar``). All are frozen values; the meter swaps
one for another.

Money: balances, thresholds, debts and the standing charge are whole pence; unit prices are
milli-pence per kWh (24.5 p/kWh is ``24_500``), fine enough that rounding never matters.

A tariff combines TOU (time-of-use) rates and blocks: each half hour of the day belongs to one
of ``TOU_RATES`` rates (one switching table for every day, in UTC: real meters switch on local
time through day, week and season profiles, which the simulator does not need), and within a
billing period consumption climbs through up to ``BLOCKS`` blocks at ascending thresholds. The
unit price is looked up per (rate, block). Thresholds are in the meter's register unit: Wh for
electricity, litres for gas.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Self

from opendcc.sim.meter import EPOCH, SLOTS_PER_DAY, TOU_RATE_OF_SLOT
from opendcc.sim.state.errors import MeterError, Reason

TOU_RATES = 8
BLOCKS = 4
MAX_PRICE_MP = 10_000_000  # 100 pounds per kWh: anything above is a typo


def _invalid(detail: str) -> MeterError:
    return MeterError(Reason.INVALID_VALUE, detail)


@dataclass(frozen=True, slots=True)
class Tariff:
    """An import tariff: TOU switching table, block thresholds, prices and standing charge."""

    switching_table: tuple[int, ...]  # TOU rate (1-based) of each UTC half hour of the day
    prices_mp: tuple[tuple[int, ...], ...]  # [rate - 1][block - 1], milli-pence per kWh
    block_thresholds: tuple[int, ...] = ()  # ascending, at most BLOCKS - 1, per billing period
    standing_charge_p: int = 0  # pence per day, charged at midnight in prepayment mode

    def __post_init__(self) -> None:
        if len(self.switching_table) != SLOTS_PER_DAY:
            raise _invalid(f"a switching table names a rate for each of {SLOTS_PER_DAY} slots")
        for rate in self.switching_table:
            check_rate(rate)
        if len(self.prices_mp) != TOU_RATES or any(len(r) != BLOCKS for r in self.prices_mp):
            raise _invalid(f"prices are a {TOU_RATES} x {BLOCKS} matrix (rate x block)")
        if any(not 0 <= p <= MAX_PRICE_MP for row in self.prices_mp for p in row):
            raise _invalid("prices are between 0 and 10,000,000 milli-pence per kWh")
        thresholds = self.block_thresholds
        if len(thresholds) >= BLOCKS or any(t <= 0 for t in thresholds):
            raise _invalid(f"at most {BLOCKS - 1} positive block thresholds")
        if list(thresholds) != sorted(set(thresholds)):
            raise _invalid("block thresholds ascend strictly")
        if self.standing_charge_p < 0:
            raise _invalid("the standing charge is not negative")

    @classmethod
    def flat(cls, price_mp: int, *, standing_charge_p: int = 0) -> Self:
        """One price all day, every block."""
        return cls.time_of_use(
            [price_mp], switching_table=(1,) * SLOTS_PER_DAY, standing_charge_p=standing_charge_p
        )

    @classmethod
    def time_of_use(
        cls,
        rate_prices_mp: Sequence[int],
        *,
        switching_table: Sequence[int] = TOU_RATE_OF_SLOT,
        block_thresholds: Sequence[int] = (),
        standing_charge_p: int = 0,
    ) -> Self:
        """A price per TOU rate (the same in every block); unnamed rates cost nothing."""
        if len(rate_prices_mp) > TOU_RATES:
            raise MeterError(Reason.UNKNOWN_RATE, f"at most {TOU_RATES} TOU rates")
        padded = [*rate_prices_mp, *[0] * (TOU_RATES - len(rate_prices_mp))]
        return cls(
            switching_table=tuple(switching_table),
            prices_mp=tuple((price,) * BLOCKS for price in padded),
            block_thresholds=tuple(block_thresholds),
            standing_charge_p=standing_charge_p,
        )

    def price_mp(self, rate: int, block: int) -> int:
        """The unit price of TOU rate ``rate`` in block ``block`` (both 1-based)."""
        check_rate(rate)
        if not 1 <= block <= BLOCKS:
            raise MeterError(Reason.UNKNOWN_RATE, f"no block {block}; blocks are 1-{BLOCKS}")
        return self.prices_mp[rate - 1][block - 1]

    def block_of(self, period_consumption: int) -> int:
        """The block (1-based) that consumption so far in the billing period has reached."""
        return 1 + sum(1 for t in self.block_thresholds if period_consumption >= t)


def check_rate(rate: int) -> int:
    if not 1 <= rate <= TOU_RATES:
        raise MeterError(Reason.UNKNOWN_RATE, f"no TOU rate {rate}; rates are 1-{TOU_RATES}")
    return rate


DEFAULT_TARIFF = Tariff.time_of_use([15_000, 28_000, 40_000, 30_000], standing_charge_p=50)


class PaymentMode(Enum):
    CREDIT = "credit"
    PREPAYMENT = "prepayment"


@dataclass(frozen=True, slots=True)
class PrepayConfig:
    """The prepayment settings of 2.1 Update Prepay Configuration, in pence.

    Time-based debt is recovered at each midnight at each register's own daily rate (set by 2.3
    Update Debt), at most ``debt_recovery_cap_p_per_day`` in all; payment-based debt takes
    ``payment_debt_recovery_percent`` of each top-up, at most ``payment_debt_recovery_cap_p`` of
    one top-up. With ``non_disablement_calendar`` set, running out of credit does not disable
    the supply during non-disablement periods (see ``in_non_disablement_period``).
    """

    low_credit_threshold_p: int = 200
    emergency_credit_limit_p: int = 500
    emergency_credit_threshold_p: int = 100
    debt_recovery_cap_p_per_day: int = 500
    payment_debt_recovery_percent: int = 0
    payment_debt_recovery_cap_p: int = 1_000
    non_disablement_calendar: bool = False

    def __post_init__(self) -> None:
        amounts = (
            self.low_credit_threshold_p,
            self.emergency_credit_limit_p,
            self.emergency_credit_threshold_p,
            self.debt_recovery_cap_p_per_day,
            self.payment_debt_recovery_cap_p,
        )
        if min(amounts) < 0:
            raise _invalid("prepayment thresholds, limits and caps are not negative")
        if not 0 <= self.payment_debt_recovery_percent <= 100:
            raise _invalid("the payment-based debt recovery share is 0-100 percent")


def in_non_disablement_period(instant: datetime) -> bool:
    """Whether ``instant`` is in the simulator's non-disablement calendar ("friendly hours").

    A simple, documented rule: weekday nights 16:00-08:00 UTC and all of Saturday and Sunday.
    Every edge falls on a half hour, so the meter notices them at its half-hourly steps.
    """
    utc = instant.astimezone(UTC)
    return utc.weekday() >= 5 or utc.hour < 8 or utc.hour >= 16


class DebtRegister(Enum):
    """The debt registers of 2.3 Update Debt: two time-based, one payment-based."""

    TIME_1 = "time_1"
    TIME_2 = "time_2"
    PAYMENT = "payment"


class BillingPeriod(Enum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SIX_MONTHLY = "six_monthly"
    YEARLY = "yearly"


_MONTHS = {
    BillingPeriod.MONTHLY: 1,
    BillingPeriod.QUARTERLY: 3,
    BillingPeriod.SIX_MONTHLY: 6,
    BillingPeriod.YEARLY: 12,
}
_DAYS = {BillingPeriod.DAILY: 1, BillingPeriod.WEEKLY: 7}
# Days in each month of a common year (``calendar.monthrange`` works out a weekday too).
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class BillingCalendar:
    """Billing dates: ``start`` and every ``period`` after it (months keep the day, clamped).

    ``start`` is kept in UTC, like every instant inside the meter model.
    """

    start: datetime = EPOCH
    period: BillingPeriod = BillingPeriod.MONTHLY

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise MeterError(Reason.INVALID_TIME, "a billing calendar starts at an aware instant")
        object.__setattr__(self, "start", self.start.astimezone(UTC))

    def next_after(self, instant: datetime) -> datetime:
        """The first billing date strictly after ``instant``."""
        if instant < self.start:
            return self.start
        if self.period in _DAYS:
            step = timedelta(days=_DAYS[self.period])
            return self.start + ((instant - self.start) // step + 1) * step
        months = _MONTHS[self.period]
        elapsed = (instant.year - self.start.year) * 12 + instant.month - self.start.month
        n = max(0, elapsed // months - 1)
        while (date := self._nth(n, months)) <= instant:
            n += 1
        return date

    def _nth(self, n: int, months: int) -> datetime:
        index = self.start.month - 1 + n * months
        year, month = self.start.year + index // 12, index % 12 + 1
        days = _MONTH_DAYS[month] + (month == 2 and calendar.isleap(year))
        day = min(self.start.day, days)
        return self.start.replace(year=year, month=month, day=day)
