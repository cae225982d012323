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

SINGLE_ELEMENT = "the migrated SMETS1 electricity meters are single-element: no secondary element"

SMETS1_LACKS: Mapping[str, str] = MappingProxyType(
    {
        # Device SRVs.
        "1.1.2": SINGLE_ELEMENT,
        "1.2.2": SINGLE_ELEMENT,
        "4.11.2": SINGLE_ELEMENT,
        "4.6.2": "SMETS1 meters keep one daily read log: import (4.6.1)",
        "6.20.2": "the migrated SMETS1 meters hold one MPAN, their import MPAN (6.20.1)",
        "8.12.1": "a SMETS1 comms hub is replaced with its installation; HAN joins redo its log",
        "8.12.2": "SMETS1 gas meters keep their own HAN device log: there is no GPF log to restore",
        "9.1": "SMETS1 meters have no Customer Identification Number to display",
        "14.1": "SMETS1 gas meters record no network data",
        # Non-device SRVs the DSP does not answer for SMETS1.
        "8.5": "SMETS1 consumers opt out through restricted mode (MP169, docs/restricted.md)",
        "8.6": "SMETS1 consumers opt back in through restricted mode (MP169, docs/restricted.md)",
    }
)
