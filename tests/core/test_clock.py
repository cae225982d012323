from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opendcc.core.clock import FixedClock, SystemClock


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    clock.advance(timedelta(minutes=30))
    assert clock.now() == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)


def test_fixed_clock_needs_an_aware_time() -> None:
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 1, 1))


def test_system_clock_is_utc() -> None:
    assert SystemClock().now().tzinfo is UTC
