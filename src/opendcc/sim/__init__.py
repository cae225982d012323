"""Simulators: SMETS1 meters and the cohorts' head-end systems that serve them.

``state`` is the model of SMETS1 meters (``meter``, the older simple one, lends it its
half-hour slot); ``services`` carries out the core SMETS1 services on it; ``headends`` serves
meters over each cohort's wire protocol, as a process (``python -m opendcc.sim.headends``) or
in-process; ``fleet`` and ``scenario`` make estates; ``user`` is a DCC User.
Nothing here is imported by the production path.
"""
