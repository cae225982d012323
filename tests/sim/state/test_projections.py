"""A head-end's kept projections change no answer, stay bounded, and keep what is read again.

Reads of a meter whose projection a head-end keeps (``Projections``) walk on from the last
read instead of from the last operation; for random reads and operations at increasing
instants, over meters that push each other out of a tiny ``Projections``, every answer and
every alert equals the meter's that forgets its projection after each command.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.sim.state.support import T0, TOU_TARIFF, hours

from opendcc.core.eui import Eui64
from opendcc.sim.state import (
    BillingCalendar,
    BillingPeriod,
    DebtRegister,
    Esme,
    Gsme,
    MeterError,
    MeterState,
    PaymentMode,
    PrepayConfig,
    walk,
)
from opendcc.sim.state import core as meter_core
from opendcc.sim.state.projections import Projections

TARIFF = TOU_TARIFF
DEVICES = (0x00DB_0000_0000_0001, 0x00DB_0000_0000_0002, 0x00DB_0000_0000_0003)


def _meter(device: int, *, balance_p: int, friendly: bool) -> MeterState:
    kind = Gsme if device % 2 == 0 else Esme
    meter = kind.for_device(
        Eui64(device),
        commissioned=T0,
        tariff=TARIFF,
        payment_mode=PaymentMode.PREPAYMENT,
        prepay=PrepayConfig(non_disablement_calendar=friendly),
        balance_p=balance_p,
    )
    meter.update_debt(T0, DebtRegister.TIME_1, adjustment_p=400, recovery_rate_p_per_day=30)
    meter.update_billing_calendar(T0, BillingCalendar(T0 + timedelta(hours=7), BillingPeriod.DAILY))
    return meter


Act = Callable[[MeterState, datetime], object]

READS: dict[str, Act] = {
    "registers": lambda m, at: m.import_registers(at),
    "prepay": lambda m, at: m.prepay_values(at),
    "balance": lambda m, at: m.meter_balance(at),
    "supply": lambda m, at: m.supply_state(at),
    "energy": lambda m, at: m.energy_wh(at),
    "power": lambda m, at: m.power_w(at),
    "daily": lambda m, at: m.daily_reads(at),
    "consumption": lambda m, at: m.daily_consumption(at),
    "billing": lambda m, at: m.calendar_billing_log(at),
    "events": lambda m, at: m.event_log(at),
    "profile": lambda m, at: m.profile(at, start=T0, end=at),
}
OPERATIONS: dict[str, Act] = {
    "advance": lambda m, at: m.advance(at),
    "top_up": lambda m, at: m.top_up(at, 700),
    "take_100": lambda m, at: m.adjust_balance(at, -100),
    "emergency": lambda m, at: m.activate_emergency_credit(at),
    "outage": lambda m, at: m.power_outage(at),
    "restore": lambda m, at: m.power_restore(at),
    "credit_mode": lambda m, at: m.update_payment_mode(at, PaymentMode.CREDIT),
    "prepay_mode": lambda m, at: m.update_payment_mode(at, PaymentMode.PREPAYMENT),
}
ACTS = {**READS, **OPERATIONS}


def _answer(act: Act, meter: MeterState, at: datetime) -> object:
    try:
        return act(meter, at)
    except MeterError as exc:
        return ("refused", exc.reason)


steps = st.tuples(
    st.sampled_from([0, 0, 0, 0, 1, 2]),
    st.sampled_from([*sorted(READS) * 3, *sorted(OPERATIONS)]),  # mostly reads
    st.one_of(
        st.integers(0, 3_600_000_000),  # within the hour, to the microsecond
        st.integers(0, 50 * 3_600).map(lambda s: s * 1_000_000),  # up to two days
    ),
    st.sampled_from([True, True, True, False]),  # through Projections, or straight (``inject``)
)


@settings(deadline=None, max_examples=150)
@given(
    balance_p=st.integers(0, 3_000),
    friendly=st.booleans(),
    script=st.lists(steps, min_size=1, max_size=40),
)
def test_kept_projections_change_no_answer_and_no_alert(
    balance_p: int, friendly: bool, script: list[tuple[int, str, int, bool]]
) -> None:
    kept = [_meter(d, balance_p=balance_p, friendly=friendly) for d in DEVICES]
    plain = [_meter(d, balance_p=balance_p, friendly=friendly) for d in DEVICES]
    projections = Projections(size=2, ghosts=1)  # the meters push each other out
    at = T0
    for index, name, us, through in script:
        at += timedelta(microseconds=us)
        if through:
            projections.lend(kept[index])
        with_kept = _answer(ACTS[name], kept[index], at)
        if through:
            projections.keep(kept[index])
        else:
            kept[index].forget_view()
        without = _answer(ACTS[name], plain[index], at)
        plain[index].forget_view()
        assert with_kept == without, name
    for meter, twin in zip(kept, plain, strict=True):
        assert meter.advance(at + timedelta(days=3)) == twin.advance(at + timedelta(days=3))


def _read(projections: Projections, meter: MeterState, at: datetime) -> None:
    projections.lend(meter)
    meter.import_registers(at)
    projections.keep(meter)


def test_a_meter_read_once_is_remembered_not_kept() -> None:
    projections = Projections(size=4, ghosts=4)
    meter = _meter(DEVICES[0], balance_p=1_000, friendly=False)
    _read(projections, meter, hours(30))
    assert len(projections) == 0
    _read(projections, meter, hours(31))
    assert len(projections) == 1


def test_reads_walk_on_from_the_kept_projection(monkeypatch: pytest.MonkeyPatch) -> None:
    projections = Projections()
    meter = _meter(DEVICES[0], balance_p=1_000, friendly=False)
    starts: list[datetime] = []
    run = meter_core.run

    def counted(plan: object, ledger: object, until: datetime) -> object:
        starts.append(ledger.at)  # type: ignore[attr-defined]
        return run(plan, ledger, until)  # type: ignore[arg-type]

    monkeypatch.setattr(meter_core, "run", counted)
    monkeypatch.setattr(walk, "run", counted)  # what ``walk_on`` walks with
    for hour in (30, 31, 32, 33):
        _read(projections, meter, hours(hour))
    assert starts == [T0, T0, hours(31), hours(32)]  # walked on after the second read
    meter.top_up(hours(33), 100)  # an operation settles the meter: the kept one is stale
    projections.keep(meter)
    assert len(projections) == 0


def test_a_pass_over_the_fleet_keeps_the_meters_read_again() -> None:
    projections = Projections(size=2, ghosts=8)
    hot = [_meter(d, balance_p=1_000, friendly=False) for d in DEVICES[:2]]
    for hour in (30, 31):
        for meter in hot:
            _read(projections, meter, hours(hour))
    fleet = [_meter(0x00DB_1000_0000_0000 + n, balance_p=0, friendly=False) for n in range(30)]
    for meter in fleet:  # each read once: remembered by reference only, nothing pushed out
        _read(projections, meter, hours(32))
    assert len(projections) == 2
    assert all(projections._kept.get(meter) is not None for meter in hot)


def test_kept_projections_are_bounded() -> None:
    projections = Projections(size=3, ghosts=100)
    meters = [_meter(0x00DB_2000_0000_0000 + n, balance_p=0, friendly=False) for n in range(10)]
    for hour in (30, 31, 32):
        for meter in meters:
            _read(projections, meter, hours(hour))
    assert len(projections) == 3
    assert len(projections._ghosts) <= 100


def test_a_read_before_the_kept_instant_walks_from_the_ledger() -> None:
    projections = Projections()
    meter = _meter(DEVICES[0], balance_p=1_000, friendly=False)
    twin = _meter(DEVICES[0], balance_p=1_000, friendly=False)
    for hour in (40, 41, 20):  # the clock set back, still after the last operation
        _read(projections, meter, hours(hour))
        assert meter.daily_reads(hours(hour)) == twin.daily_reads(hours(hour))
        assert meter.prepay_values(hours(hour)) == twin.prepay_values(hours(hour))
        twin.forget_view()
