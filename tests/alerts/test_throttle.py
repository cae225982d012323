"""Storm protection: non-critical alerts beyond a device's or a cohort's limit are held and
counted per window; critical alerts always pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opendcc.alerts.throttle import StormPolicy, Throttle
from opendcc.core.eui import Eui64

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
A = Eui64.parse("00-DB-12-00-00-00-00-01")
B = Eui64.parse("00-DB-12-00-00-00-00-02")


def test_a_flooding_device_is_held_after_its_limit_but_critical_alerts_pass() -> None:
    throttle = Throttle(StormPolicy(device_limit=3, window_s=60, cohort_limit=1000))
    at = T0 + timedelta(seconds=1)
    admitted = [throttle.admit(A, "x", False, at) for _ in range(10)]
    assert admitted == [True] * 3 + [False] * 7
    assert all(throttle.admit(A, "x", True, at) for _ in range(50))
    assert throttle.admit(B, "x", False, at)  # another device has its own count
    assert throttle.closed(at) == []  # the window is still open
    closed = throttle.closed(T0 + timedelta(seconds=61))
    assert [(w.device_id, w.count, w.sequence, w.start, w.end) for w in closed] == [
        (A, 7, 1, T0, T0 + timedelta(seconds=60))
    ]
    assert throttle.closed(T0 + timedelta(seconds=62)) == []  # reported once


def test_the_next_window_starts_afresh_and_numbers_its_sequence() -> None:
    throttle = Throttle(StormPolicy(device_limit=1, window_s=10, cohort_limit=1000))
    for window in range(3):
        at = T0 + timedelta(seconds=10 * window + 1)
        assert throttle.admit(A, "x", False, at)
        assert not throttle.admit(A, "x", False, at)
    closed = throttle.closed(T0 + timedelta(seconds=31))
    assert [(w.sequence, w.count) for w in closed] == [(1, 1), (2, 1), (3, 1)]


def test_a_flooding_cohort_is_held_per_second_across_devices() -> None:
    throttle = Throttle(StormPolicy(device_limit=100, window_s=60, cohort_limit=5))
    at = T0 + timedelta(seconds=3)
    devices = [Eui64(n) for n in range(1, 11)]
    admitted = [throttle.admit(d, "flood", False, at) for d in devices]
    assert admitted.count(True) == 5
    assert throttle.admit(A, "quiet", False, at)  # another cohort is not held
    assert throttle.admit(devices[-1], "flood", True, at)  # critical still passes
    assert throttle.admit(devices[-1], "flood", False, at + timedelta(seconds=1))
    held = throttle.closed(T0 + timedelta(seconds=60))
    assert sum(w.count for w in held) == 5


def test_holding_while_a_window_holds_alerts_until_its_close_is_taken() -> None:
    throttle = Throttle(StormPolicy(device_limit=1, window_s=10, cohort_limit=1000))
    at = T0 + timedelta(seconds=1)
    assert throttle.admit(A, "x", False, at) and not throttle.holding  # within the limit
    assert not throttle.admit(A, "x", False, at) and throttle.holding
    assert throttle.admit(A, "x", False, at + timedelta(seconds=11))  # the next window
    assert not throttle.admit(A, "x", False, at + timedelta(seconds=11))
    assert throttle.holding  # the first closed (not taken yet), the second open
    assert len(throttle.closed(at + timedelta(seconds=11))) == 1 and throttle.holding
    assert len(throttle.closed(at + timedelta(seconds=21))) == 1 and not throttle.holding
