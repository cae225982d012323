"""The SMETS1 instruction a DUIS request asks for, read the same way by the DSP and the DCO.

A non-critical request (CV 1-3) names its SRV and target in the header and its parameters in
the body, read by the SRV's service (``opendcc.s1sp.services``). A critical request arrives in
two steps (``opendcc.duis.precommand``): the transform (CV 4) is read like a non-critical
request and answered with a pre-command; the signed pre-command (CV 5) carries the instruction
itself, which must be for the SRV and target its header names, from the User it was issued to.

A future-dated request's ExecutionDateTime is one more parameter, ``execute_at`` (UTC, as DCC
writes date-times): the pre-command carries it, the DCO checks it like any other, and a head-end
that dates commands on the device holds the instruction until then (the DUIS Device pattern).
"""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.duis import precommand
from opendcc.duis.precommand import PreCommandInvalid
from opendcc.duis.request import CommandVariant, ServiceRequest, parse_datetime
from opendcc.duis.response import format_datetime
from opendcc.s1sp import services
from opendcc.s1sp.contract import Instruction

EXECUTE_AT = "execute_at"

SIGNED_PRE_COMMANDS = frozenset(
    {
        CommandVariant.SIGNED_PRE_COMMAND,
        CommandVariant.SIGNED_PRE_COMMAND_LOCAL,
        CommandVariant.SIGNED_PRE_COMMAND_DEVICE_AND_LOCAL,
    }
)


class Instructions:
    def __init__(self, dsp_public: ec.EllipticCurvePublicKey) -> None:
        self._dsp_public = dsp_public

    def read(
        self, request: ServiceRequest, signer: ec.EllipticCurvePublicKey | None = None
    ) -> Instruction:
        """The instruction ``request`` asks for. With ``signer`` (the key that signed the
        request), a signed pre-command's User signature is verified too."""
        rid = request.request_id
        if request.command_variant not in SIGNED_PRE_COMMANDS:
            parameters = services.parameters(request.srv, request.body)
            if request.execution_datetime is not None:
                execute_at = format_datetime(request.execution_datetime)
                parameters = {**parameters, EXECUTE_AT: execute_at}
            return Instruction(str(rid), request.srv, rid.target, parameters)
        signed = precommand.signed_payload(request.body)
        if signer is None:
            payload, _ = precommand.split(signed)
        else:
            payload = precommand.verify_user(signed, signer)
        pre = precommand.read(payload, self._dsp_public)
        if (pre.srv, pre.device_id, pre.originator) != (request.srv, rid.target, rid.originator):
            raise PreCommandInvalid(
                f"the pre-command is for SRV {pre.srv} on {pre.device_id} by {pre.originator},"
                f" not SRV {request.srv} on {rid.target} by {rid.originator}"
            )
        return Instruction(str(rid), pre.srv, rid.target, pre.parameters)


def execute_at(instruction: Instruction) -> datetime | None:
    """When the instruction is to be carried out (a signed pre-command carries it too)."""
    text = instruction.parameters.get(EXECUTE_AT)
    return parse_datetime(text) if text else None
