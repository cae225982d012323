"""The Itron cohort as data.

Itron's SMETS1 estate: cellular comms hubs woken by SMS, behind an HTTP/JSON head-end API with
completion callbacks whose command names carry an "he" prefix. Alert codes are GBCS's own.
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
    name="itron",
    manufacturer="Itron",
    protocol="restjson",
    supported_srvs=SUPPORTED,
    elective_srvs=ELECTIVE,
    device_models=("ACE SL S1",),
    gas_models=("Gallus S1",),
    wan=WanTraits(latency_p50_ms=1_500, latency_p99_ms=8_000, failure_rate=0.02, sms_wake_ms=3_000),
    commands=api_commands(SUPPORTED, prefix="he"),
    firmware_mode=FirmwareMode.TWO_STAGE,
    device_future_dating=True,  # holds future-dated instructions (the Device pattern)
    utrn_algorithm="hmac-sha256",
    alert_codes={},
    clock=ClockTraits(drift_ppm=-8.0, sync_window_s=5),
)
