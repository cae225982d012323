"""8.1.1 Commission Device for SMETS1 devices: the SMI (Smart Metering Inventory) follows the
device.

A SMETS1 device added to a migrated installation (a replacement meter of the same cohort, say)
enters the SMI as Installed Not Commissioned; the responsible Supplier sends 8.1.1, whose
instruction synchronises the device's clock through its cohort's S1SP (SMETS1 Service
Provider). When the head-end answers success, the device becomes Commissioned in the same
transaction as the request's Response (a ``dsp.route`` settlement), so the User's I0 and the
SMI never disagree. A device already commissioned (a migrated one) just has its clock
synchronised again.
"""

from __future__ import annotations

from sqlalchemy import Connection

from opendcc.core.clock import Clock
from opendcc.inventory import InventoryStore, SmiStatus
from opendcc.s1sp.contract import Instruction, Outcome, OutcomeStatus

COMMISSION_DEVICE = "8.1.1"


class Commissioning:
    """The ``dsp.route`` settlement of 8.1.1."""

    def __init__(self, inventory: InventoryStore, clock: Clock) -> None:
        self.inventory = inventory
        self.clock = clock

    def claim_in(self, conn: Connection, instruction: Instruction) -> str | None:
        del conn, instruction
        return None  # nothing to claim: access control already checked the device's status

    def settle_in(self, conn: Connection, instruction: Instruction, outcome: Outcome) -> None:
        if outcome.status is not OutcomeStatus.SUCCESS:
            return
        device = self.inventory.device(instruction.device_id)
        if device is None or device.smi_status is not SmiStatus.INSTALLED_NOT_COMMISSIONED:
            return
        reason = f"8.1.1 Commission Device ({instruction.request_id})"
        ids = [instruction.device_id]
        self.inventory.transition_in(conn, ids, SmiStatus.COMMISSIONED, self.clock.now(), reason)
