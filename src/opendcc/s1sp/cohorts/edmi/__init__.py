"""The EDMI cohort: its profile, over the shared soapxml adapter."""

from __future__ import annotations

from opendcc.s1sp.cohorts.edmi.profile import PROFILE
from opendcc.s1sp.contract import AdapterOptions, Endpoint
from opendcc.s1sp.transports.soapxml import SoapAdapter


def create_adapter(endpoint: Endpoint, options: AdapterOptions) -> SoapAdapter:
    """The adapter factory the registry calls."""
    return SoapAdapter(PROFILE, endpoint, options)


__all__ = ["PROFILE", "create_adapter"]
