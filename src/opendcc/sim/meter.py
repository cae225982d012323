"""A simulated SMETS1 electricity meter (ESME) whose registers follow a deterministic load.

An ESME (Electricity Smart Metering Equipment) accumulates imported active energy in a total
register and, for time-of-use (TOU) tariffs, in one register per rate; it also keeps reactive
energy and a clock that drifts. Here all of that is a pure function of ``now``: the household
draws a fixed half-hourly load shape (base load plus morning and evening peaks) whose sizes are
seeded by the meter's EUI-64, so every run, process and test sees the same readings for the same
device at the same instant. Nothing reads the wall clock; state changes return a new ``Meter``.

TOU rates switch on UTC time of day (``TOU_RATE_OF_SLOT``); a real meter would switch on local
time by its own clock, which the simulator does not need yet. Drift affects only the clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Self

from opendcc.core.eui import Eui64

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
SLOTS_PER_DAY = 48
SLOT = timedelta(minutes=30)
TOU_RATES = 4
_DAY = timedelta(days=1)
_US = timedelta(microseconds=1)
_SLOT_US = SLOT // _US
_UJ_PER_WH = 3_600 * 1_000_000  # microjoules (W x microseconds) in a watt-hour

# Share (per mille) of the peak amplitude drawn in each half hour, on top of the base load:
# a quiet night, a morning peak around 07:30 and an evening peak around 18:30.
DAILY_SHAPE: tuple[int, ...] = (
    *(20,) * 12,  # 00:00-06:00
    60, 200, 450, 700, 600, 350,  # 06:00-09:00
    *(150,) * 14,  # 09:00-16:00
    250, 400, 650, 900, 1000, 950, 800, 600,  # 16:00-20:00
    400, 300, 200, 120, 80, 40, 30, 20,  # 20:00-24:00
)  # fmt: skip

# The TOU rate (1-4) of each half hour: night 00-07, day 07-16, peak 16-19, evening 19-24.
TOU_RATE_OF_SLOT: tuple[int, ...] = (*(1,) * 14, *(2,) * 18, *(3,) * 6, *(4,) * 10)


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """The power drawn in each half hour of every day, in watts."""

    slot_watts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.slot_watts) != SLOTS_PER_DAY or min(self.slot_watts) < 0:
            raise ValueError(f"a load profile is {SLOTS_PER_DAY} non-negative wattages")

    @classmethod
    def shaped(cls, base_w: int, peak_w: int) -> Self:
        return cls(tuple(base_w + peak_w * share // 1000 for share in DAILY_SHAPE))

    def energy_uj(self, elapsed: timedelta) -> tuple[int, ...]:
        """Energy per TOU rate drawn from midnight over ``elapsed`` (any length), in µJ."""
        days, rest = divmod(elapsed, _DAY)
        totals = [days * day for day in self.daily_uj()]
        rest_us = rest // _US
        for watts, rate in zip(self.slot_watts, TOU_RATE_OF_SLOT, strict=True):
            if rest_us <= 0:
                break
            totals[rate - 1] += watts * min(rest_us, _SLOT_US)
            rest_us -= _SLOT_US
        return tuple(totals)

    def daily_uj(self) -> list[int]:
        """Energy per TOU rate over one whole day, in µJ."""
        daily = [0] * TOU_RATES
        for watts, rate in zip(self.slot_watts, TOU_RATE_OF_SLOT, strict=True):
            daily[rate - 1] += watts * _SLOT_US
        return daily


@dataclass(frozen=True, slots=True)
class Meter:
    """One simulated ESME. Registers start at ``initial_import_wh`` at ``commissioned``."""

    device_id: Eui64
    load: LoadProfile
    commissioned: datetime = EPOCH
    initial_import_wh: int = 0
    reactive_permille: int = 300  # varh of reactive import per 1000 Wh of active import
    clock_drift_ppm: float = 0.0  # positive runs fast
    clock_set_at: datetime = EPOCH  # when the clock last showed the true time
    firmware_version: str = "1.0"  # the active firmware image's version (at most 8 chars)

    def __post_init__(self) -> None:
        _aware(self.commissioned)
        _aware(self.clock_set_at)
        if self.initial_import_wh < 0 or self.reactive_permille < 0:
            raise ValueError("initial readings are non-negative")

    @classmethod
    def for_device(
        cls,
        device_id: Eui64,
        *,
        commissioned: datetime = EPOCH,
        clock_drift_ppm: float = 0.0,
        firmware_version: str = "1.0",
    ) -> Self:
        """A meter whose household and opening readings are seeded by its EUI-64."""
        seed = hashlib.sha256(b"opendcc.sim.meter:" + device_id.to_bytes()).digest()
        draw = [int.from_bytes(seed[i : i + 4], "big") for i in range(0, 16, 4)]
        return cls(
            device_id=device_id,
            load=LoadProfile.shaped(base_w=150 + draw[0] % 250, peak_w=400 + draw[1] % 2000),
            commissioned=commissioned,
            initial_import_wh=1_000_000 + draw[2] % 40_000_000,
            reactive_permille=200 + draw[3] % 280,
            clock_drift_ppm=clock_drift_ppm,
            clock_set_at=commissioned,
            firmware_version=firmware_version,
        )

    # ----------------------------------------------------------------------- registers

    def import_wh(self, now: datetime) -> int:
        """Active energy imported, total register, in Wh."""
        return self.initial_import_wh + sum(self._consumed_uj(now)) // _UJ_PER_WH

    def tou_wh(self, now: datetime) -> tuple[int, ...]:
        """Active energy imported on TOU rates 1-4, in Wh; they add up to about the total."""
        opening = self._opening_tou_wh()
        return tuple(
            start + used // _UJ_PER_WH
            for start, used in zip(opening, self._consumed_uj(now), strict=True)
        )

    def reactive_import_varh(self, now: datetime) -> int:
        """Reactive energy imported, total register, in varh (a fixed power factor)."""
        return self.import_wh(now) * self.reactive_permille // 1000

    def power_w(self, now: datetime) -> int:
        """The instantaneous active power drawn, in watts."""
        return self.load.slot_watts[_slot_of(_aware(now))]

    # ----------------------------------------------------------------------- clock

    def clock(self, now: datetime) -> datetime:
        """What the meter's clock shows at the true instant ``now`` (UTC)."""
        since_set = _aware(now) - self.clock_set_at
        return (now + since_set * (self.clock_drift_ppm / 1_000_000)).astimezone(UTC)

    def with_clock_set(self, now: datetime) -> Meter:
        """The same meter after its clock was set to the true time at ``now``."""
        return replace(self, clock_set_at=_aware(now))

    # ----------------------------------------------------------------------- helpers

    def _consumed_uj(self, now: datetime) -> tuple[int, ...]:
        if _aware(now) < self.commissioned:
            raise ValueError(f"{now} is before the meter was commissioned ({self.commissioned})")
        midnight = self.commissioned.astimezone(UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        upto = self.load.energy_uj(now - midnight)
        before = self.load.energy_uj(self.commissioned - midnight)
        return tuple(u - b for u, b in zip(upto, before, strict=True))

    def _opening_tou_wh(self) -> tuple[int, ...]:
        # Split the opening reading by each rate's share of a day, remainder on rate 1.
        daily = self.load.daily_uj()
        total = sum(daily) or 1
        shares = [self.initial_import_wh * day // total for day in daily]
        shares[0] += self.initial_import_wh - sum(shares)
        return tuple(shares)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the meter model needs timezone-aware datetimes")
    return instant


def _slot_of(instant: datetime) -> int:
    utc = instant.astimezone(UTC)
    return (utc.hour * 60 + utc.minute) // 30
