"""Seeded households: the same device draws the same, electricity agrees with sim.meter."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from tests.sim.state.support import DEVICE, T0

from opendcc.core.eui import Eui64
from opendcc.sim.meter import Meter
from opendcc.sim.state.household import SOLAR_SHAPE, Household

devices = st.integers(0, (1 << 64) - 1).map(Eui64)


@given(devices)
def test_households_are_a_function_of_the_device(device: Eui64) -> None:
    assert Household.electricity(device) == Household.electricity(device)
    assert Household.gas(device) == Household.gas(device)
    simple = Meter.for_device(device)
    electricity = Household.electricity(device)
    assert electricity.load == simple.load
    assert electricity.opening == simple.initial_import_wh
    assert Household.gas(device).export.slot_watts == (0,) * 48


def test_solar_generates_only_in_daylight() -> None:
    assert SOLAR_SHAPE[:14] == (0,) * 14 and SOLAR_SHAPE[34:] == (0,) * 14
    assert max(SOLAR_SHAPE) == SOLAR_SHAPE[23] == SOLAR_SHAPE[24]


def test_voltage_sags_with_load() -> None:
    household = Household.electricity(DEVICE)
    at = T0 + timedelta(hours=3)
    idle = household.voltage_dv(DEVICE, at, drawing_w=0)
    busy = household.voltage_dv(DEVICE, at, drawing_w=3_000)
    assert idle - busy == 30
