"""The cohorts of SMETS1 meters, one package each, registered explicitly.

Each cohort package exposes ``PROFILE`` (its ``CohortProfile``) and ``create_adapter`` (its
adapter factory). ``register_all`` is the one place that imports them: no other module outside
a cohort's own package may import it or name it.
"""

from __future__ import annotations

from opendcc.s1sp.contract import DEFAULT_REGISTRY, Registry


def register_all(registry: Registry = DEFAULT_REGISTRY) -> Registry:
    """Register every cohort in ``registry`` (the process-wide one by default) and return it."""
    from opendcc.s1sp.cohorts import aclara, edmi, elster, itron, landis, secure

    for cohort in (aclara, elster, itron, landis, secure, edmi):
        registry.register(cohort.PROFILE, cohort.create_adapter)
    return registry
