"""The DSP's checks of a security-credential request before the S1SP records any of it.

A SMETS1 device's trust anchors are held by its S1SP (``opendcc.s1sp.services.credentials``);
what a User asks it to trust is checked here first, at the front door (the transform, CV 4, and
the signed pre-command, CV 5, alike, so a pre-command cannot smuggle in what the transform
refused):

- 6.15.1, 6.21, 6.23: every replacement certificate passes ``opendcc.smki.replacement.check``
  against the SMKI repository (E11 with the reason: the device cannot be given that anchor);
- 6.23 Update Security Credentials (CoS) is the change of supplier's: its ImportMPxN must be the
  device's metering point in the SMI, and the certificates must be those of the supplier the
  registration data names for that metering point when the request is carried out (its
  ExecutionDateTime, else now), so the anchor follows the change of supplier
  (``opendcc.inventory.registration``) and no other party's. Otherwise E4: that party is not
  the responsible supplier at that time.
- 6.15.2: the device certificate is an X.509 certificate (E11); whether it certifies the
  device's key is the S1SP's to say.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from opendcc.catalogue import UserRole
from opendcc.core.clock import Clock
from opendcc.core.errors import ResponseCode
from opendcc.dsp.access import AccessDenied
from opendcc.dsp.instruct import execute_at
from opendcc.inventory import InventoryStore
from opendcc.s1sp.contract import Instruction
from opendcc.smki.certificates import CertificateInfo
from opendcc.smki.replacement import Refused, check, load, party

REPLACEMENTS = frozenset({"6.15.1", "6.21", "6.23"})
COS = "6.23"
# The supplier role responsible for a device's metering point, by fuel.
_GAS_TYPES = frozenset({"GSME", "GPF"})


class CredentialChecks:
    def __init__(
        self, clock: Clock, repository: Iterable[CertificateInfo], inventory: InventoryStore
    ) -> None:
        self.clock = clock
        self.repository = tuple(repository)
        self.inventory = inventory

    def vet(self, instruction: Instruction) -> None:
        srv, parameters = instruction.srv, instruction.parameters
        if srv == "6.15.2":
            try:
                load(parameters.get("device_certificate", ""), "DeviceCertificate")
            except Refused as exc:
                raise AccessDenied(ResponseCode.SRV_NOT_FOR_DEVICE_TYPE, str(exc)) from None
            return
        if srv not in REPLACEMENTS:
            return
        now = self.clock.now()
        why = check(parameters, self.repository, now)
        if why is not None:
            raise AccessDenied(ResponseCode.SRV_NOT_FOR_DEVICE_TYPE, why)
        if srv == COS:
            self._change_of_supplier(instruction, execute_at(instruction) or now)

    def _change_of_supplier(self, instruction: Instruction, at: datetime) -> None:
        device = self.inventory.device(instruction.device_id)
        mpxn = instruction.parameters.get("mpxn", "")
        if device is None or not device.mpxn or device.mpxn != mpxn:
            raise AccessDenied(
                ResponseCode.NOT_RESPONSIBLE_PARTY,
                f"ImportMPxN {mpxn} is not the metering point of {instruction.device_id}",
            )
        gas = device.device_type.value in _GAS_TYPES
        supplier = self.inventory.responsible(mpxn, UserRole.GS if gas else UserRole.IS, at)
        holder = party(instruction.parameters)
        if supplier is None or holder != supplier:
            raise AccessDenied(
                ResponseCode.NOT_RESPONSIBLE_PARTY,
                f"the certificates are {holder}'s, but the registered supplier of {mpxn} at"
                f" {at.isoformat()} is {supplier or 'nobody'}: a change of supplier's"
                " credentials are the gaining supplier's, from its effective date",
            )
