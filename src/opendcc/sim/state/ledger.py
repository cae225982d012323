"""The running accumulators of a simulated meter and the snapshots taken of them.

A ``Ledger`` is everything about a meter that time changes: energy registers per TOU
(time-of-use) rate and block, consumption in the current billing period, prepayment credit,
emergency credit, debts, the supply state and whether there is mains power. Operations and the
passage of time (``walk``) change it; everything else about a meter (tariff, configuration,
identity) changes only through operations.

Registers are held exactly in ticks (see ``household``), money in "raw" units so fine that the
cost of any number of microseconds of consumption is a whole number of them: raw = ticks x
energy multiplier x unit price in milli-pence per kWh. For electricity the energy multiplier is
``ENERGY_SCALE``; for gas it is conversion factor x calorific value in the units of
``GasConfig``, which turns litres into Wh with the same denominator. So a penny is
``RAW_PER_PENNY`` raw, for both fuels, and nothing is ever rounded until it is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Self

from opendcc.sim.state.errors import MeterError, Reason
from opendcc.sim.state.household import TICKS_PER_UNIT
from opendcc.sim.state.supply import Supply
from opendcc.sim.state.tariff import BLOCKS, TOU_RATES, DebtRegister, PrepayConfig

ENERGY_SCALE = 360_000_000  # Wh = litres x CF (1e-5) x CV (kJ/m3) / ENERGY_SCALE
RAW_PER_WH = TICKS_PER_UNIT * ENERGY_SCALE  # energy units per Wh
RAW_PER_PENNY = RAW_PER_WH * 1000 * 1000  # energy units x milli-pence per kWh, per penny
_TIME_REGISTERS = {DebtRegister.TIME_1: 0, DebtRegister.TIME_2: 1}


def pence(raw: int) -> int:
    """Whole pence in ``raw``, rounded toward zero (a microsecond's overshoot reads as 0p)."""
    return raw // RAW_PER_PENNY if raw >= 0 else -(-raw // RAW_PER_PENNY)


def cell(rate: int, block: int) -> int:
    """The index of TOU rate ``rate`` and block ``block`` (1-based) in a flat matrix."""
    return (rate - 1) * BLOCKS + block - 1


@dataclass(slots=True)
class Ledger:
    """What time changes about a meter, at instant ``at``. Copy it before changing it."""

    at: datetime
    matrix: list[int]  # ticks imported per (rate, block), row-major; see ``cell``
    energy: int  # energy units imported (ticks x energy multiplier): the energy register
    export: int  # ticks exported
    period: int  # ticks imported since the billing period began: decides the block
    balance: int  # raw; negative only after non-disablement hours without credit
    ec_granted: int = 0  # raw; non-zero while emergency credit is active
    ec_remaining: int = 0  # raw
    ec_available: bool = False
    low_credit: bool = False
    supply: Supply = Supply.ENABLED
    disabled_for_credit: bool = False
    powered: bool = True
    off_since: datetime | None = None  # when consumption last stopped, while it is stopped
    time_debts: list[int] = field(default_factory=lambda: [0, 0])  # pence, per register
    payment_debt: int = 0  # pence
    accumulated_debt: int = 0  # pence recovered, all registers, ever

    @classmethod
    def opening(cls, *, at: datetime, matrix: Sequence[int], energy: int, balance_p: int) -> Self:
        return cls(at, list(matrix), energy, 0, 0, balance_p * RAW_PER_PENNY)

    def copy(self) -> Ledger:
        # Field by field: ``dataclasses.replace`` looks every field up again, on every read.
        return Ledger(
            self.at,
            self.matrix.copy(),
            self.energy,
            self.export,
            self.period,
            self.balance,
            self.ec_granted,
            self.ec_remaining,
            self.ec_available,
            self.low_credit,
            self.supply,
            self.disabled_for_credit,
            self.powered,
            self.off_since,
            self.time_debts.copy(),
            self.payment_debt,
            self.accumulated_debt,
        )

    @property
    def consuming(self) -> bool:
        return self.supply is Supply.ENABLED and self.powered

    @property
    def ec_active(self) -> bool:
        return self.ec_granted > 0

    @property
    def available(self) -> int:
        """Raw credit the consumer can still use: balance plus emergency credit left."""
        return self.balance + self.ec_remaining

    def stop_or_start(self, at: datetime, closed: list[tuple[datetime, datetime]]) -> None:
        """Track when consumption stops and restarts; append each finished off period."""
        if not self.consuming and self.off_since is None:
            self.off_since = at
        elif self.consuming and self.off_since is not None:
            closed.append((self.off_since, at))
            self.off_since = None


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True, slots=True)
class Registers:
    """Import registers in whole units (Wh, or litres of gas): 4.1.1 and 4.1.2.

    Each cell of the TOU x block matrix, each TOU register and each block register is the exact
    quantity rounded down; ``total`` is the sum of the TOU registers, so the split always adds
    up, and block registers differ from it by rounding only.
    """

    total: int
    tou: tuple[int, ...]  # per TOU rate 1-8
    blocks: tuple[int, ...]  # per block 1-4
    matrix: tuple[tuple[int, ...], ...]  # [rate - 1][block - 1]

    @classmethod
    def of(cls, ticks: Sequence[int]) -> Self:
        # List comprehensions and strided slices: every read of the registers comes here.
        unit = TICKS_PER_UNIT
        rows = [ticks[i : i + BLOCKS] for i in range(0, TOU_RATES * BLOCKS, BLOCKS)]
        tou = tuple([sum(row) // unit for row in rows])
        blocks = tuple([sum(ticks[b::BLOCKS]) // unit for b in range(BLOCKS)])
        matrix = tuple([tuple([t // unit for t in row]) for row in rows])
        return cls(sum(tou), tou, blocks, matrix)


@dataclass(frozen=True, slots=True)
class PrepayValues:
    """Prepayment values in pence (toward zero): 4.3 Read Instantaneous Prepay Values, 4.18."""

    balance_p: int
    emergency_credit_p: int  # emergency credit left, while active
    emergency_credit_active: bool
    emergency_credit_available: bool  # may be activated (2.5)
    time_debts_p: tuple[int, int]
    payment_debt_p: int
    accumulated_debt_p: int

    @classmethod
    def of(cls, ledger: Ledger) -> Self:
        first, second = ledger.time_debts
        return cls(
            balance_p=pence(ledger.balance),
            emergency_credit_p=pence(ledger.ec_remaining),
            emergency_credit_active=ledger.ec_active,
            emergency_credit_available=ledger.ec_available,
            time_debts_p=(first, second),
            payment_debt_p=ledger.payment_debt,
            accumulated_debt_p=ledger.accumulated_debt,
        )

    @property
    def total_debt_p(self) -> int:
        return sum(self.time_debts_p) + self.payment_debt_p


@dataclass(frozen=True, slots=True)
class DailyRecord:
    """A midnight snapshot: 4.6.1 Import Daily Read Log and 4.14 Prepayment Daily Read Log."""

    at: datetime
    total: int  # import register, Wh or litres
    tou: tuple[int, ...]
    energy_wh: int
    prepay: PrepayValues


class BillingTrigger(Enum):
    CALENDAR = "calendar"  # 4.4.3 Billing Calendar Triggered Billing Data Log
    TARIFF_CHANGE = "tariff_change"  # 4.4.2 Change Of Mode / Tariff Triggered Billing Data Log
    MODE_CHANGE = "mode_change"  # 4.4.2 too


@dataclass(frozen=True, slots=True)
class BillingRecord:
    """A billing data snapshot, taken on a billing date or just before a tariff or mode change."""

    at: datetime
    trigger: BillingTrigger
    registers: Registers
    energy_wh: int
    prepay: PrepayValues


def daily_record(ledger: Ledger) -> DailyRecord:
    # The TOU registers alone, as ``Registers.of`` gives them: a walk takes one every midnight.
    ticks = ledger.matrix
    tou = tuple(sum(ticks[i : i + BLOCKS]) // TICKS_PER_UNIT for i in range(0, len(ticks), BLOCKS))
    energy_wh = ledger.energy // RAW_PER_WH
    return DailyRecord(ledger.at, sum(tou), tou, energy_wh, PrepayValues.of(ledger))


def billing_record(ledger: Ledger, trigger: BillingTrigger) -> BillingRecord:
    registers = Registers.of(ledger.matrix)
    energy_wh = ledger.energy // RAW_PER_WH
    return BillingRecord(ledger.at, trigger, registers, energy_wh, PrepayValues.of(ledger))


# --------------------------------------------------------------------------- credit and debt


def top_up(ledger: Ledger, config: PrepayConfig, amount_p: int) -> int:
    """Add a top-up: payment-based debt takes its share, then emergency credit used is repaid.

    Returns the pence that went to debt. Emergency credit ends once what was used is repaid.
    """
    share = amount_p * config.payment_debt_recovery_percent // 100
    to_debt = min(ledger.payment_debt, share, config.payment_debt_recovery_cap_p)
    ledger.payment_debt -= to_debt
    ledger.accumulated_debt += to_debt
    rest = (amount_p - to_debt) * RAW_PER_PENNY
    if ledger.ec_active:
        repaid = min(rest, ledger.ec_granted - ledger.ec_remaining)
        ledger.ec_remaining += repaid
        rest -= repaid
        if ledger.ec_remaining >= ledger.ec_granted:
            ledger.ec_granted = ledger.ec_remaining = 0
    ledger.balance += rest
    return to_debt


def activate_emergency_credit(ledger: Ledger, config: PrepayConfig) -> None:
    if not ledger.ec_available:
        raise MeterError(
            Reason.EMERGENCY_CREDIT_UNAVAILABLE,
            "emergency credit is available only below its threshold, once per exhaustion",
        )
    ledger.ec_granted = ledger.ec_remaining = config.emergency_credit_limit_p * RAW_PER_PENNY
    ledger.ec_available = False


def adjust_debt(ledger: Ledger, register: DebtRegister, adjustment_p: int) -> int:
    """Add ``adjustment_p`` (negative to reduce) to one debt register; returns its new value."""
    current = (
        ledger.payment_debt
        if register is DebtRegister.PAYMENT
        else ledger.time_debts[_TIME_REGISTERS[register]]
    )
    updated = current + adjustment_p
    if updated < 0:
        raise MeterError(Reason.INVALID_VALUE, f"{register.value} debt would be {updated}p")
    if register is DebtRegister.PAYMENT:
        ledger.payment_debt = updated
    else:
        ledger.time_debts[_TIME_REGISTERS[register]] = updated
    return updated


def recover_time_debts(ledger: Ledger, rates_p: Sequence[int], cap_p: int) -> int:
    """A midnight's time-based debt recovery, from credit in hand only; returns pence taken."""
    taken = 0
    for index, rate in enumerate(rates_p):
        can = max(0, ledger.balance // RAW_PER_PENNY)
        take = min(rate, ledger.time_debts[index], cap_p - taken, can)
        if take > 0:
            ledger.time_debts[index] -= take
            ledger.balance -= take * RAW_PER_PENNY
            taken += take
    ledger.accumulated_debt += taken
    return taken
