"""The Secure cohort as data: Secure Meters' SMETS1 estate and what its head-end reads.

Secure Meters' SMETS1 electricity meters sit behind a head-end that speaks the APDU protocol
(opendcc's DLMS/COSEM-style GETs of OBIS-addressed objects). Each supported SRV (Service
Reference Variant) is a list of OBIS (Object Identification System) attributes to read.
"""

from __future__ import annotations

from collections.abc import Mapping

from opendcc.s1sp.contract import CohortProfile
from opendcc.s1sp.protocols.apdu import AttributeRef, Obis

PROFILE = CohortProfile(
    name="secure",
    manufacturer="Secure Meters",
    protocol="apdu",
    supported_srvs=frozenset({"4.1.1", "11.2"}),
    device_models=("Liberty 100",),
    wan_latency_ms=(800, 4_000),  # a GPRS round trip through the head-end
    failure_rate=0.02,
    instruction_timeout_s=30.0,
)

TOTAL_IMPORT = Obis(1, 0, 1, 8, 0, 255)  # active energy import (+A), total, Wh
TOU_IMPORT = tuple(Obis(1, 0, 1, 8, rate, 255) for rate in range(1, 5))  # +A, rates 1-4
REACTIVE_IMPORT = Obis(1, 0, 3, 8, 0, 255)  # reactive energy import (+R), total, varh
CLOCK = Obis(0, 0, 1, 0, 0, 255)
FIRMWARE = Obis(1, 0, 0, 2, 0, 255)  # active firmware identifier

# The attributes (attribute 2: the value) read for each SRV, in reply order.
READS: Mapping[str, tuple[AttributeRef, ...]] = {
    "4.1.1": tuple(
        AttributeRef(obis) for obis in (TOTAL_IMPORT, *TOU_IMPORT, REACTIVE_IMPORT, CLOCK)
    ),
    "11.2": (AttributeRef(FIRMWARE), AttributeRef(CLOCK)),
}
