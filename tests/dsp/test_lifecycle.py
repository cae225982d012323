from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendcc.dsp.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    UNFINISHED,
    IllegalTransition,
    RequestState,
    advance,
)

S = RequestState
T0 = datetime(2026, 1, 1, tzinfo=UTC)

DEVICE_PATH = [S.RECEIVED, S.ACCEPTED, S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP, S.RESPONDED,
               S.DELIVERED]  # fmt: skip


def test_the_device_request_happy_path() -> None:
    pairs = enumerate(itertools.pairwise(DEVICE_PATH))
    steps = [advance(a, b, T0 + timedelta(seconds=i)) for i, (a, b) in pairs]
    assert [t.target for t in steps] == DEVICE_PATH[1:]


def test_non_device_requests_skip_the_device_round_trip() -> None:
    advance(S.ACCEPTED, S.RESPONDED, T0)


def test_rejection_and_delivery_are_terminal() -> None:
    assert {S.REJECTED, S.QUARANTINED, S.DELIVERED} == TERMINAL
    with pytest.raises(IllegalTransition, match="terminal"):
        advance(S.DELIVERED, S.RESPONDED, T0)


def test_every_state_is_reachable_and_every_unfinished_state_can_finish() -> None:
    reachable, frontier = {S.RECEIVED}, [S.RECEIVED]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(RequestState)
    for state in UNFINISHED:
        seen, stack = set(), [state]
        while stack:
            current = stack.pop()
            seen.add(current)
            stack.extend(n for n in TRANSITIONS[current] if n not in seen)
        assert S.DELIVERED in seen, state


def test_no_going_back_once_accepted() -> None:
    for state in RequestState:
        assert S.RECEIVED not in TRANSITIONS[state]
        if state is not S.RECEIVED:
            assert S.ACCEPTED not in TRANSITIONS[state]


@given(st.sampled_from(list(RequestState)), st.sampled_from(list(RequestState)))
def test_advance_agrees_with_the_table(source: RequestState, target: RequestState) -> None:
    if target in TRANSITIONS[source]:
        assert advance(source, target, T0).target is target
    else:
        with pytest.raises(IllegalTransition):
            advance(source, target, T0)


@given(st.lists(st.sampled_from(list(RequestState)), max_size=12))
def test_random_walks_only_ever_take_table_steps(targets: list[RequestState]) -> None:
    state = S.RECEIVED
    for target in targets:
        try:
            state = advance(state, target, T0).target
        except IllegalTransition:
            assert target not in TRANSITIONS[state]
    assert state in set(RequestState)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        advance(S.RECEIVED, S.ACCEPTED, datetime(2026, 1, 1))
