"""The SMETS1 configuration services on the meter model: what a meter takes, holds, reads back
and refuses (``opendcc.sim.services.settings``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from opendcc.core.eui import Eui64
from opendcc.sim.services import execute
from opendcc.sim.state import Esme, Gsme, MeterError, MeterState, Reason

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
ESME_ID = Eui64.parse("00-DB-12-34-56-78-90-A0")
GSME_ID = Eui64.parse("00-DB-12-34-56-78-90-B0")


def esme() -> Esme:
    return Esme.for_device(ESME_ID, commissioned=NOW - timedelta(days=2))


def gsme() -> Gsme:
    return Gsme.for_device(GSME_ID, commissioned=NOW - timedelta(days=2))


def test_power_thresholds_are_held_and_read_back() -> None:
    meter = esme()
    assert execute(meter, "6.2.5", {}, NOW)[0] == {}  # never configured: nothing to report
    written = {"LowMediumPowerThreshold": "2300", "MediumHighPowerThreshold": "4600"}
    execute(meter, "6.12", written, NOW)
    assert execute(meter, "6.2.5", {}, LATER)[0] == {
        "LowMediumPowerThreshold": 2300,
        "MediumHighPowerThreshold": 4600,
    }


def test_randomised_offset_limit_is_read_back() -> None:
    meter = esme()
    execute(meter, "7.12", {"RandomisedOffsetLimit": "900"}, NOW)
    assert execute(meter, "6.2.2", {}, LATER)[0] == {"RandomisedOffsetLimit": 900}


def test_gas_conversion_changes_what_6_2_8_reads() -> None:
    meter = gsme()
    execute(meter, "6.6", {"CalorificValue": "40.0", "ConversionFactor": "1.02264"}, NOW)
    config = meter.gas_config
    assert (config.calorific_value_kj_m3, config.conversion_factor_e5) == (40_000, 102_264)


def test_single_phase_voltage_thresholds_reach_the_voltage_configuration() -> None:
    meter = esme()
    prefix = "SinglePhaseVoltageSettings.AverageRMS"
    execute(
        meter,
        "6.5",
        {
            f"{prefix}OverVoltageThreshold": "264",
            f"{prefix}UnderVoltageThreshold": "200",
            f"{prefix}VoltageMeasurementPeriod": "30",
        },
        NOW,
    )
    config = meter.voltage_config
    assert (config.over_voltage_dv, config.under_voltage_dv, config.measurement_period_s) == (
        2640,
        2000,
        30,
    )


def test_clearing_the_event_log_and_the_privacy_pin() -> None:
    meter = esme()
    execute(meter, "6.12", {"LowMediumPowerThreshold": "1"}, NOW)  # something logged
    assert len(meter.event_log(NOW)) >= 1
    execute(meter, "3.3", {}, LATER)
    assert len(meter.event_log(LATER)) == 1  # only the clearing itself
    assert meter.privacy_pin
    execute(meter, "3.5", {}, LATER)
    assert not meter.privacy_pin


def test_counter_resets_are_recorded_when_they_happen() -> None:
    meter = esme()
    assert meter.counter_reset_at("RMS voltage counters") is None
    execute(meter, "6.27", {}, NOW)
    assert meter.counter_reset_at("RMS voltage counters") == NOW


@pytest.mark.parametrize(
    ("srv", "parameters", "make"),
    [
        ("6.12", {"LowMediumPowerThreshold": "2300"}, gsme),  # a gas meter has no such thing
        ("6.6", {"CalorificValue": "40.0"}, esme),  # an electricity meter converts no gas
        ("6.12", {"LowMediumPowerThreshold": "lots"}, esme),  # not a number
        ("6.6", {"CalorificValue": "400"}, gsme),  # out of the meter's range
    ],
)
def test_what_a_meter_refuses_changes_nothing(
    srv: str, parameters: dict[str, str], make: Callable[[], MeterState]
) -> None:
    meter = make()
    before = meter.event_log(NOW)
    with pytest.raises(MeterError) as refused:
        execute(meter, srv, parameters, NOW)
    assert refused.value.reason in {Reason.UNSUPPORTED, Reason.INVALID_VALUE}
    assert meter.event_log(NOW) == before
