"""Meter machinery: explicit time, pure reads, construction, and refusals."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from tests.sim.state.support import DEVICE, T0, flat_meter, hours

from opendcc.sim.state import Esme, EventCode, MeterError, PaymentMode, Reason


def test_time_never_runs_backwards_and_must_be_aware() -> None:
    meter = flat_meter()
    meter.advance(hours(5))
    with pytest.raises(MeterError) as refused:
        meter.import_registers(hours(4))
    assert refused.value.reason is Reason.TIME_REVERSED
    with pytest.raises(MeterError) as refused:
        meter.advance(datetime(2024, 1, 2))
    assert refused.value.reason is Reason.INVALID_TIME
    assert str(refused.value).startswith("invalid_time: ")


def test_reads_change_nothing() -> None:
    meter = flat_meter()
    before = (meter._ledger.copy(), meter._revision)
    meter.import_registers(hours(70))
    meter.event_log(hours(70))
    assert (meter._ledger, meter._revision) == before
    meter.import_registers(hours(2))  # still allowed: nothing was settled


def test_other_time_zones_are_the_same_instant() -> None:
    from datetime import timezone

    meter = flat_meter()
    paris = hours(3).astimezone(timezone(timedelta(hours=1)))
    assert meter.import_registers(paris) == meter.import_registers(hours(3))


def test_commissioning_without_credit_reports_on_the_first_call() -> None:
    meter = Esme.for_device(DEVICE, commissioned=T0, payment_mode=PaymentMode.PREPAYMENT)
    codes = [a.code for a in meter.advance(T0)]
    assert EventCode.SUPPLY_DISABLED_CREDIT in codes
    assert meter.advance(T0) == ()


def test_for_device_seeds_identity_and_opening_reading() -> None:
    meter = Esme.for_device(DEVICE, commissioned=T0)
    assert meter.identity.model == "SIM-ESME-1"
    assert meter.import_registers(T0).total == meter.household.opening
    assert meter.firmware.version == "1.0.0"
    assert meter.mpxn == "" and meter.han_devices == ()
