"""Hypothesis strategies for the walk: plans, settled ledgers and durations at every scale.

Prepayment near its levels, blocks near their thresholds, the supply off, debts, billing dates
around the ledger's instant, and instants to the microsecond.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from opendcc.sim.state import (
    BillingCalendar,
    BillingPeriod,
    PaymentMode,
    PrepayConfig,
    Supply,
    Tariff,
)
from opendcc.sim.state.household import TICKS_PER_UNIT
from opendcc.sim.state.ledger import ENERGY_SCALE, RAW_PER_PENNY, Ledger
from opendcc.sim.state.tariff import BLOCKS, TOU_RATES
from opendcc.sim.state.walk import Plan, Progress, check_levels

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SLOTS = 48


def spread(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers across ``[low, high]`` at every scale, not mostly near ``low``."""
    step = max(1, (high - low) // 100)
    coarse = st.integers(0, (high - low) // step).map(lambda n: low + n * step)
    fine = st.integers(0, step - 1)
    return st.builds(lambda c, f: min(high, c + f), coarse, fine)


def duration(days: int) -> st.SearchStrategy[timedelta]:
    """Up to ``days`` days, to the microsecond: whole days, hours and odd microseconds."""
    return st.builds(
        lambda d, s, us: timedelta(days=d, seconds=s, microseconds=us),
        st.integers(0, days),
        st.one_of(st.just(0), st.sampled_from([1800, 3600, 43_200]), spread(0, 86_399)),
        st.one_of(st.just(0), spread(0, 999_999)),
    )


watts = st.one_of(st.just(0), spread(0, 6_000))
day_shape = st.one_of(
    spread(0, 6_000).map(lambda w: (w,) * SLOTS),
    st.lists(watts, min_size=SLOTS, max_size=SLOTS).map(tuple),
)


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    rates = draw(st.integers(1, TOU_RATES))
    table = tuple(draw(st.lists(st.integers(1, rates), min_size=SLOTS, max_size=SLOTS)))
    price = st.one_of(st.just(0), spread(0, 60_000))
    prices = tuple(tuple(draw(price) for _ in range(BLOCKS)) for _ in range(TOU_RATES))
    thresholds = sorted(set(draw(st.lists(spread(1, 120_000), max_size=BLOCKS - 1))))
    return Tariff(table, prices, tuple(thresholds), draw(spread(0, 300)))


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    prepay = PrepayConfig(
        low_credit_threshold_p=draw(spread(0, 2_000)),
        emergency_credit_limit_p=draw(st.sampled_from([0, 500, 1_500])),
        emergency_credit_threshold_p=draw(spread(0, 1_000)),
        debt_recovery_cap_p_per_day=draw(spread(0, 500)),
        non_disablement_calendar=draw(st.booleans()),
    )
    calendar = BillingCalendar(
        T0 - timedelta(days=5) + draw(duration(10)),
        draw(st.sampled_from(list(BillingPeriod))),
    )
    return Plan(
        load=draw(day_shape),
        export=draw(st.one_of(st.just((0,) * SLOTS), day_shape)),
        energy_mult=draw(st.sampled_from([ENERGY_SCALE, 11_223_344])),
        tariff=draw(tariffs()),
        mode=draw(st.sampled_from(list(PaymentMode))),
        prepay=prepay,
        debt_rates_p=(draw(spread(0, 100)), draw(spread(0, 100))),
        calendar=calendar,
    )


@st.composite
def ledgers(draw: st.DrawFn, plan: Plan) -> Ledger:
    at = T0 + draw(duration(3))
    matrix = [draw(spread(0, 10**6)) * TICKS_PER_UNIT for _ in range(TOU_RATES * BLOCKS)]
    ledger = Ledger(
        at=at,
        matrix=matrix,
        energy=sum(matrix) * plan.energy_mult,
        export=draw(spread(0, 10**15)),
        period=draw(spread(0, 130_000)) * TICKS_PER_UNIT + draw(spread(0, 10**9)),
        balance=draw(spread(-500, 6_000)) * RAW_PER_PENNY + draw(spread(0, 10**12)),
        supply=draw(st.sampled_from([Supply.ENABLED] * 3 + [Supply.DISABLED, Supply.ARMED])),
        powered=draw(st.booleans() | st.just(True)),
        time_debts=[draw(spread(0, 2_000)), draw(spread(0, 2_000))],
        payment_debt=draw(spread(0, 1_000)),
    )
    if draw(st.booleans()) and plan.prepay.emergency_credit_limit_p:
        ledger.ec_granted = plan.prepay.emergency_credit_limit_p * RAW_PER_PENNY
        ledger.ec_remaining = draw(spread(0, ledger.ec_granted))
    # A settled ledger has had the credit rules applied, as every operation leaves it.
    check_levels(plan, ledger, at, Progress(ledger))
    return ledger
