"""Device types: the kinds of Smart Metering device a DUIS device request may target.

DUIS is the DCC User Interface Specification. Each device Service Reference Variant (SRV) applies
to a fixed set of these types; a request naming a device of any other type is answered with DUIS
code E11 ("Service Reference not compatible with the specified device").
"""

from __future__ import annotations

from enum import StrEnum


class DeviceType(StrEnum):
    """A device type, valued by its SMETS (Smart Metering Equipment Technical Specifications)
    abbreviation."""

    ESME = "ESME"  # Electricity Smart Metering Equipment
    GSME = "GSME"  # Gas Smart Metering Equipment
    CHF = "CHF"  # Communications Hub Function
    GPF = "GPF"  # Gas Proxy Function
    PPMID = "PPMID"  # Pre-Payment Meter Interface Device
    IHD = "IHD"  # In-Home Display
    HCALCS = "HCALCS"  # HAN Connected Auxiliary Load Control Switch
    # A SMETS1 In-Home Display that also does a PPMID's job (shows and accepts prepayment
    # credit): a type of its own in the inventory; DUIS, which has no such type, sees a PPMID.
    IHD_PPMID = "IHDPPMID"

    @property
    def description(self) -> str:
        """The device type's name, e.g. "Gas Proxy Function"."""
        return _DESCRIPTIONS[self]

    @property
    def duis(self) -> str:
        """The ``sr:DeviceType`` DUIS reports for this type."""
        return "PPMID" if self is DeviceType.IHD_PPMID else self.value


_DESCRIPTIONS = {
    DeviceType.ESME: "Electricity Smart Metering Equipment",
    DeviceType.GSME: "Gas Smart Metering Equipment",
    DeviceType.CHF: "Communications Hub Function",
    DeviceType.GPF: "Gas Proxy Function",
    DeviceType.PPMID: "Pre-Payment Meter Interface Device",
    DeviceType.IHD: "In-Home Display",
    DeviceType.HCALCS: "HAN Connected Auxiliary Load Control Switch",
    DeviceType.IHD_PPMID: "SMETS1 In-Home Display with PPMID functionality",
}
