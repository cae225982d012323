"""The SRV (Service Reference Variant) catalogue: every DUIS request as one row of data.

DUIS is the DCC User Interface Specification. The catalogue answers, from one packaged table,
which User Roles may send each SRV, its allowed Command Variants (CVs), whether it is critical,
non-device, future-datable or DCC-scheduled, whether SMETS1 meters support it, whether it may
reach a meter in restricted mode and which device types it may target (else DUIS E11). Pure: no
I/O beyond reading the packaged table once.
"""

from opendcc.catalogue.devices import DeviceType
from opendcc.catalogue.roles import UserRole
from opendcc.catalogue.srv import (
    Catalogue,
    CatalogueError,
    FutureDatedPattern,
    ServiceReferenceVariant,
    UnknownServiceReferenceVariant,
    default_catalogue,
    parse_table,
    srv_sort_key,
)

__all__ = [
    "Catalogue",
    "CatalogueError",
    "DeviceType",
    "FutureDatedPattern",
    "ServiceReferenceVariant",
    "UnknownServiceReferenceVariant",
    "UserRole",
    "default_catalogue",
    "parse_table",
    "srv_sort_key",
]
