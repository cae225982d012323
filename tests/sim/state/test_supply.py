"""The supply state table: every legal move is a row, everything else raises."""

from __future__ import annotations

from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendcc.sim.state import MeterError, Reason, Supply, SupplyEvent
from opendcc.sim.state.supply import TRANSITIONS, next_supply


@pytest.mark.parametrize(("state", "event"), list(product(Supply, SupplyEvent)))
def test_moves_follow_the_table(state: Supply, event: SupplyEvent) -> None:
    if (state, event) in TRANSITIONS:
        assert next_supply(state, event) is TRANSITIONS[state, event]
    else:
        with pytest.raises(MeterError) as refused:
            next_supply(state, event)
        assert refused.value.reason is Reason.ILLEGAL_SUPPLY_TRANSITION


def test_the_supplier_can_always_enable_or_disable_but_not_arm_an_enabled_supply() -> None:
    assert all((s, SupplyEvent.ENABLE) in TRANSITIONS for s in Supply)
    assert all((s, SupplyEvent.DISABLE) in TRANSITIONS for s in Supply)
    assert (Supply.ENABLED, SupplyEvent.ARM) not in TRANSITIONS


@given(st.lists(st.sampled_from(list(SupplyEvent)), max_size=30))
def test_only_an_armed_supply_can_be_enabled_by_the_consumer(events: list[SupplyEvent]) -> None:
    state = Supply.ENABLED
    for event in events:
        try:
            following = next_supply(state, event)
        except MeterError:
            continue
        if event is SupplyEvent.CONSUMER_ENABLE:
            assert state is Supply.ARMED
        if event is SupplyEvent.CREDIT_EXHAUSTED:
            assert state is Supply.ENABLED and following is Supply.DISABLED
        state = following
