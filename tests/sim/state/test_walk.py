"""Time passing: exact crossings, and readings that do not depend on how often one looks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.sim.state.support import PREPAY, T0, TOU_TARIFF, flat_meter, hours

from opendcc.core.eui import Eui64
from opendcc.sim.state import (
    Alert,
    BillingCalendar,
    BillingPeriod,
    DebtRegister,
    Esme,
    EventCode,
    Gsme,
    PaymentMode,
    PrepayConfig,
    Tariff,
)
from opendcc.sim.state.walk import Plan, run

TARIFF = TOU_TARIFF


def _meter(device: int, *, gas: bool, friendly: bool) -> Esme | Gsme:
    kind = Gsme if gas else Esme
    meter = kind.for_device(
        Eui64(device),
        commissioned=T0,
        tariff=TARIFF,
        payment_mode=PaymentMode.PREPAYMENT,
        prepay=PrepayConfig(non_disablement_calendar=friendly),
        balance_p=2_500,
    )
    meter.update_debt(T0, DebtRegister.TIME_1, adjustment_p=400, recovery_rate_p_per_day=30)
    meter.update_billing_calendar(T0, BillingCalendar(T0 + timedelta(hours=7), BillingPeriod.DAILY))
    return meter


@settings(deadline=None, max_examples=30)
@given(
    device=st.integers(0, (1 << 64) - 1),
    steps=st.lists(st.integers(1, 40 * 3600), min_size=1, max_size=6),
    gas=st.booleans(),
    friendly=st.booleans(),
)
def test_advancing_in_steps_equals_one_jump_equals_a_pure_read(
    device: int, steps: list[int], gas: bool, friendly: bool
) -> None:
    stepped, jumped, untouched = (_meter(device, gas=gas, friendly=friendly) for _ in range(3))
    at, stepped_alerts = T0, list[Alert]()
    for seconds in steps:
        at += timedelta(seconds=seconds)
        stepped_alerts += stepped.advance(at)
    # A pure read sees exactly what advancing leaves behind.
    assert untouched.import_registers(at) == stepped.import_registers(at)
    assert untouched.event_log(at) == stepped.event_log(at)
    jumped_alerts = jumped.advance(at)
    assert stepped_alerts == list(jumped_alerts)
    for meter in (jumped, untouched):
        assert meter.import_registers(at) == stepped.import_registers(at)
        assert meter.energy_wh(at) == stepped.energy_wh(at)
        assert meter.prepay_values(at) == stepped.prepay_values(at)
        assert meter.supply_state(at) == stepped.supply_state(at)
        assert meter.daily_reads(at) == stepped.daily_reads(at)
        assert meter.calendar_billing_log(at) == stepped.calendar_billing_log(at)
        assert meter.profile(at, start=T0, end=at) == stepped.profile(at, start=T0, end=at)


def test_crossings_are_found_to_the_microsecond() -> None:
    meter = flat_meter()  # 20 p an hour from 1000 p
    alerts = meter.advance(hours(60))
    low, offer, disabled = alerts
    assert low.code is EventCode.LOW_CREDIT
    assert timedelta(0) < low.at - hours(40) <= timedelta(microseconds=1)
    assert offer.code is EventCode.EMERGENCY_CREDIT_AVAILABLE
    assert timedelta(0) < offer.at - hours(45) <= timedelta(microseconds=1)
    assert disabled.code is EventCode.SUPPLY_DISABLED_CREDIT
    assert disabled.at == hours(50)


def test_block_thresholds_split_consumption_and_restart_each_billing_period() -> None:
    tariff = Tariff.time_of_use([20_000], switching_table=(1,) * 48, block_thresholds=(5_000,))
    meter = flat_meter(mode=PaymentMode.CREDIT, tariff=tariff)
    meter.update_billing_calendar(T0, BillingCalendar(T0, BillingPeriod.DAILY))
    assert meter.import_registers(hours(7)).blocks == (5_000, 2_000, 0, 0)
    assert meter.import_registers(hours(27)).blocks == (8_000, 19_000, 0, 0)
    snapshot = meter.calendar_billing_log(hours(27))[0]
    assert snapshot.at == hours(24)
    assert snapshot.registers.blocks == (5_000, 19_000, 0, 0)


def test_block_prices_apply_above_the_threshold() -> None:
    prices = ((10_000, 30_000, 0, 0), *((0,) * 4,) * 7)
    tariff = Tariff((1,) * 48, prices, block_thresholds=(5_000,))
    meter = flat_meter(tariff=tariff, balance_p=10_000)
    # 5 kWh at 10 p, then 2 kWh at 30 p.
    assert meter.meter_balance(hours(7)) == 10_000 - 50 - 60


def test_standing_charge_is_taken_at_midnight_in_prepayment_only() -> None:
    tariff = replace(Tariff.flat(20_000), standing_charge_p=60)
    prepay = flat_meter(watts=0, tariff=tariff)
    credit = flat_meter(watts=0, tariff=tariff, mode=PaymentMode.CREDIT)
    assert prepay.meter_balance(hours(23)) == 1_000
    assert prepay.meter_balance(hours(49)) == 880
    assert credit.meter_balance(hours(49)) == 1_000


def test_run_leaves_its_ledger_untouched() -> None:
    meter = flat_meter()
    ledger = meter._ledger
    before = ledger.copy()
    plan: Plan = meter._plan()
    progress = run(plan, ledger, hours(30))
    assert ledger == before
    assert progress.ledger.at == hours(30)
    assert [d.at for d in progress.daily] == [hours(24)]


def test_zero_credit_levels_are_not_crossed_twice() -> None:
    meter = flat_meter(prepay=replace(PREPAY, emergency_credit_limit_p=0))
    codes = [a.code for a in meter.advance(hours(100))]
    assert codes == [EventCode.LOW_CREDIT, EventCode.SUPPLY_DISABLED_CREDIT]
