"""The Secure cohort: Secure Meters' SMETS1 meters, reached over the APDU protocol."""

from opendcc.s1sp.cohorts.secure.adapter import SecureAdapter, create_adapter
from opendcc.s1sp.cohorts.secure.profile import PROFILE, READS

__all__ = ["PROFILE", "READS", "SecureAdapter", "create_adapter"]
