"""The deterministic household behind a simulated meter: load, solar export, opening reading.

Everything here is seeded by the device's EUI-64 (64-bit extended unique identifier), so the
same device behaves the same in every run, process and test. An electricity household (for an
ESME, electricity smart metering equipment) is exactly the one ``opendcc.sim.meter`` draws, so
the simple and the rich meter models agree on the load; a third of them also export from solar
panels around midday. A gas household (for a GSME, gas smart metering equipment) draws gas in
the same daily shape, in litres per hour, with heating peaks morning and evening.

Quantities are integrated exactly in "ticks": one tick is a watt (or a litre per hour) held for
a microsecond, so ``TICKS_PER_UNIT`` ticks make a Wh (or a litre). Integer ticks add up the same
however a span of time is cut into steps, which keeps every reading independent of how often
the meter was looked at.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

from opendcc.core.eui import Eui64
from opendcc.sim.meter import EPOCH, SLOT, SLOTS_PER_DAY, LoadProfile, Meter

TICKS_PER_UNIT = 3_600_000_000  # (W x µs) per Wh; equally (litres per hour x µs) per litre
SLOT_US = SLOT // timedelta(microseconds=1)

# Solar generation share (per mille of the panel's peak) of each half hour: 07:00-17:00 UTC.
SOLAR_SHAPE: tuple[int, ...] = tuple(
    max(0, 1000 - 100 * abs(2 * slot - 47) // 2) if 14 <= slot < 34 else 0
    for slot in range(SLOTS_PER_DAY)
)
NO_EXPORT = LoadProfile((0,) * SLOTS_PER_DAY)


def _draws(kind: bytes, device: Eui64) -> list[int]:
    seed = hashlib.sha256(b"opendcc.sim.state:" + kind + b":" + device.to_bytes()).digest()
    return [int.from_bytes(seed[i : i + 4], "big") for i in range(0, 32, 4)]


@dataclass(frozen=True, slots=True)
class Household:
    """What a meter's household draws and exports, half hour by half hour, every day."""

    load: LoadProfile  # import power in W, or gas flow in litres per hour
    export: LoadProfile  # export power in W (solar); none for gas and most homes
    opening: int  # the register reading at commissioning: Wh, or litres of gas
    reactive_permille: int  # varh of reactive import per 1000 Wh of active import
    nominal_dv: int  # the supply voltage the meter sees at no load, decivolts

    @classmethod
    def electricity(cls, device: Eui64) -> Self:
        simple = Meter.for_device(device)
        draw = _draws(b"esme", device)
        solar_w = 1_000 + draw[1] % 3_000 if draw[0] % 3 == 0 else 0
        return cls(
            load=simple.load,
            export=LoadProfile(tuple(solar_w * share // 1000 for share in SOLAR_SHAPE)),
            opening=simple.initial_import_wh,
            reactive_permille=simple.reactive_permille,
            nominal_dv=2_300 + draw[2] % 100,
        )

    @classmethod
    def gas(cls, device: Eui64) -> Self:
        draw = _draws(b"gsme", device)
        return cls(
            load=LoadProfile.shaped(base_w=20 + draw[0] % 60, peak_w=600 + draw[1] % 1_400),
            export=NO_EXPORT,
            opening=1_000_000 + draw[2] % 20_000_000,  # 1,000 - 21,000 m3
            reactive_permille=0,
            nominal_dv=0,  # battery powered: no mains voltage to measure
        )

    def voltage_dv(self, device: Eui64, now: datetime, *, drawing_w: int) -> int:
        """RMS (root mean square) voltage: nominal, less a drop with load, plus a little noise."""
        ordinal = (now - EPOCH) // SLOT
        noise = hashlib.sha256(device.to_bytes() + ordinal.to_bytes(8, "big", signed=True))
        return self.nominal_dv - drawing_w // 100 + noise.digest()[0] % 21 - 10
