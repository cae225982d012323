"""The SMETS1 service catalogue per cohort: which SRVs each cohort's meters are offered for.

For every Service Reference Variant (SRV) of the DUIS catalogue and every registered cohort
of SMETS1 (first-generation) meters, one ``Entry`` says whether a DCC User can have it carried
out and, when not, why, in words a User can act on:

- ``core``: every cohort's S1SP (SMETS1 Service Provider) carries it out on the device;
- ``elective``: this cohort's S1SP carries it out, beyond the core set;
- ``dsp``: a non-device request the DSP (Data Service Provider) answers itself, for every
  cohort alike;
- ``not offered``: the device kind could, but this cohort's meters cannot (the cohort profile's
  ``withheld`` reason, else the reason shared by every SMETS1 meter of opendcc's model,
  ``opendcc.s1sp.services.withheld``);
- ``not applicable``: the SRV makes no sense for SMETS1 at all (the catalogue's
  ``smets1_supported``): sub-GHz radios, SMETS2 comms hub logistics, auxiliary (proportional)
  controllers. (Security credentials apply: the S1SP holds a SMETS1 device's trust anchors; so do
  auxiliary load control switches, which SMETS1 meters have.)

It is built from data only (the catalogue, the cohort profiles and the set of non-device SRVs
the DSP answers), so the page (docs/catalogue-smets1.md, ``scripts/catalogue_smets1.py``), the
JSON the hub serves (``/catalogue/v1/smets1``) and the E11 refusals all say the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from opendcc.catalogue import Catalogue, ServiceReferenceVariant
from opendcc.s1sp.contract import CohortProfile
from opendcc.s1sp.services import CORE_SRVS
from opendcc.s1sp.services.withheld import SMETS1_LACKS

# The non-device SRVs (CV 8) the DSP answers itself: 8.2 and 8.3 at the front door, 8.4 and
# 12.2 from the SMI (``smi_updates``), 5.1-5.3 by the schedules room, 11.1 by the firmware room. A
# test checks that the hub's front door answers exactly these.
DSP_ANSWERED = frozenset({"5.1", "5.2", "5.3", "8.2", "8.3", "8.4", "11.1", "12.2"})

# Why an SRV makes no sense for SMETS1, by what its name names (the catalogue's rule).
_NOT_APPLICABLE = (
    ("CHF Sub GHz", "SMETS1 communications hubs have no sub-GHz radio"),
    (
        "Communications Hub Status Update",
        "a SMETS1 installation's communications hub came with it; the DCC supplies none",
    ),
    # Auxiliary Load Control Switches are SMETS1 too; the Auxiliary (Proportional) Controllers
    # of SMETS2 v4 (HCALCS and APC control, 6.14.3, 7.13-7.16) are not.
    (
        "Auxiliary Controller",
        "SMETS1 meters have no SMETS2 auxiliary controllers (HCALCS or APC control); their"
        " auxiliary load control switches take the ALCS services (6.14.1, 6.14.2, 7.5-7.11)",
    ),
    ("APC", "SMETS1 meters have no auxiliary proportional controllers"),
)
NOT_YET = "not yet offered by opendcc for SMETS1 devices"
# Non-device SRVs the SMETS1 service will never carry out (not "not yet"): what they are for
# does not exist for SMETS1. The front door answers them E11 with the reason.
SMETS1_NEVER: Mapping[str, str] = {
    "8.13": "SMETS1 meters take no locally delivered commands (CV 3, 6 or 7), so there is never"
    " a local command response to return",
    "11.4": "the DCC distributes no PPMID firmware to SMETS1 head-ends: a SMETS1 PPMID is a HAN"
    " device of its cohort's installation",
    "12.1": "the WAN matrix is the SMETS2 CSPs' coverage for DCC-supplied comms hubs; a SMETS1"
    " installation uses its cohort's own WAN",
}


class Offer(StrEnum):
    CORE = "core"
    ELECTIVE = "elective"
    DSP = "dsp"
    NOT_OFFERED = "not offered"
    NOT_APPLICABLE = "not applicable"

    @property
    def offered(self) -> bool:
        return self in (Offer.CORE, Offer.ELECTIVE, Offer.DSP)


@dataclass(frozen=True, slots=True)
class Entry:
    srv: str
    name: str
    offer: Offer
    reason: str = ""  # why not, when not offered

    def as_json(self) -> dict[str, str]:
        found = {"srv": self.srv, "name": self.name, "offer": self.offer.value}
        return {**found, "reason": self.reason} if self.reason else found


def not_applicable_reason(row: ServiceReferenceVariant) -> str:
    return next(
        (why for named, why in _NOT_APPLICABLE if named in row.name),
        "it makes no sense for a SMETS1 device",
    )


def non_device_entry(row: ServiceReferenceVariant) -> Entry:
    """What every cohort offers of ``row``'s non-device SRV: the DSP answers it, or not."""
    if not row.smets1_supported:
        return Entry(row.srv, row.name, Offer.NOT_APPLICABLE, not_applicable_reason(row))
    if row.srv in SMETS1_NEVER:
        return Entry(row.srv, row.name, Offer.NOT_APPLICABLE, SMETS1_NEVER[row.srv])
    if row.srv in DSP_ANSWERED:
        return Entry(row.srv, row.name, Offer.DSP)
    return Entry(row.srv, row.name, Offer.NOT_OFFERED, SMETS1_LACKS.get(row.srv, NOT_YET))


def entry(row: ServiceReferenceVariant, profile: CohortProfile) -> Entry:
    """What ``profile``'s cohort offers of ``row``'s SRV."""
    srv = row.srv
    if row.non_device:
        return non_device_entry(row)
    if not row.smets1_supported:
        return Entry(srv, row.name, Offer.NOT_APPLICABLE, not_applicable_reason(row))
    if srv in profile.elective_srvs:
        return Entry(srv, row.name, Offer.ELECTIVE)
    if srv in profile.supported_srvs:
        return Entry(srv, row.name, Offer.CORE if srv in CORE_SRVS else Offer.ELECTIVE)
    reason = profile.withheld.get(srv) or SMETS1_LACKS.get(srv, NOT_YET)
    return Entry(srv, row.name, Offer.NOT_OFFERED, reason)


def offering(catalogue: Catalogue, profile: CohortProfile) -> tuple[Entry, ...]:
    """Every catalogue SRV for one cohort, in catalogue order."""
    return tuple(entry(row, profile) for row in catalogue)


def smets1_catalogue(
    catalogue: Catalogue, profiles: Iterable[CohortProfile]
) -> Mapping[str, tuple[Entry, ...]]:
    """The SMETS1 service catalogue: each cohort's entries, by cohort name."""
    return {profile.name: offering(catalogue, profile) for profile in profiles}
