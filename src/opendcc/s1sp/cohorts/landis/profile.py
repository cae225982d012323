"""The Landis+Gyr cohort as data.

Landis+Gyr's SMETS1 estate: 2G comms hubs that sleep off the WAN until woken by SMS, behind a
head-end speaking the binary APDU protocol (service objects in OBIS group 129). Its alert codes
keep the GBCS low byte under its own 0x0Cxx range.
"""

from __future__ import annotations

from opendcc.s1sp.contract import ClockTraits, CohortProfile, FirmwareMode, WanTraits
from opendcc.s1sp.naming import obis_commands
from opendcc.s1sp.services import CORE_SRVS, GBCS_ALERTS, S1SP_NOTICES

# Read Instantaneous Export Registers, Export Profile Data and Maximum Demand Export Registers;
# Configure Alert Behaviour.
ELECTIVE = frozenset({"4.2", "4.8.3", "4.12.2", "6.22"})
SUPPORTED = CORE_SRVS | ELECTIVE | S1SP_NOTICES  # and the DCC's own (99.1, 99.2, 11.1)

PROFILE = CohortProfile(
    name="landis",
    manufacturer="Landis+Gyr",
    protocol="apdu",
    supported_srvs=SUPPORTED,
    elective_srvs=ELECTIVE,
    device_models=("E470 S1",),
    gas_models=("G470 S1",),
    wan=WanTraits(
        latency_p50_ms=2_500, latency_p99_ms=15_000, failure_rate=0.03, sms_wake_ms=4_000
    ),
    commands=obis_commands(SUPPORTED, group=129),
    firmware_mode=FirmwareMode.TWO_STAGE,
    device_future_dating=True,  # holds future-dated instructions (the Device pattern)
    utrn_algorithm="gbcs",
    alert_codes={0x0C00 + (code & 0xFF): code for code in GBCS_ALERTS},
    clock=ClockTraits(drift_ppm=-20.0, sync_window_s=10),
)
