"""Helpers for the meter state model tests: a flat-load meter whose numbers are easy to check.

A flat 1000 W load on a flat 20 p/kWh tariff costs exactly 20 p an hour, so 1000 p of credit
lasts exactly 50 hours. ``T0`` is a Monday midnight (UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opendcc.core.eui import Eui64
from opendcc.sim.meter import LoadProfile
from opendcc.sim.state import Esme, Identity, PaymentMode, PrepayConfig, Tariff
from opendcc.sim.state.household import NO_EXPORT, Household

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
DEVICE = Eui64.parse("00-DB-12-34-56-78-90-A0")
OTHER = Eui64.parse("00-DB-12-34-56-78-90-A1")
# Four TOU rates and three blocks: the walk's crossings (rate, block threshold) all happen.
TOU_TARIFF = Tariff.time_of_use(
    [15_000, 28_000, 40_000, 30_000], block_thresholds=(8_000, 20_000), standing_charge_p=50
)
PRICE_MP = 20_000  # 20 p/kWh


def flat_household(watts: int = 1000) -> Household:
    return Household(
        load=LoadProfile((watts,) * 48),
        export=NO_EXPORT,
        opening=0,
        reactive_permille=300,
        nominal_dv=2_300,
    )


PREPAY = PrepayConfig(
    low_credit_threshold_p=200, emergency_credit_limit_p=500, emergency_credit_threshold_p=100
)


def flat_meter(
    *,
    balance_p: int = 1_000,
    prepay: PrepayConfig = PREPAY,
    watts: int = 1000,
    tariff: Tariff | None = None,
    mode: PaymentMode = PaymentMode.PREPAYMENT,
    clock_drift_ppm: float = 0.0,
) -> Esme:
    """An ESME drawing ``watts`` all day, on a flat 20 p/kWh tariff, in prepayment mode."""
    return Esme(
        device_id=DEVICE,
        household=flat_household(watts),
        identity=Identity.simulated(DEVICE, "SIM-ESME-1"),
        commissioned=T0,
        clock_drift_ppm=clock_drift_ppm,
        tariff=tariff or Tariff.flat(PRICE_MP),
        payment_mode=mode,
        prepay=prepay,
        balance_p=balance_p,
    )


def hours(n: float) -> datetime:
    """``n`` hours after ``T0``."""
    return T0 + timedelta(hours=n)
