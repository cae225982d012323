"""Every alert the hub delivers, as data: what it is, who receives it, and whether Users may
turn it off.

Device alerts carry GBCS-style codes (``opendcc.sim.state.events`` and the cohorts' alert maps
translate to these at the edge). The **critical** range is ``0x8Fxx``: such alerts are always
delivered. Each code has a category, the roles that receive it (the supplier responsible for the
device's fuel, the network operator, other Users) and whether it is **mandatory** (a User
cannot unsubscribe) and on by default.

Restricted mode (MP169) delivers only critical, security and safety alerts and firmware
outcomes from a restricted device (``delivered_when_restricted``).

DCC alerts are raised by the hub itself. DUIS v5.4 enumerates the codes N1-N65 and N999 but
its schema does not say which means what, so ``DCC_ALERTS`` records opendcc's assignment for
each event it raises, with the DCCAlert choice element that carries it (see docs/alerts.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from opendcc.catalogue import DeviceType, UserRole


class Category(StrEnum):
    CRITICAL = "critical"
    SECURITY = "security"
    SAFETY = "safety"
    FIRMWARE = "firmware"
    PREPAYMENT = "prepayment"
    OPERATIONAL = "operational"


class Recipient(StrEnum):
    SUPPLIER = "supplier"  # the Import or Gas Supplier responsible for the device
    NETWORK = "network"  # the Electricity Distributor or Gas Transporter
    OTHER = "other"  # Other Users registered for the metering point (none by default)


# The role each recipient is for each fuel; a GPF carries the gas meter's alerts.
ROLE_OF: Mapping[Recipient, Mapping[DeviceType, UserRole]] = MappingProxyType(
    {
        Recipient.SUPPLIER: {
            DeviceType.ESME: UserRole.IS,
            DeviceType.GSME: UserRole.GS,
            DeviceType.GPF: UserRole.GS,
        },
        Recipient.NETWORK: {
            DeviceType.ESME: UserRole.ED,
            DeviceType.GSME: UserRole.GT,
            DeviceType.GPF: UserRole.GT,
        },
        Recipient.OTHER: {
            DeviceType.ESME: UserRole.OU,
            DeviceType.GSME: UserRole.OU,
            DeviceType.GPF: UserRole.OU,
        },
    }
)

CRITICAL_RANGE = 0x8F00


def is_critical(code: int) -> bool:
    return code & 0xFF00 == CRITICAL_RANGE


@dataclass(frozen=True, slots=True)
class AlertSpec:
    code: int
    description: str
    category: Category
    recipients: frozenset[Recipient]
    mandatory: bool
    default_on: bool = True

    @property
    def hex(self) -> str:
        return f"{self.code:04X}"

    @property
    def critical(self) -> bool:
        return is_critical(self.code)

    @property
    def delivered_when_restricted(self) -> bool:
        """MP169: critical, security and safety alerts and firmware outcomes only."""
        return self.critical or self.category in _RESTRICTED_CATEGORIES


_RESTRICTED_CATEGORIES = frozenset({Category.SECURITY, Category.SAFETY, Category.FIRMWARE})
_S = frozenset({Recipient.SUPPLIER})
_SN = frozenset({Recipient.SUPPLIER, Recipient.NETWORK})


def _spec(  # noqa: PLR0917 - one table row
    code: int,
    text: str,
    category: Category,
    recipients: frozenset[Recipient],
    mandatory: bool,
    default_on: bool = True,
) -> tuple[int, AlertSpec]:
    return code, AlertSpec(code, text, category, recipients, mandatory, default_on)


DEVICE_ALERTS: Mapping[int, AlertSpec] = MappingProxyType(
    dict(
        [
            _spec(0x8F1C, "Firmware verification failed", Category.FIRMWARE, _S, True),
            _spec(0x8F1D, "Firmware activated", Category.FIRMWARE, _S, True),
            _spec(0x8F20, "Tamper detected", Category.SECURITY, _SN, True),
            _spec(0x8F30, "Supply disabled: credit exhausted", Category.SAFETY, _S, True),
            _spec(0x8F31, "Supply armed", Category.SAFETY, _S, True),
            _spec(0x8F34, "Power outage", Category.CRITICAL, _SN, True),
            _spec(0x8F35, "Supply outage restored", Category.CRITICAL, _SN, True),
            _spec(0x8F3A, "UTRN accepted at the keypad", Category.PREPAYMENT, _S, True),
            # Future-dated command outcomes: delivered to the User whose request it was.
            _spec(0x8F66, "Future-dated command executed", Category.OPERATIONAL, _S, True),
            _spec(0x8F67, "Future-dated command failed", Category.OPERATIONAL, _S, True),
            _spec(0x8101, "Low credit", Category.PREPAYMENT, _S, False),
            _spec(0x8102, "Emergency credit available", Category.PREPAYMENT, _S, False),
            _spec(0x8103, "Clock adjusted", Category.SECURITY, _SN, False, default_on=False),
        ]
    )
)


def device_alert_spec(code: int) -> AlertSpec:
    """The spec of a device alert code; a code the table does not know is delivered to the
    supplier, mandatory if critical."""
    known = DEVICE_ALERTS.get(code)
    if known is not None:
        return known
    category = Category.CRITICAL if is_critical(code) else Category.OPERATIONAL
    return AlertSpec(code, f"Alert {code:04X}", category, _S, is_critical(code))


class DccEvent(StrEnum):
    """Events the hub itself raises DCC alerts for."""

    QUARANTINED = "quarantined"  # anomaly detection held a request (AD1, front door)
    COMMAND_UNDELIVERED = "command-undelivered"  # the S1SP could not reach the device
    DCO_REFUSED = "dco-refused"  # dual control refused to countersign an instruction
    ALERTS_THROTTLED = "alerts-throttled"  # storm protection held a device's alerts back
    FIRMWARE_WATCH = "firmware-watch"  # a restricted device's firmware updates keep failing
    SCHEDULE_REMOVED = "schedule-removed"  # a DCC schedule stopped: its User no longer responsible
    FIRMWARE_DISTRIBUTION_FAILED = "firmware-distribution-failed"  # 11.1 could not reach devices


@dataclass(frozen=True, slots=True)
class DccAlertSpec:
    code: str  # the DCCAlertCode
    element: str  # the DCCAlert choice that carries it
    description: str


DCC_ALERTS: Mapping[DccEvent, DccAlertSpec] = MappingProxyType(
    {
        DccEvent.QUARANTINED: DccAlertSpec("AD1", "QuarantinedRequest", "request quarantined"),
        DccEvent.COMMAND_UNDELIVERED: DccAlertSpec(
            "N12", "CommandFailure", "a command could not be delivered to the device"
        ),
        DccEvent.DCO_REFUSED: DccAlertSpec(
            "N13", "CommandFailure", "dual control refused to countersign the command"
        ),
        DccEvent.ALERTS_THROTTLED: DccAlertSpec(
            "N45", "S1SPAlertDSP", "device alerts throttled (storm protection)"
        ),
        DccEvent.FIRMWARE_WATCH: DccAlertSpec(
            "N46", "S1SPAlertDSP", "firmware updates of a restricted device keep failing"
        ),
        DccEvent.SCHEDULE_REMOVED: DccAlertSpec(
            "N16", "DSPScheduleRemoval", "a DCC schedule was removed (change of supplier)"
        ),
        DccEvent.FIRMWARE_DISTRIBUTION_FAILED: DccAlertSpec(
            "N14", "FirmwareDistributionFailure", "firmware could not be distributed to devices"
        ),
    }
)
