"""The S1SP (SMETS1 Service Provider) room: the adapter contract and one package per cohort.

Cohort packages live under ``opendcc.s1sp.cohorts`` and are registered explicitly with
``opendcc.s1sp.cohorts.register_all()``; wire protocols shared by cohorts live under
``opendcc.s1sp.protocols``. Nothing outside a cohort's package names that cohort.
"""

from opendcc.s1sp.contract import (
    AdapterFactory,
    CohortProfile,
    ConflictingInstruction,
    DuplicateCohort,
    Endpoint,
    Instruction,
    InvalidEndpoint,
    Outcome,
    OutcomeStatus,
    Registry,
    S1spAdapter,
    S1spError,
    UnknownCohort,
    UnsupportedService,
    adapter_for,
    profiles,
    register,
)

__all__ = [
    "AdapterFactory",
    "CohortProfile",
    "ConflictingInstruction",
    "DuplicateCohort",
    "Endpoint",
    "Instruction",
    "InvalidEndpoint",
    "Outcome",
    "OutcomeStatus",
    "Registry",
    "S1spAdapter",
    "S1spError",
    "UnknownCohort",
    "UnsupportedService",
    "adapter_for",
    "profiles",
    "register",
]
