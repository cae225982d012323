"""Head-end wire protocols, each usable by any cohort that speaks it (and by the simulators).

Protocol packages are sans-IO: bytes in, events out. They never name a cohort.
"""
