"""The head-end's record of a meter's restricted mode, as the DCC's notices tell it.

MP169 restricted mode is the DCC's (Data Communications Company's) business: a Supplier sets or
clears "Restricted" on a meter with the DCC, and the DCC tells the cohort's S1SP (SMETS1
Service Provider) with a restriction notice (SRV 99.1, outside the DUIS range). The meter
itself knows nothing of it; the simulator keeps the head-end's view on the meter's model only
so that tests can see what the S1SP was told. Recording it changes nothing else: no event is
logged, no alert raised, the meter's ledger is not settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Restriction:
    """The latest restriction notice for a meter (before any: not restricted)."""

    restricted: bool = False
    since: datetime | None = None  # when the notified state (set or cleared) took effect
    set_by: str = ""  # the Supplier's EUI-64, canonical text; may be empty on a clear
    reason: str = ""
