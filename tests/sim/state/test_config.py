"""Identity, gas and voltage configuration, MPxN and text checks, the HAN device log."""

from __future__ import annotations

import pytest

from opendcc.core.eui import Eui64
from opendcc.sim.state import (
    DeviceType,
    FirmwareImage,
    GasConfig,
    HanDevice,
    Identity,
    MeterError,
    Reason,
    VoltageConfig,
    hash_image,
)
from opendcc.sim.state.config import join, mpxn, replace_device, text, unjoin

A, B, C = Eui64(1), Eui64(2), Eui64(3)


def test_identity_is_seeded_by_the_device() -> None:
    identity = Identity.simulated(Eui64.parse("00-DB-12-34-56-78-90-A0"), "SIM-ESME-1")
    assert identity == Identity("opendcc", "SIM-ESME-1", "SIM34567890A0")


def test_firmware_image_carries_its_sha256() -> None:
    image = FirmwareImage.of("2.0", b"image")
    assert image.hash == hash_image(b"image") and len(image.hash) == 32


@pytest.mark.parametrize(
    ("value", "gas", "ok"),
    [
        ("1200023305967", False, True),
        ("120002330596", False, False),
        ("12000233059a7", False, False),
        ("123456", True, True),
        ("1234567890", True, True),
        ("12345", True, False),
        ("１２３４５６", True, False),  # full-width digits are not ASCII
    ],
)
def test_mpxn_shapes(value: str, gas: bool, ok: bool) -> None:
    if ok:
        assert mpxn(value, gas=gas) == value
    else:
        with pytest.raises(MeterError):
            mpxn(value, gas=gas)


def test_text_is_printable_ascii_within_its_limit() -> None:
    assert text("hello", what="message", limit=5) == "hello"
    for bad in ("", "toolong", "tab\there", "café"):
        with pytest.raises(MeterError):
            text(bad, what="message", limit=6)


def test_configuration_ranges() -> None:
    for build in (
        lambda: GasConfig(conversion_factor_e5=0),
        lambda: GasConfig(calorific_value_kj_m3=1),
        lambda: VoltageConfig(over_voltage_dv=2000, under_voltage_dv=2100),
        lambda: VoltageConfig(measurement_period_s=0),
    ):
        with pytest.raises(MeterError) as refused:
            build()
        assert refused.value.reason is Reason.INVALID_VALUE


def test_han_log_functions_are_pure() -> None:
    log = join((), HanDevice(A, DeviceType.IHD))
    log2 = join(log, HanDevice(B, DeviceType.PPMID))
    assert log == (HanDevice(A, DeviceType.IHD),)
    assert replace_device(log2, A, C) == (
        HanDevice(C, DeviceType.IHD),
        HanDevice(B, DeviceType.PPMID),
    )
    assert unjoin(log2, A) == (HanDevice(B, DeviceType.PPMID),)
    with pytest.raises(MeterError) as refused:
        replace_device(log2, A, B)
    assert refused.value.reason is Reason.ALREADY_JOINED
