"""SMETS1 pre-commands: the critical-request transform flow (Command Variants 4 and 5), as for
SMETS2.

A critical SRV (supply, tariff, balance, payment mode ...) is first sent with CV 4 to the
transform endpoint. The DSP answers at once with a DUIS Response carrying ``sr:PreCommand``:
``GBCSVersion`` and ``GBCSPayload``, the base64 of a GBCS General Signing message (first byte
0xDF) for the SRV's GBCS use case (``opendcc.gbcs``): transaction id = the CV 4 RequestID's
originator counter, originator = the User, recipient = the target device, other information =
the use case's message code, content = the use case's command body.

The User's system signs it as for a SMETS2 device: ECDSA P-256 (SHA-256) with its GBCS
digital-signing key over the message after the 0xDF, then appends ``0x40`` and the 64-byte r||s
signature, and sends a new request with CV 5 to the send endpoint: same SRV and target, a fresh
RequestID, and ``sr:SignedPreCommand`` whose ``GBCSPayload`` is the signed message. The DSP and
the DCO read the instruction back from the message: it must be addressed to the request's
target, from its originator, carry one of the SRV's use cases, and verify under one of the
User's GBCS signing keys.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from opendcc.core.errors import DuisError
from opendcc.core.eui import Eui64
from opendcc.duis.response import text_child
from opendcc.duis.xml import sr
from opendcc.gbcs import message as gbcs
from opendcc.gbcs import usecases
from opendcc.gbcs.message import GbcsInvalid

# The GBCS version whose use cases the pre-commands follow (DCC's RTDS 4.5 is for GBCS v4).
GBCS_VERSION = "4.0"


class PreCommandInvalid(DuisError):
    """A pre-command, or a signed pre-command, that does not parse or does not verify."""


@dataclass(frozen=True, slots=True)
class PreCommand:
    """The instruction a signed pre-command carries, read back from its GBCS message."""

    srv: str
    originator: Eui64
    device_id: Eui64
    counter: int  # the GBCS transaction's originator counter (the CV 4's)
    use_case: str
    parameters: Mapping[str, str]


def issue(  # noqa: PLR0917 - the SRV, the device and the parties name the message
    srv: str,
    device_type: str,
    originator: Eui64,
    device_id: Eui64,
    counter: int,
    parameters: Mapping[str, str],
    now: datetime,
) -> bytes:
    """The General Signing message of ``srv``'s instruction (what the User signs)."""
    built = usecases.build(
        srv, device_type, originator, device_id, parameters, usecases.Inputs(counter, now)
    )
    return gbcs.encode(built.message)


def precommand_element(payload: bytes) -> etree._Element:
    """``sr:PreCommand`` for a transform Response."""
    element = etree.Element(sr("PreCommand"))
    text_child(element, sr("GBCSVersion"), GBCS_VERSION)
    text_child(element, sr("GBCSPayload"), base64.b64encode(payload).decode("ascii"))
    return element


def sign(payload: bytes, user_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The ``GBCSPayload`` of a signed pre-command, as a User's system makes it."""
    try:
        return gbcs.sign(payload, user_key)
    except GbcsInvalid as exc:
        raise PreCommandInvalid(str(exc)) from None


def read(
    signed: bytes,
    srv: str,
    originator: Eui64,
    target: Eui64,
    signers: Iterable[ec.EllipticCurvePublicKey] | None = None,
) -> PreCommand:
    """The instruction in a signed pre-command for ``srv`` from ``originator`` to ``target``.

    With ``signers`` (the User's GBCS signing keys), one of them must have signed it."""
    try:
        message, signature = gbcs.split(signed)
        # The signature first: a tampered command is a signature failure, whatever it now says.
        if signers is not None and not any(gbcs.verifies(message, signature, k) for k in signers):
            raise GbcsInvalid("the User's GBCS signature over the pre-command does not verify")
        decoded = gbcs.decode(message)
        if decoded.cra_flag != gbcs.CRA_COMMAND:
            raise GbcsInvalid("the GBCS message is not a command (CRA flag 0x01)")
        if decoded.recipient != target or decoded.originator != originator:
            raise GbcsInvalid(
                f"the GBCS command is from {decoded.originator} to {decoded.recipient},"
                f" not from {originator} to {target}"
            )
        parameters = usecases.read(srv, decoded)
    except GbcsInvalid as exc:
        raise PreCommandInvalid(str(exc)) from None
    names = [u.name for u in usecases.use_cases(srv) if u.message_code == decoded.message_code]
    return PreCommand(
        srv, originator, target, decoded.counter, (names or ["SMETS1"])[0], parameters
    )


def signed_payload(body: etree._Element) -> bytes:
    """The decoded ``GBCSPayload`` of an ``sr:SignedPreCommand`` body element."""
    text = body.findtext(sr("GBCSPayload"))
    if body.tag != sr("SignedPreCommand") or not text:
        raise PreCommandInvalid("a CV 5 request carries sr:SignedPreCommand with a GBCSPayload")
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise PreCommandInvalid(f"GBCSPayload is not base64: {exc}") from None
