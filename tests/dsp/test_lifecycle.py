"""The Service Request lifecycle against transitions written out here, each with its reason
(the request's path in docs/architecture.md and ../shared/DESIGN.md, future-dated requests in
docs/time.md), never read from the table under test: a row added to or dropped from
``TRANSITIONS`` fails this file."""

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

R, A, D, INSTR = "received", "accepted", "dispatched", "instructed"
SENT, HELD, RESP = "sent_to_s1sp", "held", "responded"
CANC, EXP, FAIL, DELIV = "cancelled", "expired", "failed", "delivered"
REJ, QUAR = "rejected", "quarantined"

# Every legal step and why; any other pair of states is illegal.
EXPECTED: dict[tuple[str, str], str] = {
    (R, A): "passed access control; committed before the I99 acknowledgement",
    (R, REJ): "refused by access control, answered synchronously",
    (R, QUAR): "over the User's anomaly-detection threshold: held back, never executed",
    (A, D): "a worker takes the device request",
    (A, RESP): "non-device (CV 8): the DSP answers it itself",
    (A, CANC): "a future-dated request still queued, cancelled by the User (3000-12-31)",
    (A, EXP): "the DSP held it past its execution time plus the grace: E30",
    (A, FAIL): "refused before any device round trip (e.g. a sequenced predecessor failed)",
    (D, D): "its worker died and another took it up again",
    (D, INSTR): "the countersigned instruction passed the DCO",
    (D, CANC): "cancelled while being worked on",
    (D, EXP): "past its time while being worked on",
    (D, FAIL): "the DCO or the instruction refused it",
    (INSTR, SENT): "the cohort's head-end has the instruction",
    (INSTR, CANC): "cancelled before the head-end took it",
    (INSTR, EXP): "past its time before the head-end took it",
    (INSTR, FAIL): "the head-end could not be reached",
    (SENT, RESP): "the head-end answered",
    (SENT, HELD): "a future-dated (Device pattern) request the head-end holds",
    (SENT, EXP): "no answer in time",
    (SENT, FAIL): "the head-end refused or failed it",
    (HELD, RESP): "alert 0x8F66: executed at its time",
    (HELD, FAIL): "alert 0x8F67: failed at its time",
    (HELD, EXP): "neither alert by the execution time plus the grace: E30",
    (HELD, CANC): "withdrawn from the head-end by notice 99.2 (the User's cancel)",
    # Each outcome waits in the outbox until the User's endpoint takes it.
    (RESP, DELIV): "delivered",
    (CANC, DELIV): "delivered",
    (EXP, DELIV): "delivered",
    (FAIL, DELIV): "delivered",
}
TERMINAL_STATES = {REJ, QUAR, DELIV}
# A restarted hub owes the User work for every state but these (RECEIVED was never committed).
NOT_RESUMED = {R, REJ, QUAR, DELIV}

DEVICE_PATH = [S.RECEIVED, S.ACCEPTED, S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP, S.RESPONDED,
               S.DELIVERED]  # fmt: skip


def test_the_device_request_happy_path() -> None:
    pairs = enumerate(itertools.pairwise(DEVICE_PATH))
    steps = [advance(a, b, T0 + timedelta(seconds=i)) for i, (a, b) in pairs]
    assert [t.target for t in steps] == DEVICE_PATH[1:]


def test_non_device_requests_skip_the_device_round_trip() -> None:
    step = advance(S.ACCEPTED, S.RESPONDED, T0)
    assert (step.source, step.target, step.at) == (S.ACCEPTED, S.RESPONDED, T0)
    with pytest.raises(IllegalTransition, match="accepted -> sent_to_s1sp is not allowed"):
        advance(S.ACCEPTED, S.SENT_TO_S1SP, T0)  # a device step needs a worker and the DCO


def test_the_table_is_exactly_the_expected_one() -> None:
    assert {str(s) for s in RequestState} == {x for pair in EXPECTED for x in pair}
    table = {(str(s), str(t)) for s, targets in TRANSITIONS.items() for t in targets}
    assert sorted(table - set(EXPECTED)) == []  # legal in the table, not expected
    assert sorted(set(EXPECTED) - table) == []  # expected, missing from the table
    assert {str(s) for s in TERMINAL} == TERMINAL_STATES
    assert {str(s) for s in UNFINISHED} == {str(s) for s in RequestState} - NOT_RESUMED


@pytest.mark.parametrize(("source", "target"), list(itertools.product(RequestState, RequestState)))
def test_advance_allows_exactly_the_expected_steps(
    source: RequestState, target: RequestState
) -> None:
    if (source, target) in EXPECTED:
        step = advance(source, target, T0)
        assert (step.source, step.target, step.at) == (source, target, T0)
    else:
        with pytest.raises(IllegalTransition, match=f"{source} -> {target} is not allowed"):
            advance(source, target, T0)


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


@given(st.lists(st.sampled_from(list(RequestState)), max_size=12))
def test_random_walks_only_ever_take_table_steps(targets: list[RequestState]) -> None:
    state = S.RECEIVED
    for target in targets:
        try:
            state = advance(state, target, T0).target
        except IllegalTransition:
            assert (state, target) not in EXPECTED
    assert state in set(RequestState)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        advance(S.RECEIVED, S.ACCEPTED, datetime(2026, 1, 1))
