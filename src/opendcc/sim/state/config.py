"""Device configuration of a simulated meter: identity, gas conversion, voltage, firmware, HAN.

The values DUIS (DCC User Interface Specification) reads with 6.2.x Read Device Configuration
(Identity, Gas, Voltage), 11.2 Read Firmware Version and 8.9 Read Device Log, and the checks on
what Suppliers write: MPxN (MPAN, the 13-digit electricity Meter Point Administration Number,
or MPRN, the 6-10 digit gas Meter Point Reference Number), supplier name and display message.
The HAN (home area network) device log lists the devices joined to the meter, such as an IHD
(in-home display) or a PPMID (prepayment meter interface device); its functions are pure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

from opendcc.core.eui import Eui64
from opendcc.sim.state.errors import MeterError, Reason

MAX_HAN_DEVICES = 8
SUPPLIER_NAME_LIMIT = 40
MESSAGE_LIMIT = 160


@dataclass(frozen=True, slots=True)
class Identity:
    """6.2.4 Read Device Configuration (Identity); the firmware version is read separately."""

    manufacturer: str
    model: str
    serial: str

    @classmethod
    def simulated(cls, device: Eui64, model: str) -> Identity:
        return cls(manufacturer="opendcc", model=model, serial=f"SIM{device.hex[-10:]}")


@dataclass(frozen=True, slots=True)
class GasConfig:
    """6.2.8 Read Device Configuration (Gas): conversion factor and calorific value."""

    conversion_factor_e5: int = 102_264  # 1.02264, the standard temperature/pressure factor
    calorific_value_kj_m3: int = 39_500  # 39.5 MJ/m3

    def __post_init__(self) -> None:
        if not 50_000 <= self.conversion_factor_e5 <= 200_000:
            raise MeterError(Reason.INVALID_VALUE, "a conversion factor is 0.5-2.0")
        if not 10_000 <= self.calorific_value_kj_m3 <= 100_000:
            raise MeterError(Reason.INVALID_VALUE, "a calorific value is 10-100 MJ/m3")

    @property
    def energy_mult(self) -> int:
        """Energy units per tick of gas: Wh = litres x this / ENERGY_SCALE (see ``ledger``)."""
        return self.conversion_factor_e5 * self.calorific_value_kj_m3


@dataclass(frozen=True, slots=True)
class VoltageConfig:
    """6.2.1 Read Device Configuration (Voltage): RMS voltage thresholds, decivolts."""

    over_voltage_dv: int = 2_530  # 230 V + 10 %
    under_voltage_dv: int = 2_160  # 230 V - 6 %
    measurement_period_s: int = 600

    def __post_init__(self) -> None:
        if not 0 < self.under_voltage_dv < self.over_voltage_dv:
            raise MeterError(Reason.INVALID_VALUE, "0 < under-voltage < over-voltage threshold")
        if self.measurement_period_s <= 0:
            raise MeterError(Reason.INVALID_VALUE, "a measurement period is positive")


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    """A firmware image the meter holds: its version and the SHA-256 hash of the image."""

    version: str
    hash: bytes

    @classmethod
    def of(cls, version: str, image: bytes) -> FirmwareImage:
        return cls(text(version, what="firmware version", limit=32), hash_image(image))


def hash_image(image: bytes) -> bytes:
    return hashlib.sha256(image).digest()


class DeviceType(Enum):
    """Devices that join a meter's HAN."""

    IHD = "IHD"
    PPMID = "PPMID"
    CAD = "CAD"  # consumer access device
    HCALCS = "HCALCS"  # HAN-connected auxiliary load control switch
    GSME = "GSME"
    GPF = "GPF"  # gas proxy function


@dataclass(frozen=True, slots=True)
class HanDevice:
    device: Eui64
    device_type: DeviceType


def join(log: tuple[HanDevice, ...], entry: HanDevice) -> tuple[HanDevice, ...]:
    """8.7.2 Join Service: ``log`` with ``entry`` added."""
    if any(d.device == entry.device for d in log):
        raise MeterError(Reason.ALREADY_JOINED, f"{entry.device} is already joined")
    if len(log) >= MAX_HAN_DEVICES:
        raise MeterError(Reason.DEVICE_LOG_FULL, f"the device log holds {MAX_HAN_DEVICES}")
    return (*log, entry)


def unjoin(log: tuple[HanDevice, ...], device: Eui64) -> tuple[HanDevice, ...]:
    """8.8.2 Unjoin Service: ``log`` without ``device``."""
    kept = tuple(d for d in log if d.device != device)
    if len(kept) == len(log):
        raise MeterError(Reason.NOT_JOINED, f"{device} is not joined")
    return kept


def replace_device(log: tuple[HanDevice, ...], old: Eui64, new: Eui64) -> tuple[HanDevice, ...]:
    """8.11 Update HAN Device Log: ``new`` takes the place (and type) of ``old``."""
    if not any(d.device == old for d in log):
        raise MeterError(Reason.NOT_JOINED, f"{old} is not joined")
    if old != new and any(d.device == new for d in log):
        raise MeterError(Reason.ALREADY_JOINED, f"{new} is already joined")
    return tuple(HanDevice(new, d.device_type) if d.device == old else d for d in log)


def text(value: str, *, what: str, limit: int) -> str:
    """``value`` if it is 1-``limit`` printable ASCII characters."""
    if not (0 < len(value) <= limit and value.isascii() and value.isprintable()):
        raise MeterError(Reason.INVALID_VALUE, f"a {what} is 1-{limit} printable ASCII characters")
    return value


def mpxn(value: str, *, gas: bool) -> str:
    """``value`` if it is a well-formed MPRN (gas) or MPAN core (electricity)."""
    low, high = (6, 10) if gas else (13, 13)
    if not (value.isascii() and value.isdigit() and low <= len(value) <= high):
        name = "an MPRN is 6-10 digits" if gas else "an MPAN core is 13 digits"
        raise MeterError(Reason.INVALID_VALUE, f"{name}, not {value!r}")
    return value
