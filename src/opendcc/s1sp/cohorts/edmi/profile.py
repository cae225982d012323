"""The EDMI cohort as data.

EDMI's SMETS1 estate: a head-end with a SOAP/XML API, synchronous commands and alerts collected
by polling; prepayment tokens are STS-style. Alert codes are GBCS's own.
"""

from __future__ import annotations

from opendcc.s1sp.contract import ClockTraits, CohortProfile, FirmwareMode, WanTraits
from opendcc.s1sp.naming import api_commands
from opendcc.s1sp.services import CORE_SRVS, S1SP_NOTICES

# Read Instantaneous Export Registers, Export Profile Data and Maximum Demand Export Registers;
# Configure Alert Behaviour.
ELECTIVE = frozenset({"4.2", "4.8.3", "4.12.2", "6.22"})
SUPPORTED = CORE_SRVS | ELECTIVE | S1SP_NOTICES  # and the DCC's own (99.1, 99.2, 11.1)

PROFILE = CohortProfile(
    name="edmi",
    manufacturer="EDMI",
    protocol="soapxml",
    supported_srvs=SUPPORTED,
    elective_srvs=ELECTIVE,
    device_models=("Atlas Mk10 S1",),
    gas_models=("Atlas G S1",),
    wan=WanTraits(latency_p50_ms=1_200, latency_p99_ms=7_000, failure_rate=0.01),
    commands=api_commands(SUPPORTED),
    firmware_mode=FirmwareMode.TWO_STAGE,
    utrn_algorithm="sts",
    alert_codes={},
    clock=ClockTraits(drift_ppm=3.0, sync_window_s=5),
)
