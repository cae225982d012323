"""The Aclara cohort: its profile, over the shared restjson adapter."""

from __future__ import annotations

from opendcc.s1sp.cohorts.aclara.profile import PROFILE
from opendcc.s1sp.contract import AdapterOptions, Endpoint
from opendcc.s1sp.transports.restjson import RestJsonAdapter


def create_adapter(endpoint: Endpoint, options: AdapterOptions) -> RestJsonAdapter:
    """The adapter factory the registry calls."""
    return RestJsonAdapter(PROFILE, endpoint, options)


__all__ = ["PROFILE", "create_adapter"]
