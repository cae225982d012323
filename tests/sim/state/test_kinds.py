"""The two kinds: gas volume and energy, electricity voltage, export and reactive import."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.sim.state.support import DEVICE, T0, hours

from opendcc.core.eui import Eui64
from opendcc.sim.state import (
    TOU_RATES,
    Esme,
    EventCode,
    GasConfig,
    Gsme,
    MeterError,
    PaymentMode,
    Reason,
    Tariff,
    VoltageConfig,
)
from opendcc.sim.state.ledger import ENERGY_SCALE


def test_gas_energy_follows_volume_through_conversion_factor_and_calorific_value() -> None:
    gas = Gsme.for_device(DEVICE, commissioned=T0)
    at = T0 + timedelta(days=5)
    config = gas.gas_config
    litres = gas.volume_l(at)
    expected = litres * config.conversion_factor_e5 * config.calorific_value_kj_m3 // ENERGY_SCALE
    # The volume register rounds each TOU register down to the litre (about 11 Wh each).
    assert abs(gas.energy_wh(at) - expected) <= TOU_RATES * 12
    assert gas.identity.model == "SIM-GSME-1"


def test_a_new_calorific_value_applies_from_then_on() -> None:
    gas = Gsme.for_device(DEVICE, commissioned=T0)
    changed = T0 + timedelta(days=1)
    before_energy, before_volume = gas.energy_wh(changed), gas.volume_l(changed)
    alerts = gas.update_gas_configuration(changed, GasConfig(calorific_value_kj_m3=40_000))
    assert alerts == ()
    assert gas.gas_config.calorific_value_kj_m3 == 40_000
    assert gas.event_log(changed)[0].code is EventCode.DEVICE_CONFIG_UPDATED
    later = changed + timedelta(days=2)
    used = gas.volume_l(later) - before_volume
    added = gas.energy_wh(later) - before_energy
    assert abs(added - used * 102_264 * 40_000 // ENERGY_SCALE) <= 2 * TOU_RATES * 12


def test_gas_prepayment_spends_credit() -> None:
    gas = Gsme.for_device(
        DEVICE,
        commissioned=T0,
        tariff=Tariff.flat(6_000),
        payment_mode=PaymentMode.PREPAYMENT,
        balance_p=5_000,
    )
    at = T0 + timedelta(days=1)
    kwh = gas.energy_wh(at) - gas.energy_wh(T0)
    assert abs(gas.meter_balance(at) - (5_000 - kwh * 6 // 1000)) <= 1


def test_gas_meters_take_an_mprn_and_have_no_mains() -> None:
    gas = Gsme.for_device(DEVICE, commissioned=T0)
    gas.set_mpxn(hours(1), "7312345")
    assert gas.mpxn == "7312345"
    with pytest.raises(MeterError):
        gas.set_mpxn(hours(1), "1200023305967")
    with pytest.raises(MeterError) as refused:
        gas.power_outage(hours(1))
    assert refused.value.reason is Reason.UNSUPPORTED


def test_electricity_voltage_is_plausible_deterministic_and_configurable() -> None:
    meter, twin = Esme.for_device(DEVICE, commissioned=T0), Esme.for_device(DEVICE, commissioned=T0)
    readings = [meter.voltage_dv(T0 + timedelta(minutes=17 * n)) for n in range(200)]
    assert readings == [twin.voltage_dv(T0 + timedelta(minutes=17 * n)) for n in range(200)]
    assert all(2_100 < v < 2_450 for v in readings)
    assert meter.voltage_config == VoltageConfig()
    config = VoltageConfig(over_voltage_dv=2_500, under_voltage_dv=2_200)
    meter.update_voltage_configuration(T0 + timedelta(days=3), config)
    assert meter.voltage_config == config


def test_some_homes_export_around_midday_and_reactive_import_follows_active() -> None:
    solar = next(
        meter
        for meter in (Esme.for_device(Eui64(n), commissioned=T0) for n in range(50))
        if max(meter.household.export.slot_watts) > 0
    )
    assert solar.export_wh(T0 + timedelta(hours=7)) == 0
    assert solar.export_wh(T0 + timedelta(hours=17)) > 0
    at = T0 + timedelta(days=2)
    total = solar.import_registers(at).total
    assert solar.reactive_import_varh(at) == total * solar.household.reactive_permille // 1000
