"""The Smart Metering Inventory (SMI): the devices opendcc serves and who is responsible for them.

This is the minimal inventory the front door needs for access control: each device's type, SMI
status, cohort (which S1SP, SMETS1 Service Provider, serves it) and MPxN (the metering point:
MPAN for electricity, MPRN for gas), plus registration data saying which User holds each role
for a metering point from when. The full inventory (status lifecycle, HAN associations, CPL) is
built on these tables.
"""

from opendcc.inventory.devices import (
    Device,
    InventoryStore,
    Registration,
    SmiStatus,
)

__all__ = ["Device", "InventoryStore", "Registration", "SmiStatus"]
