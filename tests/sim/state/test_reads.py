"""Reads: registers, daily reads, consumption and profile logs, and the tenancy restriction."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.sim.state.support import DEVICE, OTHER, T0, flat_meter, hours

from opendcc.core.eui import Eui64
from opendcc.sim.meter import Meter
from opendcc.sim.state import BLOCKS, TOU_RATES, Esme, Gsme, MeterError, PaymentMode, Reason
from opendcc.sim.state.tariff import DEFAULT_TARIFF

devices = st.integers(0, (1 << 64) - 1).map(Eui64)
offsets = st.integers(0, 400 * 24 * 3600).map(lambda s: T0 + timedelta(seconds=s))


@settings(deadline=None, max_examples=40)
@given(device=devices, instants=st.lists(offsets, min_size=2, max_size=6), gas=st.booleans())
def test_registers_are_deterministic_and_monotonic(
    device: Eui64, instants: list[datetime], gas: bool
) -> None:
    kind = Gsme if gas else Esme
    meter = kind.for_device(device, commissioned=T0)
    twin = kind.for_device(device, commissioned=T0)
    previous = None
    for at in sorted(instants):
        registers = meter.import_registers(at)
        assert registers == twin.import_registers(at)
        assert registers.total == sum(registers.tou)  # the TOU split adds up
        assert abs(sum(registers.blocks) - registers.total) <= TOU_RATES + BLOCKS
        if previous is not None:
            assert registers.total >= previous.total
            assert all(n >= p for n, p in zip(registers.tou, previous.tou, strict=True))
            assert all(n >= p for n, p in zip(registers.blocks, previous.blocks, strict=True))
        previous = registers


def test_different_devices_read_differently() -> None:
    at = T0 + timedelta(days=3)
    assert Esme.for_device(DEVICE).import_registers(at) != Esme.for_device(OTHER).import_registers(
        at
    )


def test_the_rich_model_agrees_with_the_simple_one() -> None:
    at = T0 + timedelta(days=30, hours=5)
    simple, rich = (
        Meter.for_device(DEVICE, commissioned=T0),
        Esme.for_device(DEVICE, commissioned=T0),
    )
    assert abs(rich.import_registers(at).total - simple.import_wh(at)) <= TOU_RATES
    assert rich.power_w(at) == simple.power_w(at)


def test_flat_load_reads_exactly() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT, tariff=DEFAULT_TARIFF)
    registers = meter.import_registers(hours(3))
    assert registers.total == 3_000
    assert registers.tou[0] == 3_000  # the default switching table: rate 1 at night
    assert registers.matrix[0][0] == 3_000
    assert meter.import_registers(hours(24)).tou[:4] == (7_000, 9_000, 3_000, 5_000)
    assert meter.tou_register(hours(24), 2) == 9_000
    with pytest.raises(MeterError) as refused:
        meter.tou_register(hours(24), 9)
    assert refused.value.reason is Reason.UNKNOWN_RATE


def test_daily_reads_are_midnight_snapshots_newest_first() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    reads = meter.daily_reads(hours(75))
    assert [r.at for r in reads] == [hours(72), hours(48), hours(24)]
    assert [r.total for r in reads] == [72_000, 48_000, 24_000]
    consumption = meter.daily_consumption(hours(75))
    assert [(c.day, c.amount) for c in consumption] == [(hours(48), 24_000), (hours(24), 24_000)]


def test_daily_read_log_is_bounded_to_two_years() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT, watts=10)
    reads = meter.daily_reads(T0 + timedelta(days=800))
    assert len(reads) == 731
    assert reads[0].at == T0 + timedelta(days=800)


def test_profile_is_half_hourly_and_omits_unfinished_slots() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    profile = meter.profile(hours(2.75), start=hours(1), end=hours(5))
    assert [(p.start, p.amount) for p in profile] == [
        (hours(1), 500),
        (hours(1.5), 500),
        (hours(2), 500),
    ]


def test_profile_sums_to_the_register_delta() -> None:
    meter = Esme.for_device(DEVICE, commissioned=T0)
    at = T0 + timedelta(days=3)
    profile = meter.profile(at, start=T0 + timedelta(days=1), end=at)
    assert len(profile) == 96
    delta = meter.import_registers(at).total - meter.daily_reads(at)[-1].total
    assert abs(sum(p.amount for p in profile) - delta) <= len(profile) + TOU_RATES


def test_change_of_tenancy_hides_older_logged_data() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    meter.restrict_access(hours(50), hours(36))
    assert meter.restricted_before == hours(36)
    assert [r.at for r in meter.daily_reads(hours(75))] == [hours(72), hours(48)]
    profile = meter.profile(hours(75), start=T0, end=hours(40))
    assert profile[0].start == hours(36)
    assert meter.import_registers(hours(75)).total == 75_000  # registers are not logs
    with pytest.raises(MeterError) as refused:
        meter.restrict_access(hours(51), hours(52))
    assert refused.value.reason is Reason.INVALID_VALUE
