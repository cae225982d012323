"""Why no SMETS1 meter here carries out some device SRVs that its device kind could in SMETS2.

SMETS1 (Smart Metering Equipment Technical Specifications, first edition) meters were built
before GBCS (Great Britain Companion Specification); some SMETS2 functions have no SMETS1
counterpart on any cohort's meters. Each reason says what the meters lack, so a DCC User can
tell why the DCC answers E11 (the published SMETS1 service catalogue, ``opendcc.dsp.offering``,
quotes them). A cohort whose meters lack something the others have says so in its own profile
(``CohortProfile.withheld``) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

SMETS1_LACKS: Mapping[str, str] = MappingProxyType({})
