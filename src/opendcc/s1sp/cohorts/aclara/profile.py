"""The Aclara cohort as data.

Aclara's SMETS1 estate: a radio mesh whose head-end offers an HTTP/JSON API with completion
callbacks; battery gas meters answer on their next HAN wake-up. Firmware activates on delivery
(one stage). Alert codes are numbered from 0xA000.
"""

from __future__ import annotations

from opendcc.s1sp.contract import ClockTraits, CohortProfile, FirmwareMode, WanTraits
from opendcc.s1sp.naming import api_commands
from opendcc.s1sp.services import CORE_SRVS, GBCS_ALERTS, S1SP_NOTICES

ELECTIVE: frozenset[str] = frozenset()
SUPPORTED = CORE_SRVS | ELECTIVE | S1SP_NOTICES  # and the DCC's own (99.1, 99.2, 11.1)

PROFILE = CohortProfile(
    name="aclara",
    manufacturer="Aclara",
    protocol="restjson",
    supported_srvs=SUPPORTED,
    elective_srvs=ELECTIVE,
    device_models=("SGM1400 S1",),
    gas_models=("SGM3000 G",),
    wan=WanTraits(
        latency_p50_ms=4_000, latency_p99_ms=20_000, failure_rate=0.04, gas_wake_ms=1_500
    ),
    commands=api_commands(SUPPORTED),
    firmware_mode=FirmwareMode.ONE_STAGE,
    utrn_algorithm="hmac-sha256",
    alert_codes={0xA000 + n: code for n, code in enumerate(GBCS_ALERTS)},
    clock=ClockTraits(drift_ppm=5.0, sync_window_s=10),
    withheld={
        "4.2": "Aclara's SGM1400 S1 meters are import-only: they keep no export register",
        "4.8.3": "Aclara's SGM1400 S1 meters are import-only: they keep no export profile",
        "4.12.2": "Aclara's SGM1400 S1 meters are import-only: no export maximum demand register",
        "6.22": "Aclara's head-end sets alert behaviour for its whole estate, not per meter",
    },
)
