"""Adapters, one per wire protocol, over the protocol-independent CohortAdapter."""
