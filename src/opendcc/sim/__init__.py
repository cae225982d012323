"""Simulators: SMETS1 meters and the cohorts' head-end systems that serve them.

``meter`` is a pure model of a SMETS1 electricity meter; ``headend`` serves meters over the
APDU protocol, as a process of its own (``python -m opendcc.sim.headend``) or in-process.
Nothing here is imported by the production path.
"""
