"""Monthly availability as the SEC measures it: minutes down less those in planned maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opendcc.service.availability import availability

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
AFTER = datetime(2026, 8, 1, tzinfo=UTC)
MINUTES = 30 * 24 * 60


def test_unplanned_minutes_count_planned_ones_do_not() -> None:
    down = [(JUNE + timedelta(hours=1), JUNE + timedelta(hours=2))]  # 60 minutes
    planned = [(JUNE + timedelta(hours=1, minutes=30), JUNE + timedelta(hours=3))]  # 30 overlap
    a = availability("headend:x", 2026, 6, down, planned, AFTER)
    assert (a.minutes, a.unavailable, a.planned) == (MINUTES, 60, 30)
    assert abs(a.percent - 100 * (1 - 30 / MINUTES)) < 1e-9


def test_outages_are_clipped_to_the_month_and_an_open_one_runs_to_now() -> None:
    down = [
        (JUNE - timedelta(hours=1), JUNE + timedelta(minutes=10)),
        (JUNE + timedelta(days=29, hours=23), None),
    ]
    a = availability("db", 2026, 6, down, [], AFTER)
    assert a.unavailable == 10 + 60
    now = JUNE + timedelta(days=1)
    partial = availability("db", 2026, 6, [(JUNE + timedelta(hours=23), None)], [], now)
    assert (partial.minutes, partial.unavailable) == (1440, 60)


def test_overlapping_outages_are_not_counted_twice() -> None:
    down = [
        (JUNE, JUNE + timedelta(minutes=30)),
        (JUNE + timedelta(minutes=20), JUNE + timedelta(minutes=40)),
    ]
    assert availability("w", 2026, 6, down, [], AFTER).unavailable == 40
