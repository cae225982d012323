"""When schedules run: occurrences of each frequency, end dates, execution times, the spread."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from opendcc.schedules import Frequency, Recurrence, spread_offset


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def occurrences(recurrence: Recurrence, count: int) -> list[datetime | None]:
    return [recurrence.occurrence(k) for k in range(count)]


def test_daily_and_weekly_step_by_days_at_the_execution_time() -> None:
    daily = Recurrence(Frequency.DAILY, date(2024, 2, 28), at=time(1, 30))
    assert occurrences(daily, 3) == [
        at("2024-02-28T01:30"),
        at("2024-02-29T01:30"),
        at("2024-03-01T01:30"),
    ]
    weekly = Recurrence(Frequency.WEEKLY, date(2024, 6, 3))
    assert occurrences(weekly, 2) == [at("2024-06-03T00:00"), at("2024-06-10T00:00")]


def test_monthly_from_the_31st_takes_the_last_day_of_shorter_months() -> None:
    monthly = Recurrence(Frequency.MONTHLY, date(2024, 1, 31))
    days = [o.date() for o in occurrences(monthly, 5) if o is not None]
    assert days == [
        date(2024, 1, 31),
        date(2024, 2, 29),  # leap year
        date(2024, 3, 31),  # back to the 31st, not stuck on the 29th
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (Frequency.QUARTERLY, [date(2023, 11, 30), date(2024, 2, 29), date(2024, 5, 30)]),
        (Frequency.HALF_YEARLY, [date(2023, 11, 30), date(2024, 5, 30), date(2024, 11, 30)]),
        (Frequency.YEARLY, [date(2023, 11, 30), date(2024, 11, 30), date(2025, 11, 30)]),
    ],
)
def test_quarterly_half_yearly_and_yearly(frequency: Frequency, expected: list[date]) -> None:
    recurrence = Recurrence(frequency, date(2023, 11, 30))
    assert [o.date() for o in occurrences(recurrence, 3) if o is not None] == expected


def test_a_yearly_schedule_from_29_february_runs_on_28_february_in_other_years() -> None:
    recurrence = Recurrence(Frequency.YEARLY, date(2024, 2, 29))
    assert recurrence.occurrence(1) == at("2025-02-28T00:00")
    assert recurrence.occurrence(4) == at("2028-02-29T00:00")


def test_the_end_date_is_inclusive_and_nothing_runs_after_it() -> None:
    recurrence = Recurrence(Frequency.DAILY, date(2024, 6, 1), date(2024, 6, 3), time(1))
    assert recurrence.occurrence(2) == at("2024-06-03T01:00")
    assert recurrence.occurrence(3) is None
    assert recurrence.next_after(at("2024-06-03T01:00")) is None
    assert recurrence.first_at_or_after(at("2024-06-03T00:59")) == at("2024-06-03T01:00")
    assert recurrence.latest_at_or_before(at("2024-09-01T00:00")) == at("2024-06-03T01:00")


def test_an_end_before_the_start_is_refused() -> None:
    with pytest.raises(ValueError, match="before the start"):
        Recurrence(Frequency.DAILY, date(2024, 6, 2), date(2024, 6, 1))


def test_a_start_in_the_future_runs_first_on_the_start_date() -> None:
    recurrence = Recurrence(Frequency.MONTHLY, date(2024, 9, 15), at=time(2))
    assert recurrence.first_at_or_after(at("2024-06-01T12:00")) == at("2024-09-15T02:00")
    assert recurrence.latest_at_or_before(at("2024-06-01T12:00")) is None


def test_first_next_and_latest_around_an_instant() -> None:
    recurrence = Recurrence(Frequency.MONTHLY, date(2024, 1, 31), at=time(1))
    now = at("2024-04-10T12:00")
    assert recurrence.first_at_or_after(now) == at("2024-04-30T01:00")
    assert recurrence.latest_at_or_before(now) == at("2024-03-31T01:00")
    assert recurrence.first_at_or_after(at("2024-04-30T01:00")) == at("2024-04-30T01:00")
    assert recurrence.next_after(at("2024-04-30T01:00")) == at("2024-05-31T01:00")
    assert recurrence.latest_at_or_before(at("2024-04-30T01:00")) == at("2024-04-30T01:00")
    daily = Recurrence(Frequency.DAILY, date(2024, 6, 2), at=time(1))
    assert daily.first_at_or_after(at("2024-06-05T01:00:01")) == at("2024-06-06T01:00")
    assert daily.latest_at_or_before(at("2024-06-05T01:00:01")) == at("2024-06-05T01:00")


def test_spread_offsets_are_deterministic_within_the_window_and_spread_out() -> None:
    spread = timedelta(minutes=30)
    offsets = [spread_offset(i, spread) for i in range(1, 10_001)]
    assert offsets == [spread_offset(i, spread) for i in range(1, 10_001)]
    assert all(timedelta(0) <= o < spread for o in offsets)
    # Spread evenly: every one of the 30 minutes of the window gets its share of schedules.
    per_minute = [0] * 30
    for offset in offsets:
        per_minute[int(offset / timedelta(minutes=1))] += 1
    assert min(per_minute) > 10_000 / 30 * 0.8
    assert spread_offset(7, timedelta(0)) == timedelta(0)
