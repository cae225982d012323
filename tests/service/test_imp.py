"""The IMP's pure core: the transition table and the SLA clocks, on an injected ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opendcc.service import imp
from opendcc.service.imp import ClockState, ImpError, Status, Target, Timing

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TARGET = Target(timedelta(minutes=30), timedelta(hours=4))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_response_clock_runs_then_is_met_or_breached() -> None:
    assert imp.response_clock(Timing(T0), TARGET, at(10)).state is ClockState.RUNNING
    assert imp.response_clock(Timing(T0), TARGET, at(10)).remaining == timedelta(minutes=20)
    assert imp.response_clock(Timing(T0), TARGET, at(31)).state is ClockState.BREACHED
    met = imp.response_clock(Timing(T0, responded_at=at(29)), TARGET, at(600))
    assert (met.state, met.elapsed) == (ClockState.MET, timedelta(minutes=29))
    late = imp.response_clock(Timing(T0, responded_at=at(45)), TARGET, at(50))
    assert late.state is ClockState.BREACHED


def test_resolution_clock_leaves_out_paused_time() -> None:
    # on hold from minute 60, still on hold at minute 300: 60 minutes charged, paused
    held = Timing(T0, responded_at=at(5), paused_since=at(60))
    clock = imp.resolution_clock(held, TARGET, at(300))
    assert (clock.state, clock.elapsed) == (ClockState.PAUSED, timedelta(minutes=60))
    # resumed after 100 minutes on hold, then 200 more minutes: 260 charged, past 240
    resumed = Timing(T0, responded_at=at(5), paused_seconds=100 * 60)
    assert imp.resolution_clock(resumed, TARGET, at(360)).elapsed == timedelta(minutes=260)
    assert imp.resolution_clock(resumed, TARGET, at(360)).state is ClockState.BREACHED
    assert imp.resolution_clock(resumed, TARGET, at(330)).state is ClockState.RUNNING


def test_resolved_clock_stops_at_resolution() -> None:
    resolved = Timing(T0, at(5), resolved_at=at(200), paused_since=at(200), paused_seconds=600)
    clock = imp.resolution_clock(resolved, TARGET, at(10_000))
    assert (clock.state, clock.elapsed) == (ClockState.MET, timedelta(minutes=190))


def test_transition_table_and_illegal_moves() -> None:
    assert imp.next_status(Status.OPEN, "respond") is Status.IN_PROGRESS
    assert imp.next_status(Status.ON_HOLD, "resume") is Status.IN_PROGRESS
    assert imp.next_status(Status.CLOSED, "reopen") is Status.IN_PROGRESS
    with pytest.raises(ImpError):
        imp.next_status(Status.CLOSED, "hold")
    with pytest.raises(ImpError):
        imp.next_status(Status.OPEN, "resume")
    with pytest.raises(ImpError):
        imp.check_category(6)


def test_formatting_and_repeats() -> None:
    assert imp.fmt(timedelta(minutes=65)) == "1h 05m"
    assert imp.fmt(timedelta(minutes=-5)) == "-5m 00s"
    assert imp.fmt(timedelta(days=2, hours=3)) == "2d 03h 00m"
    seen = {"dev": at(0)}
    assert imp.is_repeat("dev", seen, at(60))
    assert not imp.is_repeat("dev", seen, T0 + timedelta(days=31))
    assert not imp.is_repeat("other", seen, at(60))
