"""The OBIS tables: every object reads a typed value; setters and actions reach the model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.sim.state.support import DEVICE, T0, flat_meter, hours

from opendcc.s1sp.protocols.apdu import U32, GetResponse, Obis, ResultCode, VisibleString
from opendcc.s1sp.protocols.apdu.codec import encode
from opendcc.sim.state import (
    ESME_OBJECTS,
    GSME_OBJECTS,
    Esme,
    EventCode,
    Gsme,
    MeterError,
    PaymentMode,
    Reason,
    Supply,
)

AT = T0 + timedelta(days=2, hours=7)


@pytest.mark.parametrize("obis", list(ESME_OBJECTS), ids=str)
def test_every_esme_object_reads(obis: Obis) -> None:
    meter = Esme.for_device(DEVICE, commissioned=T0)
    value = ESME_OBJECTS[obis].get(meter, AT)
    assert value == ESME_OBJECTS[obis].get(Esme.for_device(DEVICE, commissioned=T0), AT)


@pytest.mark.parametrize("obis", list(GSME_OBJECTS), ids=str)
def test_every_gsme_object_reads(obis: Obis) -> None:
    meter = Gsme.for_device(DEVICE, commissioned=T0)
    assert GSME_OBJECTS[obis].get(meter, AT) is not None


def test_the_tables_cover_what_the_head_ends_need() -> None:
    needed = [
        "1.0.1.8.0.255",  # active import, total
        "1.0.1.8.1.255",  # TOU rate 1
        "1.0.128.8.1.255",  # block 1
        "0.0.1.0.0.255",  # clock
        "0.0.96.3.10.255",  # supply
        "0.0.19.10.0.255",  # credit
        "1.0.0.2.0.255",  # firmware version
        "0.0.96.1.10.255",  # MPxN
        "0.0.96.1.0.255",  # serial number
        "0.0.96.1.1.255",  # manufacturer
    ]
    assert {Obis.parse(code) for code in needed} <= set(ESME_OBJECTS)
    assert Obis.parse("7.0.3.0.0.255") in GSME_OBJECTS


def test_all_values_encode_in_one_apdu_response() -> None:
    meter = Esme.for_device(DEVICE, commissioned=T0)
    values = tuple(obj.get(meter, AT) for obj in ESME_OBJECTS.values())
    assert encode(GetResponse(1, ResultCode.SUCCESS, values))


def test_setting_the_supply_control_state() -> None:
    meter = flat_meter()
    supply = ESME_OBJECTS[Obis.parse("0.0.96.3.10.255")]
    assert supply.set is not None
    supply.set(meter, hours(1), U32(0))
    assert meter.supply_state(hours(1)) is Supply.DISABLED
    supply.set(meter, hours(1), U32(2))
    assert supply.get(meter, hours(1)) == U32(2)
    supply.set(meter, hours(1), U32(1))
    assert meter.supply_state(hours(1)) is Supply.ENABLED
    for bad in (U32(3), VisibleString("on")):
        with pytest.raises(MeterError) as refused:
            supply.set(meter, hours(1), bad)
        assert refused.value.reason is Reason.INVALID_VALUE


def test_mpxn_setter_and_clock_action() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT, clock_drift_ppm=50.0)
    mpxn = ESME_OBJECTS[Obis.parse("0.0.96.1.10.255")]
    assert mpxn.set is not None
    mpxn.set(meter, hours(1), VisibleString("1200023305967"))
    assert mpxn.get(meter, hours(1)) == VisibleString("1200023305967")
    clock = ESME_OBJECTS[Obis.parse("0.0.1.0.0.255")]
    assert clock.action is not None and clock.set is None
    (alert,) = clock.action(meter, hours(100))
    assert alert.code is EventCode.CLOCK_ADJUSTED


def test_read_only_objects_have_no_setter() -> None:
    registers = ESME_OBJECTS[Obis.parse("1.0.1.8.0.255")]
    assert registers.set is None and registers.action is None
