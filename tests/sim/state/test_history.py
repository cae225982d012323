"""Bounded newest-first logs and the half-hourly profile derived from off periods."""

from __future__ import annotations

from collections import deque
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from tests.sim.state.support import T0, hours

from opendcc.sim.state.history import half_hourly, newest_first, off_periods, record


@given(st.lists(st.integers(), max_size=20), st.lists(st.integers(), max_size=20))
def test_newest_first_matches_recording(committed: list[int], added: list[int]) -> None:
    log: deque[int] = deque(maxlen=7)
    record(log, committed)
    expected: deque[int] = deque(log, maxlen=7)
    record(expected, added)
    assert newest_first(log, added) == tuple(expected)
    assert len(expected) <= 7


def test_profile_subtracts_off_periods_within_a_slot() -> None:
    off = off_periods(
        T0,
        [(hours(1) + timedelta(minutes=10), hours(1) + timedelta(minutes=20))],
        [],
        open_since=hours(2),
        now=hours(3),
    )
    profile = half_hourly(
        [1000] * 48, off, start=T0 - timedelta(hours=1), end=hours(3), now=hours(3)
    )
    assert profile[0].start == T0 - timedelta(hours=1)
    amounts = [p.amount for p in profile]
    assert amounts == [0, 0, 500, 500, 333, 500, 0, 0]


def test_profile_starts_at_the_next_slot_boundary() -> None:
    off = off_periods(T0, [], [], open_since=None, now=hours(2))
    profile = half_hourly([1000] * 48, off, start=hours(0.2), end=hours(2), now=hours(2))
    assert [p.start for p in profile] == [hours(0.5), hours(1), hours(1.5)]
