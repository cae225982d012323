"""The Secure Meters cohort as data.

Secure Meters' SMETS1 estate: GPRS comms hubs behind a head-end that speaks the binary APDU
protocol; services are ACTIONs on service objects in OBIS group 128. Alert codes are GBCS's own.
"""

from __future__ import annotations

from opendcc.s1sp.contract import ClockTraits, CohortProfile, FirmwareMode, WanTraits
from opendcc.s1sp.naming import obis_commands
from opendcc.s1sp.services import CORE_SRVS, S1SP_NOTICES

# Read Instantaneous Export Registers, Export Profile Data and Maximum Demand Export Registers;
# Configure Alert Behaviour.
ELECTIVE = frozenset({"4.2", "4.8.3", "4.12.2", "6.22"})
SUPPORTED = CORE_SRVS | ELECTIVE | S1SP_NOTICES  # and the DCC's own (99.1, 99.2, 11.1)

PROFILE = CohortProfile(
    name="secure",
    manufacturer="Secure Meters",
    protocol="apdu",
    supported_srvs=SUPPORTED,
    elective_srvs=ELECTIVE,
    device_models=("Liberty 100",),
    gas_models=("Liberty 220 G",),
    wan=WanTraits(latency_p50_ms=1_800, latency_p99_ms=9_000, failure_rate=0.02),
    commands=obis_commands(SUPPORTED, group=128),
    firmware_mode=FirmwareMode.TWO_STAGE,
    device_future_dating=True,  # holds future-dated instructions (the Device pattern)
    utrn_algorithm="gbcs",
    alert_codes={},
    clock=ClockTraits(drift_ppm=12.0, sync_window_s=5),
)
