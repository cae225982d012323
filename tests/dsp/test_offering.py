"""The SMETS1 service catalogue per cohort: built from the data, published as generated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opendcc.catalogue import default_catalogue
from opendcc.dsp.offering import NOT_YET, Offer, smets1_catalogue
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.s1sp.services import CORE_SRVS

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = default_catalogue()
PROFILES = register_all(Registry()).profiles()
TABLE = smets1_catalogue(CATALOGUE, PROFILES)


def test_every_srv_of_every_cohort_has_an_entry() -> None:
    assert set(TABLE) == {p.name for p in PROFILES}
    for entries in TABLE.values():
        assert [e.srv for e in entries] == [row.srv for row in CATALOGUE]


def test_offered_is_what_the_profile_supports() -> None:
    for profile in PROFILES:
        for entry in TABLE[profile.name]:
            row = CATALOGUE.get(entry.srv)
            if row.non_device or not row.smets1_supported:
                continue
            assert entry.offer.offered == (entry.srv in profile.supported_srvs), entry
            if entry.offer is Offer.CORE:
                assert entry.srv in CORE_SRVS


def test_every_refusal_says_why() -> None:
    for name, entries in TABLE.items():
        for entry in entries:
            assert entry.offer.offered == (entry.reason == ""), (name, entry)


def test_no_smets1_capable_srv_is_left_without_a_reason_a_user_accepts() -> None:
    vague = {(n, e.srv) for n, entries in TABLE.items() for e in entries if e.reason == NOT_YET}
    assert not vague


def test_the_page_is_up_to_date() -> None:
    script = REPO / "scripts/catalogue_smets1.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
