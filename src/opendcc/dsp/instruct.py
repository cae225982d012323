"""The SMETS1 instruction a DUIS request asks for, read the same way by the DSP and the DCO.

A non-critical request (CV 1-3) names its SRV and target in the header and its parameters in
the body, read by the SRV's service (``opendcc.s1sp.services``). A critical request arrives in
two steps (``opendcc.duis.precommand``): the transform (CV 4) is read like a non-critical
request and answered with a pre-command, a GBCS General Signing message; the signed pre-command
(CV 5) carries the instruction itself, read back from the GBCS command, which must be for the
SRV and target its header names, from the User, and signed with the User's GBCS signing key.

A future-dated request's ExecutionDateTime is one more parameter, ``execute_at`` (UTC, as DCC
writes date-times): the pre-command carries it (in the GBCS command's own date field), the
DCO checks it like any other, and a head-end that dates commands on the device holds the
instruction until then (the DUIS Device pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.eui import Eui64
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


# The GBCS digital-signing keys a User has registered (SMKI Organisation certificates with
# digitalSignature); empty when it has none, and then its XML-signing key signs its commands.
GbcsSigners = Callable[[Eui64], Sequence[ec.EllipticCurvePublicKey]]


def _none(_user: Eui64) -> Sequence[ec.EllipticCurvePublicKey]:
    return ()


class Instructions:
    def __init__(self, gbcs_signers: GbcsSigners = _none) -> None:
        self._gbcs_signers = gbcs_signers

    def read(
        self, request: ServiceRequest, signer: ec.EllipticCurvePublicKey | None = None
    ) -> Instruction:
        """The instruction ``request`` asks for. With ``signer`` (the key that signed the
        request), a signed pre-command's GBCS signature is verified too: by one of the User's
        GBCS signing keys, or by ``signer`` when the User has registered none."""
        rid = request.request_id
        if request.command_variant not in SIGNED_PRE_COMMANDS:
            parameters = services.parameters(request.srv, request.body)
            if request.execution_datetime is not None:
                execute_at = format_datetime(request.execution_datetime)
                parameters = {**parameters, EXECUTE_AT: execute_at}
            return Instruction(str(rid), request.srv, rid.target, parameters)
        signed = precommand.signed_payload(request.body)
        signers: Sequence[ec.EllipticCurvePublicKey] | None = None
        if signer is not None:
            signers = self._gbcs_signers(rid.originator) or (signer,)
        pre = precommand.read(signed, request.srv, rid.originator, rid.target, signers)
        if pre.counter >= rid.counter:
            # The pre-command came from an earlier transform (CV 4) of this User's.
            raise PreCommandInvalid(
                f"the GBCS command's transaction counter {pre.counter} is not before this"
                f" request's {rid.counter}"
            )
        return Instruction(str(rid), pre.srv, rid.target, dict(pre.parameters))


def execute_at(instruction: Instruction) -> datetime | None:
    """When the instruction is to be carried out (a signed pre-command carries it too)."""
    text = instruction.parameters.get(EXECUTE_AT)
    return parse_datetime(text) if text else None
