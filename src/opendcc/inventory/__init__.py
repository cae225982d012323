"""The Smart Metering Inventory (SMI): the devices opendcc serves and who is responsible for them.

- ``status``: the SMI status lifecycle, one transition table.
- ``devices``: devices with their model, SMI status and history, cohort, MPxN (metering point)
  and HAN (Home Area Network) associations.
- ``registration``: registration data, who holds each role for a metering point from when,
  and change of supplier.
- ``cpl``: the CPL (Central Products List) and the SMETS1 Eligible Product Combinations.
"""

from opendcc.inventory.cpl import Cpl, CplEntry, CplStatus, CplStore, EligibleCombination
from opendcc.inventory.devices import Device, InventoryStore, StatusChange, UnknownDevice
from opendcc.inventory.registration import Registration, RegistrationStore
from opendcc.inventory.status import (
    TRANSITIONS,
    IllegalStatusTransition,
    InventoryError,
    SmiStatus,
)

__all__ = [
    "TRANSITIONS",
    "Cpl",
    "CplEntry",
    "CplStatus",
    "CplStore",
    "Device",
    "EligibleCombination",
    "IllegalStatusTransition",
    "InventoryError",
    "InventoryStore",
    "Registration",
    "RegistrationStore",
    "SmiStatus",
    "StatusChange",
    "UnknownDevice",
]
