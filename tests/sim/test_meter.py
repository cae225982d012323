"""The simulated meter: deterministic registers that follow its load, TOU split, clock drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendcc.core.eui import Eui64
from opendcc.sim.meter import EPOCH, TOU_RATE_OF_SLOT, LoadProfile, Meter

DEVICE = Eui64.parse("00-DB-12-34-56-78-90-A0")
OTHER = Eui64.parse("00-DB-12-34-56-78-90-A1")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def test_readings_are_a_function_of_device_and_time() -> None:
    assert Meter.for_device(DEVICE) == Meter.for_device(DEVICE)
    meter, other = Meter.for_device(DEVICE), Meter.for_device(OTHER)
    assert meter.import_wh(NOW) == Meter.for_device(DEVICE).import_wh(NOW)
    assert meter.import_wh(NOW) != other.import_wh(NOW)


def test_flat_load_accumulates_exactly() -> None:
    meter = Meter(DEVICE, LoadProfile((1000,) * 48), commissioned=EPOCH, initial_import_wh=5)
    assert meter.import_wh(EPOCH) == 5
    assert meter.import_wh(EPOCH + timedelta(hours=3)) == 3005
    assert meter.import_wh(EPOCH + timedelta(days=10, minutes=6)) == 5 + 240_000 + 100
    assert meter.reactive_import_varh(EPOCH + timedelta(hours=3)) == 3005 * 300 // 1000


def test_tou_registers_split_by_time_of_day() -> None:
    meter = Meter(DEVICE, LoadProfile((1000,) * 48))
    night = meter.tou_wh(EPOCH + timedelta(hours=7))
    assert night == (7000, 0, 0, 0)
    one_day = meter.tou_wh(EPOCH + timedelta(days=1))
    assert one_day == (7000, 9000, 3000, 5000)
    assert sum(one_day) == meter.import_wh(EPOCH + timedelta(days=1))
    assert len(TOU_RATE_OF_SLOT) == 48


def test_commissioning_mid_day_counts_from_then() -> None:
    start = EPOCH + timedelta(hours=18)
    meter = Meter(DEVICE, LoadProfile((1000,) * 48), commissioned=start, clock_set_at=start)
    assert meter.tou_wh(start + timedelta(hours=2)) == (0, 0, 1000, 1000)
    with pytest.raises(ValueError, match="before the meter was commissioned"):
        meter.import_wh(EPOCH)


def test_the_evening_draws_more_than_the_night() -> None:
    meter = Meter.for_device(DEVICE)
    assert meter.power_w(NOW.replace(hour=18, minute=45)) > meter.power_w(NOW.replace(hour=3))


def test_clock_drifts_by_ppm_and_can_be_set() -> None:
    meter = Meter.for_device(DEVICE, commissioned=NOW, clock_drift_ppm=100.0)
    later = NOW + timedelta(days=10)  # 864,000 s at 100 ppm: 86.4 s fast
    assert meter.clock(later) - later == timedelta(seconds=86.4)
    assert meter.with_clock_set(later).clock(later) == later
    assert Meter.for_device(DEVICE).clock(NOW) == NOW


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Meter.for_device(DEVICE).import_wh(datetime(2024, 1, 1))


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@given(st.integers(0, (1 << 64) - 1), instants, instants)
def test_registers_never_go_backwards(device: int, first: datetime, second: datetime) -> None:
    meter = Meter.for_device(Eui64(device))
    early, late = sorted((first, second))
    assert meter.import_wh(early) <= meter.import_wh(late)
    assert all(a <= b for a, b in zip(meter.tou_wh(early), meter.tou_wh(late), strict=True))
    assert meter.reactive_import_varh(early) <= meter.reactive_import_varh(late)
    tou = sum(meter.tou_wh(late))
    assert tou <= meter.import_wh(late) <= tou + 4  # each register rounds down on its own
