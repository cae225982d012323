"""Ledger arithmetic: registers from ticks, pence rounding, top-ups, debt."""

from __future__ import annotations

from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.sim.state.support import T0

from opendcc.sim.state import BLOCKS, TOU_RATES, DebtRegister, MeterError, PrepayConfig, Supply
from opendcc.sim.state.household import TICKS_PER_UNIT
from opendcc.sim.state.ledger import (
    RAW_PER_PENNY,
    Ledger,
    Registers,
    activate_emergency_credit,
    adjust_debt,
    daily_record,
    pence,
    recover_time_debts,
    top_up,
)

cells = st.lists(
    st.integers(0, 10**9 * TICKS_PER_UNIT), min_size=TOU_RATES * BLOCKS, max_size=TOU_RATES * BLOCKS
)


@given(cells)
def test_registers_add_up(ticks: list[int]) -> None:
    registers = Registers.of(ticks)
    assert registers.total == sum(registers.tou)
    assert sum(ticks) // TICKS_PER_UNIT - registers.total < TOU_RATES
    assert all(sum(row) <= tou for row, tou in zip(registers.matrix, registers.tou, strict=True))
    # Each cell, TOU register and block register is its exact quantity rounded down.
    unit, cell_of = TICKS_PER_UNIT, lambda r, b: ticks[r * BLOCKS + b]
    rates, blocks = range(TOU_RATES), range(BLOCKS)
    assert registers.matrix == tuple(tuple(cell_of(r, b) // unit for b in blocks) for r in rates)
    assert registers.tou == tuple(sum(cell_of(r, b) for b in blocks) // unit for r in rates)
    assert registers.blocks == tuple(sum(cell_of(r, b) for r in rates) // unit for b in blocks)
    assert daily_record(Ledger.opening(at=T0, matrix=ticks, energy=0, balance_p=0)).tou == (
        registers.tou
    )


def test_pence_round_toward_zero() -> None:
    assert pence(RAW_PER_PENNY * 5 + 1) == 5
    assert pence(-1) == 0
    assert pence(-RAW_PER_PENNY * 5 - 1) == -5


def _ledger(balance_p: int) -> Ledger:
    return Ledger.opening(at=T0, matrix=[0] * (TOU_RATES * BLOCKS), energy=0, balance_p=balance_p)


def test_a_top_up_repays_emergency_credit_then_ends_it() -> None:
    config = PrepayConfig(emergency_credit_limit_p=500)
    ledger = _ledger(0)
    ledger.ec_available = True
    activate_emergency_credit(ledger, config)
    ledger.ec_remaining -= 200 * RAW_PER_PENNY
    top_up(ledger, config, 100)  # not enough to repay: emergency credit goes on
    assert (ledger.ec_active, pence(ledger.ec_remaining), pence(ledger.balance)) == (True, 400, 0)
    top_up(ledger, config, 300)
    assert (ledger.ec_active, pence(ledger.ec_remaining), pence(ledger.balance)) == (False, 0, 200)


def test_debt_registers() -> None:
    ledger = _ledger(1_000)
    assert adjust_debt(ledger, DebtRegister.TIME_2, 70) == 70
    with pytest.raises(MeterError):
        adjust_debt(ledger, DebtRegister.TIME_2, -71)
    assert ledger.time_debts == [0, 70]
    assert recover_time_debts(ledger, (50, 50), cap_p=40) == 40
    assert (ledger.time_debts, pence(ledger.balance), ledger.accumulated_debt) == ([0, 30], 960, 40)


def test_debt_is_recovered_only_from_credit_in_hand() -> None:
    ledger = _ledger(25)
    adjust_debt(ledger, DebtRegister.TIME_1, 100)
    assert recover_time_debts(ledger, (60, 0), cap_p=500) == 25
    assert pence(ledger.balance) == 0


def test_a_copy_is_equal_and_shares_no_list() -> None:
    ledger = Ledger(
        at=T0,
        matrix=list(range(32)),
        energy=1,
        export=2,
        period=3,
        balance=4,
        ec_granted=5,
        ec_remaining=6,
        ec_available=True,
        low_credit=True,
        supply=Supply.ARMED,
        disabled_for_credit=True,
        powered=False,
        off_since=T0,
        time_debts=[7, 8],
        payment_debt=9,
        accumulated_debt=10,
    )
    copy = ledger.copy()
    assert copy == ledger
    assert copy.matrix is not ledger.matrix
    assert copy.time_debts is not ledger.time_debts
    # ``copy`` names every field: a new one must be added there too.
    assert len(fields(Ledger)) == 17
