"""The Smart Metering Inventory (SMI) status lifecycle: the one transition table for devices.

Every device in the SMI has one status. SMETS1 devices enter as Pending when a supplier's
migration file is validated, become Installed Not Commissioned once the S1SP (SMETS1 Service
Provider) has reached them in device testing, and Commissioned when migration commissions them;
only then do they take device requests. The other statuses follow the SEC's device lifecycle:

- Whitelisted: known to a communications hub's whitelist but not yet installed.
- Decommissioned: removed from the premises for good (terminal).
- Withdrawn: taken out of opendcc with its history kept (a failed or reversed migration, or a
  supplier's withdrawal); a withdrawn SMETS1 device may be migrated again, so it can go back
  to Pending.
- Suspended: commissioned but not to be operated (e.g. firmware no longer on the CPL, the
  Central Products List); it returns to Commissioned when resolved.
- Recovery / Recovered: the DCC is re-establishing the device's security credentials after a
  compromise; a Recovered device is commissioned again or decommissioned.

Pure code: ``check`` raises ``IllegalStatusTransition`` for anything not in ``TRANSITIONS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from opendcc.core.errors import DuisError


class SmiStatus(StrEnum):
    """A device's Smart Metering Inventory status."""

    PENDING = "pending"
    WHITELISTED = "whitelisted"
    INSTALLED_NOT_COMMISSIONED = "installed_not_commissioned"
    COMMISSIONED = "commissioned"
    DECOMMISSIONED = "decommissioned"
    WITHDRAWN = "withdrawn"
    SUSPENDED = "suspended"
    RECOVERY = "recovery"
    RECOVERED = "recovered"

    @property
    def duis(self) -> str:
        """The status as DUIS spells it (``sr:DeviceStatus``), e.g. ``InstalledNotCommissioned``."""
        return "".join(part.capitalize() for part in self.value.split("_"))


_S = SmiStatus

TRANSITIONS: Mapping[SmiStatus, frozenset[SmiStatus]] = {
    _S.PENDING: frozenset({_S.WHITELISTED, _S.INSTALLED_NOT_COMMISSIONED, _S.WITHDRAWN}),
    _S.WHITELISTED: frozenset({_S.PENDING, _S.INSTALLED_NOT_COMMISSIONED, _S.WITHDRAWN}),
    _S.INSTALLED_NOT_COMMISSIONED: frozenset(
        {_S.PENDING, _S.WHITELISTED, _S.COMMISSIONED, _S.DECOMMISSIONED, _S.WITHDRAWN}
    ),
    _S.COMMISSIONED: frozenset({_S.DECOMMISSIONED, _S.WITHDRAWN, _S.SUSPENDED, _S.RECOVERY}),
    _S.SUSPENDED: frozenset({_S.COMMISSIONED, _S.DECOMMISSIONED, _S.WITHDRAWN}),
    _S.RECOVERY: frozenset({_S.RECOVERED, _S.DECOMMISSIONED}),
    _S.RECOVERED: frozenset({_S.COMMISSIONED, _S.DECOMMISSIONED, _S.WITHDRAWN}),
    _S.WITHDRAWN: frozenset({_S.PENDING}),
    _S.DECOMMISSIONED: frozenset(),
}

TERMINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)


class InventoryError(DuisError):
    """Base exception of the inventory room."""


class IllegalStatusTransition(InventoryError):
    """A status change the SMI lifecycle does not allow."""

    def __init__(self, source: SmiStatus, target: SmiStatus, device: object = None) -> None:
        self.source = source
        self.target = target
        where = f"device {device}: " if device is not None else ""
        super().__init__(f"{where}{source} -> {target} is not a legal SMI status transition")


def check(source: SmiStatus, target: SmiStatus, device: object = None) -> None:
    """Raise ``IllegalStatusTransition`` unless ``source -> target`` is in the table."""
    if target not in TRANSITIONS[source]:
        raise IllegalStatusTransition(source, target, device)
