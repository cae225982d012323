"""The Landis+Gyr cohort: its profile, over the shared apdu adapter."""

from __future__ import annotations

from opendcc.s1sp.cohorts.landis.profile import PROFILE
from opendcc.s1sp.contract import AdapterOptions, Endpoint
from opendcc.s1sp.transports.apdu import ApduAdapter


def create_adapter(endpoint: Endpoint, options: AdapterOptions) -> ApduAdapter:
    """The adapter factory the registry calls."""
    return ApduAdapter(PROFILE, endpoint, options)


__all__ = ["PROFILE", "create_adapter"]
