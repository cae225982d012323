"""DCC User Roles: the SEC (Smart Energy Code) roles in which a DCC User sends DUIS requests.

DUIS is the DCC User Interface Specification. Each Service Reference Variant (SRV) is open to a
fixed set of these roles; a request from any other role is answered with DUIS code E2.
"""

from __future__ import annotations

from enum import StrEnum


class UserRole(StrEnum):
    """A DCC User Role, valued by its DUIS code."""

    IS = "IS"  # Import Supplier
    ES = "ES"  # Export Supplier
    GS = "GS"  # Gas Supplier
    ED = "ED"  # Electricity Distributor
    GT = "GT"  # Gas Transporter
    OU = "OU"  # Other User
    RSA = "RSA"  # Registered Supplier Agent

    @property
    def description(self) -> str:
        """The role's name as the SEC spells it, e.g. "Import Supplier"."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    UserRole.IS: "Import Supplier",
    UserRole.ES: "Export Supplier",
    UserRole.GS: "Gas Supplier",
    UserRole.ED: "Electricity Distributor",
    UserRole.GT: "Gas Transporter",
    UserRole.OU: "Other User",
    UserRole.RSA: "Registered Supplier Agent",
}
