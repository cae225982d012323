"""The walk that takes spans gives exactly what the walk half hour by half hour gave, and a
walk stopped anywhere and walked on (``walk_on``) ends where one walk would.

``walk.run`` takes any stretch inside a UTC day in one step when nothing can cross in it; the
reference (``reference_walk``, the walk before that change) took whole days only and stepped
every other half hour. For random plans, ledgers (prepayment near its levels, blocks near
their thresholds, the supply off, debts) and instants to the microsecond, both give the same
ledger, happenings, daily and billing records and off periods.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.sim.state import reference_walk
from tests.sim.state.walk_strategies import SLOTS, T0, duration, ledgers, plans

from opendcc.sim.state import BillingCalendar, BillingPeriod, PaymentMode, PrepayConfig, Tariff
from opendcc.sim.state.ledger import ENERGY_SCALE, Ledger
from opendcc.sim.state.walk import Plan, run, walk_on


@settings(deadline=None, max_examples=200)
@given(data=st.data())
def test_spans_walk_exactly_as_half_hours_did(data: st.DataObject) -> None:
    plan = data.draw(plans())
    ledger = data.draw(ledgers(plan))
    until = ledger.at + data.draw(duration(4))
    before = ledger.copy()
    assert run(plan, ledger, until) == reference_walk.run(plan, ledger, until)
    assert ledger == before


def test_a_span_inside_a_day_is_one_step() -> None:
    """A meter read at 15:07 after a settle at 09:13 walks no half hours one by one."""
    plan = Plan(
        load=(1_000,) * SLOTS,
        export=(0,) * SLOTS,
        energy_mult=ENERGY_SCALE,
        tariff=Tariff.flat(20_000),
        mode=PaymentMode.CREDIT,
        prepay=PrepayConfig(),
        debt_rates_p=(0, 0),
        calendar=BillingCalendar(T0, BillingPeriod.MONTHLY),
    )
    settled = Ledger.opening(
        at=T0 + timedelta(hours=9, minutes=13), matrix=[0] * 32, energy=0, balance_p=0
    )
    progress = run(plan, settled, T0 + timedelta(hours=15, minutes=7))
    assert progress.ledger.matrix[0] == 1_000 * (5 * 3600 + 54 * 60) * 1_000_000
    assert progress == reference_walk.run(plan, settled, T0 + timedelta(hours=15, minutes=7))


@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_a_walk_stopped_anywhere_walks_on_to_the_same_end(data: st.DataObject) -> None:
    """``walk_on`` from a projection to ``t1`` is ``run`` to ``t2`` from the settled ledger."""
    plan = data.draw(plans())
    ledger = data.draw(ledgers(plan))
    stops = sorted(data.draw(st.lists(duration(3), min_size=1, max_size=5)))
    walked = run(plan, ledger, ledger.at + stops[0])
    for stop in stops[1:]:
        before = walked.ledger.copy()
        walked_on = walk_on(plan, walked, ledger.at + stop)
        assert walked_on == run(plan, ledger, ledger.at + stop)
        assert walked.ledger == before  # the projection walked on from is left untouched
        walked = walked_on
