"""Tariffs, prepayment configuration, the non-disablement rule and billing calendars."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendcc.sim.state import (
    BLOCKS,
    TOU_RATES,
    BillingCalendar,
    BillingPeriod,
    MeterError,
    PrepayConfig,
    Reason,
    Tariff,
)
from opendcc.sim.state.tariff import in_non_disablement_period


def test_time_of_use_pads_unnamed_rates_with_zero() -> None:
    tariff = Tariff.time_of_use([10, 20])
    assert len(tariff.prices_mp) == TOU_RATES
    assert tariff.price_mp(2, BLOCKS) == 20
    assert tariff.price_mp(8, 1) == 0


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: Tariff.time_of_use([1], switching_table=(9,) * 48), Reason.UNKNOWN_RATE),
        (lambda: Tariff.time_of_use([1] * 9), Reason.UNKNOWN_RATE),
        (lambda: Tariff.flat(1).price_mp(0, 1), Reason.UNKNOWN_RATE),
        (lambda: Tariff.flat(1).price_mp(1, 5), Reason.UNKNOWN_RATE),
        (lambda: Tariff.time_of_use([1], switching_table=(1,) * 47), Reason.INVALID_VALUE),
        (lambda: Tariff.flat(-1), Reason.INVALID_VALUE),
        (lambda: Tariff.flat(1, standing_charge_p=-1), Reason.INVALID_VALUE),
        (lambda: Tariff.time_of_use([1], block_thresholds=(5, 5)), Reason.INVALID_VALUE),
        (lambda: Tariff.time_of_use([1], block_thresholds=(1, 2, 3, 4)), Reason.INVALID_VALUE),
        (lambda: PrepayConfig(low_credit_threshold_p=-1), Reason.INVALID_VALUE),
        (lambda: PrepayConfig(payment_debt_recovery_percent=101), Reason.INVALID_VALUE),
        (lambda: BillingCalendar(datetime(2024, 1, 1)), Reason.INVALID_TIME),
    ],
)
def test_illegal_settings_are_refused(build: object, reason: Reason) -> None:
    with pytest.raises(MeterError) as refused:
        build()  # type: ignore[operator]
    assert refused.value.reason is reason


def test_blocks_climb_at_each_threshold() -> None:
    tariff = Tariff.time_of_use([1], block_thresholds=(100, 200))
    assert [tariff.block_of(n) for n in (0, 99, 100, 199, 200, 10_000)] == [1, 1, 2, 2, 3, 3]


def test_non_disablement_is_weekday_nights_and_weekends() -> None:
    monday = datetime(2024, 1, 1, tzinfo=UTC)
    assert in_non_disablement_period(monday.replace(hour=7, minute=59))
    assert not in_non_disablement_period(monday.replace(hour=8))
    assert not in_non_disablement_period(monday.replace(hour=15, minute=59))
    assert in_non_disablement_period(monday.replace(hour=16))
    assert in_non_disablement_period(monday + timedelta(days=5, hours=12))  # Saturday noon


def test_monthly_billing_dates_keep_the_day_clamped_to_the_month() -> None:
    calendar = BillingCalendar(datetime(2024, 1, 31, tzinfo=UTC), BillingPeriod.MONTHLY)
    dates, at = [], datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(4):
        at = calendar.next_after(at)
        dates.append(at.date().isoformat())
    assert dates == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]


def test_monthly_billing_dates_land_on_each_month_s_last_day_over_the_years() -> None:
    calendar = BillingCalendar(datetime(1999, 12, 31, 6, tzinfo=UTC), BillingPeriod.MONTHLY)
    at = calendar.start
    for _ in range(12 * 30):
        at = calendar.next_after(at)
        assert at.day == monthrange(at.year, at.month)[1]
        assert (at.hour, at.minute) == (6, 0)


instants = st.integers(0, 3 * 365 * 24 * 3600).map(
    lambda s: datetime(2023, 6, 1, tzinfo=UTC) + timedelta(seconds=s)
)


_LONGEST = {
    BillingPeriod.DAILY: timedelta(days=1),
    BillingPeriod.WEEKLY: timedelta(days=7),
    BillingPeriod.MONTHLY: timedelta(days=31),
    BillingPeriod.QUARTERLY: timedelta(days=92),
    BillingPeriod.SIX_MONTHLY: timedelta(days=184),
    BillingPeriod.YEARLY: timedelta(days=366),
}


@given(period=st.sampled_from(list(BillingPeriod)), instant=instants)
def test_next_billing_date_is_the_first_one_strictly_after(
    period: BillingPeriod, instant: datetime
) -> None:
    calendar = BillingCalendar(datetime(2024, 1, 15, 6, tzinfo=UTC), period)
    following = calendar.next_after(instant)
    assert following > instant
    assert calendar.next_after(following - timedelta(microseconds=1)) == following
    assert following.time() == calendar.start.time()
    if instant >= calendar.start:
        assert following - instant <= _LONGEST[period]
        assert calendar.next_after(following) - following <= _LONGEST[period]


def test_a_billing_calendar_is_kept_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    calendar = BillingCalendar(datetime(2024, 2, 1, 1, tzinfo=paris))
    assert calendar.start == datetime(2024, 2, 1, tzinfo=UTC)
    assert calendar.start.tzinfo is UTC
