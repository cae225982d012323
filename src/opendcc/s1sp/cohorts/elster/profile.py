"""The Honeywell Elster cohort as data.

Honeywell Elster's SMETS1 estate: a head-end with a SOAP/XML API, synchronous commands and alerts
collected by polling. Firmware activates on delivery (one stage); prepayment tokens are
STS-style. Alert codes keep the GBCS low bits under 0x4xxx.
"""

from __future__ import annotations

from opendcc.s1sp.contract import ClockTraits, CohortProfile, FirmwareMode, WanTraits
from opendcc.s1sp.naming import api_commands
from opendcc.s1sp.services import CORE_SRVS, GBCS_ALERTS, S1SP_NOTICES

# Read Instantaneous Export Registers, Export Profile Data and Maximum Demand Export Registers;
# Configure Alert Behaviour.
ELECTIVE = frozenset({"4.2", "4.8.3", "4.12.2", "6.22"})
SUPPORTED = CORE_SRVS | ELECTIVE | S1SP_NOTICES  # and the DCC's own (99.1, 99.2, 11.1)

PROFILE = CohortProfile(
    name="elster",
    manufacturer="Honeywell Elster",
    protocol="soapxml",
    supported_srvs=SUPPORTED,
    elective_srvs=ELECTIVE,
    device_models=("AS300P S1",),
    gas_models=("BK-G4E S1",),
    wan=WanTraits(latency_p50_ms=2_000, latency_p99_ms=12_000, failure_rate=0.03),
    commands=api_commands(SUPPORTED, prefix="ex"),
    firmware_mode=FirmwareMode.ONE_STAGE,
    device_future_dating=True,  # holds future-dated instructions (the Device pattern)
    utrn_algorithm="sts",
    alert_codes={0x4000 + (code & 0xFFF): code for code in GBCS_ALERTS},
    clock=ClockTraits(drift_ppm=15.0, sync_window_s=10),
)
